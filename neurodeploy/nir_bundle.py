"""Bundles of ``.nir`` files from other writers: ``neurodeploy export net.nir`` and ``validate`` (issue 16).

A graph from another tool takes events or values per time step, not a photo, and carries
no neurodeploy annotations, so its bundle is a kind of its own (manifest ``"kind": "nir"``,
same format and version as model bundles, keys added only):

- ``graph.nir`` -- the graph as neurodeploy reads it (subgraphs flattened, types
  re-inferred, ``--writer`` quirks undone; :func:`neurodeploy.ir.read_graph`); ``nir.read``
  loads it (except where NIR's own type check is wrong: grouped convs, see
  tests/test_nir_primitives.py); ``chip.nir`` -- the same graph: every node maps to a Lava
  process (:mod:`neurodeploy.targets.loihi.lower`, the model bundles' lowering), else the export is refused in one line;
- ``manifest.json`` -- the source file and its SHA-256, ``writer``, ``reset`` (``--reset``),
  ``neuron_rules`` (the writer's rules NIR cannot carry, per node; :mod:`neurodeploy.ir.rules`;
  graph.nir keeps them in node metadata), ``dt_s`` (seconds per
  step the file was read with), ``input_shape`` (per step), the Lava lowering (processes,
  latencies, Lava steps between samples, the delays on edges that balance joins), versions,
  files with their SHA-256.

``export --quantize int`` (optionally ``--calib FILE.npy``, shaped like ``--input``; default
the same random spikes as ``validate``) adds Loihi 2 integers
(:func:`neurodeploy.quantize.ptq.quantize_sequence`): ``params.npz`` (``NODE/weight_mant``,
``NEURON/const_mant``, in NIR layout as a model bundle's, ``manifest["quantization"]["layout"]``
``"nir"``; bundles quantized before it held Lava's layout and are refused with the line to
re-export) and ``manifest["quantization"]`` (formats, per-process scales and integers,
rounding errors, and the integer reference's spike agreement with ``nir-torch`` on the
calibration input); ``validate --executor lava-fixed --against emulator`` checks Lava's
fixed_pt models against the integer reference, ``--executor emulator`` the quantization
against float. Without ``--quantize int`` the manifest says ``{"status": "none"}``.

``validate`` runs the Lava float mapping (``lava-float``; or ``split``: the bundle's own
``chip.nir`` in the torch executor) against the NIR torch executor (``nir-torch``, the
reference, on ``graph.nir``) on ``--input FILE.npy`` -- shape ``(T, *input_shape)`` or
``(T, N, *input_shape)``, T = its first axis, neurons starting from rest -- or, without it,
100 steps of seeded random spikes at 10 % (seed 0, one sample), and writes
``validation.json`` with the verdict plus ``dt_s``, ``t_steps``, ``input`` and ``writer``.
``validate`` and ``report`` run it as any bundle (:mod:`neurodeploy.validation`, :mod:`neurodeploy.reporting`).
"""

from __future__ import annotations

import datetime as _dt
import platform
import shutil
from pathlib import Path
from typing import Any

import nir
import numpy as np

from neurodeploy import __version__
from neurodeploy.bundle_format import (FORMAT, FORMAT_VERSION, KIND_NIR, MANIFEST, TARGETS, check_destination,
                                       package_version, staged_dir, write_json_atomic)
from neurodeploy.errors import BundleError, NeurodeployError
from neurodeploy.ir import read_deploy_graph
from neurodeploy.ir.netxread import is_netx_graph
from neurodeploy.ir.nirread import CONVENTION_KEY, split_writer
from neurodeploy.netx_out import CHIP_NET, chip_net_plan, write_chip_net
from neurodeploy.checkpoint import file_sha256
from neurodeploy.limits import LOIHI2
from neurodeploy.targets import PARAMS  # the bundle's file of integers: one name for both kinds

WRITER_KEY = "neurodeploy.writer"
NETX_WRITER = "netx"  # manifest["writer"] of a lava-dl netx file's bundle

DEFAULT_STEPS = 100
DEFAULT_RATE = 0.1
LAYOUT = "nir"  # manifest["quantization"]["layout"]: params.npz's arrays in NIR layout


def export_nir_bundle(nir_file: str | Path, out: str | Path, target: str = "loihi", dt_s: float | None = None,
                      writer: str | None = None, force: bool = False, warn=None,
                      reset: str | None = None, quantize: str = "none", calib: Path | None = None,
                      source_note: dict[str, Any] | None = None, rules=None,
                      weight_bits: int | None = None) -> dict[str, Any]:
    """Read ``nir_file`` (another writer's graph; ``reset``: the reset of a writer that does not
    write it), map it to Lava, write the bundle ``out`` atomically (untouched on any error).
    ``quantize="int"``: Loihi 2 integers too, the input's scale from ``calib`` (a ``.npy`` like
    ``--input``; default: validate's random spikes); ``weight_bits``: the widest weight
    mantissa (bits, 8..15; above 8 a synapse whose neuron needs it becomes two synapse groups,
    :func:`neurodeploy.quantize.ptq.quantize_sequence`; default 8). Returns the manifest."""
    from neurodeploy.passes import annotated
    from neurodeploy.targets.loihi.lower import lower_graph

    if target not in TARGETS:
        raise NeurodeployError(f"unknown target '{target}'; supported: {', '.join(TARGETS)}")
    if quantize not in ("none", "int"):
        raise NeurodeployError(f"--quantize {quantize}: choose none or int")
    if calib is not None and quantize != "int":
        raise NeurodeployError("--calib FILE.npy sets the input scale of --quantize int; add --quantize int")
    if weight_bits is not None and quantize != "int":
        raise NeurodeployError("--weight-bits sets the integer weights of --quantize int; add --quantize int")
    out = check_destination(Path(out), force)
    nir_file = Path(nir_file)
    g = read_deploy_graph(nir_file, dt_s=dt_s, writer=writer, warn=warn, reset=reset, rules=rules)
    graph, dt = g.nir, g.info.dt_s
    netx = is_netx_graph(graph)  # a lava-dl netx file: its integers are the bundle's (quantized from the start)
    if netx:
        if calib is not None or weight_bits is not None:
            what = "--calib" if calib is not None else "--weight-bits"
            raise NeurodeployError(f"{what}: {nir_file} is a lava-dl netx file, whose integers are taken as they are "
                                   f"(nothing to quantize); drop {what}")
        writer, quantize = NETX_WRITER, "int"
    # --writer NAME@CONVENTION: the manifest's "writer" stays the name; the convention applied (chosen or
    # forced, and why) is its own key
    convention = graph.metadata.pop(CONVENTION_KEY, None)
    writer = split_writer(writer)[0]
    graph.metadata[WRITER_KEY] = writer or "nir"
    ann = annotated(g)  # the passes' decisions: LoweringError (one line naming the node) before anything is written
    mapping = lower_graph(ann)
    source = next(n for n, node in mapping.nodes.items() if node.kind == "input")
    input_shape = [int(v) for v in mapping.nodes[source].params["nir_shape"]]
    quant_summary, params = {"status": "none"}, None
    if quantize == "int":  # QuantizationError (one line naming the node) before anything is written
        quant_summary, params = _quantize(ann, calib, input_shape, netx, weight_bits or 8)
    if netx:
        facts, plan = netx_facts(ann), None
    else:  # chip.net of our own integers where netx can express the chip part (neurodeploy/netx_out.py)
        nested: dict[str, dict[str, np.ndarray]] = {}
        for key, arr in (params or {}).items():
            node, _, name = key.rpartition("/")
            nested.setdefault(node, {})[name] = arr
        plan, why = chip_net_plan(ann, quant_summary.get("layers") if params is not None else None,
                                  nested if params is not None else None)
        facts = {"chip_net": None, "reason": why} if plan is None else {
            "chip_net": CHIP_NET, "skip_layers": 0, "written_from": "the bundle's integers (params.npz)",
            "loader": f"lava.lib.dl.netx.hdf5.Network (lava-dl {package_version('lava-dl')})"}
    names = (["graph.nir", "chip.nir"] + ([PARAMS] if params is not None else [])
             + ([CHIP_NET] if netx or plan is not None else []))
    with staged_dir(out) as tmp:
        for name in ("graph.nir", "chip.nir"):
            nir.write(str(tmp / name), graph, compression=None)
        if params is not None:
            np.savez_compressed(tmp / PARAMS, **params)
        if netx:  # the chip part as netx loads it: the file itself (netx_executor runs it)
            shutil.copyfile(nir_file, tmp / CHIP_NET)
        elif plan is not None:
            facts["layers"] = write_chip_net(tmp / CHIP_NET, plan)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": KIND_NIR,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "target": target,
            "source": {"nir_file": str(nir_file.resolve()), "sha256": file_sha256(nir_file)},
            "writer": writer or "nir",
            "reset": reset,  # --reset as given (None: not given)
            "writer_convention": convention,  # {writer, convention, why} or None (issue 28)
            "rules": list(rules or []),  # --rule NAME=on|off as given (issue 28; [] : the writer's defaults)
            # the writer's neuron rules NIR cannot carry (also in graph.nir's node metadata)
            "neuron_rules": {n: g.info.rules(n).describe() for n in g.order if not g.info.rules(n).is_nir},
            "dt_s": dt,
            "input_shape": input_shape,
            "layers": list(mapping.layers),
            "versions": {"neurodeploy": __version__, "nir": package_version("nir"),
                         "lava-nc": package_version("lava-nc"),
                         "python": platform.python_version()},
            "files": {name: file_sha256(tmp / name) for name in names},
            # process kinds as the first bundles named them ("source" for the input); the delay
            # lines that balance a join are delays on edges ("delays"), no longer processes
            "lowering": {"processes": {n: "source" if p.kind == "input" else p.kind for n, p in mapping.nodes.items()},
                         "latency_steps": {n: p.latency for n, p in mapping.nodes.items()},
                         "steps_between_samples": mapping.sample_gap,
                         "delays": [{"src": e.src, "dst": e.dst, "steps": e.delay} for e in mapping.edges if e.delay]},
            "quantization": quant_summary,
            "netx": facts,
        }
        if netx:
            manifest["source"]["netx_file"] = str(nir_file.resolve())
        manifest["source"].update(source_note or {})  # e.g. the SLAYER module a netx file was written from
        write_json_atomic(tmp / MANIFEST, manifest)
    return manifest


def netx_facts(g) -> dict[str, Any]:
    """``manifest["netx"]`` of a netx file's bundle: ``chip.net`` (the file, as netx loads it), the
    layers netx skips (an input layer with a neuron), and each neuron layer's netx layer index."""
    from neurodeploy.ir.netxread import NETX_KEY, netx_layer

    layers = {n: int(netx_layer(g.node(n))["layer"]) for n in g.neuron_layers()}
    # layers that never fire (slayer's Affine readout): netx_executor reads their v, as ours do
    states = [n for n in g.neuron_layers() if not netx_layer(g.node(n)).get("spiking", True)]
    return {"chip_net": CHIP_NET, "skip_layers": int(g.nir.metadata[NETX_KEY].get("skip_layers", 0)),
            "layers": layers, "state_layers": states,
            "sigma_delta_layers": [n for n in g.neuron_layers() if g.kind(n) == "sigma_delta"],
            "loader": f"lava.lib.dl.netx.hdf5.Network (lava-dl {package_version('lava-dl')})"}


def peak_counts(g, traces) -> dict[str, int]:
    """Per layer sending several spikes per step (``GraphInfo.rules(...).multi``), the largest count one
    step sent in ``traces`` (the float graph's run of the calibration input): the quantizer's cap
    (:func:`neurodeploy.quantize.ptq.count_cap`)."""
    return {n: int(max(float(np.max(t.layers[n], initial=0.0)) for t in traces))
            for n in g.order if g.info.rules(n).multi and all(n in t.layers for t in traces)}


def _quantize(g, calib: Path | None, input_shape: list[int], netx: bool = False, weight_bits: int = 8
              ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest's quantization summary and ``params.npz``'s arrays (``g``: the annotated DeployGraph;
    ``netx``: the integers are a netx file's, taken as they are)."""
    from neurodeploy.quantize.netx import netx_integers
    from neurodeploy.quantize.ptq import formats_summary, quantize_sequence
    from neurodeploy.targets.emulator import SequenceEmulator
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor
    from neurodeploy.verify import verdict

    # a netx file's integers need no calibration: its check input is validate's default (every layer active)
    x, record = (default_input(g, input_shape) if netx and calib is None
                 else load_input(calib, input_shape, option="--calib"))
    reference = NirSequenceExecutor(g).run(x)
    quant, arrays = netx_integers(g) if netx else quantize_sequence(g, x, peak_counts(g, reference), weight_bits)
    names = [f"sample {i}" for i in range(x.shape[1])]
    emulator = SequenceEmulator(g, quant, arrays)
    v = verdict(reference, emulator.run(x), names, 0.0, 0.0)
    for name, counts in emulator.counts.items():  # what saturated or wrapped on the calibration input
        quant[name].update(counts)
    synapses = [q for q in quant.values() if q["kind"] in ("dense", "conv")]
    neurons = [q for q in quant.values() if q["kind"] == "lif"]
    spiking = {k: a for k, a in v.layers.items() if quant[k]["spiking"]}
    summary = {
        "status": "int",
        "method": ("the lava-dl netx file's own integers (weights, iDecay, vDecay, vThMant), taken as netx runs them"
                   if netx else "post-training quantization of the sequence graph (scales from the folded weights and the "
                                "thresholds; the input's scale from the calibration input)"),
        "chip": LOIHI2.name, "lava": "lava-nc 0.10.0 fixed_pt semantics (neurodeploy.limits)",
        "calibration_input": record,
        "formats": formats_summary(),
        # the integers of params.npz in NIR layout, like a model bundle's (earlier .nir bundles: Lava's)
        "layout": LAYOUT,
        "layers_quantized": {"synapse": len(synapses), "neuron": len(neurons),
                             "other": len(quant) - len(synapses) - len(neurons)},
        # --weight-bits (new keys): the widest mantissa asked for, and the synapses it split in two groups
        # (each twice its synaptic memory on the chip)
        "weight_bits": weight_bits,
        "two_group_synapses": [n for n, q in quant.items() if q.get("synapse_groups", 1) == 2],
        "worst_weight_rms_error": max((q["weight_rms_error"] for q in synapses), default=0.0),
        "worst_vth_rel_error": max((abs(q.get("vth_rel_error", 0.0)) for q in neurons), default=0.0),
        "saturated_values": int(sum(q.get("v_saturated", 0) + q.get("u_wrapped", 0) + q.get("acc_wrapped", 0)
                                    for q in quant.values())),
        "spike_agreement_pct": spiking,
        "spike_agreement_pct_min": min(spiking.values(), default=100.0),
        "spike_agreement_pct_mean": float(np.mean(list(spiking.values()))) if spiking else 100.0,
        "layers": quant,
    }
    return summary, {f"{node}/{key}": np.asarray(a, dtype=np.int64) for node, d in arrays.items() for key, a in d.items()}


# The default input's steps and spike rates, tried in order until every spiking layer of the graph
# fires in the float reference: a verdict over layers that never fire proves nothing about them.
DEFAULT_TRIES = ((DEFAULT_STEPS, DEFAULT_RATE), (400, DEFAULT_RATE), (400, 0.3), (1000, 0.3))


def default_input(g, input_shape: list[int], seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """``validate``'s input when none is given: seeded random spikes, the first of :data:`DEFAULT_TRIES`
    (steps, rate) on which every spiking layer of ``g`` (a DeployGraph) fires in ``nir-torch``; its
    record says which it took and, when even the last leaves layers silent, which (``never_fired``)."""
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    runner = NirSequenceExecutor(g)
    spiking = [n for n in runner.layers if g.kind(n) in ("if", "lif", "cubalif", "threshold")]
    shape = tuple(input_shape)
    if any(g.kind(n) == "sigma_delta" for n in runner.layers):
        return _walk_deltas(shape, seed)
    for steps, rate in DEFAULT_TRIES:
        x = (np.random.default_rng(seed).random((steps, 1, *shape)) < rate).astype(np.float64)
        trace = runner.run(x)[0]
        silent = [n for n in spiking if not np.any(trace.layers[n])]
        if not silent:
            break
    record = {"kind": "random_spikes", "rate": rate, "seed": seed, "t_steps": steps, "samples": 1,
              "chosen": "the first of (steps, rate) " + ", ".join(f"({a}, {b:g})" for a, b in DEFAULT_TRIES)
                        + " on which every spiking layer fires in nir-torch"}
    if silent:
        record["never_fired"] = silent
    return x, record


SDNN_PAYLOAD_BITS = 12  # a netx sigma-delta network's messages: 12 fraction bits (spike_exp + state_exp)


def _walk_deltas(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """A sigma-delta network's default input: seeded random walks in [0, 1] (step s.d. 0.05), delta-encoded
    as the integer payloads netx takes (12 fraction bits: 1.0 is 4096); binary spikes would never reach
    its thresholds."""
    rng = np.random.default_rng(seed)
    walk = np.clip(0.5 + np.cumsum(rng.normal(0, 0.05, (DEFAULT_STEPS, 1, *shape)), axis=0), 0, 1)
    q = np.round(walk * (1 << SDNN_PAYLOAD_BITS))
    x = np.diff(q, axis=0, prepend=0.0)
    return x, {"kind": "random_walk_deltas", "step_sd": 0.05, "fraction_bits": SDNN_PAYLOAD_BITS, "seed": seed,
               "t_steps": DEFAULT_STEPS, "samples": 1,
               "chosen": "a sigma-delta network: delta-encoded random walks as 12-fraction-bit payloads"}


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


def load_integers(path: Path, manifest: dict) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """``(quant, arrays)`` of a bundle exported with ``--quantize int``; one-line BundleError otherwise."""
    q = manifest.get("quantization") or {}
    if q.get("status") != "int" or not (path / PARAMS).is_file():
        raise BundleError(f"{path} is not quantized; export the .nir file with --quantize int (and --calib FILE.npy "
                          "for other inputs than random spikes)")
    if q.get("layout") != LAYOUT:
        raise BundleError(f"{path} was quantized by an earlier neurodeploy (its integers in Lava's layout); re-export "
                          "the .nir file with --quantize int")
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
