"""Forward time of the derainers' presets on this CPU (one image, eval mode, no gradients).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/forward_time.py --preset paper --size 256 256 \
        --threads 1 --repeats 3 --out benchmarks/forward_time_paper_256.json
    .venv/bin/python benchmarks/forward_time.py --check [--out benchmarks/forward_time_paper_256.json]
    .venv/bin/python benchmarks/forward_time.py --render [--out ...]

A run writes the record ``--out`` (with ``meta``: command, commit, dates, load before and after) and
the ``.md`` beside it (same name), rendered from the record alone; ``--check`` exits 1 when that
``.md`` differs from its rendering of the record.

Reports, per architecture: the median wall time of ``repeats`` forwards after ``warmup`` untimed ones,
the counts of :mod:`neurodeploy.models.counting` (exact and thop-convention parameters,
thop FLOPs, MACs, SynOps on a seeded random image) and the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path


def bench(name: str, preset: str, h: int, w: int, repeats: int, warmup: int) -> dict:
    import torch

    from neurodeploy.models import get_architecture
    from neurodeploy.models.counting import count

    torch.manual_seed(0)
    arch = get_architecture(name)
    model = arch.build(arch.config(preset)).eval()
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    counts = count(model, h, w).as_dict()
    return {"architecture": name, "preset": preset, "forward_s_median": statistics.median(times),
            "forward_s_all": times, **counts}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


DEFAULT_MD = "forward_time_paper_256.md"  # the .md of the default --out
HERE = Path(__file__).resolve().parent
# Counted once on the authors' code (../shared/DERAINERS.md, "Counting caveat"): all parameters,
# thop-convention parameters, thop FLOPs at 256x256 and T = 4. SpikeRain's FLOPs there are derived
# from a claim ("88.98 % fewer FLOPs than ESDNet"), not counted.
REFERENCE = {"esdnet": ("ESDNet", 12.81e6, 165_911, 7.3204e9, "counted"),
             "spikerain": ("SpikeRain", 4.43e6, 99_268, 0.81e9, "derived from a claim"),
             "vlifnet": ("VLIF-Net", 14.31e6, 87_763, 2.7939e9, "counted")}


def _dev(ours: float, theirs: float) -> str:
    return f"{100 * (ours - theirs) / theirs:+.1f} %"


def render(record: dict) -> str:
    """The .md from the record alone."""
    from _record import provenance, table

    rows = record["results"]
    r0 = rows[0]
    m = record["machine"]
    lines = [f"# {r0['preset'].capitalize()} presets: forward time at {r0['height']}×{r0['width']} and counts", "",
             provenance(record.get("meta"), record),
             f"Record: `{Path(record['command'].split('--out ')[-1]).name}`.", "",
             f"One {r0['height']}×{r0['width']} image, eval mode, no gradients, {m['threads']} thread(s) on a "
             f"{m['cores']}-core {m['cpu']} machine, torch {m['torch']}; untrained weights (seed 0). "
             + (f"Recorded note: {record['note']}. " if record.get("note") else "")
             + f"Forward time: median of {len(r0['forward_s_all'])} run(s). Counts as `neurodeploy count ARCH "
             f"--preset {r0['preset']} --size {r0['height']} {r0['width']} --json`.", "",
             *table(["architecture", "forward (s)", "params exact", "params, thop convention", "thop FLOPs",
                     f"MACs (all layers × T={r0['t_steps']})", "SynOps (random image, init weights)"],
                    [[r["architecture"], f"{r['forward_s_median']:.2f}", f"{r['params_exact']:,}", f"{r['params_paper']:,}",
                      f"{r['flops_paper'] / 1e9:.4f} G", f"{r['macs'] / 1e9:.1f} G", f"{r['synops'] / 1e9:.1f} G"]
                     for r in rows], "lrrrrrr"),
             "", "SynOps are measured at initialisation, where the LIF/NI-LIF firing is arbitrary; they only become "
             "meaningful on trained weights.", ""]
    ref = [r for r in rows if r["architecture"] in REFERENCE]
    if r0["preset"] == "paper" and (r0["height"], r0["width"]) == (256, 256) and ref:
        out = []
        for r in ref:
            name, p_all, p_thop, flops, how = REFERENCE[r["architecture"]]
            ok = [abs(r["params_exact"] - p_all) <= 0.02 * p_all, abs(r["params_paper"] - p_thop) <= 0.02 * p_thop]
            if how == "counted":
                ok.append(abs(r["flops_paper"] - flops) <= 0.02 * flops)
            out.append([name, f"{r['params_exact']:,} / {p_all / 1e6:.2f} M ({_dev(r['params_exact'], p_all)})",
                        f"{r['params_paper']:,} / {p_thop:,} ({_dev(r['params_paper'], p_thop)})",
                        f"{r['flops_paper'] / 1e9:.4f} G / {flops / 1e9:.5g} G ({_dev(r['flops_paper'], flops)}; theirs {how})",
                        "yes" if all(ok) else "**no**"])
        lines += ["## Against ../shared/DERAINERS.md (counted on the authors' code)", "",
                  *table(["model", "params exact: ours / theirs", "thop params: ours / theirs",
                          "thop FLOPs @256², T=4: ours / theirs", "within 2 % (counted figures)"], out),
                  "", "The 2 % rule is DERAINERS.md's: a paper preset that differs by more finds the architectural "
                  "difference first. SpikeRain's FLOPs figure there is derived from a claim of the paper, not counted, "
                  "so it is shown but not judged. VLIF-Net's authors' code was not available here: its level layout and "
                  "several constants are read from the paper text (marked in `models/vlifnet.py`).", ""]
    return "\n".join(lines)


def main() -> None:
    import _record

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--size", type=int, nargs=2, default=[256, 256])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--arch", nargs="*", default=["esdnet", "vlifnet", "spikerain"])
    ap.add_argument("--out", type=Path, default=HERE / DEFAULT_MD.replace(".md", ".json"))
    ap.add_argument("--check", action="store_true", help="exit 1 when the .md beside --out differs from its rendering")
    ap.add_argument("--render", action="store_true", help="only write the .md beside --out again from the record")
    args = ap.parse_args()
    md = args.out.with_suffix(".md")
    if args.check or args.render:
        raise SystemExit(_record.check_or_write(md, args.out, render, write=args.render))
    import torch

    meta = _record.started()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.arch:
        row = bench(name, args.preset, *args.size, args.repeats, args.warmup)
        print(f"{name:10s} {args.preset}: {row['forward_s_median']:.2f} s  MACs {row['macs'] / 1e9:.1f} G", flush=True)
        rows.append(row)
    result = {
        "meta": _record.finished(meta),
        "command": "OMP_NUM_THREADS=%s .venv/bin/python benchmarks/forward_time.py --preset %s --size %d %d --threads %d --repeats %d --warmup %d --out %s"
        % (os.environ.get("OMP_NUM_THREADS", "?"), args.preset, *args.size, args.threads, args.repeats, args.warmup, args.out),
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(),
                    "torch": torch.__version__, "threads": args.threads},
        "note": "the machine was shared with other jobs while this ran; times are upper bounds",
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _record.write_json(args.out, result)
    _record.check_or_write(md, args.out, render, write=True)
    print(f"wrote {args.out} and {md}")


if __name__ == "__main__":
    main()
