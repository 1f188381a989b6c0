"""Forward time of the derainers' presets on this CPU (one image, eval mode, no gradients).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/forward_time.py --preset paper --size 256 256 \
        --threads 1 --repeats 3 --out benchmarks/forward_time_paper_256.json

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

import torch

from neurodeploy.models import get_architecture
from neurodeploy.models.counting import count


def bench(name: str, preset: str, h: int, w: int, repeats: int, warmup: int) -> dict:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--size", type=int, nargs=2, default=[256, 256])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--arch", nargs="*", default=["esdnet", "vlifnet", "spikerain"])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.arch:
        row = bench(name, args.preset, *args.size, args.repeats, args.warmup)
        print(f"{name:10s} {args.preset}: {row['forward_s_median']:.2f} s  MACs {row['macs'] / 1e9:.1f} G", flush=True)
        rows.append(row)
    result = {
        "command": "OMP_NUM_THREADS=%s .venv/bin/python benchmarks/forward_time.py --preset %s --size %d %d --threads %d --repeats %d --warmup %d --out %s"
        % (os.environ.get("OMP_NUM_THREADS", "?"), args.preset, *args.size, args.threads, args.repeats, args.warmup, args.out),
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(),
                    "torch": torch.__version__, "threads": args.threads},
        "note": "the machine was shared with other jobs while this ran; times are upper bounds",
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
