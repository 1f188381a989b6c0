"""Fuzz the image reader and the checkpoint loader through the code behind derain, evaluate and export.

Usage::

    .venv/bin/python benchmarks/fuzz_images.py --images 2000 --checkpoints 500 --seed 0

The fuzzer -- unusual and damaged image files through ``derain_files`` and ``evaluate``, damaged
checkpoints through ``load_model`` and ``load_checkpoint`` + ``build_model``; outcomes ``refused``
and ``ok``, failures ``traceback``, ``multiline``, ``hung``, ``wrong`` -- is
``tests/fixtures/image_fuzz.py``, which the tests run too; this script runs it and prints the
counts per path and the failing cases (exit 1 if any).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import _shared  # noqa: F401 -- tests/fixtures/ as the package ndfixtures
from ndfixtures.image_fuzz import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--checkpoints", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per case before it counts as hung")
    ap.add_argument("--show", type=int, default=3, help="cases to print per failure outcome")
    args = ap.parse_args()
    t0 = time.perf_counter()
    counts, failures = run(args.images, args.checkpoints, args.seed, args.timeout)
    dt = time.perf_counter() - t0
    print(f"cases: {args.images} images + {args.checkpoints} checkpoints (seed {args.seed}) in {dt:.1f} s")
    for key in sorted(counts):
        print(f"  {key:32s} {dict(sorted(counts[key].items()))}")
    total = sum(len(v) for v in failures.values())
    print(f"failures: {total} " + json.dumps({k: len(v) for k, v in failures.items()}))
    for outcome, cases in failures.items():
        for c in cases[: args.show]:
            print(f"  {outcome}: {c}")
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
