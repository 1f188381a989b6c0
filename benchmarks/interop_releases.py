"""Each writer's releases on neurodeploy (issue 28, item 1): the table ``interop_writers.md``.

Usage::

    .venv/bin/python benchmarks/interop_releases.py [--steps 100] [--samples 2]   # run, record, render
    .venv/bin/python benchmarks/interop_releases.py --check    # re-render interop_writers.md from the record; 1 on a diff
    .venv/bin/python benchmarks/interop_releases.py --render   # write interop_writers.md from the record

For every writer (snntorch, norse, sinabs, rockpool) and every release that writes NIR -- the old
releases' files committed in ``tests/data/writers/RELEASE/`` with the release's own run recorded
beside them, the installed releases' files written now (norse: 1.1.0 and its GitHub master's
convention) -- the file is read as ``--writer NAME`` reads it (``neurodeploy.ir.read_graph(path,
writer=NAME)``, with the CLI options the row names) and run on nir-torch (float64), Lava float, the
integer emulator and Lava fixed_pt (quantized by ``quantize_sequence``, calibration = the run's
input). Per layer: spike counts (k spikes in one step count k) and per-element agreement with the
writer's own run on the same input. The cases and the run: ``tests/fixtures/release_cases.py``.
``interop_writers.out.jsonl`` (``interop_writers.py``, rendered into ``interop.md``) is not touched.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from importlib.metadata import version

import _record
import _shared  # noqa: F401 -- tests/fixtures/ as the package ndfixtures

OUT = _record.HERE / "interop_releases.out.json"
MD = _record.HERE / "interop_writers.md"
EXECUTORS = ("nir-torch", "lava-float", "emulator", "lava-fixed", "emulator 15b", "lava-fixed 15b")
PACKAGES = ("snntorch", "norse", "sinabs", "rockpool", "nir", "nirtorch", "torch", "numpy", "lava-nc")


def measure(steps: int, samples: int, recorded_steps: int, lava: bool) -> list[dict]:
    from ndfixtures import release_cases as rc

    rows = []
    for case in rc.cases():
        n_steps, n_samples = (recorded_steps, 0) if case.recorded else (steps, samples)
        for row in rc.run(case, n_steps, n_samples, lava=lava, weight_bits=(8, rc.WIDE_BITS)):
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "layers"}), flush=True)
    return rows


def _versions() -> dict:
    from ndfixtures import release_cases as rc

    old = {}
    for folder in sorted(p.name for p in rc.DATA.iterdir() if (p / "versions.json").exists()):
        old[folder] = {k: v for k, v in rc._versions(folder).items() if k not in ("steps", "samples")}
    return {"recorded": old, "installed": {p: version(p) for p in PACKAGES}}


def _cell(row: dict | None, notes: list[str]) -> str:
    if row is None:
        return "-"
    if "error" in row:
        text = row["error"].replace("|", "/")
        if text not in notes:
            notes.append(text)
        return f"error [{notes.index(text) + 1}]"
    return f"{row['min_agreement']:.2f} / {100 * row['max_count_diff']:.2f} {'pass' if row['pass'] else '**FAIL**'}"


def render(record: dict) -> str:
    rows = record["rows"]
    lines = ["# Each writer's releases on neurodeploy (issue 28, item 1)", "",
             _record.provenance(record["meta"]), "",
             "For each writer and each release that writes NIR, a dense or conv SNN written by that release is read "
             "with `--writer NAME` (auto-detected convention; the options column lists any other CLI option) and run "
             "on nir-torch (float64), Lava float (`Loihi2SimCfg(floating_pt)`), the integer emulator and Lava "
             "fixed_pt (both quantized by `quantize_sequence`, calibration = the run's input), and compared per "
             "layer with the writer's own simulation of the same network on the same input. Old releases: the "
             "files in `tests/data/writers/RELEASE/`, written by that release in its own venv, with its run "
             "recorded beside them (their recorded input in full). Installed releases: files written now, "
             f"{record['steps']} steps x {record['samples']} samples of seeded random spikes at 10 %. norse "
             "`master`: norse's GitHub convention (`tau = 1/tau_mem_inv`; written with 1.1.0's exporter at dt = 1, "
             "the same arrays), run at `--dt 1e-4`.", "",
             "Each executor cell: lowest per-layer agreement (% of (step, neuron) entries with the same spike "
             "count) / largest per-layer |our spike count - the writer's| / the writer's (%; k spikes in one step "
             "count k); **pass** when >= 99.9 % and <= 0.5 % (the issue's bounds). `file` no: the writer's graph "
             "cannot be stored by `nir.write` and is read in memory by the same reader. The quantized runs "
             "(emulator, lava-fixed) round weights to Loihi's 8-bit mantissas and decays to 12 bits: a net "
             "whose numbers are not on that grid can lose agreement to that rounding (known; reported here as "
             "measured); the nets \"on a 1/16 grid\" / \"1/32 grid\" (weights exact in Loihi's integers) "
             "separate the reading from the rounding. `emulator 15b` / `lava-fixed 15b`: the same with `export "
             "--weight-bits 15` (each synapse into a neuron whose input LSB it refines split into two 8-bit synapse "
             "groups, hi at weight_exp 7 and lo at 0: twice its synaptic memory; on Lava two Dense, or two Conv with "
             "the hi sums shifted by an integer relay, Lava's Conv dropping weight_exp; the neuron's input stays "
             "within the 16-bit a_in). "
             "Where a writer's layer sends many spikes per step (rockpool, sinabs "
             "MultiSpike), a count off by one in one step is a disagreement of that entry. Raw rows, per-layer "
             "counts included: `interop_releases.out.json`; the cases: `tests/fixtures/release_cases.py`.", ""]
    by_case: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        key = (r["writer"], r["release"], r["nir"], r["net"], r["reference"], r.get("options", ""))
        by_case.setdefault(key, {})[r.get("executor") or "*"] = r
    lines += ["## Summary: files that pass, per writer release and executor", ""]
    summary: dict[tuple, dict[str, list]] = {}
    for (writer, release, nir_v, *_), runs in by_case.items():
        s = summary.setdefault((writer, release, nir_v), {e: [0, 0, None, None] for e in EXECUTORS})
        for e in EXECUTORS:
            r = runs.get(e) or runs.get("*")
            if r is None:
                continue
            s[e][1] += 1
            if "error" not in r:
                s[e][0] += bool(r["pass"])
                s[e][2] = r["min_agreement"] if s[e][2] is None else min(s[e][2], r["min_agreement"])
                s[e][3] = r["max_count_diff"] if s[e][3] is None else max(s[e][3], r["max_count_diff"])
    table = []
    for (writer, release, nir_v), s in summary.items():
        table.append([writer, release, nir_v, *(f"{p}/{n}" + (f" ({low:.2f} / {100 * diff:.2f})" if low is not None
                                                              else "")
                                               if n else "-" for p, n, low, diff in (s[e] for e in EXECUTORS))])
    lines += _record.table(["writer", "release", "nir", *EXECUTORS], table)
    lines += ["", "Each cell: files that pass / files, (lowest agreement % / largest count difference %) over the "
              "files that ran; an error counts as not passing.", "",
              "## Per file", ""]
    notes: list[str] = []
    table = []
    for (writer, release, nir_v, net, reference, options), runs in by_case.items():
        first = next(iter(runs.values()))
        if "*" in runs:  # no executor ran: the release did not write it, or it could not be read
            cells = [_cell(runs["*"], notes)] + ["-"] * (len(EXECUTORS) - 1)
            size = read_as = file = "-"
        else:
            cells = [_cell(runs.get(e), notes) for e in EXECUTORS]
            size = f"{first['steps']}x{first['samples']}"
            read_as = first.get("read_as") or "(one convention)"
            file = "yes" if first.get("file") else "no"
        table.append([writer, release, nir_v, net, f"`{options}`" if options else "", read_as, file, reference, size,
                      *cells])
    lines += _record.table(["writer", "release", "nir", "net", "options", "read as", "file", "writer's own run",
                            "steps x samples", *EXECUTORS], table)
    if notes:
        lines += ["", "Errors:", ""] + [f"[{i}] {n}" + "  " * (i < len(notes)) for i, n in enumerate(notes, 1)]
    lines += ["", "## Versions", "", "Old releases (each folder's `versions.json`, the venv that wrote the files and "
              "recorded the writer's run):", ""]
    for folder, v in record["versions"]["recorded"].items():
        lines.append(f"- `{folder}`: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    lines += ["", "Installed (this run: the current releases' files and runs, and neurodeploy's): " +
              ", ".join(f"{k} {v}" for k, v in record["versions"]["installed"].items()) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="steps of the installed releases' runs")
    parser.add_argument("--samples", type=int, default=2, help="samples of the installed releases' runs")
    parser.add_argument("--recorded-steps", type=int, default=0,
                        help="cut the old releases' recorded runs to this many steps (0: all)")
    parser.add_argument("--no-lava", action="store_true")
    parser.add_argument("--check", action="store_true", help="re-render interop_writers.md from the record; exit 1 on a diff")
    parser.add_argument("--render", action="store_true", help="write interop_writers.md from the record")
    args = parser.parse_args(argv)
    if args.check or args.render:
        return _record.check_or_write(MD, OUT, render, write=args.render)
    warnings.filterwarnings("ignore")
    meta = _record.started(argv and [sys.argv[0], *argv])
    start = time.perf_counter()
    rows = measure(args.steps, args.samples, args.recorded_steps, lava=not args.no_lava)
    record = {"meta": _record.finished(meta), "steps": args.steps, "samples": args.samples,
              "recorded_steps": args.recorded_steps, "seconds": time.perf_counter() - start,
              "versions": _versions(), "rows": rows}
    _record.write_json(OUT, record)
    _record.write_md(MD, render(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
