"""The writers' default neuron options as rules (issue 28 item 2), measured against the writer's own
simulation of the same file.

Usage::

    .venv/bin/python benchmarks/writer_rules.py [--steps 100] [--samples 2]   # run, record, render
    .venv/bin/python benchmarks/writer_rules.py --check    # re-render writer_rules.md from the record; 1 on a diff
    .venv/bin/python benchmarks/writer_rules.py --render   # write writer_rules.md from the record

Cases (``tests/fixtures/rule_cases.py``, the tests run the same ones): a sinabs conv SNN with
sinabs' default IAF layers (MultiSpike, MembraneSubtract; written by ``sinabs.nir.to_nir``), with
float weights and with weights rounded to a grid of 1/16 (a net made for an 8-bit chip), against
``sinabs.nir.from_nir`` as shipped (which adds ``min_v_mem = -v_threshold``); rockpool dense nets of
``LIFTorch`` and of ``LIFNeuronTorch`` (``max_spikes_per_dt`` at its default 2**16) against the
modules. Input: seeded random spikes at 10 % (amplitude 3 for sinabs, 2 for rockpool). Each file
is read with ``--writer`` (every rule on) and with the writer's rules off (``--rule NAME=off``), then
run on nir-torch (float64), Lava float, the integer emulator and Lava fixed_pt (quantized, counts
capped at the calibration peak; calibration = the run's input). Per layer: the spike count ratio
(ours / theirs; a graded spike of k counts k) and the per-element agreement.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import _record
import _shared  # noqa: F401 -- tests/fixtures/ as the package ndfixtures
from ndfixtures import rule_cases as rc

OUT = _record.HERE / "writer_rules.out.json"
MD = _record.HERE / "writer_rules.md"
OFF = {"sinabs": ("multi-spike=off", "subtract-reset=off", "min-v-mem=off"),
       "sinabs, weights on a 1/16 grid": ("multi-spike=off", "subtract-reset=off", "min-v-mem=off"),
       "rockpool LIFTorch": ("multi-spike=off",), "rockpool LIFNeuronTorch": ("multi-spike=off", "lif-step=off")}


def _cases(folder: Path, steps: int, samples: int):
    path = rc.sinabs_conv_file(folder / "sinabs.nir")
    x = rc.random_spikes(steps, samples, rc.SINABS_SHAPE)
    yield "sinabs", "sinabs", path, x, rc.sinabs_from_nir(path, x)
    path = rc.sinabs_conv_file(folder / "sinabs-grid.nir", weight_step=1 / 16)
    yield "sinabs, weights on a 1/16 grid", "sinabs", path, x, rc.sinabs_from_nir(path, x)
    for neuron in ("LIFTorch", "LIFNeuronTorch"):
        path, net = rc.rockpool_dense_file(folder / f"rockpool-{neuron}.nir", neuron)
        x = rc.random_spikes(steps, samples, (16,), scale=2.0)
        yield f"rockpool {neuron}", "rockpool", path, x, rc.rockpool_run(net, x)


def _runs(path: Path, writer: str, rules, x: np.ndarray):
    from neurodeploy.ir import as_deploy_graph, read_graph
    from neurodeploy.nir_bundle import peak_counts
    from neurodeploy.passes import annotated
    from neurodeploy.quantize.ptq import quantize_sequence
    from neurodeploy.targets.emulator import SequenceEmulator
    from neurodeploy.targets.loihi.executor import sequence_executor
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    g = annotated(as_deploy_graph(read_graph(path, writer=writer, rules=rules, warn=lambda _: None)))
    flt = NirSequenceExecutor(g).run(x)
    yield "nir-torch", flt
    yield "lava-float", sequence_executor(g).run(x)
    quant, arrays = quantize_sequence(g, x, peak_counts(g, flt))
    yield "emulator", SequenceEmulator(g, quant, arrays).run(x)
    yield "lava-fixed", sequence_executor(g, quant, arrays).run(x)


def measure(steps: int, samples: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case, writer, path, x, ref in _cases(Path(tmp), steps, samples):
            for label, rules in (("every rule on", ()), ("off: " + ", ".join(r.split("=")[0] for r in OFF[case]),
                                                          OFF[case])):
                try:
                    for executor, traces in _runs(path, writer, rules, x):
                        layers = list(traces[0].layers)
                        got = {r: np.stack([t.layers[n] for t in traces], 1) for r, n in zip(ref, layers)}
                        rows.append({"case": case, "rules": label, "executor": executor,
                                     "layers": rc.compare(ref, got)})
                        print(json.dumps(rows[-1]), flush=True)
                except Exception as exc:  # noqa: BLE001 -- a failing run is a row of the table, not a crash
                    rows.append({"case": case, "rules": label, "error": f"{type(exc).__name__}: {exc}"[:300]})
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def render(record: dict) -> str:
    lines = ["# The writers' default neuron options as rules (issue 28 item 2)", "",
             _record.provenance(record["meta"]), "",
             f"{record['steps']} steps x {record['samples']} samples of seeded random spikes at 10 %. Per layer: "
             "spike count ratio ours / the writer's own run (%; a graded spike of k counts k) and per-element "
             "agreement (%). The writer's own run: sinabs `from_nir` as shipped (MultiSpike, MembraneSubtract, "
             "IF `min_v_mem = -v_threshold`); rockpool: its modules (`max_spikes_per_dt` 2**16). Most spikes "
             "in one step of the writer's run per layer in brackets.", ""]
    rows = []
    for r in record["rows"]:
        if "error" in r:
            rows.append([r["case"], r["rules"], "-", r["error"].replace("|", "/")])
            continue
        cells = "; ".join(f"{k} [{v['max_count']:.0f}]: {100 * v['ratio']:.2f} / {v['agreement']:.2f}"
                          for k, v in r["layers"].items())
        rows.append([r["case"], r["rules"], r["executor"], cells])
    lines += _record.table(["file", "rules", "executor", "layer [most spikes/step]: count ratio % / agreement %"],
                           rows)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--check", action="store_true", help="re-render the .md from the record; exit 1 on a diff")
    parser.add_argument("--render", action="store_true", help="write the .md from the record")
    args = parser.parse_args(argv)
    if args.check or args.render:
        return _record.check_or_write(MD, OUT, render, write=args.render)
    warnings.filterwarnings("ignore")
    meta = _record.started(argv)
    start = time.perf_counter()
    rows = measure(args.steps, args.samples)
    record = {"meta": _record.finished(meta), "steps": args.steps, "samples": args.samples,
              "seconds": time.perf_counter() - start, "rows": rows}
    _record.write_json(OUT, record)
    _record.write_md(MD, render(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
