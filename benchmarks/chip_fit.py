"""Will it fit: `neurodeploy fit` for the three tiny derainers and the paper presets on every system.

Writes ``benchmarks/chip_fit.out.jsonl`` (a first line with the run's command, commit, dates and
load, then one line per model and system, the whole fit result) and ``benchmarks/chip_fit.md``
(rendered from that file alone). Run from the repository:

    .venv/bin/python benchmarks/chip_fit.py            # measure, write both
    .venv/bin/python benchmarks/chip_fit.py --check    # exit 1 when the .md differs from its rendering

Paper presets have no trained checkpoint here: they are built with their seeded initial weights,
so their firing rates (and with them traffic, time and energy) are those of an untrained network;
cores, chips and the largest size depend on shapes only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = [(321, 481), (1080, 1920)]
MODELS = [("esdnet-tiny", None), ("spikerain-tiny", None), ("vlifnet-tiny", None),
          ("esdnet", "paper"), ("spikerain", "paper")]


def _checkpoint(arch: str, preset: str | None, tmp: Path) -> str:
    if preset is None:
        return arch
    import torch

    from neurodeploy.models import get_architecture
    from neurodeploy.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    a = get_architecture(arch)
    config = a.config(preset)
    model = a.factory(**config)
    return str(save_checkpoint(tmp / f"{arch}-{preset}.pt", model, arch, config, {"preset": preset}))


def measure() -> list[dict]:
    """One fit result per model and system (what ``neurodeploy fit --json`` prints), in MODELS order."""
    from neurodeploy.chip_fit import fit, host_macs, load_for_fit, rates_from_traces
    from neurodeploy.images import load_inputs
    from neurodeploy.passes.mapping import map_graph
    from neurodeploy.systems import SYSTEMS
    from neurodeploy.targets.torch_reference import TorchReference

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch, preset in MODELS:
            t0 = time.perf_counter()
            target = _checkpoint(arch, preset, Path(tmp))
            g, model, base = load_for_fit(target)
            images, _ = load_inputs(None, base)
            traces = TorchReference(model, g.nir, g.info).run(images)
            rates = rates_from_traces(traces, map_graph(g, SYSTEMS["hala-point"]))
            steps = int(g.t_steps + max(g.info.latency.values(), default=0))
            hm = host_macs(g)
            for name, system in SYSTEMS.items():
                r = fit(g, base, system, rates, hm, steps, g.t_steps, SIZES)
                r.update(model=arch if preset is None else f"{arch} ({preset})", seconds=time.perf_counter() - t0)
                rows.append(json.loads(json.dumps(r, default=str)))  # as the file will hold it
                print(r["model"], name, r["largest_square_px"], flush=True)
    return rows


def read(path: Path) -> dict:
    """The record: ``{"meta": ..., "rows": [...]}`` from the .out.jsonl (a file written before the
    record had a meta line has ``meta`` None)."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    meta = lines[0]["meta"] if lines and "meta" in lines[0] else None
    return {"meta": meta, "rows": lines[1:] if meta is not None else lines}


def render(record: dict) -> str:
    """``chip_fit.md`` from the record alone."""
    from _record import provenance

    rows = record["rows"]
    lines = [
        "# Will it fit: cores, chips, largest image, tile passes, time and energy per image",
        "",
        provenance(record["meta"], {"command": ".venv/bin/python benchmarks/chip_fit.py"}),
        "Raw results: `chip_fit.out.jsonl`.",
        "",
        "Core budget `loihi2-derived` (Loihi 2 per-chip figures / 128 cores; fan-in Loihi 1's), conv weights "
        "stored once per block, one block per core. Firing rates from a torch run at 64x64 on the shipped photo "
        "(paper presets: untrained seeded weights). Host time measured on this CPU. Larger images run in square "
        "tiles of the largest size that fits, with a 16-pixel halo, one chip pass per tile.",
        "",
        "| model | system | largest square that fits | image | cores / chips for it whole | chip passes (tile) "
        "| s/image | images/s | bottleneck | energy µJ/image: chip / host / I/O |",
        "|---|---|---|---|---:|---|---:|---:|---|---|",
    ]
    for r in rows:
        for e in r["sizes"]:
            size = "x".join(map(str, e["size"]))
            if "error" in e:
                lines.append(f"| {r['model']} | {r['system']['name']} | | {size} | | {e['error']} | | | | |")
                continue
            p = e.get("per_pass") or {}
            en = e.get("energy_system_uj") or {}
            largest = "x".join(map(str, r["largest_square_px"])) if r["largest_square_px"] else "none"
            tiling = e["tiling"]
            if tiling.get("passes"):
                passes = f"{tiling['passes']} ({'x'.join(map(str, tiling['tile']))})"
            elif tiling.get("fits_whole"):
                passes = "1 (whole image)"
            else:  # why no pass plan: nothing fits, or the tile that fits is no larger than its halo
                passes = "none: " + (tiling.get("note") or "no tile fits")
            time_s = e.get("time_per_image_s")
            lines.append(
                f"| {r['model']} | {r['system']['name']} | {largest} | {size} | {e['cores']:,} / {e['chips']:,} | "
                f"{passes} | {'-' if time_s is None else format(time_s, '.4g')} | "
                f"{'-' if e.get('images_per_s') is None else format(e['images_per_s'], '.4g')} | "
                f"{p.get('bottleneck', '-')} | "
                + (f"{en['chip']:.4g} / {en['host']:.4g} / {en['io']:.4g} |" if en else "- |"))
    lines += ["", "`cores / chips for it whole`: what the whole image would need on one system (more chips than the "
              "system has: it runs in tiles). A tile plan needs a tile larger than twice the 16-pixel halo; "
              "\"none\" rows cannot be tiled on that system (the largest tile that fits is too small). Every "
              "size's mapping per pass: `chip_fit.out.jsonl`.", ""]
    return "\n".join(lines)


def main() -> int:
    import _record

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when chip_fit.md differs from its rendering of the record")
    ap.add_argument("--render", action="store_true", help="only write chip_fit.md again from chip_fit.out.jsonl")
    args = ap.parse_args()
    md, out = HERE / "chip_fit.md", HERE / "chip_fit.out.jsonl"
    if args.check or args.render:
        return _record.check_or_write(md, out, render, write=args.render, read=read)
    meta = _record.started()
    rows = measure()
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(json.dumps(x) + "\n" for x in [{"meta": _record.finished(meta)}, *rows]))
    tmp.replace(out)
    _record.write_md(md, render(read(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
