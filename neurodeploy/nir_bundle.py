"""Bundles of ``.nir`` files from other writers: ``neurodeploy export net.nir`` and ``validate`` (issue 16).

A graph from another tool takes events or values per time step, not a photo, and carries
no neurodeploy annotations, so its bundle is a kind of its own (manifest ``"kind": "nir"``,
same format and version as model bundles, keys added only):

- ``graph.nir`` -- the graph as neurodeploy reads it (subgraphs flattened, types
  re-inferred, ``--writer`` quirks undone; :func:`neurodeploy.ir.read_graph`); ``nir.read``
  loads it (except where NIR's own type check is wrong: grouped convs, see
  tests/test_nir_primitives.py); ``chip.nir`` -- the same graph: every node maps to a Lava
  process (:mod:`neurodeploy.targets.loihi.nir_map`), else the export is refused in one line;
- ``manifest.json`` -- the source file and its SHA-256, ``writer``, ``reset`` (``--reset``),
  ``neuron_rules`` (the writer's rules NIR cannot carry, per node; :mod:`neurodeploy.ir.rules`;
  graph.nir keeps them in node metadata), ``dt_s`` (seconds per
  step the file was read with), ``input_shape`` (per step), the Lava mapping (processes,
  latencies), versions, files with their SHA-256.

``validate`` runs the Lava float mapping (``lava-float``; or ``split``: the bundle's own
``chip.nir`` in the torch executor) against the NIR torch executor (``nir-torch``, the
reference, on ``graph.nir``) on ``--input FILE.npy`` -- shape ``(T, *input_shape)`` or
``(T, N, *input_shape)``, T = its first axis, neurons starting from rest -- or, without it,
100 steps of seeded random spikes at 10 % (seed 0, one sample), and writes
``validation.json`` with the verdict plus ``dt_s``, ``t_steps``, ``input`` and ``writer``.
``report`` runs one of the same executors on the same input (:mod:`neurodeploy.report_nir`).
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path
from typing import Any

import nir
import numpy as np

from neurodeploy import __version__
from neurodeploy.bundle import (FORMAT, FORMAT_VERSION, MANIFEST, TARGETS, _check_destination, staged_dir,
                                _verify_files, _version, write_json_atomic)
from neurodeploy.errors import NeurodeployError
from neurodeploy.ir import read_graph
from neurodeploy.ir.nirfile import FOREIGN_DT_KEY
from neurodeploy.ir.rules import rules_of
from neurodeploy.checkpoint import file_sha256

KIND = "nir"
WRITER_KEY = "neurodeploy.writer"
DEFAULT_STEPS = 100
DEFAULT_RATE = 0.1
# split: the bundle's own chip.nir (all of the graph: a .nir file's bundle has no host islands)
EXECUTORS = ("lava-float", "nir-torch", "split")


def is_nir_bundle(path: Path) -> bool:
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT and manifest.get("kind") == KIND


def export_nir_bundle(nir_file: str | Path, out: str | Path, target: str = "loihi", dt_s: float | None = None,
                      writer: str | None = None, force: bool = False, warn=None,
                      reset: str | None = None) -> dict[str, Any]:
    """Read ``nir_file`` (another writer's graph; ``reset``: the reset of a writer that does not
    write it), map it to Lava, write the bundle ``out`` atomically (untouched on any error).
    Returns the manifest."""
    from neurodeploy.targets.loihi.nir_map import build_map

    if target not in TARGETS:
        raise NeurodeployError(f"unknown target '{target}'; supported: {', '.join(TARGETS)}")
    out = _check_destination(Path(out), force)
    nir_file = Path(nir_file)
    graph = read_graph(nir_file, dt_s=dt_s, writer=writer, warn=warn, reset=reset)
    dt = float(graph.metadata[FOREIGN_DT_KEY])
    graph.metadata[WRITER_KEY] = writer or "nir"
    mapping = build_map(graph, dt)  # LoweringError (one line naming the node) before anything is written
    input_shape = [int(v) for v in graph.nodes[mapping.input].output_type["output"]]
    with staged_dir(out) as tmp:
        for name in ("graph.nir", "chip.nir"):
            nir.write(str(tmp / name), graph, compression=None)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": KIND,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "target": target,
            "source": {"nir_file": str(nir_file.resolve()), "sha256": file_sha256(nir_file)},
            "writer": writer or "nir",
            "reset": reset,  # --reset as given (None: not given)
            # the writer's neuron rules NIR cannot carry (also in graph.nir's node metadata)
            "neuron_rules": {n: rules_of(n, v).describe() for n, v in graph.nodes.items()
                             if not rules_of(n, v).is_nir},
            "dt_s": dt,
            "input_shape": input_shape,
            "layers": mapping.layers,
            "versions": {"neurodeploy": __version__, "nir": _version("nir"), "lava-nc": _version("lava-nc"),
                         "python": platform.python_version()},
            "files": {name: file_sha256(tmp / name) for name in ("graph.nir", "chip.nir")},
            "lowering": {"processes": {n: p.kind for n, p in mapping.procs.items()},
                         "latency_steps": {n: p.latency for n, p in mapping.procs.items()},
                         "steps_between_samples": mapping.gap},
        }
        write_json_atomic(tmp / MANIFEST, manifest)
    return manifest


def open_nir_bundle(path: Path) -> tuple[dict[str, Any], nir.NIRGraph]:
    manifest = json.loads((path / MANIFEST).read_text())
    _verify_files(path, manifest)
    graph = read_graph(path / "graph.nir", dt_s=float(manifest["dt_s"]))
    return manifest, graph


def load_input(path: Path | None, input_shape: list[int], steps: int = DEFAULT_STEPS,
               seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """``--input FILE.npy`` as ``(T, N, *input_shape)``, or the default random spikes; and its record."""
    shape = tuple(input_shape)
    if path is None:
        x = (np.random.default_rng(seed).random((steps, 1, *shape)) < DEFAULT_RATE).astype(np.float64)
        return x, {"kind": "random_spikes", "rate": DEFAULT_RATE, "seed": seed, "t_steps": steps, "samples": 1}
    path = Path(path)
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise NeurodeployError(f"--input {path}: not a readable .npy array ({' '.join(str(exc).split())})") from None
    if x.dtype.kind not in "biuf" or not np.all(np.isfinite(x)):
        raise NeurodeployError(f"--input {path}: dtype {x.dtype} or NaN/inf values; give finite numbers")
    if x.shape[1:] == shape:
        x = x[:, None]
    if x.ndim != len(shape) + 2 or x.shape[2:] != shape or x.shape[0] < 1:
        raise NeurodeployError(f"--input {path}: shape {x.shape} is not (T, {', '.join(map(str, shape))}) or "
                               f"(T, N, {', '.join(map(str, shape))}) for the graph's input")
    return x.astype(np.float64), {"kind": "file", "path": str(path.resolve()), "sha256": file_sha256(path),
                                  "t_steps": int(x.shape[0]), "samples": int(x.shape[1])}


def validate_nir_bundle(path: str | Path, input_file: Path | None = None, executor: str | None = None,
                        reference: str = "nir-torch", min_agreement_pct: float = 100.0,
                        min_psnr_db: float = 60.0) -> dict[str, Any]:
    """Run ``executor`` (default lava-float) and ``reference`` (nir-torch) on the input; compare."""
    from neurodeploy.verify import verdict

    path = Path(path)
    manifest, graph = open_nir_bundle(path)
    executor = executor or "lava-float"
    for name in (executor, reference):
        if name not in EXECUTORS:
            raise NeurodeployError(f"executor '{name}' does not run a bundle of a .nir file; use one of "
                                   f"{', '.join(EXECUTORS)}")
    x, record = load_input(input_file, manifest["input_shape"])
    traces = {name: run_executor(name, path, manifest, graph, x) for name in {executor, reference}}
    names = [f"sample {i}" for i in range(x.shape[1])]
    v = verdict(traces[reference], traces[executor], names, min_agreement_pct, min_psnr_db)
    result = v.to_dict()
    result.update(dt_s=float(manifest["dt_s"]), t_steps=int(x.shape[0]), input=record, writer=manifest["writer"])
    if result["first_divergence"] is not None:
        result["first_divergence"] = dict(result["first_divergence"])
    out_path = path / "validation.json"
    try:
        previous = json.loads(out_path.read_text())
    except (OSError, ValueError):
        previous = {}
    executors = dict(previous.get("executors", {})) if isinstance(previous, dict) else {}
    executors[executor] = result
    write_json_atomic(out_path, {**result, "executors": executors})
    return result


def run_executor(name: str, path: Path, manifest: dict[str, Any], graph: nir.NIRGraph, x: np.ndarray) -> list:
    """Traces of executor ``name`` on ``x`` ``(T, N, *input_shape)``: ``graph`` (the bundle's
    ``graph.nir``), or for ``split`` the bundle's own ``chip.nir``."""
    if name == "split":
        graph = read_graph(Path(path) / "chip.nir", dt_s=float(manifest["dt_s"]))
    return _run(name, graph, x)


def _run(name: str, graph: nir.NIRGraph, x: np.ndarray):
    if name in ("nir-torch", "split"):
        from neurodeploy.targets.nir_primitives import NirSequenceExecutor

        runner = NirSequenceExecutor(graph)
        runner.name = name
        return runner.run_sequences(x)
    from neurodeploy.targets.loihi.nir_lava import NirLavaExecutor

    return NirLavaExecutor(graph).run_sequences(x)
