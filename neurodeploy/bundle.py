"""The deployment bundle: export writes it atomically; validate and report open it.

Layout of a bundle folder::

    manifest.json   source checkpoint + hash, architecture, versions, T, input shape,
                    target, partition summary, lowering summary (latencies, delay lines),
                    quantization status
    graph.nir       the whole exported graph (neurodeploy.ir.read_graph loads it)
    chip.nir        the chip part (pure NIR when it is only convs and LIFs)
    host/ISLAND.onnx  one file per host island (onnxruntime runs it); inputs and outputs
                    named after the nodes on the cut edges
    model.pt        a copy of the source checkpoint: the torch reference for validation
    params.npz      with ``--quantize int``: the chip's integer mantissas (``NODE/NAME``; the
                    rest of the integer form is in chip.nir's ``quant`` annotations)
    validation.json after ``neurodeploy validate``
    report.json, report.md   after ``neurodeploy report``
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import nir
import numpy as np

from neurodeploy import __version__, memory, progress
from neurodeploy.checkpoint import build_model, file_sha256, load_checkpoint
from neurodeploy.errors import BundleError, LoweringError, NeurodeployError
from neurodeploy.export import export_graph
from neurodeploy.targets.host_onnx import HostIsland, write_host_onnx
from neurodeploy.writable import hold, sweep_staged
from neurodeploy.ir import DeployGraph, GraphInfo, graph_info, read_graph, write_graph
from neurodeploy.models import get_architecture
from neurodeploy.passes import FLOW
from neurodeploy.passes.partition import chip_graph, summarize

MANIFEST = "manifest.json"
BUNDLE_FILES = ("graph.nir", "chip.nir", "model.pt")
FORMAT = "neurodeploy-bundle"
# 2: host islands as host/ISLAND.onnx (format 1 had one host.onnx that nothing ran).
FORMAT_VERSION = 2
TARGETS = ("loihi",)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON next to its final place, then rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    tmp.replace(path)


@dataclass
class Bundle:
    """An opened bundle folder: its manifest and graph (the model is loaded on demand)."""

    path: Path
    manifest: dict[str, Any]
    graph: nir.NIRGraph
    info: GraphInfo

    @classmethod
    def open(cls, path: str | Path) -> "Bundle":
        path = Path(path)
        if not path.is_dir():
            raise BundleError(f"{path} is not a folder; pass a bundle written by `neurodeploy export`")
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise BundleError(f"{path} has no {MANIFEST}: not a bundle; create one with `neurodeploy export`")
        try:
            manifest = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(f"{manifest_path} is not valid JSON ({exc}); re-export the bundle") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BundleError(f"{manifest_path} is not a neurodeploy bundle manifest; re-export the bundle")
        if manifest.get("format_version") != FORMAT_VERSION:
            source = (manifest.get("source") or {}).get("checkpoint", "CHECKPOINT")
            raise BundleError(f"{path} is a bundle of format version {manifest.get('format_version')}, this "
                              f"neurodeploy reads version {FORMAT_VERSION}; re-export with `neurodeploy export "
                              f"{source} --out {path} --force`")
        _verify_files(path, manifest)
        graph = read_graph(path / "graph.nir")
        return cls(path, manifest, graph, graph_info(graph))

    @property
    def deploy_graph(self) -> DeployGraph:
        """The whole graph with the annotations the passes wrote at export."""
        return DeployGraph(self.graph, self.info)

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.info.input_shape[1:])

    def model(self):
        """The torch reference model (the checkpoint copied into the bundle), eval mode."""
        ckpt = load_checkpoint(self.path / "model.pt")
        return build_model(ckpt)


def is_bundle(path: Path) -> bool:
    """A folder with a manifest of this format (any version): the only kind --force replaces."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT


def _verify_files(path: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists must exist and have its recorded SHA-256: a file changed
    or damaged after export is refused in one line naming it, before anything reads it."""
    files = manifest.get("files")
    if not isinstance(files, dict) or "graph.nir" not in files:
        raise BundleError(f"{path / MANIFEST} lists no files with their SHA-256; re-export the bundle")
    for name, digest in files.items():
        file = path / name
        if not file.is_file():
            raise BundleError(f"{path}: {name} is missing (the manifest lists it); re-export the bundle")
        if file_sha256(file) != digest:
            raise BundleError(f"{path}: {name} does not match the SHA-256 in the manifest (changed or damaged "
                              "after export); re-export the bundle")


def _check_destination(out: Path, force: bool) -> Path:
    """The bundle folder to write (absolute); refuses anything that is not a new folder or,
    with ``force``, an existing bundle -- a user's folder of data is never replaced."""
    resolved = out.resolve()
    if resolved == resolved.parent or resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        raise BundleError(f"--out {out} is the current folder or one of its parents; name a new folder, "
                          "e.g. --out build/bundle")
    out = resolved
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out} exists and is not a folder; choose another --out")
    if out.exists() and not force:
        raise BundleError(f"{out} already exists; pass --force to replace it, or choose another --out")
    if out.exists() and not is_bundle(out):
        raise BundleError(f"{out} exists and is not a neurodeploy bundle (no {MANIFEST} of this format); "
                          "--force only replaces bundles, choose another --out")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent)
        os.rmdir(probe)
    except OSError as exc:
        raise BundleError(f"cannot write a bundle in {parent} ({exc.strerror or exc}); choose another --out") from None
    return out


def export_bundle(checkpoint: str | Path, out: str | Path, target: str = "loihi",
                  size: tuple[int, int] | None = None, force: bool = False, quantize: str = "none",
                  calib: str | Path | None = None) -> dict[str, Any]:
    """Load -> export -> lower, and write the bundle ``out`` atomically. Returns the manifest.

    Args:
        checkpoint: checkpoint file or shipped name.
        out: bundle folder; replaced only with ``force``; untouched if anything fails.
        target: ``loihi``.
        size: input image (H, W) in pixels; default: the architecture's default size.
        quantize: ``none`` (float parameters) or ``int`` (post-training quantization to Loihi 2
            integers, calibrated on ``calib``: a folder of images or a paired folder's rainy/).
    """
    from neurodeploy import quantized
    from neurodeploy.targets.loihi.lower import lower_graph

    if target not in TARGETS:
        raise NeurodeployError(f"unknown target '{target}'; supported: {', '.join(TARGETS)}")
    out = _check_destination(Path(out), force)
    ckpt = load_checkpoint(checkpoint)
    model = build_model(ckpt)
    arch = get_architecture(ckpt.architecture)
    size = tuple(int(v) for v in (size or arch.default_input_size))
    if len(size) != 2 or min(size) < 1:
        raise NeurodeployError(f"--size needs two positive numbers H W, got {size}")
    if quantize not in quantized.QUANTIZE_MODES:
        raise NeurodeployError(f"unknown --quantize '{quantize}'; choose one of: {', '.join(quantized.QUANTIZE_MODES)}")
    crops = quantized.check_calibration(calib, size) if quantize == "int" else None
    progress.step("exporting the graph")
    g = DeployGraph.from_nir(export_graph(model, size, architecture=ckpt.architecture, config=ckpt.config))
    memory.check_export(g.info.shapes, g.info.t_steps, crops is not None, size)  # shapes only so far: nothing big yet
    results: dict[str, Any] = {}
    progress.step("running the passes and the Lava lowering")
    try:  # what the chip cannot take yet makes the bundle "not lowered", not a failed export
        for name, run in FLOW:  # the partition comes first and never refuses a graph
            results[name] = run(g)
        lowering = lower_graph(g).summary()
    except LoweringError as exc:
        lowering = {"status": "not lowered", "reason": str(exc), "delays": []}
    part = results["partition"]
    info = g.info

    quant_summary = {"status": "none", "note": "float parameters; export with --quantize int --calib DIR"}
    if crops is not None:
        if not info.neuron_form and any(g.kind(n) == "lif" and info.side.get(n) == "chip" for n in g.order):
            raise NeurodeployError(f"cannot quantize: the neuron form pass failed ({lowering.get('reason')})")
        progress.step(f"calibrating on {len(crops)} crop(s)")
        ranges, qreport = quantized.quantize_deploy_graph(g, crops)

    with staged_dir(out) as tmp:
        progress.step("writing graph.nir and chip.nir")
        write_graph(tmp / "graph.nir", g.to_nir())
        write_graph(tmp / "chip.nir", chip_graph(g, part).to_nir())
        (tmp / "host").mkdir()
        files = list(BUNDLE_FILES)
        for i, island in enumerate(part.islands):
            progress.step("writing the host islands as ONNX", i, len(part.islands))
            write_host_onnx(tmp / "host" / f"{island.name}.onnx", HostIsland(g, island))
            files.append(f"host/{island.name}.onnx")
        shutil.copyfile(ckpt.path, tmp / "model.pt")
        if crops is not None:
            from neurodeploy.targets.emulator import PARAMS, params_arrays

            np.savez_compressed(tmp / PARAMS, **params_arrays(g))
            files.append(PARAMS)
            totals = quantized.measure(tmp, summarize(g, part), g, crops, qreport)
            quant_summary = quantized.manifest_summary(g, ranges, qreport, totals)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "target": target,
            "architecture": ckpt.architecture,
            "config": ckpt.config,
            "source": {"checkpoint": str(ckpt.path), "name": ckpt.name, "sha256": ckpt.sha256,
                       "preset": ckpt.meta.get("preset")},
            "t_steps": info.t_steps,
            "input_shape": list(info.input_shape),
            "dt_s": info.dt_s,
            "encode": info.encode,
            "decode": info.decode,
            "versions": {"neurodeploy": __version__, "torch": _version("torch"), "nir": _version("nir"),
                         "lava-nc": _version("lava-nc"), "python": platform.python_version()},
            "files": {name: file_sha256(tmp / name) for name in files},
            "partition": summarize(g, part),
            "lowering": lowering,
            "quantization": quant_summary,
        }
        write_json_atomic(tmp / MANIFEST, manifest)
    return manifest


@contextmanager
def staged_dir(out: Path) -> Iterator[Path]:
    """A new sibling folder of ``out`` to write a bundle into (the user's umask, not mkdtemp's
    0700: a bundle is an ordinary folder); it becomes ``out`` when the block ends, and is
    removed if anything fails (``out`` is then untouched). It is locked while written, so that
    the next export to ``out`` removes it if this one was killed (writable.sweep_staged)."""
    sweep_staged(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    lock = hold(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        yield tmp
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(lock)


def _replace_dir(new: Path, out: Path) -> None:
    """Move ``new`` to ``out``; an existing ``out`` is swapped out first and removed last."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    try:
        new.rename(out)
    except BaseException:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
