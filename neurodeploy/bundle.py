"""The deployment bundle: export writes it atomically; validate, report and derain open it.

There is one :class:`Bundle` for both kinds (``Bundle.kind``): a model's (``model.pt``,
images in) and a ``.nir`` file's (:mod:`neurodeploy.nir_bundle`, sequences in). This module
is the one place that tells them apart: what a stage needs that differs by kind (its
inputs, the default reference, the integers) is asked of the opened bundle, so the stages
and the CLI never branch on it. The files as files: :mod:`neurodeploy.bundle_format`.

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
import math
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nir
import numpy as np

from neurodeploy import __version__, memory, progress
from neurodeploy.bundle_format import (FORMAT, FORMAT_VERSION, KIND_MODEL, KIND_NIR, MANIFEST, TARGETS,
                                       bundle_kind, check_destination, is_bundle, package_version, staged_dir,
                                       verify_files, write_json_atomic)
from neurodeploy.checkpoint import build_model, file_sha256, load_checkpoint
from neurodeploy.errors import BundleError, LoweringError, NeurodeployError
from neurodeploy.nir_export import export_graph
from neurodeploy.targets.host_onnx import HostIsland, write_host_onnx
from neurodeploy.ir import DeployGraph, GraphInfo, read_deploy_graph, write_graph
from neurodeploy.ir.info import DEFAULT_RESIDENCY, RESIDENCIES
from neurodeploy.models import get_architecture
from neurodeploy.passes import FLOW
from neurodeploy.passes.partition import chip_graph, summarize

__all__ = ["Bundle", "BundleInputs", "describe", "export_bundle", "export_model_bundle", "is_bundle",
           "write_json_atomic", "MANIFEST", "FORMAT", "FORMAT_VERSION", "TARGETS", "KIND_MODEL", "KIND_NIR"]

BUNDLE_FILES = ("graph.nir", "chip.nir", "model.pt")


@dataclass
class BundleInputs:
    """What a bundle's executors run on, and what each sample is called in a verdict or report.

    Attributes:
        array: a model's bundle: images ``(N, C, H, W)`` in [0, 1]; a ``.nir`` file's bundle:
            sequences ``(T, N, *input_shape)`` (T time steps of ``dt_s`` seconds, the file's units).
        names: one per image or sample (``"sample 0"``, ...).
        record: sequences only: where they came from (``validation.json``'s ``input``).
        sequences: True for ``(T, N, ...)``.
    """

    array: np.ndarray
    names: list[str]
    record: dict[str, Any] | None = None
    sequences: bool = False

    def __len__(self) -> int:
        return len(self.names)

    def take(self, start: int, stop: int) -> np.ndarray:
        """The inputs of samples ``start..stop-1``, in the executors' layout."""
        return self.array[:, start:stop] if self.sequences else self.array[start:stop]

    def sample(self, i: int) -> np.ndarray:
        """One image ``(C, H, W)`` or one sequence ``(T, *input_shape)``."""
        return self.array[:, i] if self.sequences else self.array[i]


@dataclass
class Bundle:
    """An opened bundle folder of either kind: its manifest and graph (the model is loaded on demand).

    Attributes:
        kind: ``model`` (a checkpoint's export) or ``nir`` (a ``.nir`` file's).
        info: the graph's annotations (a ``.nir`` file's: those of a sequence graph, built on
            opening from its node kinds, dt and the writer's rules in its node metadata).
    """

    path: Path
    manifest: dict[str, Any]
    graph: nir.NIRGraph
    info: GraphInfo
    kind: str = KIND_MODEL
    _integers: Any = field(default=None, repr=False)

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
        kind = bundle_kind(manifest)
        if manifest.get("format_version") != FORMAT_VERSION:
            source = (manifest.get("source") or {}).get("nir_file" if kind == KIND_NIR else "checkpoint", "SOURCE")
            raise BundleError(f"{path} is a bundle of format version {manifest.get('format_version')}, this "
                              f"neurodeploy reads version {FORMAT_VERSION}; re-export with `neurodeploy export "
                              f"{source} --out {path} --force`")
        verify_files(path, manifest)
        # either kind through the one import: a .nir file's graph gets a sequence graph's annotations
        g = read_deploy_graph(path / "graph.nir", dt_s=float(manifest["dt_s"]) if kind == KIND_NIR else None)
        return cls(path, manifest, g.nir, g.info, kind)

    # ---------------------------------------------------------------- what differs by kind
    @property
    def is_nir(self) -> bool:
        return self.kind == KIND_NIR

    @property
    def default_reference(self) -> str:
        """The executor a validation compares against unless told: the trained model in float64,
        or for a ``.nir`` file (which has no model) the graph itself in torch."""
        return "nir-torch" if self.is_nir else "torch-float64"

    @property
    def dt_s(self) -> float:
        """Seconds per time step."""
        return float(self.info.dt_s)

    def inputs(self, images: list[Path] | None = None, input_file: Path | None = None,
               truth: list[Path] | None = None) -> BundleInputs:
        """The inputs the CLI's options name: ``images`` (files or folders; default the shipped
        rainy photo) centre-cropped to a model bundle's input, or ``input_file`` (``.npy``,
        ``(T, ...)`` or ``(T, N, ...)``; default seeded random spikes, :func:`~neurodeploy.nir_bundle.default_input`)
        for a ``.nir`` file's bundle. ``truth`` is only checked here: a ``.nir`` file's bundle takes none."""
        if self.is_nir:
            from neurodeploy.nir_bundle import default_input, load_input

            if images or truth:
                raise NeurodeployError(f"{self.path} is a bundle of a .nir file: it takes --input FILE.npy (T, ...), "
                                       "not --image/--truth")
            x, record = (load_input(input_file, self.manifest["input_shape"]) if input_file is not None
                         else default_input(self.deploy_graph, self.manifest["input_shape"]))
            return BundleInputs(x, [f"sample {i}" for i in range(x.shape[1])], record, sequences=True)
        if input_file is not None:
            raise NeurodeployError("--input FILE.npy is for bundles of .nir files; a model bundle takes --image")
        from neurodeploy.images import load_inputs

        array, names = load_inputs(images, self.input_size)
        return BundleInputs(array, names)

    def require_images(self) -> None:
        """Refuse, in one line, a command that derains photos (derain, evaluate) on a ``.nir`` file's bundle."""
        if self.is_nir:
            raise NeurodeployError(f"{self.path} is a bundle of a .nir file: it runs on sequences, not photos; use "
                                   "`neurodeploy validate|report BUNDLE --input FILE.npy`")

    def fit_notes(self, images: list[Path] | None) -> list[str]:
        """How each image (default: the shipped photo) is fitted to a model bundle's input, a line
        each (:func:`neurodeploy.images.fit_notes`); none for a ``.nir`` file's bundle."""
        from neurodeploy.images import fit_notes

        return [] if self.is_nir else fit_notes(images, self.input_size)

    def run_facts(self, inputs: BundleInputs) -> dict[str, Any]:
        """What a verdict records about its inputs beyond their names (a ``.nir`` file's bundle:
        ``dt_s``, ``t_steps``, the input's record, the writer; a model's: nothing more)."""
        if not self.is_nir:
            return {}
        return {"dt_s": self.dt_s, "t_steps": int(inputs.array.shape[0]), "input": inputs.record,
                "writer": self.manifest["writer"]}

    def integers(self):
        """A ``.nir`` file's bundle exported with ``--quantize int``: ``(quant, arrays)`` from the
        manifest and ``params.npz`` (one-line BundleError when it is not quantized)."""
        if self._integers is None:
            from neurodeploy.nir_bundle import load_integers

            self._integers = load_integers(self.path, self.manifest)
        return self._integers

    # ---------------------------------------------------------------- a model's bundle
    @property
    def deploy_graph(self) -> DeployGraph:
        """The whole graph with the annotations the passes wrote at export."""
        return DeployGraph(self.graph, self.info)

    @property
    def input_size(self) -> tuple[int, int]:
        """A model bundle's input image (H, W) in pixels."""
        return tuple(self.info.input_shape[1:])

    def model(self):
        """The torch reference model (the checkpoint copied into the bundle), eval mode."""
        ckpt = load_checkpoint(self.path / "model.pt")
        return build_model(ckpt)


def is_netx_candidate(source: str | Path) -> bool:
    """A file that is not ``.nir`` but HDF5 (recognised by content): a lava-dl netx network (``.net``, ``.h5``
    ...); its reader refuses an HDF5 file that is not one, in one line."""
    from neurodeploy.nir_hdf5 import is_hdf5

    path = Path(source)
    return path.suffix != ".nir" and path.is_file() and is_hdf5(path)


def export_bundle(source: str | Path, out: str | Path, target: str = "loihi",
                  size: tuple[int, int] | None = None, force: bool = False, quantize: str = "none",
                  calib: str | Path | None = None, dt_s: float | None = None, writer: str | None = None,
                  reset: str | None = None, warn: Callable[[str], None] | None = None,
                  system: str | None = None, rules=None, residency: str | None = None,
                  delta_threshold: float | None = None, delta_relative: float | None = None,
                  weight_bits: int | None = None) -> dict[str, Any]:
    """Write the bundle ``out`` of ``source`` atomically (untouched on any error); returns the manifest.

    ``source``: a checkpoint file or shipped name (:func:`export_model_bundle`; ``size`` its
    input (H, W) in pixels), or a ``.nir`` file from any NIR writer
    (:func:`neurodeploy.nir_bundle.export_nir_bundle`; ``dt_s`` seconds per step, ``writer``
    whose quirks are undone, ``reset`` of a writer that does not write it, ``warn`` called
    with each warning line). ``quantize="int"``: Loihi 2 integers, calibrated on ``calib``;
    ``weight_bits``: a ``.nir`` file's widest weight mantissa (8..15 bits, two synapse groups above 8).
    """
    from neurodeploy.slayer_in import export_slayer_bundle, is_slayer_module

    if is_slayer_module(source):  # a SLAYER module: through the netx file slayer writes (issue 30)
        from neurodeploy.nir_bundle import export_nir_bundle

        if size or system or reset or dt_s or writer or weight_bits is not None:
            raise NeurodeployError("a SLAYER module takes no --size, --system, --reset, --dt, --writer or "
                                   "--weight-bits: its netx file carries its shapes and integers")
        return export_slayer_bundle(source, out, export_nir_bundle, target=target, force=force, warn=warn,
                                    quantize=quantize, calib=None if calib is None else Path(calib))
    if str(source).endswith(".nir") or is_netx_candidate(source):  # another writer's graph (issues 16, 30)
        from neurodeploy.nir_bundle import export_nir_bundle

        if size:
            raise NeurodeployError("--size is for checkpoints; a .nir (or netx) file's input shape is its own")
        if system:
            raise NeurodeployError("--system is checked for checkpoints only; a .nir file's graph is not mapped yet")
        if residency or delta_threshold is not None or delta_relative is not None:
            what = "residency" if residency else ("delta-threshold" if delta_threshold is not None else "delta-relative")
            raise NeurodeployError(f"--{what} is for checkpoints; a .nir file's graph runs on the chip as written")
        return export_nir_bundle(source, out, target=target, dt_s=dt_s, writer=writer, force=force, warn=warn,
                                 reset=reset, quantize=quantize, calib=None if calib is None else Path(calib),
                                 rules=rules, weight_bits=weight_bits)
    if rules:
        raise NeurodeployError("--rule is for .nir files read with --writer sinabs or rockpool; a checkpoint carries "
                               "its own neurons")
    if reset is not None:
        raise NeurodeployError("--reset is for .nir files from snntorch or sinabs; a checkpoint carries its own")
    if weight_bits is not None:
        raise NeurodeployError("--weight-bits is for .nir files; a checkpoint's convs keep Loihi's 8-bit mantissa "
                               "(quantize_ptq.md, quantize_qat.md: QAT recovers what 8 bits cost)")
    return export_model_bundle(source, out, target=target, size=size, force=force, quantize=quantize, calib=calib,
                               system=system, residency=residency or DEFAULT_RESIDENCY, delta_threshold=delta_threshold,
                               delta_relative=delta_relative)


def describe(manifest: dict[str, Any], out: Path) -> list[str]:
    """What ``neurodeploy export`` prints about the bundle it wrote (rich markup), either kind."""
    q = manifest["quantization"]
    if bundle_kind(manifest) == KIND_NIR:
        lines = [f"wrote bundle [bold]{out}[/] (NIR file, writer {manifest['writer']}, dt {manifest['dt_s']:g} s, "
                 f"input {manifest['input_shape']} per step; {len(manifest['lowering']['processes'])} Lava "
                 f"processes, {len(manifest['layers'])} neuron layers)"]
        if q["status"] == "int":
            lines.append(f"quantized to Loihi 2 integers: spike agreement with float on the calibration input "
                         f"min {q['spike_agreement_pct_min']:.2f} %, mean {q['spike_agreement_pct_mean']:.2f} %; "
                         f"{q['saturated_values']:,} saturated values; worst weight RMS error "
                         f"{q['worst_weight_rms_error']:.3g}")
            if q.get("two_group_synapses"):
                lines.append(f"--weight-bits {q['weight_bits']}: {len(q['two_group_synapses'])} synapse(s) in "
                             f"two 8-bit groups (twice their synaptic memory): {', '.join(q['two_group_synapses'])}")
            elif q.get("weight_bits", 8) == 8 and q["spike_agreement_pct_min"] < 99.9 and any(
                    layer.get("kind") in ("dense", "conv") and not layer.get("weight_exp") for layer in q["layers"].values()):
                lines.append("[yellow]hint:[/] below 99.9 % agreement; --weight-bits 15 gives its synapses up to "
                             "15-bit weights as two 8-bit synapse groups (benchmarks/interop_writers.md, 15b)")
        return lines
    part = manifest["partition"]
    lowered = (f"{len(manifest['lowering']['delays'])} delay line(s) inserted" if "status" not in manifest["lowering"]
               else "chip part not lowered to Lava yet")
    lines = [f"wrote bundle [bold]{out}[/] ({manifest['architecture']}, T={manifest['t_steps']}, "
             f"input {manifest['input_shape']}; {part['chip']['layers']} chip / {part['host']['layers']} host "
             f"layers, {part['crossings_per_step']} crossings per step; {lowered})"]
    if q["status"] == "int":
        lines.append(f"quantized to Loihi 2 integers on {q['calibration_images']} calibration crops: spike "
                     f"agreement with float min {q['spike_agreement_pct_min']:.2f} %, mean "
                     f"{q['spike_agreement_pct_mean']:.2f} %; {q['saturated_values']:,} saturated values; "
                     f"output {q['output_psnr_vs_float_db_mean']:.1f} dB vs float")
    return lines


def refuse_misfit(g: DeployGraph, system: str) -> None:
    """One line (exit 2) when the chip part of ``g`` does not fit ``system``: the first layer and
    resource short, and the smallest system that holds it."""
    from neurodeploy.passes.mapping import MappingError, map_graph
    from neurodeploy.systems import SYSTEMS, get_system

    sysm = get_system(system)
    try:
        m = map_graph(g, sysm)
    except MappingError as exc:
        raise NeurodeployError(f"does not fit {sysm.title}: {exc}; no system holds it: split the layer or "
                               "shrink it") from None
    if m.fits:
        return
    miss = m.first_misfit()
    smallest = next((s for s in SYSTEMS.values() if int(s.chips) >= m.chips), None)
    raise NeurodeployError(
        f"does not fit {sysm.title}: the chip part needs {m.cores:,} cores on {m.chips:,} chips, it has "
        f"{int(sysm.chips):,}; the first layer past its cores is '{miss['layer']}' (resource: cores); "
        + (f"the smallest system that fits is {smallest.name} (--system {smallest.name})" if smallest else
           "no listed system holds it at this size: export a smaller --size and tile (`neurodeploy fit`)"))


def _relative_delta_thresholds(g: DeployGraph, fraction: float, crops, size: tuple[int, int]) -> dict[str, float]:
    """Each cut edge's source its threshold (model units): ``fraction`` of the largest |value| it sends in a
    float run (nir-torch) of the calibration crops, or of the example image when there are none."""
    from neurodeploy.delta_messages import relative_thresholds
    from neurodeploy.images import load_inputs
    from neurodeploy.targets.nir_torch import NirTorchExecutor

    images = crops if crops is not None else load_inputs(None, size)[0]
    runner = NirTorchExecutor(g.to_nir(), g.info, delta_threshold=0.0)
    runner.run(np.asarray(images))
    return relative_thresholds(runner.cut_maxima, fraction)


def export_model_bundle(checkpoint: str | Path, out: str | Path, target: str = "loihi",
                        size: tuple[int, int] | None = None, force: bool = False, quantize: str = "none",
                        calib: str | Path | None = None, calib_images: int | None = None,
                        calib_percentile: float | None = None, system: str | None = None,
                        residency: str = DEFAULT_RESIDENCY, delta_threshold: float | None = None,
                        delta_relative: float | None = None) -> dict[str, Any]:
    """Load -> export -> lower, and write the bundle ``out`` atomically. Returns the manifest.

    Args:
        checkpoint: checkpoint file or shipped name.
        out: bundle folder; replaced only with ``force``; untouched if anything fails.
        target: ``loihi``.
        size: input image (H, W) in pixels; default: the architecture's default size.
        quantize: ``none`` (float parameters) or ``int`` (post-training quantization to Loihi 2
            integers, calibrated on ``calib``: a folder of images or a paired folder's rainy/).
        calib_images: use the first this many calibration images (by name; default and at most
            :data:`neurodeploy.quantized.CALIB_LIMIT`); calib_percentile: ranges from this
            percentile of |x| (0 < q <= 100) instead of the maximum.
        residency: what the chip keeps beyond its base kinds (``products``, the default: products of
            activations as product neurons, sums into host blocks and fan-out on the chip; ``gates``: as
            ``products`` and SpikeRain's MDSA split, run at the export size; ``host``: as before issue 31).
        delta_threshold: sigma-delta messages across the chip/host cut, threshold in model units (0:
            exact; None: every crossing value every step); only nir-torch runs a threshold above 0.
        delta_relative: sigma-delta with a threshold per cut edge: this fraction of the largest |value|
            the edge's source sends on the export's input (the calibration crops with ``quantize="int"``,
            else the example image), in ``GraphInfo.delta_thresholds``; not with ``delta_threshold``.
    """
    from neurodeploy import quantized
    from neurodeploy.targets.loihi.lower import lower_graph

    if target not in TARGETS:
        raise NeurodeployError(f"unknown target '{target}'; supported: {', '.join(TARGETS)}")
    out = check_destination(Path(out), force)
    ckpt = load_checkpoint(checkpoint)
    model = build_model(ckpt)
    arch = get_architecture(ckpt.architecture)
    size = tuple(int(v) for v in (size or arch.default_input_size))
    if len(size) != 2 or min(size) < 1:
        raise NeurodeployError(f"--size needs two positive numbers H W, got {size}")
    if residency not in RESIDENCIES:
        raise NeurodeployError(f"unknown --residency '{residency}'; choose one of: {', '.join(RESIDENCIES)}")
    if delta_threshold is not None and not (math.isfinite(delta_threshold) and delta_threshold >= 0):
        raise NeurodeployError(f"--delta-threshold is a value change in model units, >= 0 (0: exact); not "
                               f"{delta_threshold}")
    if delta_relative is not None:
        if delta_threshold is not None:
            raise NeurodeployError("--delta-threshold (one threshold for every edge) and --delta-relative (one per "
                                   "edge) exclude each other; pass one")
        if not (math.isfinite(delta_relative) and delta_relative >= 0):
            raise NeurodeployError(f"--delta-relative is a fraction >= 0 of each cut edge's range (0: exact); not "
                                   f"{delta_relative}")
    if quantize not in quantized.QUANTIZE_MODES:
        raise NeurodeployError(f"unknown --quantize '{quantize}'; choose one of: {', '.join(quantized.QUANTIZE_MODES)}")
    if calib_images is not None and not 1 <= calib_images <= quantized.CALIB_LIMIT:
        raise NeurodeployError(f"calibration images: 1 to {quantized.CALIB_LIMIT}, not {calib_images}")
    if calib_percentile is not None and not 0 < calib_percentile <= 100:
        raise NeurodeployError(f"a calibration percentile lies in (0, 100], not {calib_percentile}")
    crops = (quantized.check_calibration(calib, size, calib_images or quantized.CALIB_LIMIT)
             if quantize == "int" else None)
    progress.step("exporting the graph")
    g = DeployGraph.from_nir(export_graph(model, size, architecture=ckpt.architecture, config=ckpt.config,
                                          residency=residency,
                                          delta_threshold=0.0 if delta_relative is not None else delta_threshold))
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
    if delta_relative is not None:
        progress.step("measuring each cut edge's range for its sigma-delta threshold")
        info.delta_thresholds = _relative_delta_thresholds(g, delta_relative, crops, size)
    if system is not None:
        refuse_misfit(g, system)

    quant_summary = {"status": "none", "note": "float parameters; export with --quantize int --calib DIR"}
    if crops is not None:
        if not info.neuron_form and any(g.kind(n) == "lif" and info.side.get(n) == "chip" for n in g.order):
            raise NeurodeployError(f"cannot quantize: the neuron form pass failed ({lowering.get('reason')})")
        progress.step(f"calibrating on {len(crops)} crop(s)")
        ranges, qreport = quantized.quantize_deploy_graph(g, crops, calib_percentile)

    with staged_dir(out) as tmp:
        progress.step("writing graph.nir and chip.nir")
        write_graph(tmp / "graph.nir", g.to_nir())
        write_graph(tmp / "chip.nir", chip_graph(g, part).to_nir())
        (tmp / "host").mkdir()
        files = list(BUNDLE_FILES)
        for i, island in enumerate(part.islands):
            progress.step("writing the host islands as ONNX", i, len(part.islands))
            if not island.outputs:  # it holds only the image, which the chip's hold receives: nothing to run
                continue
            write_host_onnx(tmp / "host" / f"{island.name}.onnx", HostIsland(g, island))
            files.append(f"host/{island.name}.onnx")
        shutil.copyfile(ckpt.path, tmp / "model.pt")
        if crops is not None:
            from neurodeploy.targets.emulator import PARAMS, params_arrays

            np.savez_compressed(tmp / PARAMS, **params_arrays(g))
            files.append(PARAMS)
            totals = quantized.measure(tmp, summarize(g, part), g, crops, qreport)
            quant_summary = quantized.manifest_summary(g, ranges, qreport, totals, calib_percentile)
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
            "versions": {"neurodeploy": __version__, "torch": package_version("torch"),
                         "nir": package_version("nir"),
                         "lava-nc": package_version("lava-nc"), "python": platform.python_version()},
            "files": {name: file_sha256(tmp / name) for name in files},
            "partition": summarize(g, part),
            "lowering": lowering,
            "quantization": quant_summary,
            # netx (lava-dl 0.6) loads sequential layer lists only; a model's chip part is written as chip.nir
            "netx": {"chip_net": None, "reason": model_chip_net_reason(g)},
        }
        write_json_atomic(tmp / MANIFEST, manifest)
    return manifest


def model_chip_net_reason(g: DeployGraph) -> str:
    """Why a model bundle has no ``chip.net`` (``manifest["netx"]["reason"]``): its first join or branch
    on the chip, which netx's sequential loader cannot express, else that writing one is not implemented."""
    for name in g.order:
        if g.info.side.get(name) != "chip":
            continue
        preds = [p for p in g.predecessors(name) if g.info.side.get(p) == "chip"]
        if len(preds) > 1:
            return (f"the chip part joins {len(preds)} paths at '{name}' (a skip or residual); netx 0.6 loads "
                    "sequential networks only")
    if g.info.island:
        return "the model has host islands between chip parts; netx 0.6 loads one sequential chip network"
    return "chip.net is not written for a model's bundle yet (its encoder/decoder and neurons have no netx layer)"
