"""Benchmark: did a reshape of the pipeline make user-visible commands slower?

Runs two checkouts' CLIs alternately in one run (the machine is shared and noisy, so the
figure is the ratio of medians, both measured under the same load):

- ``neurodeploy export esdnet-tiny --size 64 64`` (load, export, passes, chip.nir, host ONNX);
- ``neurodeploy validate TOY --executor lava-float`` on a toy-residual bundle (32x32) that
  each checkout exported itself;
- a ``.nir`` file (a hand-built skip-join graph of NIR primitives: Conv2d, pooling, Affine,
  LIF, IF, a join of two paths of different depth, written by the ``nir`` package):
  ``neurodeploy export NET.nir --quantize int``, ``validate --executor lava-float``,
  ``validate --executor emulator``, ``report --executor nir-torch``.

    .venv/bin/python benchmarks/pipeline_speed.py --before /work/wt/before [--repeats 5] [--write]

``--before`` is a checkout of the earlier commit with its own ``.venv`` (e.g. a git worktree
with its own ``make install``); the "after" side is this checkout. ``--write`` writes the record
``benchmarks/pipeline_speed.out.json`` (rows, both commits, ``meta``: command, commit, dates, load before
and after) and ``benchmarks/pipeline_speed.md``, rendered from that record alone:

    .venv/bin/python benchmarks/pipeline_speed.py --check    # exit 1 when the .md differs from its rendering
    .venv/bin/python benchmarks/pipeline_speed.py --render   # write the .md again from the record
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "benchmarks"
MAX_RATIO = 1.10  # target: no command slower by more than 10 %


def _cli(checkout: Path) -> str:
    return str(checkout / ".venv" / "bin" / "neurodeploy")


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def _commit(checkout: Path) -> str:
    return subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()


def write_nir_net(path: Path) -> None:
    """A graph of NIR primitives with a skip join (delay-balanced on Lava), seeded weights."""
    import nir

    rng = np.random.default_rng(0)
    lif = lambda shape, th: nir.LIF(tau=np.full(shape, 2e-3), r=np.full(shape, 10.0),  # noqa: E731
                                    v_leak=np.zeros(shape), v_threshold=np.full(shape, th), v_reset=np.zeros(shape))
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 16, 16])}),
        "conv": nir.Conv2d(input_shape=(16, 16), weight=rng.normal(0, 0.6, (4, 2, 3, 3)), stride=1, padding=1,
                           dilation=1, groups=1, bias=np.zeros(4)),
        "lif0": lif((4, 16, 16), 0.5),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([4, 8, 8])}, start_dim=0, end_dim=-1),
        "fc1": nir.Affine(weight=rng.normal(0, 0.2, (32, 256)), bias=np.zeros(32)),
        "lif1": lif((32,), 0.5),
        "fc2": nir.Affine(weight=rng.normal(0, 0.4, (10, 32)), bias=np.zeros(10)),
        "flat0": nir.Flatten(input_type={"input": np.array([4, 16, 16])}, start_dim=0, end_dim=-1),
        "skip": nir.Affine(weight=rng.normal(0, 0.05, (10, 1024)), bias=np.zeros(10)),
        "out_if": nir.IF(r=np.ones(10), v_threshold=np.full(10, 1.0), v_reset=np.zeros(10)),
        "output": nir.Output(output_type={"output": np.array([10])}),
    }
    edges = [("input", "conv"), ("conv", "lif0"), ("lif0", "pool"), ("pool", "flat"), ("flat", "fc1"),
             ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "out_if"), ("lif0", "flat0"), ("flat0", "skip"),
             ("skip", "out_if"), ("out_if", "output")]
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))


COMMANDS = ("export esdnet-tiny 64x64", "validate toy-residual (lava-float)", "export NET.nir --quantize int",
            "validate NET.nir bundle (lava-float)", "validate NET.nir bundle (emulator)",
            "report NET.nir bundle (nir-torch)")


def render(record: dict) -> str:
    """``pipeline_speed.md`` from the record alone; the target's verdict computed per command."""
    from _record import provenance, table

    rows = record["rows"]
    slow = [r["command"] for r in rows if r["after_over_before"] > MAX_RATIO]
    return "\n".join([
        "# User-visible commands before and after a reshape of the pipeline", "",
        provenance(record["meta"]), "Raw results: `pipeline_speed.out.json`.", "",
        f"Before = {record['before_commit']}, after = {record['after_commit']}; both sides alternate in one run, "
        f"medians of {rows[0]['repeats']}. The `.nir` file is the script's skip-join graph of NIR primitives, its input "
        "50 steps of seeded random spikes at 30 % (2 samples).", "",
        *table(["command", "before", "after", "after / before"],
               [[r["command"], f"{r['before_s']:.2f} s", f"{r['after_s']:.2f} s", f"{r['after_over_before']:.3f}"]
                for r in rows], "lrrr"), "",
        f"Target: no command slower by more than {100 * (MAX_RATIO - 1):.0f} % (after / before ≤ {MAX_RATIO:.2f}): "
        + ("met by every command." if not slow else "**missed** by " + ", ".join(slow) + "."), ""])


def main() -> None:
    import _record

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, help="checkout of the earlier commit, with .venv")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="write benchmarks/pipeline_speed.out.json and .md")
    ap.add_argument("--check", action="store_true", help="exit 1 when pipeline_speed.md differs from its rendering of the record")
    ap.add_argument("--render", action="store_true", help="only write pipeline_speed.md again from pipeline_speed.out.json")
    args = ap.parse_args()
    md, out = HERE / "pipeline_speed.md", HERE / "pipeline_speed.out.json"
    if args.check or args.render:
        raise SystemExit(_record.check_or_write(md, out, render, write=args.render))
    if args.before is None:
        ap.error("--before is needed to measure")
    meta = _record.started()
    sides = {"before": args.before.resolve(), "after": ROOT}
    work = Path(tempfile.mkdtemp(prefix="pipeline-speed-"))
    net = work / "net.nir"
    write_nir_net(net)
    x = (np.random.default_rng(1).random((50, 2, 2, 16, 16)) < 0.3).astype(np.float64)
    np.save(work / "x.npy", x)
    # size spelled the way both CLIs accept (the repeated form is kept as an alias)
    size = ["--size", "64", "--size", "64"]
    for side, checkout in sides.items():
        subprocess.run([_cli(checkout), "export", "toy-residual", "--out", str(work / f"toy-{side}"),
                        "--size", "32", "--size", "32", "--force"], check=True, capture_output=True)
    times = {(cmd, side): [] for cmd in COMMANDS for side in sides}
    for _ in range(args.repeats):
        for side, checkout in sides.items():
            nd, nb = _cli(checkout), str(work / f"net-{side}")
            runs = {
                COMMANDS[0]: [nd, "export", "esdnet-tiny", "--out", str(work / f"esd-{side}"), *size, "--force"],
                COMMANDS[1]: [nd, "validate", str(work / f"toy-{side}"), "--executor", "lava-float"],
                COMMANDS[2]: [nd, "export", str(net), "--out", nb, "--quantize", "int", "--calib", str(work / "x.npy"),
                              "--force"],
                COMMANDS[3]: [nd, "validate", nb, "--executor", "lava-float", "--input", str(work / "x.npy")],
                COMMANDS[4]: [nd, "validate", nb, "--executor", "emulator", "--input", str(work / "x.npy"),
                              "--min-agreement", "0", "--min-psnr", "0"],
                COMMANDS[5]: [nd, "report", nb, "--executor", "nir-torch", "--input", str(work / "x.npy")],
            }
            for cmd in COMMANDS:
                times[(cmd, side)].append(_timed(runs[cmd]))
    rows = []
    for cmd in COMMANDS:
        before, after = statistics.median(times[(cmd, "before")]), statistics.median(times[(cmd, "after")])
        rows.append({"command": cmd, "before_s": round(before, 2), "after_s": round(after, 2),
                     "after_over_before": round(after / before, 3), "repeats": args.repeats})
    print(json.dumps(rows, indent=2))
    if args.write:
        _record.write_json(out, {"meta": _record.finished(meta), "before_commit": _commit(sides["before"]),
                                 "after_commit": _commit(ROOT), "rows": rows})
        _record.check_or_write(md, out, render, write=True)


if __name__ == "__main__":
    main()
