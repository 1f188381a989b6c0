"""NIR files from four writers and from the ``nir`` package, in Loihi 2 integers on Lava fixed_pt (issue 16).

Usage::

    .venv/bin/python benchmarks/interop_fixed.py [--steps 100] [--samples 2] [--stock] [--json OUT]

Every case of ``interop_writers.py`` (snntorch, norse, sinabs, rockpool; written by the
writer's own exporter, read with ``--writer``) and graphs built with the ``nir`` package
(covering Conv1d, Threshold, Linear, Scale, Delay, I, LI, CubaLI besides what the writers
write) is quantized as ``neurodeploy export net.nir --quantize int --calib X.npy`` does
(:func:`neurodeploy.quantize.ptq.quantize_sequence`, calibration = the run's input:
seeded random spikes at 10 %, the case's amplitude), then run by the integer reference
(``emulator``, torch int64), Lava fixed_pt (``lava-fixed``: Lava's bit-accurate Dense and
LIFReset -- the project's fixed_pt RuleLIF for a writer's neuron rules --, the project's fixed
Conv model; ``--stock``: also Lava's own Conv model) and the
float reference (``nir-torch``, float64). Agreement = equal (step, neuron) entries / all
per neuron layer, in %; for I/LI/CubaLI (states, not spikes) Lava fixed_pt vs the integer reference
compares states for equality, and the float reference gives ``state_error_rel`` (max |error| / max
|float state|).

The cases and the run are ``tests/fixtures/fixed_cases.py`` (graphs: ``nir_graphs.py``; the writers'
cases: ``writer_cases.py``), which the tests run too; this script runs every case and prints (and
with ``--json`` writes) one row per case.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import _record
import _shared  # noqa: F401 -- tests/fixtures/ as the package ndfixtures
from ndfixtures.fixed_cases import cases, measure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--no-lava", action="store_true")
    parser.add_argument("--stock", action="store_true", help="also Lava's own fixed_pt Conv model")
    parser.add_argument("--json", type=Path, help="write the rows as JSON lines here (after a first line with the run's "
                        "meta: command, commit, dates, load); benchmarks/interop.py --render then renders interop.md from it")
    args = parser.parse_args(argv)
    meta = _record.started(argv and [sys.argv[0], *argv])
    warnings.filterwarnings("ignore")
    rows = []
    for case in cases():
        try:
            row = measure(case, args.steps, args.samples, lava=not args.no_lava, stock=args.stock)
        except Exception as exc:  # noqa: BLE001 -- a case that fails is a row of the table, not a crash
            row = {"case": case.name, "error": f"{type(exc).__name__}: {exc}"[:300]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text("".join(json.dumps(r) + "\n" for r in [{"meta": _record.finished(meta)}, *rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
