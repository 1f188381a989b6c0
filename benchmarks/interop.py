"""Measure NIR interop with snntorch and norse: per-layer spike agreement, both directions.

    .venv/bin/python benchmarks/interop.py            # measure; write interop.out.json, interop.md, README blocks
    .venv/bin/python benchmarks/interop.py --check    # exit 1 when interop.md or a README block differs
    .venv/bin/python benchmarks/interop.py --render   # write them again from the records

``interop.md`` and the README's interop blocks are rendered from three records alone: this script's
``interop.out.json`` (with ``meta``: command, commit, dates, load before and after),
``interop_writers.out.jsonl`` (``interop_writers.py --json``) and ``interop_fixed.out.jsonl``
(``interop_fixed.py --stock --json``). What the workarounds and the writers' quirks are:
``docs/nir-interop.md``.

Directions (direct encoding: the same input on each of T steps):
1. snntorch / norse network -> their NIR writer -> the one import (``neurodeploy.ir.import_graph``,
   ``--writer``: a sequence graph, the image shown for T steps) -> Lava ``floating_pt`` (float64) and
   NIR in torch (``targets/nir_primitives.py``, float64), against the library's own simulation (float32).
2. our network (DirectEncode, SeqConv2d, LIF, MeanDecode) -> ``export_graph`` ->
   ``load_into_snntorch`` / ``load_into_norse`` -> the library's simulation (float32, as
   their importers build it), against our torch model in float32.
Each with and without conv padding, a small net (2 LIF layers, 4 channels, 8x8, T = 8)
and a larger one (3 LIF layers, 8 channels, 16x16, T = 16), 4 random inputs in [0, 1).
The rows "no workaround" show what the upstream behaviour costs.
Agreement = share of equal (step, neuron) entries in %, as ``neurodeploy.verify``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import io
import logging
import platform
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
MD, OUT = HERE / "interop.md", HERE / "interop.out.json"
WRITERS, FIXED = HERE / "interop_writers.out.jsonl", HERE / "interop_fixed.out.jsonl"


def _imports() -> None:
    """The libraries a measurement needs (not --check/--render): into this module's globals."""
    global np, torch, nn, norse, snn, import_from_nir, export_graph, NeurodeployError, graph_info, import_graph
    global export_snntorch, load_into_norse, load_into_snntorch, plain_nir, run_library, DirectEncode, MeanDecode
    global SeqConv2d, LIF, sequence_executor, NirSequenceExecutor, TorchReference, verdict
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.disable(logging.WARNING)  # norse's "r diverges" warning in the no-workaround rows
    import norse.torch as norse
    import numpy as np
    import snntorch as snn
    import torch
    from snntorch.import_nir import import_from_nir
    from torch import nn

    from neurodeploy.errors import NeurodeployError
    from neurodeploy.ir import graph_info, import_graph
    from neurodeploy.models.layers import DirectEncode, MeanDecode, SeqConv2d
    from neurodeploy.models.neurons import LIF
    from neurodeploy.nir_export import export_graph
    from neurodeploy.targets.crosscheck import (export_snntorch, load_into_norse, load_into_snntorch, plain_nir,
                                                run_library)
    from neurodeploy.targets.loihi.executor import sequence_executor
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor
    from neurodeploy.targets.torch_reference import TorchReference
    from neurodeploy.verify import verdict


N_IMAGES = 4
SIZES = {"small": dict(layers=2, ch=4, hw=8, t=8), "large": dict(layers=3, ch=8, hw=16, t=16)}
SNN_PARAMS = [(0.5, 0.3), (0.75, 0.2), (0.6, 0.25)]  # snntorch (beta, threshold) per layer
NORSE_PARAMS = [(500.0, 0.1), (250.0, 0.05), (400.0, 0.08)]  # norse (tau_mem_inv 1/s, v_th) per layer


def snntorch_net(size: dict, pad: int, reset: str = "zero") -> nn.Sequential:
    torch.manual_seed(0)
    mods, c_in = [], 2
    for beta, th in SNN_PARAMS[:size["layers"]]:
        mods += [nn.Conv2d(c_in, size["ch"], 3, padding=pad), snn.Leaky(beta=beta, threshold=th, init_hidden=True,
                                                                       reset_mechanism=reset)]
        c_in = size["ch"]
    return nn.Sequential(*mods)


def norse_net(size: dict, pad: int) -> nn.Module:
    torch.manual_seed(0)
    mods, c_in = [], 2
    for inv, th in NORSE_PARAMS[:size["layers"]]:
        p = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(inv), v_th=torch.tensor(th))
        mods += [nn.Conv2d(c_in, size["ch"], 3, padding=pad), norse.LIFBoxCell(p)]
        c_in = size["ch"]
    return norse.SequentialState(*mods)


def our_net(size: dict, pad: int):
    """Our network (DirectEncode, SeqConv2d, LIF, MeanDecode) of ``size``."""
    class OurNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.t_steps = size["t"]
            self.enc = DirectEncode(size["t"])
            body, c_in = [], 3
            for i in range(size["layers"]):
                body += [SeqConv2d(c_in, size["ch"], 3, padding=pad), LIF(0.15, 2.0)]
                c_in = size["ch"]
            self.body = nn.Sequential(*body)
            self.head, self.dec = SeqConv2d(c_in, 3, 3, padding=pad), MeanDecode()

        def forward(self, x):
            return self.dec(self.head(self.body(self.enc(x))))

    return OurNet()


def images(channels: int, hw: int) -> np.ndarray:
    return np.random.default_rng(0).random((N_IMAGES, channels, hw, hw))


def agreement(reference, other) -> dict[str, float]:
    return verdict(reference, other, [str(i) for i in range(len(reference))]).layers


def rate(traces) -> float:
    return float(np.mean([np.mean([t.layers[k].mean() for k in t.layers]) for t in traces]))


def layer_agreement(reference, other, layers) -> dict[str, float]:
    """Per layer, equal (step, neuron) entries in % (a sequence run's output is a sequence, the
    library's a rate: layers only)."""
    return {k: 100.0 * float(np.mean(np.stack([t.layers[k] for t in reference]) ==
                                      np.stack([t.layers[k] for t in other]))) for k in layers}


def foreign_to_lava(library: str, size: dict, pad: int, workaround: bool = True):
    x = images(2, size["hw"])
    seq = np.repeat(x[None], size["t"], axis=0)  # direct encoding as a sequence: (T, N, C, H, W)
    if library == "snntorch":
        # "no workaround": a net with snntorch's default reset "subtract", which its NIR does not
        # record, read without --reset (so as "zero")
        net = snntorch_net(size, pad, "zero" if workaround else "subtract")
        written, kw = export_snntorch(net, (2, size["hw"], size["hw"])), dict(writer="snntorch")
    else:
        net = norse_net(size, pad)
        with contextlib.redirect_stdout(io.StringIO()):
            written = norse.to_nir(net, torch.zeros(1, 2, size["hw"], size["hw"]))
        # "no workaround": the file read as NIR says (tau as written) at norse's dt, without --writer norse
        kw = dict(writer="norse") if workaround else dict(dt_s=1e-3)
    try:
        g = import_graph(written, **kw)
    except NeurodeployError as exc:  # the import refuses in one line what it cannot read right
        return str(exc), 0.0, 0.0, None
    layers = g.neuron_layers()
    reference = run_library(net, x, size["t"], layers, library)  # float32, as users run them
    start = time.perf_counter()
    lava = sequence_executor(g).run(seq)
    seconds = time.perf_counter() - start
    torch_exec = NirSequenceExecutor(g).run(seq)  # float64
    return (layer_agreement(reference, lava, layers), rate(reference), seconds,
            layer_agreement(reference, torch_exec, layers))


def ours_to_library(library: str, size: dict, pad: int, workaround: bool = True):
    torch.manual_seed(0)
    model = our_net(size, pad).eval()
    x = images(3, size["hw"])
    graph = export_graph(model, (size["hw"], size["hw"]))
    info = graph_info(graph)
    layers = info.neuron_layers(graph)
    reference = TorchReference(model, graph, info, dtype=torch.float32).run(x)
    start = time.perf_counter()
    if library == "snntorch":
        if workaround:
            module = load_into_snntorch(graph)
        else:
            with contextlib.redirect_stdout(io.StringIO()):
                module = import_from_nir(plain_nir(graph)[0])
        got = run_library(module, x, size["t"], layers, "snntorch")
    else:
        module = load_into_norse(graph)[0] if workaround else norse.from_nir(plain_nir(graph)[0])
        got = run_library(module, x, size["t"], layers, "norse")
    return agreement(reference, got), rate(reference), time.perf_counter() - start


def _per(d) -> str:
    return ("refused: " + d if isinstance(d, str) else "-" if d is None
            else ", ".join(f"{k}: {v:.2f}" for k, v in d.items()))


def _min(d) -> float | None:
    return None if not isinstance(d, dict) or not d else min(d.values())


def _table1(title: str, rows: list[dict], key: str, what: str, extra: tuple[str, str] | None = None) -> list[str]:
    from _record import table

    head = ["library", "net", "padding", "workaround", f"{what} per layer (%)", "firing rate", "run s"]
    if extra:
        head.append(f"{extra[1]} per layer (%)")
    out = []
    for r in rows:
        cells = [r["library"], r["net"], str(r["padding"]), "yes" if r["workaround"] else "**no**", _per(r[key]),
                 f"{r['firing_rate']:.3f}", f"{r['seconds']:.1f}"]
        out.append(cells + ([_per(r[extra[0]])] if extra else []))
    return [f"### {title}", "", *table(head, out)]


WORKAROUNDS = ("## Workarounds (see `neurodeploy/ir/nirread.py` (`WRITERS`), `targets/crosscheck.py`, pinned by "
        "`tests/test_interop.py::test_upstream_*`)\n\n"
        "- snntorch `export_to_nir` fails on every Conv2d + Leaky net (`infer_types`: IndexError with a batched "
        "sample, neuromorphs/NIR#69, jeshraghian/snntorch#367; type mismatch on the shapeless LIF without, "
        "jeshraghian/snntorch#410) -> `export_snntorch` (same mapping, no `infer_types`), or per-neuron beta/threshold "
        "tensors and an unbatched sample. No \"no workaround\" row: there is no graph. Neither library's "
        "conv + LIF graph can be `nir.write`-n (conv input_shape None, 0-d LIF parameters); "
        "the in-memory import's output can.\n"
        "- snntorch writes no reset mechanism (NIR has none, neuromorphs/NIR#63); its default \"subtract\" "
        "exports like \"zero\" -> `--reset subtract` says so (the neuron rules, `neurodeploy/ir/rules.py`; \"no "
        "workaround\" row: a \"subtract\" net read without it, as \"zero\", which nothing in the graph can reveal).\n"
        "- snntorch `import_from_nir` hard-codes dt = 1e-4 s -> `load_into_snntorch` rescales taus "
        "(\"no workaround\": beta 0.95 instead of 0.5, threshold x10).\n"
        "- norse `to_nir` writes tau = dt/tau_mem_inv (norse/norse#411) -> `--writer norse` "
        "reads tau/dt back as tau (\"no workaround\": the file read as NIR says, at norse's dt 1e-3 s).\n"
        "- norse `from_nir` ignores `nir.LIF.r` (no upstream issue found) -> `load_into_norse` folds r into the "
        "conv weights.\n"
        "- spike condition: ours fires at `>=`, snntorch/norse/Lava at `>`; the Lava lowering moves vth one "
        "float64 ulp down, `load_into_*` one float32 ulp (`emulate_ge`). Random nets here never hit "
        "equality; `test_equality_at_threshold_needs_the_ge_emulation` does.")


def _writers_section(runs: list[dict]) -> list[str]:
    from _record import provenance, table

    lines = ["## Every NIR 1.0 primitive, from four writers (issue 16)", ""]
    for run in runs:
        rows = [r for r in run["rows"] if "error" not in r]
        lines += [provenance(run["meta"], {"command": ".venv/bin/python benchmarks/interop_writers.py --json "
                                                      "benchmarks/interop_writers.out.jsonl"}), ""]
        lines += ["Each writer's own exporter writes the net (seeded weights) to a `.nir` file (\"in memory\": the "
                  "writer's graph cannot be written by `nir.write`, so the same reader takes the in-memory graph); "
                  "neurodeploy reads it with `read_graph(path, writer=W, reset=R)` (the CLI's `--writer W --reset R`) "
                  "and runs it on seeded random spikes. Agreement = equal (step, neuron) entries / all, per neuron "
                  "layer (NIR node names), against the writer's own simulation of the same module. \"rules\": the "
                  "neuron rules NIR cannot carry that `--writer` records (\"NIR\" = none); \"with NIR's rules\": "
                  "the same graph run by nir-torch with those rules removed, i.e. the file read as NIR says.", ""]
        out = []
        for r in rows:
            rules = ", ".join(f"{k}: {v}" for k, v in r["neuron_rules"].items()) or "NIR"
            out.append([r["writer"], r["net"] + (f", `--reset {r['reset']}`" if r.get("reset") and r["reset"] not in r["net"] else ""),
                        "file" if r["file"] else "in memory", f"{r['dt_s']:g}", f"{r['steps']} × {r['samples']}", rules,
                        _per(r.get("nir_torch")), _per(r.get("lava_float")), _per(r.get("nir_torch_nir_rules")),
                        ", ".join(f"{k}: {v:.3f}" for k, v in r["firing_rate"].items()),
                        "-" if r.get("lava_s") is None else f"{r['lava_s']:.1f}"])
        lines += table(["writer", "net", "read from", "dt (s)", "steps × samples", "rules (`--writer`)",
                        "nir-torch per layer (%)", "Lava float per layer (%)", "with NIR's rules (%)", "firing rate",
                        "Lava s"], out)
        failed = [r for r in run["rows"] if "error" in r]
        low = [f"{r['writer']} {r['net']}" for r in rows
               if min(_min(r.get("nir_torch")) or 0, _min(r.get("lava_float")) or 0) < 100.0]
        lines += ["", ("Every row: 100 % per layer on nir-torch and on Lava float." if not low and not failed else
                       "Below 100 % in a layer: " + (", ".join(low) or "none") + "; failed: "
                       + (", ".join(f"{r['writer']} {r['net']} ({r['error']})" for r in failed) or "none") + "."), ""]
    return lines


def _fixed_section(runs: list[dict]) -> list[str]:
    from _record import provenance, table

    lines = ["## Lava fixed_pt for `.nir` bundles (issue 16 with issue 17's formats)", ""]
    for run in runs:
        rows = [r for r in run["rows"] if "error" not in r]
        lines += [provenance(run["meta"], {"command": ".venv/bin/python benchmarks/interop_fixed.py --stock --json "
                                                      "benchmarks/interop_fixed.out.jsonl"}), ""]
        lines += ["Each writer's file (the cases above, read with `--writer` and `--reset`) and graphs built with the "
                  "`nir` package are quantized as `neurodeploy export net.nir --target loihi --quantize int --calib "
                  "X.npy` does, with the run's own input as calibration, then run by Lava fixed_pt (`lava-fixed`; "
                  "\"stock Conv model\": the same with Lava's own `PyConvModelFixed`), by the integer reference "
                  "(`emulator`) and by float (`nir-torch`, float64, the same rules). Agreement = equal (step, neuron) "
                  "entries / all, per neuron layer, in %; a state error is the integrator state's largest error "
                  "against float relative to its range.", ""]
        out = []
        for r in rows:
            stock = r.get("lava_fixed_stock_vs_emulator")
            vs_float = _per(r["emulator_vs_float"]) + "".join(
                f"; {k} state error {100 * v:.1f} % of its range" for k, v in (r.get("state_error_rel") or {}).items())
            models = sorted(set(r["neuron_model"].values()))
            out.append([r["case"], "; ".join(models), _per(r.get("lava_fixed_vs_emulator")),
                        "-" if stock is None else "same" if stock == r.get("lava_fixed_vs_emulator") else _per(stock),
                        vs_float, ", ".join(str(v) for v in r["vth_mant"].values()),
                        ", ".join(f"{k}: {v}" for k, v in r["weight_exp"].items()) or "0",
                        f"{r['emulator_s']:.3f}", "-" if r.get("lava_fixed_s") is None else f"{r['lava_fixed_s']:.1f}"])
        lines += table(["case", "neuron model (writer rules)", "Lava fixed vs emulator per layer (%)", "stock Conv model",
                        "emulator vs float per layer (%)", "vth_mant", "weight_exp", "emulator s", "Lava fixed s"], out)
        exact = all(_min(r.get("lava_fixed_vs_emulator")) == 100.0 for r in rows)
        floats = [v for r in rows for v in r["emulator_vs_float"].values()]
        wrapped = [r["case"] for r in rows if r.get("saturated_or_wrapped")]
        failed = [r for r in run["rows"] if "error" in r]
        lines += ["", ("Lava fixed_pt equals the integer reference on every spike of every row. " if exact else
                       "Lava fixed_pt differs from the integer reference in at least one layer (above). ")
                  + f"Against float, the integer model keeps {min(floats):.1f}–{max(floats):.1f} % of spikes per layer. "
                  + ("Nothing saturated or wrapped in any row." if not wrapped else
                     "Saturated or wrapped: " + ", ".join(wrapped) + ".")
                  + ("" if not failed else " Failed: " + ", ".join(f"{r['case']} ({r['error']})" for r in failed) + "."),
                  ""]
    return lines


def _runs(path: Path) -> list[dict]:
    from _record import read_runs

    return read_runs(path) if path.exists() else []


def render(record: dict) -> str:
    """``interop.md`` from ``interop.out.json`` (``record``) and the writers' and fixed-point records."""
    from _record import provenance

    a, b = record["foreign_to_lava"], record["ours_to_library"]
    ok = [r for r in a + b if r["workaround"]]
    mins = [m for r in ok for m in (_min(r.get("lava")), _min(r.get("agreement")), _min(r.get("nir_torch")))
            if m is not None]
    lines = [
        "# NIR interop with snntorch, norse, sinabs and rockpool: measured spike agreement", "",
        provenance(record["meta"]), "Raw results: `interop.out.json`, `interop_writers.out.jsonl`, "
        "`interop_fixed.out.jsonl`. What each workaround and writer quirk is: `docs/nir-interop.md`.", "",
        "## snntorch and norse, both directions", "",
        f"{record['versions']}; {record['images']} random inputs in [0, 1) per row, direct encoding; total "
        f"{record['seconds']:.0f} s. Agreement = equal (time step, neuron) entries / all, per LIF layer, as "
        "`neurodeploy.verify`. Layer names are the writers' node names (nirtorch: module index; ours: module path).", "",
        *_table1("1. Their NIR graph -> the one import (`import_graph`, `--writer`) -> Lava float (float64) and NIR in "
                 "torch (float64), vs. the library's own simulation (float32)", a, "lava", "Lava spike agreement",
                 ("nir_torch", "NIR in torch")), "",
        *_table1("2. Our exported graph -> their importer (float32) vs. our torch model (float32)", b, "agreement",
                 "spike agreement"), "",
        ("With the workarounds, every layer of every row agrees 100 %." if mins and min(mins) == 100.0 and
         len(mins) >= len(ok) else f"With the workarounds, the lowest layer agreement is {min(mins):.2f} %."
         if mins else "No row with the workarounds ran."), "",
        WORKAROUNDS, "",
        *_writers_section(_runs(WRITERS)),
        *_fixed_section(_runs(FIXED)),
    ]
    return "\n".join(lines)


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.0f} %" if round(lo, 2) == round(hi, 2) == 100.0 else f"{lo:.1f}–{hi:.1f} %"


def readme_writers(record: dict) -> str:
    """The README's table of the four writers, from the writers' and fixed-point records."""
    from _record import table

    writers = [r for run in _runs(WRITERS) for r in run["rows"] if "error" not in r]
    fixed = [r for run in _runs(FIXED) for r in run["rows"] if "error" not in r]
    names = ["snntorch", "norse", "sinabs", "rockpool"]

    def col(rows, key):
        vals = [v for r in rows for v in (r.get(key) or {}).values()]
        return _span(vals) if vals else "-"

    by_w = {w: [r for r in writers if r["writer"] == w] for w in names}
    by_f = {w: [r for r in fixed if r["case"].startswith(w + ":")] for w in names}
    rows = [["their `.nir` -> our Lava float, vs their own simulation"] + [col(by_w[w], "lava_float") for w in names],
            ["their `.nir` -> our NIR torch executor, vs their own simulation"] + [col(by_w[w], "nir_torch") for w in names],
            ["their `.nir` quantized (`--quantize int`) -> Lava fixed_pt vs our integer reference"]
            + [col(by_f[w], "lava_fixed_vs_emulator") for w in names],
            ["the same, integer reference vs float (nir-torch, the writer's rules): what quantization costs"]
            + [col(by_f[w], "emulator_vs_float") for w in names]]
    return "\n".join(["Per-layer spike agreement, range over each writer's nets (`benchmarks/interop.md`, rendered "
                      "from `interop_writers.out.jsonl` and `interop_fixed.out.jsonl`):", "",
                      *table(["direction"] + names, rows)])


def readme_snntorch_norse(record: dict) -> str:
    """The README's snntorch/norse table, from interop.out.json."""
    from _record import table

    def cell(rows, key, wa):
        sel = [r for r in rows if r["workaround"] == wa]
        refused = [r for r in sel if isinstance(r[key], str)]
        vals = [_min(r[key]) for r in sel if isinstance(r[key], dict)]
        parts = []
        if refused:
            parts.append("refused in one line")
        if vals:
            parts.append(f"{min(vals):.1f} % (lowest layer)" if not wa else _span(
                [v for r in sel if isinstance(r[key], dict) for v in r[key].values()]) + " per layer")
        return " and ".join(parts) or "-"

    libs = ["snntorch", "norse"]
    a = {lib: [r for r in record["foreign_to_lava"] if r["library"] == lib] for lib in libs}
    b = {lib: [r for r in record["ours_to_library"] if r["library"] == lib] for lib in libs}
    rows = [["their NIR graph → the one import → our Lava float mapping, vs their own simulation"]
            + [cell(a[lib], "lava", True) for lib in libs],
            ["our exported graph → their importer, vs our torch model"] + [cell(b[lib], "agreement", True) for lib in libs],
            ["their graph → our Lava float without our workarounds (small net, padding 1)"]
            + [cell(a[lib], "lava", False) for lib in libs],
            ["our graph → their importer without our workarounds (small net, padding 1)"]
            + [cell(b[lib], "agreement", False) for lib in libs]]
    return "\n".join(table(["direction"] + libs, rows))


README_BLOCKS = {"interop.py (writers)": readme_writers, "interop.py (snntorch, norse)": readme_snntorch_norse}


def measure() -> dict:
    _imports()
    started = time.perf_counter()
    a, b = [], []
    for lib in ("snntorch", "norse"):
        plan = [(name, size, pad, True) for name, size in SIZES.items() for pad in (0, 1)]
        plan.append(("small", SIZES["small"], 1, False))
        for name, size, pad, wa in plan:
            lava, fr, sec, nir_torch = foreign_to_lava(lib, size, pad, workaround=wa)
            a.append({"library": lib, "net": name, "padding": pad, "workaround": wa, "lava": lava, "firing_rate": fr,
                      "seconds": sec, "nir_torch": nir_torch})
            agree, fr, sec = ours_to_library(lib, size, pad, workaround=wa)
            b.append({"library": lib, "net": name, "padding": pad, "workaround": wa, "agreement": agree,
                      "firing_rate": fr, "seconds": sec})
            print(json.dumps(a[-1]), json.dumps(b[-1]), flush=True)
    versions = (f"python {platform.python_version()}, torch {torch.__version__}, snntorch {snn.__version__}, "
                f"norse {getattr(sys.modules['norse'], '__version__', '?')}, nir {__import__('nir').__version__}, "
                f"nirtorch {__import__('nirtorch').__version__}, lava-nc 0.10 floating_pt")
    return {"versions": versions, "images": N_IMAGES, "seconds": time.perf_counter() - started,
            "foreign_to_lava": a, "ours_to_library": b}


def main() -> int:
    import _record

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when interop.md or a README block differs from its rendering")
    ap.add_argument("--render", action="store_true", help="only write interop.md and the README blocks again from the records")
    args = ap.parse_args()
    if args.check or args.render:
        return _record.check_or_write(MD, OUT, render, write=args.render, readme=README_BLOCKS)
    meta = _record.started()
    result = measure()
    _record.write_json(OUT, {"meta": _record.finished(meta), **result})
    return _record.check_or_write(MD, OUT, render, write=True, readme=README_BLOCKS)


if __name__ == "__main__":
    sys.exit(main())
