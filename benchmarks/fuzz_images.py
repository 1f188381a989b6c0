"""Fuzz the image reader and the checkpoint loader through the code behind derain, evaluate and export.

Usage::

    nice -n 10 .venv/bin/python benchmarks/fuzz_images.py --images 2000 --checkpoints 500 --seed 0 --write   # ~9 min
    .venv/bin/python benchmarks/fuzz_images.py --check     # exit 1 when fuzz_images.md differs from its rendering
    .venv/bin/python benchmarks/fuzz_images.py --render    # write fuzz_images.md again from the record

The fuzzer -- unusual and damaged image files through ``derain_files`` and ``evaluate``, damaged
checkpoints through ``load_model`` and ``load_checkpoint`` + ``build_model``; outcomes ``refused``
and ``ok``, failures ``traceback``, ``multiline``, ``hung``, ``wrong`` -- is
``tests/fixtures/image_fuzz.py``, which the tests run too; this script runs it and prints the
counts per path and the failing cases (exit 1 if any). ``--write`` records the counts and failures with
``meta`` (command, commit, dates, load before and after) in ``benchmarks/fuzz_images.out.json`` and
renders ``benchmarks/fuzz_images.md`` from that record alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MD, OUT = HERE / "fuzz_images.md", HERE / "fuzz_images.out.json"


def render(record: dict) -> str:
    """``fuzz_images.md`` from the record alone."""
    from _record import provenance, table

    total = sum(len(v) for v in record["failures"].values())
    lines = ["# Image and checkpoint fuzz (`benchmarks/fuzz_images.py`)", "",
             provenance(record["meta"]), "Raw results: `fuzz_images.out.json`.", "",
             f"{record['images']:,} image files and {record['checkpoints']:,} checkpoints (seed {record['seed']}), "
             "in-process (the fuzzer is `tests/fixtures/image_fuzz.py`). Images, half unusual but valid and half "
             "damaged, go through `derain_files` (the code behind `derain`, with tiling) and through `evaluate` as the "
             "rainy side of a paired folder; damaged or edited checkpoints through `load_model` (derain/evaluate) and "
             "`load_checkpoint` + `build_model` (what export does first). Outcomes `refused` (one line) and `ok`; "
             "failures `traceback`, `multiline`, `hung` (over the per-case timeout) and `wrong` (an exit-0 image far "
             "from what Pillow alone decodes and the model derains; for checkpoints, a non-finite output).", "",
             f"Result: {record['seconds']:.0f} s, " + ("**0 failures**." if not total else f"**{total} failure(s)**."), "",
             *table(["path", "outcomes"], [[k, ", ".join(f"{o}: {n:,}" for o, n in v.items())]
                                           for k, v in record["counts"].items()]), ""]
    for outcome, cases in record["failures"].items():
        lines += [f"## {outcome} ({len(cases)})", "", *(f"- `{c}`" for c in cases), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--checkpoints", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per case before it counts as hung")
    ap.add_argument("--show", type=int, default=3, help="cases to print per failure outcome")
    ap.add_argument("--write", action="store_true", help="write fuzz_images.out.json and fuzz_images.md")
    ap.add_argument("--check", action="store_true", help="exit 1 when fuzz_images.md differs from its rendering of the record")
    ap.add_argument("--render", action="store_true", help="only write fuzz_images.md again from fuzz_images.out.json")
    args = ap.parse_args()
    import _record

    if args.check or args.render:
        sys.exit(_record.check_or_write(MD, OUT, render, write=args.render))
    import _shared  # noqa: F401 -- tests/fixtures/ as the package ndfixtures
    from ndfixtures.image_fuzz import run

    meta = _record.started()
    t0 = time.perf_counter()
    counts, failures = run(args.images, args.checkpoints, args.seed, args.timeout)
    dt = time.perf_counter() - t0
    print(f"cases: {args.images} images + {args.checkpoints} checkpoints (seed {args.seed}) in {dt:.1f} s")
    for key in sorted(counts):
        print(f"  {key:32s} {dict(sorted(counts[key].items()))}")
    total = sum(len(v) for v in failures.values())
    if args.write:
        _record.write_json(OUT, {
            "meta": _record.finished(meta), "images": args.images, "checkpoints": args.checkpoints, "seed": args.seed,
            "timeout_s": args.timeout, "seconds": dt,
            "counts": {k: dict(sorted(counts[k].items())) for k in sorted(counts)},
            "failures": {k: list(v) for k, v in failures.items()}})
        _record.check_or_write(MD, OUT, render, write=True)
    print(f"failures: {total} " + json.dumps({k: len(v) for k, v in failures.items()}))
    for outcome, cases in failures.items():
        for c in cases[: args.show]:
            print(f"  {outcome}: {c}")
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
