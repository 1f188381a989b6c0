"""Fuzz the NIR loader: malformed graphs must come out as one clear GraphError, never a crash.

Usage::

    nice -n 10 .venv/bin/python benchmarks/fuzz_nir.py --cases 10000 --seed 0 --write   # about 25 min here
    .venv/bin/python benchmarks/fuzz_nir.py --check     # exit 1 when fuzz_nir.md differs from its rendering
    .venv/bin/python benchmarks/fuzz_nir.py --render    # write fuzz_nir.md again from the record

The fuzzer -- base graphs, mutations, outcomes (``graph_error``, ``accepted_ran``,
``rejected_later``, ``unwritable``; failures ``uncaught``, ``fallback``, ``multiline``,
``accepted_crash``, ``hung``) -- is ``tests/fixtures/nir_fuzz.py``, which the tests run too;
this script runs it and prints the counts, the most frequent messages and the first failures
(exit 1 if any). ``--write`` records the counts, messages and failures with ``meta`` (command, commit,
dates, load before and after) in ``benchmarks/fuzz_nir.out.json`` and renders ``benchmarks/fuzz_nir.md``
from that record alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MD, OUT = HERE / "fuzz_nir.md", HERE / "fuzz_nir.out.json"


def render(record: dict) -> str:
    """``fuzz_nir.md`` from the record alone."""
    from _record import provenance, table

    failed = record["failed"]
    lines = ["# NIR loader fuzz (`benchmarks/fuzz_nir.py`)", "",
             provenance(record["meta"]), "Raw results: `fuzz_nir.out.json`.", "",
             f"{record['cases']:,} seeded cases (seed {record['seed']}): mutations of valid exports (toy-residual, "
             + ("the tiny derainers" if record["derainers"] else "no derainers") + ", and graphs of NIR primitives as "
             "other writers write them). In-memory mutations are counted twice: `check_graph` and `write_graph` -> "
             "`read_graph` (\"(file)\" rows); file damage (truncate, flip bytes, HDF5 edits) is counted once. "
             "Failures: `uncaught`, `fallback`, `multiline`, `accepted_crash`, `hung`; every other outcome is a "
             "one-line refusal or a graph that ran.", "",
             f"Result: {record['seconds']:.0f} s ({1000 * record['seconds'] / max(1, record['cases']):.0f} ms/case), "
             + ("**0 failures**." if not failed else f"**{failed} failure(s)** (below)."), "",
             *table(["outcome", "count"], [[k, f"{v:,}"] for k, v in record["outcomes"]], "lr"), "",
             "## By mutation", "",
             *table(["mutation", "outcomes"], [[k, ", ".join(f"{o}: {n:,}" for o, n in v.items())]
                                               for k, v in record["by_mutation"].items()]), "",
             "## Most frequent messages", "",
             *table(["count", "message"], [[f"{n:,}", m.replace("|", "\\|")] for m, n in record["messages"]], "rl"), ""]
    for f in record["failures"]:
        lines += [f"### Failure: case {f['case']}, {f['mutation']}", "", "```", f["traceback"].rstrip(), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-derainers", action="store_true", help="mutate the toy-residual graph only")
    parser.add_argument("--show", type=int, default=3, help="failures to print in full")
    parser.add_argument("--case-timeout", type=float, default=60.0,
                        help="seconds before a case counts as hung (stack dumped, exit)")
    parser.add_argument("--trace", action="store_true", help="print each case before running it")
    parser.add_argument("--write", action="store_true", help="write fuzz_nir.out.json and fuzz_nir.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when fuzz_nir.md differs from its rendering of the record")
    parser.add_argument("--render", action="store_true", help="only write fuzz_nir.md again from fuzz_nir.out.json")
    args = parser.parse_args(argv)
    import _record

    if args.check or args.render:
        return _record.check_or_write(MD, OUT, render, write=args.render)
    import _shared  # noqa: F401 -- tests/fixtures/ as the package ndfixtures
    from ndfixtures.nir_fuzz import run

    meta = _record.started(argv and [sys.argv[0], *argv])
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
    if args.write:
        _record.write_json(OUT, {
            "meta": _record.finished(meta), "cases": result.cases, "seed": args.seed, "derainers": not args.no_derainers,
            "seconds": result.seconds, "failed": result.failed, "outcomes": result.outcomes.most_common(),
            "by_mutation": {m: dict(result.by_mutation[m]) for m in sorted(result.by_mutation)},
            "messages": result.messages.most_common(12),
            "failures": [{"case": c, "mutation": m, "traceback": tb} for c, m, tb in result.failures]})
        _record.check_or_write(MD, OUT, render, write=True)
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
