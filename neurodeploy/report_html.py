"""``report.html``: one self-contained page (no network) a person opens.

Images (input, output, reference, difference, ground truth when given) and charts
(matplotlib, Agg backend) are inlined as base64 PNG. Sections: verdict, images, per-layer
firing rate and energy charts, per-step spikes, a spike heatmap per layer (firing rate
per pixel, averaged over channels and steps), the divergence view when validation
failed, the per-layer table and the three energy models with their sources.

A .nir file's report (``kind`` "nir") shows, instead of images, rasters of the input and
the outputs over time, and two more charts: synops and cores per layer, and a spike
raster per layer.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

from neurodeploy.trace import Trace

# Element ids the Chromium test looks for (stable: tests and users may link to them).
CHART_IDS = ("chart-firing-rate", "chart-energy", "chart-spikes-per-step")


def _png(fig, dpi: int = 100) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _image_png(image: np.ndarray, scale: int = 1) -> str:
    from PIL import Image

    rgb = np.clip(np.asarray(image).transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    img = Image.fromarray(rgb)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _short(name: str, n: int = 28) -> str:
    return name if len(name) <= n else "…" + name[-(n - 1):]


def firing_rate_chart(report: dict) -> str:
    layers = report["layers"]
    fig, ax = _figure(max(6, 0.22 * len(layers)), 3.2)
    colors = ["#1f77b4" if r["side"] == "chip" else "#ff7f0e" for r in layers]
    ax.bar(range(len(layers)), [r["firing_rate"] for r in layers], color=colors)
    ax.set_xticks(range(len(layers)), [_short(r["layer"]) for r in layers], rotation=90, fontsize=6)
    ax.set_ylabel("spikes / neuron / step")
    ax.set_title("firing rate per layer (blue: chip, orange: host)")
    return _png(fig)


def energy_chart(report: dict) -> str:
    layers = report["layers"]
    fig, ax = _figure(max(6, 0.22 * len(layers)), 3.2)
    x = np.arange(len(layers))
    ax.bar(x - 0.2, [r["energy_uj"]["loihi"] for r in layers], 0.4, label="Loihi per-op (Loihi 1 figures)")
    ax.bar(x + 0.2, [r["energy_uj"]["horowitz45nm"] for r in layers], 0.4, label="45 nm AC/MAC")
    ax.set_xticks(x, [_short(r["layer"]) for r in layers], rotation=90, fontsize=6)
    ax.set_yscale("log")
    ax.set_ylabel(f"µJ per {report['energy'].get('per', 'image')}")  # a .nir file's report: per sample
    ax.set_title("energy per layer (its spikes' operations, its neuron updates)")
    ax.legend(fontsize=7)
    return _png(fig)


def spikes_per_step_chart(report: dict) -> str:
    fig, ax = _figure(6, 2.8)
    steps = report["totals"]["spikes_per_step"]
    ax.plot(range(len(steps)), steps, marker="o")
    ax.set_xlabel("logical time step")
    ax.set_ylabel("spikes (all layers)")
    if len(steps) <= 32:  # one tick per step while they stay legible
        ax.set_xticks(range(len(steps)))
    ax.set_title("spikes per time step")
    return _png(fig)


def synops_cores_chart(report: dict) -> str:
    """Per layer: synaptic operations its spikes cause (bars: synops, MACs stacked) and the Loihi cores
    it needs (dots)."""
    layers = report["layers"]
    fig, ax = _figure(max(6, 0.4 * len(layers)), 3.2)
    x = np.arange(len(layers))
    synops, macs = [r["synops"] for r in layers], [r["macs"] for r in layers]
    ax.bar(x, synops, label="synops (binary spikes)")
    ax.bar(x, macs, bottom=synops, label="MACs (graded values)")
    ax.set_xticks(x, [_short(r["layer"]) for r in layers], rotation=90, fontsize=6)
    ax.set_ylabel(f"operations per {report.get('energy', {}).get('per', 'image')}")
    ax.set_title("synaptic operations caused per layer (spikes x fan-out) and Loihi cores")
    cores = ax.twinx()
    cores.plot(x, [r["cores"] for r in layers], "o", color="#d62728", label="Loihi cores (right)")
    cores.set_ylabel("cores")
    cores.set_ylim(0, max(r["cores"] for r in layers) * 1.25 + 0.5)
    handles = ax.get_legend_handles_labels()[0] + cores.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=7)
    return _png(fig)


def rasters(named: list[tuple[str, np.ndarray]], max_neurons: int = 512) -> str:
    """Spike rasters, one panel per ``(title, values (T, ...))``: neuron index (the first
    ``max_neurons``) against logical time step; black where non-zero."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(named), 1, figsize=(7, 1.1 + 1.2 * len(named)), squeeze=False)
    for ax, (title, values) in zip(axes[:, 0], named):
        flat = np.asarray(values).reshape(np.asarray(values).shape[0], -1)[:, :max_neurons]
        ax.imshow(flat.T != 0, cmap="Greys", aspect="auto", interpolation="nearest")
        ax.set_title(_short(title, 60) + (f" (first {max_neurons} neurons)" if np.prod(values.shape[1:]) > max_neurons
                                          else ""), fontsize=7)
        ax.set_ylabel("neuron", fontsize=6)
        ax.tick_params(labelsize=6)
    axes[-1, 0].set_xlabel("logical time step", fontsize=7)
    fig.tight_layout()
    return _png(fig)


def membrane_chart(trace: Trace, thresholds: dict[str, dict[str, float]], per_layer: int = 4) -> str:
    """Per layer with a threshold, the membrane potential ``v`` (model units) of its first
    ``per_layer`` neurons over logical time steps, the threshold dashed and the reset dotted."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = [n for n in thresholds if n in trace.membranes]
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 1.2 + 1.5 * len(names)), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        v = np.asarray(trace.membranes[name]).reshape(trace.t_steps, -1)[:, :per_layer]
        for k in range(v.shape[1]):
            ax.plot(v[:, k], lw=0.8, label=f"neuron {k}")
        ax.axhline(thresholds[name]["v_threshold"], color="k", ls="--", lw=0.8, label="v_threshold")
        ax.axhline(thresholds[name]["v_reset"], color="gray", ls=":", lw=0.8, label="v_reset")
        ax.set_title(f"{_short(name, 60)} ({trace.executor})", fontsize=7)
        ax.set_ylabel("v", fontsize=6)
        ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=5, ncol=6, loc="upper right")
    axes[-1, 0].set_xlabel("logical time step", fontsize=7)
    fig.tight_layout()
    return _png(fig)


def heatmaps(trace: Trace, columns: int = 8) -> str:
    """One figure: per layer, its firing rate per pixel (mean over channels and steps), 0 black to 1 white."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = list(trace.layers)
    rows = max(1, -(-len(names) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.3, rows * 1.45), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, name in zip(axes.flat, names):
        spikes = np.asarray(trace.layers[name]) != 0
        rate = spikes.mean(axis=(0, 1)) if spikes.ndim == 4 else spikes.reshape(spikes.shape[0], -1).mean(0)[None]
        ax.imshow(np.atleast_2d(rate), cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(_short(name, 20), fontsize=5)
    return _png(fig)


def divergence_view(validation: dict, reference: Trace, executor_trace: Trace | None) -> str | None:
    """The layer and step of the first divergence: reference spikes, executor spikes, and where they differ."""
    fd = (validation or {}).get("first_divergence")
    if not fd or validation.get("passed", True) or executor_trace is None:
        return None
    layer, step = fd["layer"], fd["step"]
    if layer not in reference.layers or layer not in executor_trace.layers:
        return None
    ref, got = reference.layers[layer][step], executor_trace.layers[layer][step]
    channel = fd["index"][0] if ref.ndim == 3 else None
    if channel is not None:
        ref, got = ref[channel], got[channel]
    ref, got = np.atleast_2d(ref), np.atleast_2d(got)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
    for ax, data, title in zip(axes, (ref, got, (ref != got).astype(float)),
                               (validation.get("reference", "reference"), executor_trace.executor, "differs")):
        ax.imshow(data, cmap="gray" if title != "differs" else "Reds", interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
        if len(fd["index"]) == 3:
            ax.plot([fd["index"][2]], [fd["index"][1]], marker="s", mfc="none", mec="cyan", ms=8)
    fig.suptitle(f"first divergence: {layer}, step {step}, channel {channel}", fontsize=9)
    return _png(fig)


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fff}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}.pass{color:#080}.fail{color:#b00}
figure{display:inline-block;margin:6px;text-align:center;font-size:12px}
.heat img{width:120px}.imgs img{width:192px;image-rendering:pixelated}
"""


def mapping_html(report: dict[str, Any]) -> str:
    """Cores, chips, the occupancy heatmap (one cell per core, one row per chip), traffic, time and
    the whole-system energy (the report's ``mapping``, ``traffic``, ``time`` and ``energy.system_uj``)."""
    esc = html.escape
    m, su, t = report["mapping"], report["energy"]["system_uj"], report["time"]
    occ = m.get("occupancy_per_core") or m["occupancy_per_chip"]
    per_row = m["cores_per_chip"] if m.get("occupancy_per_core") else 32
    rows = [occ[i:i + per_row] for i in range(0, len(occ), per_row)]
    grid = "".join("<div style='display:flex'>" + "".join(
        f"<span title='{v:.0%}' style='width:6px;height:10px;background:rgb({int(255 * v)},{int(80 + 100 * v)},"
        f"{int(255 * (1 - v))})'></span>" for v in row) + "</div>" for row in rows)
    traffic = "".join(f"<tr><td>{esc(k)}</td><td>{report['traffic'][k]['messages_per_step']:,.0f}</td>"
                      f"<td>{report['traffic'][k]['bits_per_step']:,.0f}</td></tr>"
                      for k in ("within_core", "core_to_core", "chip_to_chip", "host_to_chip", "chip_to_host"))
    return (f"<h2 id='mapping'>On {esc(m['system_figures']['title'])}</h2><p>{m['cores']:,} cores on {m['chips']} "
            f"chip(s) of {m['system_chips']} ({'fits' if m['fits'] else 'does not fit'}; budget "
            f"{esc(m['budget']['name'])}; {esc(m['system_chosen'])}).</p>"
            f"<p>Occupancy (neurons used / core budget; one cell per core, one row per chip"
            f"{'' if m.get('occupancy_per_core') else ', per chip averages'}; blue empty, red full):</p>"
            f"<div id='occupancy-heatmap'>{grid}</div>"
            f"<h3>Traffic per step</h3><table id='traffic'><tr><th>link</th><th>messages</th><th>bits</th></tr>"
            f"{traffic}</table><p>Step {t['step_s'] * 1e6:.3g} µs bound by <b>{esc(t['bottleneck'])}</b>; "
            f"<b>{report['time_per_image_s']:.4g} s per image</b> ({report['images_per_s']:.4g} images/s; host "
            f"{t['host_s_per_image']:.3g} s measured on this CPU).</p>"
            f"<h3>Whole-system energy per image</h3><table id='system-energy'><tr><th>part</th><th>µJ</th></tr>"
            + "".join(f"<tr><td>{k}</td><td>{su[k]:.4g}</td></tr>" for k in ("chip", "host", "io", "total"))
            + "</table>")


def to_html(report: dict[str, Any], image: np.ndarray, trace: Trace, reference: Trace,
            validation: dict | None = None, truth: np.ndarray | None = None) -> str:
    """The whole page as one string (every image inlined)."""
    from neurodeploy.metrics import psnr

    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>neurodeploy report: "
             f"{esc(report['architecture'])}</title><style>{_CSS}</style></head><body>",
             f"<h1>{esc(report['architecture'])} on <code>{esc(report['executor'])}</code></h1>",
             f"<p>T = {report['t_steps']}, input {tuple(report['input_shape'])}, images: "
             f"{esc(', '.join(report['images']))}; bundle <code>{esc(report['bundle'])}</code>.</p>"
             if report.get("kind") != "nir" else
             f"<p>T = {report['t_steps']} steps of dt = {report['dt_s']:g} s, input {tuple(report['input_shape'])} per "
             f"step, {len(report['images'])} sample(s), writer {esc(report['writer'])}; bundle "
             f"<code>{esc(report['bundle'])}</code>.</p>"]
    if validation:
        ok = validation.get("passed")
        parts.append(f"<h2 id='verdict' class='{'pass' if ok else 'fail'}'>Validation {'PASSED' if ok else 'FAILED'}: "
                     f"{esc(str(validation.get('executor')))} vs {esc(str(validation.get('reference')))}, output PSNR "
                     f"{validation.get('output_psnr_db', float('nan')):.2f} dB</h2>")
    nir_kind = report.get("kind") == "nir"
    diff = np.abs(trace.output - reference.output)
    if nir_kind:  # events in and out over time, not images: rasters of the input and both outputs
        differs = (diff > 0).astype(float)
        parts.append("<h2>Input and output</h2><p>One sample; black: non-zero. Max |difference| of the outputs "
                     f"{float(diff.max()):.3g}.</p><img id='rasters-io' alt='input and output rasters' src='" + rasters(
                         [("input", image), (f"output ({trace.executor})", trace.output),
                          (f"reference ({reference.executor})", reference.output), ("differs", differs)])
                     + "' style='max-width:100%'>")
    else:
        gain = 1.0 / max(float(diff.max()), 1e-12)
        shown = [("input", image), (f"output ({trace.executor})", trace.output),
                 (f"reference ({reference.executor})", reference.output),
                 (f"|difference| × {gain:.3g} (max {float(diff.max()):.2g})", np.clip(diff * gain, 0, 1))]
        if truth is not None:
            shown.append((f"ground truth (output PSNR {psnr(np.clip(trace.output, 0, 1), truth):.2f} dB)", truth))
        parts.append("<h2>Images</h2><div class='imgs'>" + "".join(
            f"<figure><img alt='{esc(t)}' src='{_image_png(np.clip(a, 0, 1))}'><figcaption>{esc(t)}</figcaption>"
            "</figure>" for t, a in shown) + "</div>")
    parts.append("<h2>Charts</h2>")
    charts = list(zip(CHART_IDS, (firing_rate_chart(report), energy_chart(report), spikes_per_step_chart(report))))
    if nir_kind:
        charts += [("chart-synops-cores", synops_cores_chart(report)),
                   ("chart-rasters", rasters([(f"{name} ({trace.executor})", trace.layers[name])
                                              for name in trace.layers]))]
    thresholds = report.get("membranes") or {}
    if nir_kind and any(n in trace.membranes for n in thresholds):
        charts.append(("chart-membranes", membrane_chart(trace, thresholds)))
    for cid, src in charts:
        parts.append(f"<div><img id='{cid}' alt='{cid}' src='{src}'></div>")
    div = divergence_view(validation or {}, reference, trace)
    if div:
        parts.append(f"<h2 id='divergence' class='fail'>Divergence</h2><img alt='divergence' src='{div}'>")
    e = report["energy"]
    rows = "".join(
        f"<tr><td>{esc(m['title'])}</td><td>{m['per_image_uj']:.4g}</td><td>"
        f"{'' if m['per_second_uj'] is None else format(m['per_second_uj'], '.4g')}</td>"
        f"<td>{esc(m['note'])}<br><small>{esc('; '.join(m['sources']))}</small></td></tr>"
        for m in e["models"].values())
    unit, rate = ("sample", f"{e['fps']:g} samples/s") if nir_kind else ("image", f"{e['fps']} fps")
    parts.append(f"<h2>Energy</h2><table><tr><th>model</th><th>µJ per {unit}</th><th>µJ per second at "
                 f"{rate}</th><th>note and sources</th></tr>{rows}</table><p>{esc(e['why_they_differ'])}</p>")
    t = report["totals"]
    body = "".join(
        f"<tr><td>{esc(r['layer'])}</td><td>{r['side']}</td><td>{r['neurons']:,}</td><td>{r['cores']}</td>"
        f"<td>{r['spikes']:,.0f}</td><td>{r['firing_rate']:.4f}</td><td>{r['synops']:,.0f}</td><td>{r['macs']:,.0f}</td>"
        f"<td>{r['edge_kind']}</td></tr>" for r in report["layers"])
    parts.append("<h2>Layers</h2><table><tr><th>layer</th><th>side</th><th>neurons</th><th>cores</th><th>spikes</th>"
                 f"<th>firing rate</th><th>synops</th><th>MACs (graded)</th><th>out edge</th></tr>{body}"
                 f"<tr><th>total</th><td></td><td>{t['neurons']:,}</td><td>{t['cores']}</td><td>{t['spikes']:,.0f}</td>"
                 f"<td>{t['firing_rate']:.4f}</td><td>{t['synops']:,.0f}</td><td>{t['macs']:,.0f}</td><td></td></tr></table>"
                 f"<p>Real-valued inputs: {t['real_input_macs']:,.0f} MACs per image; host: {t['host_macs']:,.0f} MACs "
                 f"per image; cores: {esc(t['cores_basis'])}.</p>")
    parts.append("<h2>Spike heatmaps</h2><p>Firing rate per pixel, mean over channels and steps (0 black, 1 white)."
                 "</p>" + f"<img id='spike-heatmaps' alt='spike heatmaps' src='{heatmaps(trace)}' style='max-width:100%'>")
    if "mapping" in report:
        parts.append(mapping_html(report))
    parts.append("<h2>Definitions</h2><ul>" + "".join(
        f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in report["definitions"].items()) + "</ul></body></html>")
    return "\n".join(parts)
