"""NIR files from four writers and from the ``nir`` package, in Loihi 2 integers on Lava fixed_pt (issue 16).

Usage::

    .venv/bin/python benchmarks/interop_fixed.py [--steps 100] [--samples 2] [--stock] [--json OUT]

Every case of ``interop_writers.py`` (snntorch, norse, sinabs, rockpool; written by the
writer's own exporter, read with ``--writer``) and graphs built with the ``nir`` package
(covering Conv1d, Threshold, Linear, Scale, Delay, I, LI, CubaLI besides what the writers
write) is quantized as ``neurodeploy export net.nir --quantize int --calib X.npy`` does
(:func:`neurodeploy.targets.loihi.nir_fixed.quantize_map`, calibration = the run's input:
seeded random spikes at 10 %, the case's amplitude), then run by the integer reference
(``emulator``, torch int64), Lava fixed_pt (``lava-fixed``: Lava's bit-accurate Dense and
LIFReset -- the project's fixed_pt RuleLIF for a writer's neuron rules --, the project's fixed
Conv model; ``--stock``: also Lava's own Conv model) and the
float reference (``nir-torch``, float64). Agreement = equal (step, neuron) entries / all
per neuron layer, in %; for I/LI/CubaLI (states, not spikes) Lava fixed_pt vs the integer reference
compares states for equality, and the float reference gives ``state_error_rel`` (max |error| / max
|float state|).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import nir
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import interop_writers as iw  # noqa: E402


@dataclass
class FixedCase:
    name: str
    input_shape: tuple[int, ...]
    graph: Callable[[Path], nir.NIRGraph]  # folder -> the graph as neurodeploy reads it
    scale: float = 1.0
    values: bool = False  # real-valued input (seeded normal values) instead of spikes


def _by_hand(make: Callable[[], nir.NIRGraph]) -> Callable[[Path], nir.NIRGraph]:
    def read(folder: Path) -> nir.NIRGraph:
        from neurodeploy.ir import read_graph

        path = Path(folder) / "hand.nir"
        nir.write(str(path), make(), compression=None)
        return read_graph(path)
    return read


def hand_conv() -> nir.NIRGraph:
    """Input (2, 9, 9) -> Conv2d (pad 1) -> IF -> SumPool2d (pad 1) -> Conv2d (groups 2, stride (1, 2),
    dilation (2, 1)) -> LIF (v_reset -0.1) -> AvgPool2d -> Flatten -> Affine -> CubaLIF -> Output."""
    rng = np.random.default_rng(0)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 9, 9])}),
        "conv1": nir.Conv2d(input_shape=(9, 9), weight=rng.normal(size=(4, 2, 3, 3)), stride=1, padding=1,
                            dilation=1, groups=1, bias=rng.normal(size=4)),
        "if1": nir.IF(r=np.full((4, 9, 9), 5e3), v_threshold=np.ones((4, 9, 9))),
        "pool1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([1, 1])),
        "conv2": nir.Conv2d(input_shape=(5, 5), weight=rng.normal(size=(6, 2, 3, 3)), stride=(1, 2), padding=(2, 1),
                            dilation=(2, 1), groups=2, bias=np.zeros(6)),
        "lif2": nir.LIF(tau=np.full((6, 5, 3), 2e-4), r=np.full((6, 5, 3), 4.0), v_leak=np.zeros((6, 5, 3)),
                        v_threshold=np.full((6, 5, 3), 0.5), v_reset=np.full((6, 5, 3), -0.1)),
        "pool2": nir.AvgPool2d(kernel_size=np.array([2, 1]), stride=np.array([2, 1]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([6, 2, 3])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=rng.normal(size=(5, 36)), bias=rng.normal(size=5)),
        "cuba": nir.CubaLIF(tau_syn=np.full(5, 2e-4), tau_mem=np.full(5, 4e-4), r=np.full(5, 4.0), v_leak=np.zeros(5),
                            v_threshold=np.full(5, 0.2), w_in=np.full(5, 2.0)),
        "output": nir.Output(output_type={"output": np.array([5])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False)


def hand_dense(last: str) -> Callable[[], nir.NIRGraph]:
    """Input (3, 6) -> Conv1d -> Threshold -> Flatten -> Linear -> Scale -> LIF -> Delay -> Affine (bias)
    -> ``last`` (IF, or the integrators I, LI, CubaLI read as states) -> Output."""
    def make() -> nir.NIRGraph:
        rng = np.random.default_rng(1)
        tail = {"li": nir.LI(tau=np.full(3, 5e-4), r=np.ones(3), v_leak=np.full(3, 0.1)),
                "i": nir.I(r=np.full(3, 2.0)),
                "cubali": nir.CubaLI(tau_syn=np.full(3, 2e-4), tau_mem=np.full(3, 5e-4), r=np.ones(3),
                                     v_leak=np.zeros(3)),
                "if": nir.IF(r=np.full(3, 1e4), v_threshold=np.full(3, 0.5))}[last]
        nodes = {
            "input": nir.Input(input_type={"input": np.array([3, 6])}),
            "c1d": nir.Conv1d(input_shape=6, weight=rng.normal(size=(2, 3, 3)), stride=1, padding=1, dilation=1,
                              groups=1, bias=np.zeros(2)),
            "thr": nir.Threshold(threshold=np.full((2, 6), 0.2)),
            "flat": nir.Flatten(input_type={"input": np.array([2, 6])}, start_dim=0, end_dim=1),
            "lin": nir.Linear(weight=rng.normal(size=(8, 12))),
            "scale": nir.Scale(scale=np.linspace(0.5, 2.0, 8)),
            "lif": nir.LIF(tau=np.full(8, 3e-4), r=np.full(8, 3.0), v_leak=np.zeros(8), v_threshold=np.full(8, 0.3)),
            "delay": nir.Delay(delay=np.full(8, 2e-4)),
            "fc": nir.Affine(weight=rng.normal(size=(3, 8)), bias=np.full(3, 0.3)),
            last: tail,
            "output": nir.Output(output_type={"output": np.array([3])}),
        }
        names = list(nodes)
        return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False)
    return make


def hand_values() -> nir.NIRGraph:
    """Real-valued input (32, 8-bit payloads) -> Affine (fan-in 32: its sums need ``weight_exp`` -2 to fit
    the 16-bit ``a_in``) -> LIF -> Linear -> CubaLIF (slow current, du 40) -> Affine (bias) -> I -> Output."""
    rng = np.random.default_rng(3)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([32])}),
        "fc1": nir.Affine(weight=rng.normal(size=(8, 32)) * 0.3, bias=np.full(8, 0.05)),
        "lif": nir.LIF(tau=np.full(8, 5e-4), r=np.full(8, 5.0), v_leak=np.zeros(8), v_threshold=np.full(8, 1.0)),
        "fc2": nir.Linear(weight=rng.normal(size=(4, 8))),
        "cuba": nir.CubaLIF(tau_syn=np.full(4, 1e-2), tau_mem=np.full(4, 1e-3), r=np.full(4, 20.0), v_leak=np.zeros(4),
                            v_threshold=np.full(4, 0.3)),
        "fc3": nir.Affine(weight=rng.normal(size=(3, 4)), bias=np.full(3, 1.0)),
        "integ": nir.I(r=np.full(3, 2e4)),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False)


def hand_skip() -> nir.NIRGraph:
    """Three paths into ``out``: 3 synapses deep (fc0, fc1, fc2), 2 deep (a skip from lif0, through a NIR
    Delay of one step) and 1 deep (the input straight in, with a bias): nir_map balances the joins with
    delay lines (pipeline latency), which the integer reference passes on the same logical step."""
    rng = np.random.default_rng(7)
    w = lambda o, i: rng.uniform(-0.2, 0.8, (o, i))  # noqa: E731 -- mostly excitatory: every layer fires

    def lif(n: int, th: float = 0.5) -> nir.LIF:
        return nir.LIF(tau=np.full(n, 3e-4), r=np.full(n, 3.0), v_leak=np.zeros(n), v_threshold=np.full(n, th),
                       v_reset=np.zeros(n))

    nodes = {"input": nir.Input(input_type={"input": np.array([10])}),
             "fc0": nir.Linear(weight=w(12, 10)), "lif0": lif(12), "fc1": nir.Linear(weight=w(12, 12)),
             "lif1": lif(12), "fc2": nir.Linear(weight=w(6, 12)), "skip": nir.Linear(weight=w(6, 12)),
             "dl": nir.Delay(delay=np.full(6, 1e-4)), "direct": nir.Affine(weight=w(6, 10), bias=np.full(6, 0.05)),
             "out": lif(6, 1.0), "output": nir.Output(output_type={"output": np.array([6])})}
    edges = [("input", "fc0"), ("fc0", "lif0"), ("lif0", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "out"),
             ("lif0", "skip"), ("skip", "dl"), ("dl", "out"), ("input", "direct"), ("direct", "out"),
             ("out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _writer(case: iw.Case) -> Callable[[Path], nir.NIRGraph]:
    return lambda folder: iw.write_and_read(case, folder, warn=lambda line: None)[1]


def cases() -> list[FixedCase]:
    out = [FixedCase(f"{c.writer}: {c.net}", c.input_shape, _writer(c), c.scale) for c in iw.cases()]
    out.append(FixedCase("nir: conv+IF+SumPool+LIF+AvgPool+Flatten+Affine+CubaLIF", (2, 9, 9), _by_hand(hand_conv)))
    for last, label in (("if", "IF"), ("li", "LI"), ("i", "I"), ("cubali", "CubaLI")):
        out.append(FixedCase(f"nir: Conv1d+Threshold+Linear+Scale+LIF+Delay+Affine+{label}", (3, 6),
                             _by_hand(hand_dense(last))))
    out.append(FixedCase("nir: skip joins (delay-balanced) + Delay", (10,), _by_hand(hand_skip), scale=1.0))
    out.append(FixedCase("nir: values+Affine(weight_exp)+LIF+Linear+CubaLIF(slow)+Affine+I", (32,),
                         _by_hand(hand_values), values=True))
    return out


def _agreement(a: list, b: list, layers: list[str]) -> dict[str, float]:
    return {k: 100.0 * float((np.stack([t.layers[k] for t in a]) == np.stack([t.layers[k] for t in b])).mean())
            for k in layers}


def measure(case: FixedCase, steps: int = 100, samples: int = 2, lava: bool = True, stock: bool = False,
            folder: Path | None = None) -> dict[str, Any]:
    """One case: read, quantize on its own input, run emulator, nir-torch and (optionally) Lava fixed_pt."""
    from neurodeploy.ir.nirfile import FOREIGN_DT_KEY
    from neurodeploy.targets.loihi.nir_fixed import quantize_map
    from neurodeploy.targets.loihi.nir_map import build_map
    from neurodeploy.targets.nir_emulator import NirIntegerEmulator
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    with tempfile.TemporaryDirectory() as tmp:
        graph = case.graph(folder or Path(tmp))
    dt = float(graph.metadata[FOREIGN_DT_KEY])
    m = build_map(graph, dt)
    x = (np.random.default_rng(0).normal(size=(steps, samples, *case.input_shape)) if case.values
         else iw.spikes(steps, samples, case.input_shape, scale=case.scale))
    quant, arrays = quantize_map(m, x)
    start = time.perf_counter()
    runner = NirIntegerEmulator(graph, m, quant, arrays, dt)
    emu = runner.run(x)
    row: dict[str, Any] = {"case": case.name, "steps": steps, "samples": samples, "dt_s": dt,
                           "emulator_s": time.perf_counter() - start,
                           "kinds": sorted({type(n).__name__ for n in graph.nodes.values()}),
                           "vth_mant": {k: quant[k]["vth_mant"] for k in m.layers if quant[k]["spiking"]},
                           "weight_exp": {k: q["weight_exp"] for k, q in quant.items() if q.get("weight_exp")},
                           "neuron_model": {k: quant[k]["model"] + ("" if quant[k]["model"] == "LIFReset" and
                                                                    quant[k]["spike"] == ">" else
                                                                    f" (v {quant[k]['spike']} th, {quant[k]['reset']}"
                                                                    f"{' one step late' if quant[k]['reset_delay'] else ''})")
                                            for k in m.layers if quant[k]["spiking"]},
                           "saturated_or_wrapped": {k: c for k, c in runner.counts.items() if any(c.values())},
                           "firing_rate": {k: float(np.mean([t.layers[k].mean() for t in emu]))
                                           for k in m.layers if quant[k]["spiking"]}}
    ref = NirSequenceExecutor(graph, dt).run(x)
    row["emulator_vs_float"] = _agreement(ref, emu, [k for k in m.layers if quant[k]["spiking"]])
    for k in (k for k in m.layers if not quant[k]["spiking"]):  # a state: its error relative to its range
        a, b = np.stack([t.layers[k] for t in ref]), np.stack([t.layers[k] for t in emu])
        row.setdefault("state_error_rel", {})[k] = float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30))
    if lava:
        from neurodeploy.targets.loihi.nir_lava_fixed import NirLavaFixedExecutor

        for key, fast in (("lava_fixed", True),) + ((("lava_fixed_stock", False),) if stock else ()):
            start = time.perf_counter()
            got = NirLavaFixedExecutor(graph, quant, arrays, dt, fast=fast).run(x)
            row[f"{key}_s"] = time.perf_counter() - start
            row[f"{key}_vs_emulator"] = _agreement(got, emu, m.layers)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--no-lava", action="store_true")
    parser.add_argument("--stock", action="store_true", help="also Lava's own fixed_pt Conv model")
    parser.add_argument("--json", type=Path, help="write the rows as JSON lines here")
    args = parser.parse_args(argv)
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
        args.json.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
