"""Keeping the feature maps on the chip (issue 31): the partition before and after, per derainer.

For each tiny derainer at 64x64 (the centre 64x64 crop of the shipped rainy photo) and each
residency -- ``host`` (bundles before issue 31), ``products`` (the export default: products of
activations as product neurons, sums into host blocks and fan-out on the chip) and ``gates`` (also
the attention gates split: SpikeRain's MDSA, ESDNet's/VLIF-Net's MDA and VLIF's temporal gate, the
chip keeping the map and computing the pooled statistics) -- one run records:

- the manifest's ``partition.values_crossing_per_step`` (one count per cut edge, as before), cut
  edges, host islands (and those that wait for all T steps), and Lava steps per image;
- the chip-fit figures of ``neurodeploy.chip_fit.report_section`` on one system for both
  (the smallest that holds the ``host`` partition): time per image and whole-system energy
  per image (chip, host, I/O), firing rates from a torch run on the same crop;
- agreement: lava-float vs torch float64 (min per-layer spike agreement, output PSNR) and
  lava-fixed vs the emulator (quantized on ``examples/images/calib``);
- sigma-delta messages across the cut (``neurodeploy.delta_messages``), measured by nir-torch on the
  crop: per step at threshold 0 (exact: a value is sent when it changed), and at the thresholds of
  ``DELTA_THRESHOLDS`` with the output PSNR against the exact run (the threshold's cost);

and for the paper presets of ESDNet and SpikeRain at 32x32 (seeded initial weights): the counts,
nir-torch vs torch float64, and the emulator vs torch float64 (quantization cost) before and after.

    .venv/bin/python benchmarks/chip_residency.py            # measure (~30 min here), write both files
    .venv/bin/python benchmarks/chip_residency.py --check    # exit 1 when the .md differs from its record
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MD, OUT = HERE / "chip_residency.md", HERE / "chip_residency.out.json"
TINY = ["esdnet-tiny", "spikerain-tiny", "vlifnet-tiny"]
PAPER = [("esdnet", "paper"), ("spikerain", "paper")]
RESIDENCIES = ["host", "products", "gates"]
CALIB = "examples/images/calib"
# Issue 31's targets: values across the cut per step, fewer by at least this factor
TARGETS = {"esdnet-tiny": 8.0, "spikerain-tiny": 8.0, "vlifnet-tiny": 4.0}
VLIF_STEPS_TARGET = 60
DELTA_THRESHOLDS = [0.01, 0.05]  # model units (the image and the gates live in [0, 1])


def _counts(manifest: dict) -> dict:
    p = manifest["partition"]
    return {"values_crossing_per_step": p["values_crossing_per_step"], "cut_edges": p["crossings_per_step"],
            "islands": len(p["islands"]), "all_steps_islands": sum(i["window"] == "all_steps" for i in p["islands"]),
            "lava_steps_per_image": manifest["lowering"].get("lava_steps_per_image")}


def _agreement(bundle: Path, executor: str, against: str) -> dict:
    from neurodeploy import api

    t0 = time.perf_counter()
    v = api.validate(bundle, executor=executor, against=against, min_agreement_pct=0.0, min_psnr_db=0.0)
    return {"min_layer_pct": min(v.layers.values()) if v.layers else None, "layers": len(v.layers),
            "output_psnr_db": v.output_psnr_db, "seconds": round(time.perf_counter() - t0, 1)}


def _fit(name: str, residency: str, system: str | None) -> dict:
    from neurodeploy.checkpoint import load_model
    from neurodeploy.chip_fit import host_macs, report_section
    from neurodeploy.images import load_inputs
    from neurodeploy.ir import DeployGraph
    from neurodeploy.nir_export import export_graph
    from neurodeploy.passes import run_passes
    from neurodeploy.targets.torch_reference import TorchReference

    model, ckpt = load_model(name)
    g = DeployGraph.from_nir(export_graph(model, (64, 64), architecture=ckpt.architecture, config=ckpt.config,
                                          residency=residency))
    run_passes(g)
    images, _ = load_inputs(None, (64, 64))
    traces = TorchReference(model, g.nir, g.info).run(images)
    s = report_section(g, traces, host_macs(g), system)
    return {"system": s["mapping"]["system"]["name"] if isinstance(s["mapping"].get("system"), dict)
            else s["mapping"].get("system"), "cores": s["mapping"]["cores"], "time_per_image_s": s["time_per_image_s"],
            "bottleneck": s["time"]["bottleneck"], "system_uj": s["system_uj"],
            "host_link_bits_per_step": s["traffic"]["host_to_chip"]["bits_per_step"]
            + s["traffic"]["chip_to_host"]["bits_per_step"]}


def _messages(name: str, residency: str) -> dict:
    """Sigma-delta messages across the cut per step, nir-torch on the crop: exact, then per threshold with
    the output PSNR (dB, peak 1) against the exact run."""
    import numpy as np

    from neurodeploy.checkpoint import load_model
    from neurodeploy.images import load_inputs
    from neurodeploy.ir import DeployGraph
    from neurodeploy.nir_export import export_graph
    from neurodeploy.passes import run_passes
    from neurodeploy.targets.nir_torch import NirTorchExecutor

    model, ckpt = load_model(name)
    g = DeployGraph.from_nir(export_graph(model, (64, 64), architecture=ckpt.architecture, config=ckpt.config,
                                          residency=residency))
    run_passes(g)
    images, _ = load_inputs(None, (64, 64))
    exact = NirTorchExecutor(g.nir, g.info, delta_threshold=0.0).run(images)[0]
    out = {"exact_per_step": round(sum(exact.meta["cut_messages_per_step"].values())), "thresholds": []}
    for th in DELTA_THRESHOLDS:
        t = NirTorchExecutor(g.nir, g.info, delta_threshold=th).run(images)[0]
        mse = float(np.mean((t.output - exact.output) ** 2))
        out["thresholds"].append({"threshold": th, "per_step": round(sum(t.meta["cut_messages_per_step"].values())),
                                  "output_psnr_db": 200.0 if mse == 0 else min(200.0, 10 * np.log10(1.0 / mse))})
    return out


def _island_waits(name: str, residency: str) -> int:
    """All-steps island waits on the longest path (each T - 1 Lava steps), ``passes.latency.island_waits``."""
    from neurodeploy.checkpoint import load_model
    from neurodeploy.ir import DeployGraph
    from neurodeploy.nir_export import export_graph
    from neurodeploy.passes.latency import island_waits
    from neurodeploy.passes.partition import partition

    model, ckpt = load_model(name)
    g = DeployGraph.from_nir(export_graph(model, (64, 64), architecture=ckpt.architecture, config=ckpt.config,
                                          residency=residency))
    partition(g)
    return island_waits(g)


def _paper_checkpoint(arch: str, preset: str, tmp: Path) -> str:
    import torch

    from neurodeploy.models import get_architecture
    from neurodeploy.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    a = get_architecture(arch)
    config = a.config(preset)
    return str(save_checkpoint(tmp / f"{arch}-{preset}.pt", a.factory(**config), arch, config, {"preset": preset}))


def measure() -> dict:
    from neurodeploy.bundle import export_bundle

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in TINY:
            system = None
            for residency in RESIDENCIES:
                t0 = time.perf_counter()
                flt, fxd = tmp / f"{name}-{residency}", tmp / f"{name}-{residency}-int"
                manifest = export_bundle(name, flt, size=(64, 64), residency=residency)
                export_bundle(name, fxd, size=(64, 64), residency=residency, quantize="int", calib=CALIB)
                fit = _fit(name, residency, system)
                system = system or fit["system"]
                row = {"model": name, "size": 64, "residency": residency, **_counts(manifest), "fit": fit,
                       "messages": _messages(name, residency), "island_waits": _island_waits(name, residency),
                       "lava_float_vs_torch": _agreement(flt, "lava-float", "torch-float64"),
                       "lava_fixed_vs_emulator": _agreement(fxd, "lava-fixed", "emulator"),
                       "seconds": None}
                row["seconds"] = round(time.perf_counter() - t0, 1)
                rows.append(row)
                print(json.dumps(row), flush=True)
        for arch, preset in PAPER:
            ckpt = _paper_checkpoint(arch, preset, tmp)
            for residency in RESIDENCIES:
                t0 = time.perf_counter()
                flt, fxd = tmp / f"{arch}-{residency}", tmp / f"{arch}-{residency}-int"
                manifest = export_bundle(ckpt, flt, size=(32, 32), residency=residency)
                export_bundle(ckpt, fxd, size=(32, 32), residency=residency, quantize="int", calib=CALIB)
                row = {"model": f"{arch} ({preset})", "size": 32, "residency": residency, **_counts(manifest),
                       "nir_torch_vs_torch": _agreement(flt, "nir-torch", "torch-float64"),
                       "emulator_vs_torch": _agreement(fxd, "emulator", "torch-float64")}
                row["seconds"] = round(time.perf_counter() - t0, 1)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return {"rows": rows}


def _pct(a: dict | None) -> str:
    if not a or a.get("min_layer_pct") is None:
        return "-"
    psnr = a["output_psnr_db"]
    return f"{a['min_layer_pct']:.2f} % / {'identical' if psnr >= 200 else format(psnr, '.1f') + ' dB'}"


def render(record: dict) -> str:
    """``chip_residency.md`` from its record alone."""
    from _record import provenance, table

    rows = record["rows"]
    lines = ["# Keeping the feature maps on the chip (issue 31): before and after", "",
             provenance(record["meta"]), "",
             "`host`: the partition of bundles before issue 31 (`export --residency host`); `products`: products of "
             "activations as product neurons, sums into host blocks and fan-out on the chip; `gates`: also the "
             "attention gates split -- SpikeRain's MDSA, ESDNet's/VLIF-Net's MDA, VLIF's temporal gate (the chip "
             "keeps the map and computes the pooled statistics with pooling synapses and max trees, the host "
             "computes the gates; the bundle runs at its export size). "
             "Values across the cut per step: the manifest's `partition.values_crossing_per_step`, one count per cut "
             "edge, as before. Time and energy: `neurodeploy.chip_fit` on one system for both rows of a model (the "
             "smallest that holds the `host` partition), firing rates of a torch run on the same crop. Agreement: "
             "min per-layer spike agreement / output PSNR (`identical`: every output value equal). Messages: "
             "sigma-delta across the cut, threshold 0 (exact: a value crosses when it changed), counted by nir-torch "
             "on the crop.", ""]
    body = []
    for r in rows:
        if r["size"] != 64:
            continue
        f = r["fit"]
        e = f["system_uj"]
        body.append([r["model"], r["residency"], f"{r['values_crossing_per_step']:,}",
                     f"{r['messages']['exact_per_step']:,}" if r.get("messages") else "-", str(r["cut_edges"]),
                     f"{r['islands']} ({r['all_steps_islands']})", str(r["lava_steps_per_image"]),
                     f"{f['time_per_image_s']:.4g} ({f['bottleneck']})",
                     f"{e['chip']:.4g} / {e['host']:.4g} / {e['io']:.4g}", f["system"],
                     _pct(r["lava_float_vs_torch"]), _pct(r["lava_fixed_vs_emulator"])])
    lines += ["## Tiny derainers, 64x64", ""]
    lines += table(["model", "residency", "values across the cut / step", "messages / step (sigma-delta, exact)",
                    "cut edges", "host islands (all-steps)", "Lava steps / image", "s / image (bottleneck)",
                    "energy µJ / image: chip / host / I/O", "system", "lava-float vs torch f64",
                    "lava-fixed vs emulator"], body, "llrrrrrrllll")
    body = []
    for r in rows:
        if r["size"] != 64 or not r.get("messages"):
            continue
        m = r["messages"]
        body.append([r["model"], r["residency"], f"{m['exact_per_step']:,}",
                     *(f"{t['per_step']:,} / {t['output_psnr_db']:.1f} dB" for t in m["thresholds"])])
    if body:
        lines += ["", "### Sigma-delta thresholds: messages per step / output PSNR against the exact run", ""]
        lines += table(["model", "residency", "threshold 0 (exact)",
                        *(f"threshold {t:g}" for t in DELTA_THRESHOLDS)], body, "llr" + "r" * len(DELTA_THRESHOLDS))
    lines += ["", "## Against issue 31's targets", ""]
    for name in TINY:
        pair = {r["residency"]: r for r in rows if r["model"] == name}
        if len(pair) < len(RESIDENCIES):
            continue
        ratio = pair["host"]["values_crossing_per_step"] / pair["gates"]["values_crossing_per_step"]
        line = (f"- {name}: {ratio:.2f}x fewer values across the cut per step (target >= {TARGETS[name]:g}x: "
                f"{'met' if ratio >= TARGETS[name] else 'not met'})")
        if pair["host"].get("messages") and pair["gates"].get("messages"):
            m = pair["host"]["values_crossing_per_step"] / pair["gates"]["messages"]["exact_per_step"]
            line += (f"; counting sigma-delta messages (exact) instead of values for `gates`: {m:.2f}x "
                     f"({'met' if m >= TARGETS[name] else 'not met'})")
        if name == "vlifnet-tiny":
            steps = pair["gates"]["lava_steps_per_image"]
            line += (f"; Lava steps per image {pair['host']['lava_steps_per_image']} -> {steps} (target <= "
                     f"{VLIF_STEPS_TARGET}: {'met' if steps <= VLIF_STEPS_TARGET else 'not met'})")
            if all("island_waits" in pair[r] for r in RESIDENCIES):
                t1 = 3  # T - 1 of the tiny derainers (T = 4)
                line += ("; of them, islands waiting for all T steps on the longest path: " + ", ".join(
                    f"{r} {pair[r]['island_waits']} x {t1} = {pair[r]['island_waits'] * t1}" for r in RESIDENCIES)
                    + " -- every gate pools over time, so no partition gets below that; the T steps laid out "
                    "as channel groups of one Lava step (as patch-to-time does for sub-steps) would")
        lines.append(line)
    body = []
    for r in rows:
        if r["size"] == 64:
            continue
        body.append([r["model"], r["residency"], f"{r['values_crossing_per_step']:,}", str(r["cut_edges"]),
                     f"{r['islands']} ({r['all_steps_islands']})", _pct(r["nir_torch_vs_torch"]),
                     _pct(r["emulator_vs_torch"])])
    lines += ["", "## Paper presets, 32x32 (seeded initial weights)", ""]
    lines += table(["model", "residency", "values across the cut / step", "cut edges", "host islands (all-steps)",
                    "nir-torch vs torch f64", "emulator vs torch f64"], body, "llrrrll")
    lines += ["", "Raw results: `chip_residency.out.json`.", ""]
    return "\n".join(lines)


# What the host still holds with residency gates (prose, no figures: those come from the record)
HOLDS = {
    "esdnet-tiny": "the image (sent once per image into the chip's hold); the MDA gates, computed from the per-step "
                   "channel means and maxima and the per-pixel channel mean and max the chip sends (the chip keeps the "
                   "map); FRB, the last conv and the global residual on the chip's readout of the decoder",
    "spikerain-tiny": "the image (sent once per image into the chip's hold); the MDSA gates, computed from the per-step "
                      "channel means and the channel mean per pixel the chip sends (the chip keeps the map); ARFE, the "
                      "last conv and the residual on the chip's readout of temporal fusion",
    "vlifnet-tiny": "the image (sent once per image into the chip's hold); the VLIF temporal gates and the MDA gates, "
                    "from the pooled statistics the chip sends (patch-to-time, NI-LIF, the compression, the SDEM "
                    "products and the gated maps run on the chip); the last conv and the residual on the chip's "
                    "readout of the decoder",
}


def readme_block(record: dict) -> str:
    """The README's "what still runs on the host" table, from the record alone."""
    from _record import table

    rows = []
    for name in TINY:
        pair = {r["residency"]: r for r in record["rows"] if r["model"] == name and r["size"] == 64}
        if len(pair) < len(RESIDENCIES):
            continue
        a, b = pair["host"], pair["gates"]
        rows.append([name, f"{b['islands']} ({b['islands'] - b['all_steps_islands']} step, {b['all_steps_islands']} "
                     f"all_steps)", HOLDS[name], f"{a['cut_edges']} -> {b['cut_edges']}",
                     f"{a['values_crossing_per_step']:,} -> {b['values_crossing_per_step']:,}",
                     f"{a['lava_steps_per_image']} -> {b['lava_steps_per_image']}"])
    return "\n".join(table(["model", "host islands (window)", "what they hold", "cut edges per step (host -> gates)",
                             "values crossing per step", "Lava steps per image"], rows, "lllrrr")) + "\n"


def main() -> int:
    import _record

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when chip_residency.md differs from its record")
    ap.add_argument("--render", action="store_true", help="only write chip_residency.md again from its record")
    args = ap.parse_args()
    readme = {"chip_residency.py": readme_block}
    if args.check or args.render:
        return _record.check_or_write(MD, OUT, render, write=args.render, readme=readme)
    meta = _record.started()
    record = measure()
    record["meta"] = _record.finished(meta)
    _record.write_json(OUT, record)
    return _record.check_or_write(MD, OUT, render, write=True, readme=readme)


if __name__ == "__main__":
    sys.exit(main())
