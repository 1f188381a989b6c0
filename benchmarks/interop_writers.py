"""NIR files from four writers (snntorch, norse, sinabs, rockpool), run by neurodeploy (issue 16).

Usage::

    .venv/bin/python benchmarks/interop_writers.py [--steps 100] [--samples 2] [--no-lava] [--json OUT] [--keep DIR]

For every writer, a dense LIF / CubaLIF network and a conv SNN (with pooling and flatten
where the writer exports them) are built with seeded weights, written to a ``.nir`` file
by the writer's own exporter (workarounds only where the writer's file cannot be written,
listed in ``writer_cases.WRITE_NOTES``), read back with ``neurodeploy.ir.read_graph(path, writer=W)``
and run on the same input -- 100 steps of seeded random spikes at 10 % (the issue's
default input) -- by the writer's own simulation, neurodeploy's torch executor
(``nir-torch``, float64) and the Lava float mapping (``Loihi2SimCfg(floating_pt)``).
Agreement = equal (step, neuron) entries / all, per neuron layer, in %.

The cases and the run are ``tests/fixtures/writer_cases.py`` (the tests run the same ones);
this script runs every case and prints (and with ``--json`` writes) one row per case.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import _record
import _shared  # noqa: F401 -- tests/fixtures/ as the package ndfixtures
from ndfixtures.writer_cases import cases, measure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--no-lava", action="store_true")
    parser.add_argument("--json", type=Path, help="write the rows as JSON lines here (after a first line with the run's "
                        "meta: command, commit, dates, load); benchmarks/interop.py --render then renders interop.md from it")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the writers' .nir files in DIR "
                        "(WRITER-NET.nir, and the first input sample as WRITER-NET.input.npy), e.g. for "
                        "`neurodeploy export DIR/norse-residual.nir` and "
                        "`report BUNDLE --input DIR/norse-residual.input.npy`")
    args = parser.parse_args(argv)
    meta = _record.started(argv and [sys.argv[0], *argv])
    warnings.filterwarnings("ignore")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    rows = []
    for case in cases():
        try:
            row = measure(case, args.steps, args.samples, lava=not args.no_lava, folder=args.keep)
        except Exception as exc:  # noqa: BLE001 -- a writer that fails is a row of the table, not a crash
            row = {"writer": case.writer, "net": case.net, "error": f"{type(exc).__name__}: {exc}"[:300]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text("".join(json.dumps(r) + "\n" for r in [{"meta": _record.finished(meta)}, *rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
