"""Report: per-layer neurons, spikes, operations, cores and energy of one run.

Reads Traces and the graph (plus the partition summary the partition pass wrote), never
an executor's internals. Definitions (per image, averaged over the images given; operation
definitions in :mod:`neurodeploy.ops`, energy models in :mod:`neurodeploy.energy`):

- ``neurons``: neurons in the layer (C·H·W of its output).
- ``spikes``: spikes the layer emits over the T logical steps (a graded spike counts once);
  ``spikes_per_step``: the same per logical step (a list of T numbers).
- ``firing_rate``: spikes / (neurons · T), in spikes per neuron per time step.
- ``synops``: NeuroBench effective synaptic operations the layer's *binary* spikes cause
  through its outgoing convs: each spike times the synapses it reaches, exact at borders.
- ``macs``: the same effective operations where the layer's output is *graded* (NI-LIF
  levels): multiply-accumulates, counted apart.
- ``cores``: Loihi cores the layer needs at least, by neurons alone
  (``neurodeploy.limits.LOIHI2.compartments_per_core``, a Loihi 1 figure).
- ``real_inputs``: convs fed by real values (the image, residual streams, host outputs):
  dense MACs per image (T evaluations for per-step convs), counted apart from synops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


from neurodeploy.bundle import Bundle, BundleInputs
from neurodeploy.chip_fit import report_section
from neurodeploy.bundle_format import write_json_atomic, write_text_atomic
from neurodeploy.energy import OpCounts, energy_section
from neurodeploy.errors import NeurodeployError
from neurodeploy.images import load_inputs
from neurodeploy.report_counts import (DEFINITIONS_REPORT, add_layer_energy, input_ops, layer_table,
                                       mean_over_samples, real_input_table, sequence_layer_table, totals_section)
from neurodeploy.targets import make_executor, most_faithful
from neurodeploy.trace import Trace

DEFAULT_FPS = 30.0


def _paper_counts(bundle: Bundle) -> tuple[float, float]:
    """thop's FLOPs and SOPs of the bundle's model at its input size (the papers' convention)."""
    from neurodeploy.models.counting import count

    h, w = bundle.input_size
    c = count(bundle.model(), h, w)
    return float(c.flops_paper), float(c.synops_paper)


def build_report(traces: list[Trace], images: list[str], bundle: Bundle, fps: float = DEFAULT_FPS,
                 paper_counts: tuple[float, float] | None = None, system: str | None = None) -> dict[str, Any]:
    """The report as JSON-ready data (see the module docstring for every key); ``system``: the
    Loihi 2 system the chip part is mapped onto (default: the smallest that holds it)."""
    layers = mean_over_samples([layer_table(t, bundle.graph, bundle.info) for t in traces])
    t_steps = bundle.info.t_steps
    spikes = sum(r["spikes"] for r in layers)
    real = real_input_table(bundle.graph, bundle.info)
    part = bundle.manifest.get("partition", {})
    host = part.get("host", {})
    chip = part.get("chip", {})
    host_macs = float(host.get("macs_per_image", 0)) + float(host.get("host_block_flops_per_image", 0)) / 2
    chip_real_macs = sum(r["macs"] for r in real if r["side"] == "chip")
    flops_paper, synops_paper = paper_counts if paper_counts is not None else _paper_counts(bundle)
    counts = OpCounts(
        synops=sum(r["synops"] for r in layers if r["side"] == "chip"),
        effective_macs=sum(r["macs"] for r in layers if r["side"] == "chip") + chip_real_macs,
        host_macs=host_macs, spikes=spikes,
        neuron_updates=float(sum(r["neurons"] for r in layers if r["side"] == "chip") * t_steps),
        flops_paper=flops_paper, synops_paper=synops_paper)
    energy = energy_section(counts, fps)
    add_layer_energy(layers, t_steps)
    fit = report_section(bundle.deploy_graph, traces, host_macs, system)
    energy["system_uj"] = fit["system_uj"]
    energy["system_terms"] = fit["system_energy_terms"]
    energy["per_op_figures"] = fit["per_op_figures"]
    return {
        "bundle": str(bundle.path),
        "architecture": bundle.manifest["architecture"],
        "mapping": fit["mapping"],
        "traffic": fit["traffic"],
        "time": fit["time"],
        "time_per_image_s": fit["time_per_image_s"],
        "images_per_s": fit["images_per_s"],
        "executor": traces[0].executor,
        "images": images,
        "t_steps": t_steps,
        "input_shape": list(bundle.info.input_shape),
        "layers": layers,
        "real_inputs": real,
        "totals": totals_section(layers, real, t_steps, host_macs, chip),
        "energy": energy,
        # from the Trace (Lava executors record it), never from the manifest: null elsewhere
        "lava_steps_per_image": traces[0].meta.get("lava_steps_per_image"),
        "definitions": dict(DEFINITIONS_REPORT),
    }


def build_nir_report(traces: list[Trace], inputs: BundleInputs, bundle: Bundle,
                     fps: float | None = None, system: str | None = None) -> dict[str, Any]:
    """The report of a .nir file's bundle on ``inputs`` (its sequences) as JSON-ready data (module
    docstring; ``fps`` in samples per second; ``system``: the Loihi 2 system the graph is mapped
    onto, default the smallest that holds it -- the mapping keys as a model's report, per sample)."""
    t_steps = traces[0].t_steps
    manifest, graph, x, dt = bundle.manifest, bundle.graph, inputs.array, bundle.dt_s
    fps = fps if fps is not None else 1.0 / (t_steps * dt)
    # a quantized bundle's synapses split in two groups (export --weight-bits): twice their memory and reads
    quant = manifest["quantization"].get("layers", {}) if manifest["quantization"]["status"] == "int" else {}
    groups = {n: int(q["synapse_groups"]) for n, q in quant.items() if q.get("synapse_groups", 1) != 1}
    layers = mean_over_samples([sequence_layer_table(t, graph, dt, groups) for t in traces])
    inp = input_ops(graph, x, dt, groups)
    neurons = sum(r["neurons"] for r in layers)
    synops = sum(r["synops"] for r in layers) + inp["synops"]
    macs = sum(r["macs"] for r in layers) + inp["macs"]
    counts = OpCounts(synops=synops, effective_macs=macs, spikes=sum(r["spikes"] for r in layers),
                      neuron_updates=float(neurons * t_steps), synops_paper=synops + macs)
    energy = energy_section(counts, fps)
    energy["per"] = "sample"
    energy["models"]["papers"]["note"] = ("a .nir file has no torch model for thop: FLOPs term 0, SOPs = all "
                                          "effective operations (the papers' convention is for the derainers)")
    add_layer_energy(layers, t_steps)
    from neurodeploy.passes import annotated

    mapped = annotated(bundle.deploy_graph)
    mapped.info.quant = quant  # the mapping stores each split synapse's two groups
    fit = report_section(mapped, traces, 0.0, system)  # no host islands: 0 host MACs
    energy["system_uj"] = fit["system_uj"]
    energy["system_terms"] = fit["system_energy_terms"]
    energy["per_op_figures"] = fit["per_op_figures"]
    totals = totals_section(layers, [], t_steps, 0.0, {})
    totals.update(input_synops=inp["synops"], input_macs=inp["macs"])
    source = Path(manifest.get("source", {}).get("nir_file", "graph.nir")).name
    definitions = dict(DEFINITIONS_REPORT)
    definitions.update(
        spikes="spikes a spiking neuron layer emits over T steps, per sample (mean over samples); "
               "I/LI/CubaLI emit none",
        synops="every binary spike times the synapses it reaches: Affine/Linear its output features, convs and "
               "pooling the kernel taps inside the output map (NeuroBench effective operations)",
        input_synops="the input's non-zero entries times their fan-out (MACs instead when the input is not 0/1)",
        cores=definitions["cores"] + "; total: all neurons together",
        energy="per sample of T steps; fps = samples per second (default 1 / (T dt), real time)")
    return {
        "bundle": str(bundle.path),
        "architecture": f"{source} (NIR file, writer {manifest['writer']})",
        "kind": "nir",
        "executor": traces[0].executor,
        "images": [f"sample {i}" for i in range(len(traces))],
        "t_steps": t_steps,
        "input_shape": list(manifest["input_shape"]),
        "dt_s": dt,
        "sample_duration_s": t_steps * dt,
        "writer": manifest["writer"],
        "input": inputs.record,
        "input_ops": inp,
        "layers": layers,
        "real_inputs": [],
        "totals": totals,
        "energy": energy,
        "lava_steps_per_image": traces[0].meta.get("lava_steps_per_image"),
        "definitions": definitions,
        "membranes": membrane_section(traces[0], graph),
        "mapping": fit["mapping"],
        "traffic": fit["traffic"],
        "time": fit["time"],
        "time_per_image_s": fit["time_per_image_s"],
        "images_per_s": fit["images_per_s"],
    }


MEMBRANE_PLOT_NEURONS = 300  # a graph with at most this many neurons gets its voltages plotted


def membrane_section(trace: Trace, graph) -> dict[str, dict[str, float]]:
    """Per spiking layer whose membranes the executor recorded, its threshold and reset (model units;
    the first neuron's, Loihi holds one ``v_th - v_reset`` per layer): what report.html draws the
    voltages against. Empty for graphs of more than :data:`MEMBRANE_PLOT_NEURONS` neurons."""
    import numpy as np

    if sum(int(np.prod(v.shape[1:])) for v in trace.membranes.values()) > MEMBRANE_PLOT_NEURONS:
        return {}
    out = {}
    for name in trace.membranes:
        node = graph.nodes[name]
        if getattr(node, "v_threshold", None) is None:
            continue  # I/LI/CubaLI: a state that never fires, drawn without a threshold
        reset = getattr(node, "v_reset", None)
        out[name] = {"v_threshold": float(np.asarray(node.v_threshold).flat[0]),
                     "v_reset": float(np.asarray(0.0 if reset is None else reset).flat[0])}
    return out


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def to_markdown(report: dict[str, Any], validation: dict | None = None) -> str:
    """``report.md``; a .nir file's report (``kind`` "nir") counts per sample instead of per image."""
    nir_kind = report.get("kind") == "nir"
    unit = "sample" if nir_kind else "image"
    lines = [
        f"# Spike report: {report['architecture']}",
        "",
        f"Executor `{report['executor']}`, T = {report['t_steps']}, input {tuple(report['input_shape'])}, "
        f"images: {', '.join(report['images'])}. Per image, mean over images." if not nir_kind else
        f"Executor `{report['executor']}`, T = {report['t_steps']} steps of dt = {report['dt_s']:g} s, input "
        f"{tuple(report['input_shape'])} per step ({_input_words(report['input'])}), {len(report['images'])} "
        "sample(s). Per sample, mean over samples.",
        "",
    ]
    if validation:
        fd = validation.get("first_divergence")
        verdict = "PASSED" if validation.get("passed") else "FAILED"
        lines += [f"**Validation: {verdict}** — `{validation.get('executor')}` against `{validation.get('reference')}`: "
                  f"lowest layer agreement {min(validation.get('layers', {0: 100.0}).values()):.4f} %, output PSNR "
                  f"{validation.get('output_psnr_db', float('nan')):.2f} dB"
                  + (f"; first divergence at layer `{fd['layer']}`, step {fd['step']}, neuron "
                     f"(c, y, x) = {tuple(fd['index'])}" if fd else "") + ".", ""]
    lines += [
        "| layer | side | neurons | cores | spikes | spikes per step | firing rate | synops | MACs (graded) | out edge |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in report["layers"]:
        steps = " / ".join(f"{v:,.0f}" for v in r["spikes_per_step"])
        lines.append(f"| {r['layer']} | {r['side']} | {r['neurons']:,} | {r['cores']} | {r['spikes']:,.0f} | {steps} | "
                     f"{r['firing_rate']:.4f} | {r['synops']:,.0f} | {r['macs']:,.0f} | {r['edge_kind']} |")
    t = report["totals"]
    lines.append(f"| **total** | | {t['neurons']:,} | {t['cores']} | {t['spikes']:,.0f} | | {t['firing_rate']:.4f} | "
                 f"{t['synops']:,.0f} | {t['macs']:,.0f} | |")
    if nir_kind:
        i = report["input_ops"]
        lines += ["", f"Input `{i['node']}`: {i['events']:,.0f} non-zero entries per sample ({i['edge_kind']}), "
                      f"{i['synops']:,.0f} synops, {i['macs']:,.0f} MACs. Cores: {t['cores']} ({t['cores_basis']}).", ""]
        graded = [r for r in report["layers"] if "messages" in r]
        if graded:  # sigma-delta layers: their "spikes" are graded messages
            lines += ["Sigma-delta layers send graded messages only when their value changes: "
                      + "; ".join(f"`{r['layer']}` {r['messages']:,.0f} messages per sample, payloads up to "
                                  f"{r['payload_max_abs']:,.0f} ({r['payload_bits']} bits signed)" for r in graded)
                      + ".", ""]
    else:
        lines += ["", f"Real-valued inputs: {len(report['real_inputs'])} convs, {t['real_input_macs']:,.0f} MACs per "
                      f"image; host part: {t['host_macs']:,.0f} MACs per image. Cores: {t['cores']} ({t['cores_basis']}).",
                  ""]
    e = report["energy"]
    fps = e.get("fps")
    rate = f"{fps:g} samples/s" if nir_kind else f"{fps:g} fps"
    lines += [f"## Energy per {unit}", "",
              f"| model | per {unit} (µJ) | " + (f"per second at {rate} (µJ)" if fps else "per second")
              + " | terms (µJ) |",
              "|---|---:|---:|---|"]
    for m in e["models"].values():
        terms = ", ".join(f"{k} {_fmt(v)}" for k, v in m["terms_uj"].items())
        per_s = _fmt(m["per_second_uj"]) if m["per_second_uj"] is not None else "-"
        lines.append(f"| {m['title']} | {_fmt(m['per_image_uj'])} | {per_s} | {terms} |")
    lines += ["", e["why_they_differ"], ""] + [f"- {m['title']}: {m['note']}. Sources: {'; '.join(m['sources'])}."
                                               for m in e["models"].values()]
    if "mapping" in report:
        lines += [""] + mapping_markdown(report)
    lines += ["", "Definitions:"] + [f"- {k}: {v}" for k, v in report["definitions"].items()] + [""]
    return "\n".join(lines)


def mapping_markdown(report: dict[str, Any]) -> list[str]:
    """The report.md section on cores, chips, traffic, time and whole-system energy."""
    m, t, su = report["mapping"], report["time"], report["energy"]["system_uj"]
    lines = [f"## On {m['system_figures']['title']} ({m['system_chosen']})", "",
             f"{m['cores']:,} cores on {m['chips']} chip(s) of {m['system_chips']} "
             f"({'fits' if m['fits'] else 'does not fit'}); core budget `{m['budget']['name']}` "
             f"(under the other budget: {', '.join(f'{k} {v:,} cores' for k, v in m['cores_under_other_budget'].items())}).",
             "", "| layer | kind | shape | blocks | split (c, y, x) | tile | whole layer exceeds | cores |",
             "|---|---|---|---:|---|---|---|---|"]
    for name, r in m["layers"].items():
        lines.append(f"| {name} | {r['kind']} | {'x'.join(map(str, r['shape']))} | {r['blocks']} | "
                     f"{tuple(r['split'])} | {'x'.join(map(str, r['tile']))} | {', '.join(r['exceeded']) or '-'} | "
                     f"{r['cores'][0]}-{r['cores'][1] - 1} |")
    lines += ["", "| link | messages per step | bits per step |", "|---|---:|---:|"]
    for k in ("within_core", "core_to_core", "chip_to_chip", "host_to_chip", "chip_to_host"):
        lines.append(f"| {k} | {report['traffic'][k]['messages_per_step']:,.0f} | {report['traffic'][k]['bits_per_step']:,.0f} |")
    lines += ["", f"Time per step {t['step_s'] * 1e6:.3g} µs, bound by **{t['bottleneck']}** "
                  f"({', '.join(f'{k} {v * 1e6:.3g} µs' for k, v in t['step_bounds_s'].items())}); "
                  f"{t['steps_per_image']} steps per image: chip {t['chip_s_per_image']:.4g} s + host "
                  f"{t['host_s_per_image']:.4g} s ({t['host_note']}) = **{report['time_per_image_s']:.4g} s per "
                  f"image**, {report['images_per_s']:.4g} images/s.", "",
              "| whole-system energy per image | µJ | how |", "|---|---:|---|"]
    for k in ("chip", "host", "io"):
        lines.append(f"| {k} | {_fmt(su[k])} | {report['energy']['system_terms'][k]} |")
    lines.append(f"| **total** | {_fmt(su['total'])} | beside the papers' convention above |")
    lines += ["", "Assumptions:"] + [f"- {k}: {v}" for k, v in m["assumptions"].items()]
    figs = m["system_figures"]
    lines += [f"- {k}: {v['value']:g} {v['unit']} ({v['source']}{'; ' + v['note'] if v.get('note') else ''})"
              for k, v in figs.items() if isinstance(v, dict) and v.get("assumption")]
    return lines + [""]


def _input_words(record: dict[str, Any]) -> str:
    if record.get("kind") == "random_spikes":
        return f"seeded random spikes at {100 * record['rate']:g} %, seed {record['seed']}"
    return f"from {Path(record.get('path', '?')).name}"


def _validation_row(label: str, v: dict) -> tuple[str, str]:
    when = f", {v['validated_utc']}" if v.get("validated_utc") else ""
    silent = f", {len(v['silent_layers'])} silent layer(s)" if v.get("silent_layers") else ""
    return (f"{label} ({v['executor']} vs {v['reference']}{when})",
            ("PASSED" if v["passed"] else "FAILED")
            + f", min {min(v['layers'].values(), default=100.0):.3f} %, {v['output_psnr_db']:.1f} dB{silent}")


def summary_rows(report: dict[str, Any], validation: dict | None = None,
                 earlier: list[dict] | None = None) -> list[tuple[str, str]]:
    """``report --summary``'s table as (quantity, value) rows; a ``.nir`` file's report counts per sample.
    ``validation``: this run's executor's verdict; ``earlier``: other executors' verdicts in the bundle,
    each labelled with its executor and time (never passed off as this run's)."""
    t, e = report["totals"], report["energy"]["models"]
    rows = [("this report's executor", report["executor"])]
    if validation:
        rows.append(_validation_row("validation", validation))
    for v in earlier or []:
        rows.append(_validation_row("earlier validation", v))
    unit = "sample" if report.get("kind") == "nir" else "image"
    rows.append(("neurons / Loihi cores (min)", f"{t['neurons']:,} / {t['cores']:,}"))
    rows.append((f"spikes per {unit} (firing rate)", f"{t['spikes']:,.0f} ({t['firing_rate']:.3f})"))
    if unit == "sample":
        rows.append(("synops / MACs (graded), layers + input events",
                     f"{t['synops']:,.0f} + {t['input_synops']:,.0f} / {t['macs']:,.0f} + {t['input_macs']:,.0f}"))
    else:
        rows.append(("synops / MACs (graded) / MACs (real inputs) / host MACs",
                     f"{t['synops']:,.0f} / {t['macs']:,.0f} / {t['real_input_macs']:,.0f} / {t['host_macs']:,.0f}"))
    for m in e.values():
        rows.append((f"energy, {m['title'].split(' (')[0]}", f"{m['per_image_uj']:.4g} µJ/{unit}"))
    return rows


def read_validations(bundle_path: Path) -> dict[str, dict]:
    """Every executor's latest verdict in ``validation.json`` (executor -> verdict; {} without one)."""
    import json

    path = Path(bundle_path) / "validation.json"
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    entries = {k: v for k, v in (data.get("executors") or {}).items() if isinstance(v, dict) and "passed" in v}
    if "passed" in data and data.get("executor") not in entries:  # a file written before entries existed
        entries[data.get("executor")] = {k: v for k, v in data.items() if k != "executors"}
    return entries


def read_validation(bundle_path: Path, executor: str | None = None) -> dict | None:
    """``executor``'s entry in ``validation.json`` (a file written before entries existed: its
    top-level run, when that was ``executor``'s); without ``executor``, the latest run. None when
    there is no such validation -- a report of one executor never shows another's verdict."""
    import json

    path = Path(bundle_path) / "validation.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return None
    if not isinstance(data, dict) or "passed" not in data:
        return None
    latest = {k: v for k, v in data.items() if k != "executors"}
    if not executor:
        return latest
    entry = (data.get("executors") or {}).get(executor)
    if isinstance(entry, dict) and "passed" in entry:
        return entry
    return latest if latest.get("executor") == executor else None


def report_bundle(path: "str | Path | Bundle", images: list[Path] | None = None, executor: str | None = None,
                  fps: float | None = None, html: bool = True, truth: list[Path] | None = None,
                  input_file: Path | None = None, system: str | None = None) -> dict[str, Any]:
    """Run ``executor`` (default: the most faithful one the bundle supports) on the inputs and
    write ``report.json``, ``report.md`` and (``html``) ``report.html`` into the bundle -- all
    computed first, so an error writes nothing.

    Args:
        images: a model's bundle: files or folders (default: the shipped rainy photo).
        input_file: a ``.nir`` file's bundle: its input ``.npy`` (default: seeded random spikes).
        fps: frames (a ``.nir`` file's bundle: samples) per second for the per-second energy
            totals; default 30 fps, or for a ``.nir`` file 1 / (T dt), real time.
        truth: clean images matching ``images`` (centre-cropped alike), shown and scored in the HTML.
    """
    bundle = path if isinstance(path, Bundle) else Bundle.open(path)  # the CLI passes it opened
    if system is not None:
        from neurodeploy.systems import get_system

        get_system(system)  # an unknown name is refused before anything runs
    executor = executor or most_faithful(bundle)
    inputs = bundle.inputs(images, input_file, truth)
    runner = make_executor(executor, bundle)
    traces = runner.run(inputs.array)
    if bundle.is_nir:
        report = build_nir_report(traces, inputs, bundle, fps, system)
    else:
        report = build_report(traces, inputs.names, bundle, fps=fps if fps is not None else DEFAULT_FPS,
                              system=system)
    validation = read_validation(bundle.path, executor)
    page = None
    if html:
        from neurodeploy.report_html import to_html

        # The picture to show: the first input, or the one where a failed validation of this
        # executor first diverged, against that validation's reference.
        shown, reference_name = 0, bundle.default_reference
        if validation and validation.get("executor") == executor:
            reference_name = validation.get("reference", reference_name)
            fd = validation.get("first_divergence") or {}
            shown = inputs.names.index(fd["image"]) if fd.get("image") in inputs.names else 0
        reference = (traces[shown] if executor == reference_name
                     else make_executor(reference_name, bundle).run(inputs.take(shown, shown + 1))[0])
        clean = None
        if truth:
            clean, _ = load_inputs(truth[:1], bundle.input_size)
            clean = clean[0] if shown == 0 else None
        page = to_html(report, inputs.sample(shown), traces[shown], reference, validation, clean)
    write_json_atomic(bundle.path / "report.json", report)
    write_text_atomic(bundle.path / "report.md", to_markdown(report, validation))
    if page is not None:
        write_text_atomic(bundle.path / "report.html", page)
    return report
