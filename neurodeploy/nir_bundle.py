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

``export --quantize int`` (optionally ``--calib FILE.npy``, shaped like ``--input``; default
the same random spikes as ``validate``) adds Loihi 2 integers
(:mod:`neurodeploy.targets.loihi.nir_fixed`): ``params.npz`` (``PROC/weight_mant``,
``LIF/const_mant``) and ``manifest["quantization"]`` (formats, per-process scales and
integers, rounding errors, and the integer reference's spike agreement with ``nir-torch`` on
the calibration input); ``validate --executor lava-fixed --against emulator`` checks Lava's
fixed_pt models against the integer reference, ``--executor emulator`` the quantization
against float. Without ``--quantize int`` the manifest says ``{"status": "none"}``.

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
from neurodeploy.errors import BundleError, NeurodeployError
from neurodeploy.ir import read_graph
from neurodeploy.ir.nirfile import FOREIGN_DT_KEY
from neurodeploy.ir.rules import rules_of
from neurodeploy.checkpoint import file_sha256
from neurodeploy.limits import LOIHI2
from neurodeploy.writable import write_json_kept

KIND = "nir"
WRITER_KEY = "neurodeploy.writer"
DEFAULT_STEPS = 100
DEFAULT_RATE = 0.1
# split: the bundle's own chip.nir (all of the graph: a .nir file's bundle has no host islands)
EXECUTORS = ("lava-float", "nir-torch", "split", "emulator", "lava-fixed", "lava-fixed-stock")
INTEGER_EXECUTORS = ("emulator", "lava-fixed", "lava-fixed-stock")  # need --quantize int
PARAMS = "params.npz"


def is_nir_bundle(path: Path) -> bool:
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT and manifest.get("kind") == KIND


def export_nir_bundle(nir_file: str | Path, out: str | Path, target: str = "loihi", dt_s: float | None = None,
                      writer: str | None = None, force: bool = False, warn=None,
                      reset: str | None = None, quantize: str = "none", calib: Path | None = None) -> dict[str, Any]:
    """Read ``nir_file`` (another writer's graph; ``reset``: the reset of a writer that does not
    write it), map it to Lava, write the bundle ``out`` atomically (untouched on any error).
    ``quantize="int"``: Loihi 2 integers too, the input's scale from ``calib`` (a ``.npy`` like
    ``--input``; default: validate's random spikes). Returns the manifest."""
    from neurodeploy.targets.loihi.nir_map import build_map

    if target not in TARGETS:
        raise NeurodeployError(f"unknown target '{target}'; supported: {', '.join(TARGETS)}")
    if quantize not in ("none", "int"):
        raise NeurodeployError(f"--quantize {quantize}: choose none or int")
    if calib is not None and quantize != "int":
        raise NeurodeployError("--calib FILE.npy sets the input scale of --quantize int; add --quantize int")
    out = _check_destination(Path(out), force)
    nir_file = Path(nir_file)
    graph = read_graph(nir_file, dt_s=dt_s, writer=writer, warn=warn, reset=reset)
    dt = float(graph.metadata[FOREIGN_DT_KEY])
    graph.metadata[WRITER_KEY] = writer or "nir"
    mapping = build_map(graph, dt)  # LoweringError (one line naming the node) before anything is written
    input_shape = [int(v) for v in graph.nodes[mapping.input].output_type["output"]]
    quant_summary, params = {"status": "none"}, None
    if quantize == "int":  # QuantizationError (one line naming the node) before anything is written
        quant_summary, params = _quantize(graph, mapping, dt, calib, input_shape)
    names = ["graph.nir", "chip.nir"] + ([PARAMS] if params is not None else [])
    with staged_dir(out) as tmp:
        for name in ("graph.nir", "chip.nir"):
            nir.write(str(tmp / name), graph, compression=None)
        if params is not None:
            np.savez_compressed(tmp / PARAMS, **params)
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
            "files": {name: file_sha256(tmp / name) for name in names},
            "lowering": {"processes": {n: p.kind for n, p in mapping.procs.items()},
                         "latency_steps": {n: p.latency for n, p in mapping.procs.items()},
                         "steps_between_samples": mapping.gap},
            "quantization": quant_summary,
        }
        write_json_atomic(tmp / MANIFEST, manifest)
    return manifest


def _quantize(graph: nir.NIRGraph, mapping, dt: float, calib: Path | None,
              input_shape: list[int]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest's quantization summary and ``params.npz``'s arrays."""
    from neurodeploy.quantize.ptq import formats_summary
    from neurodeploy.targets.loihi.nir_fixed import params_arrays, quantize_map
    from neurodeploy.targets.nir_emulator import NirIntegerEmulator
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor
    from neurodeploy.verify import verdict

    x, record = load_input(calib, input_shape, option="--calib")
    quant, arrays = quantize_map(mapping, x)
    names = [f"sample {i}" for i in range(x.shape[1])]
    emulator = NirIntegerEmulator(graph, mapping, quant, arrays, dt)
    v = verdict(NirSequenceExecutor(graph, dt).run_sequences(x), emulator.run_sequences(x), names, 0.0, 0.0)
    for name, counts in emulator.counts.items():  # what saturated or wrapped on the calibration input
        quant[name].update(counts)
    synapses = [q for q in quant.values() if q["kind"] in ("dense", "conv")]
    neurons = [q for q in quant.values() if q["kind"] == "lif"]
    spiking = {k: a for k, a in v.layers.items() if quant[k]["spiking"]}
    summary = {
        "status": "int",
        "method": "post-training quantization of the Lava map (scales from weights and thresholds; the input's "
                  "scale from the calibration input)",
        "chip": LOIHI2.name, "lava": "lava-nc 0.10.0 fixed_pt semantics (neurodeploy.limits)",
        "calibration_input": record,
        "formats": formats_summary(),
        "layers_quantized": {"synapse": len(synapses), "neuron": len(neurons),
                             "other": len(quant) - len(synapses) - len(neurons)},
        "worst_weight_rms_error": max((q["weight_rms_error"] for q in synapses), default=0.0),
        "worst_vth_rel_error": max((abs(q.get("vth_rel_error", 0.0)) for q in neurons), default=0.0),
        "saturated_values": int(sum(q.get("v_saturated", 0) + q.get("u_wrapped", 0) + q.get("acc_wrapped", 0)
                                    for q in quant.values())),
        "spike_agreement_pct": spiking,
        "spike_agreement_pct_min": min(spiking.values(), default=100.0),
        "spike_agreement_pct_mean": float(np.mean(list(spiking.values()))) if spiking else 100.0,
        "layers": quant,
    }
    return summary, params_arrays(arrays)


def open_nir_bundle(path: Path) -> tuple[dict[str, Any], nir.NIRGraph]:
    manifest = json.loads((path / MANIFEST).read_text())
    _verify_files(path, manifest)
    graph = read_graph(path / "graph.nir", dt_s=float(manifest["dt_s"]))
    return manifest, graph


def load_input(path: Path | None, input_shape: list[int], steps: int = DEFAULT_STEPS,
               seed: int = 0, option: str = "--input") -> tuple[np.ndarray, dict[str, Any]]:
    """``--input FILE.npy`` (or ``--calib``) as ``(T, N, *input_shape)``, or the default random spikes;
    and its record."""
    shape = tuple(input_shape)
    if path is None:
        x = (np.random.default_rng(seed).random((steps, 1, *shape)) < DEFAULT_RATE).astype(np.float64)
        return x, {"kind": "random_spikes", "rate": DEFAULT_RATE, "seed": seed, "t_steps": steps, "samples": 1}
    path = Path(path)
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise NeurodeployError(f"{option} {path}: not a readable .npy array ({' '.join(str(exc).split())})") from None
    if x.dtype.kind not in "biuf" or not np.all(np.isfinite(x)):
        raise NeurodeployError(f"{option} {path}: dtype {x.dtype} or NaN/inf values; give finite numbers")
    if x.shape[1:] == shape:
        x = x[:, None]
    if x.ndim != len(shape) + 2 or x.shape[2:] != shape or x.shape[0] < 1:
        raise NeurodeployError(f"{option} {path}: shape {x.shape} is not (T, {', '.join(map(str, shape))}) or "
                               f"(T, N, {', '.join(map(str, shape))}) for the graph's input")
    return x.astype(np.float64), {"kind": "file", "path": str(path.resolve()), "sha256": file_sha256(path),
                                  "t_steps": int(x.shape[0]), "samples": int(x.shape[1])}


def validate_nir_bundle(path: str | Path, input_file: Path | None = None, executor: str | None = None,
                        reference: str = "nir-torch", min_agreement_pct: float = 100.0,
                        min_psnr_db: float = 60.0, warn=None) -> dict[str, Any]:
    """Run ``executor`` (default lava-float) and ``reference`` (nir-torch) on the input; compare.
    ``warn``: told when validation.json cannot be written (the verdict is returned all the same)."""
    from neurodeploy.verify import verdict

    path = Path(path)
    manifest, graph = open_nir_bundle(path)
    executor = executor or "lava-float"
    for name in (executor, reference):
        if name not in EXECUTORS:
            raise NeurodeployError(f"executor '{name}' does not run a bundle of a .nir file; use one of "
                                   f"{', '.join(EXECUTORS)}")
    if {executor, reference} & set(INTEGER_EXECUTORS):
        _load_integers(path, manifest)  # not quantized: one line before anything runs
    x, record = load_input(input_file, manifest["input_shape"])
    traces = {name: run_executor(name, path, manifest, graph, x) for name in dict.fromkeys((executor, reference))}
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
    write_json_kept(out_path, {**result, "executors": executors}, warn)
    return result


def _load_integers(path: Path, manifest: dict) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """``(quant, arrays)`` of a bundle exported with ``--quantize int``; one-line BundleError otherwise."""
    q = manifest.get("quantization") or {}
    if q.get("status") != "int" or not (path / PARAMS).is_file():
        raise BundleError(f"{path} is not quantized; export the .nir file with --quantize int (and --calib FILE.npy "
                          "for other inputs than random spikes)")
    try:
        with np.load(path / PARAMS, allow_pickle=False) as data:
            flat = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path / PARAMS} is not readable ({' '.join(str(exc).split())}); re-export with "
                          "--quantize int") from None
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in flat.items():
        proc, _, name = key.rpartition("/")
        arrays.setdefault(proc, {})[name] = arr
    return q["layers"], arrays


def run_executor(name: str, path: Path, manifest: dict[str, Any], graph: nir.NIRGraph, x: np.ndarray) -> list:
    """Traces of executor ``name`` on ``x`` ``(T, N, *input_shape)``: ``graph`` (the bundle's
    ``graph.nir``), or for ``split`` the bundle's own ``chip.nir``; the integer executors read
    ``params.npz`` and the manifest's quantization (one-line BundleError when not quantized)."""
    if name == "split":
        graph = read_graph(Path(path) / "chip.nir", dt_s=float(manifest["dt_s"]))
    integers = _load_integers(Path(path), manifest) if name in INTEGER_EXECUTORS else None
    return _run(name, graph, x, integers)


def _run(name: str, graph: nir.NIRGraph, x: np.ndarray, integers=None):
    if name in ("nir-torch", "split"):
        from neurodeploy.targets.nir_primitives import NirSequenceExecutor

        runner = NirSequenceExecutor(graph)
        runner.name = name
        return runner.run_sequences(x)
    if name in INTEGER_EXECUTORS:
        from neurodeploy.targets.loihi.nir_fixed import check_params
        from neurodeploy.targets.loihi.nir_map import build_map

        quant, arrays = integers
        if name == "emulator":
            from neurodeploy.targets.nir_emulator import NirIntegerEmulator

            dt = float(graph.metadata[FOREIGN_DT_KEY])
            mapping = build_map(graph, dt)
            check_params(mapping, quant, arrays, str(PARAMS))
            return NirIntegerEmulator(graph, mapping, quant, arrays, dt).run_sequences(x)
        from neurodeploy.targets.loihi.nir_lava_fixed import NirLavaFixedExecutor

        return NirLavaFixedExecutor(graph, quant, arrays, fast=name == "lava-fixed").run_sequences(x)
    from neurodeploy.targets.loihi.nir_lava import NirLavaExecutor

    return NirLavaExecutor(graph).run_sequences(x)
