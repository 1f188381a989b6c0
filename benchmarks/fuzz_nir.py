"""Fuzz the NIR loader: malformed graphs must come out as one clear GraphError, never a crash.

Usage::

    .venv/bin/python benchmarks/fuzz_nir.py --cases 10000 --seed 0

The fuzzer -- base graphs, mutations, outcomes (``graph_error``, ``accepted_ran``,
``rejected_later``, ``unwritable``; failures ``uncaught``, ``fallback``, ``multiline``,
``accepted_crash``, ``hung``) -- is ``tests/fixtures/nir_fuzz.py``, which the tests run too;
this script runs it and prints the counts, the most frequent messages and the first failures
(exit 1 if any).
"""

from __future__ import annotations

import argparse
import sys

import _shared  # noqa: F401 -- tests/fixtures/ as the package ndfixtures
from ndfixtures.nir_fuzz import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-derainers", action="store_true", help="mutate the toy-residual graph only")
    parser.add_argument("--show", type=int, default=3, help="failures to print in full")
    parser.add_argument("--case-timeout", type=float, default=60.0,
                        help="seconds before a case counts as hung (stack dumped, exit)")
    parser.add_argument("--trace", action="store_true", help="print each case before running it")
    args = parser.parse_args(argv)
    result = run(args.cases, args.seed, not args.no_derainers, progress=True, case_timeout=args.case_timeout,
                 trace=args.trace)
    print(f"cases: {result.cases} (seed {args.seed}) in {result.seconds:.1f} s "
          f"({1000 * result.seconds / max(1, result.cases):.1f} ms/case)")
    print("outcomes (in-memory check and file read counted separately):")
    for outcome, count in result.outcomes.most_common():
        print(f"  {outcome:15s} {count}")
    print("by mutation:")
    for mutation in sorted(result.by_mutation):
        print(f"  {mutation:28s} {dict(result.by_mutation[mutation])}")
    print("most frequent messages:")
    for msg, count in result.messages.most_common(12):
        print(f"  {count:5d}  {msg}")
    for case, mutation, tb in result.failures[: args.show]:
        print(f"--- failure: case {case}, {mutation}\n{tb}")
    print(f"FAILURES: {result.failed}")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
