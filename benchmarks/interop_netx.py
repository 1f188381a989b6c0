"""SLAYER networks through netx HDF5: our executors against lava-dl's own netx loader (issue 30).

Usage::

    .venv/bin/python benchmarks/interop_netx.py [--steps 100] [--samples 2] [--write]
    .venv/bin/python benchmarks/interop_netx.py --check      # re-render the .md from the record; exit 1 if it differs

Every network of ``tests/test_netx.py`` (``tests/fixtures/slayer_nets.py``: SLAYER CUBA and sigma-delta nets trained
here for a few iterations on synthetic spikes, written by slayer's ``export_hdf5``) is exported
(``neurodeploy export FILE.net``: its integers as the bundle's) and run on the same held-out
input by each executor: ``nir-torch`` (the float equivalent, float64), ``emulator`` (integers,
torch), ``lava-float`` and ``lava-fixed`` (our lowering on Lava's CPU simulator), ``netx``
(``lava.lib.dl.netx.hdf5.Network`` on ``fixed_pt``) and ``netx-float`` (netx's process graph on
Lava's ``floating_pt`` models). Agreement = equal (step, neuron) entries / all, per neuron layer,
in % (the table gives the minimum over layers). Times: wall seconds of the executor's whole
``run`` (Lava: building, compiling and running the processes) for all samples.

Writes ``benchmarks/interop_netx.out.json`` (the record) and ``benchmarks/interop_netx.md`` (rendered from it).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import _shared  # noqa: F401 -- tests/fixtures/ as the package ndfixtures

HERE = Path(__file__).resolve().parent
MD, OUT = HERE / "interop_netx.md", HERE / "interop_netx.out.json"
NETS = ("cuba_dense", "cuba_conv", "cuba_rec", "cuba_delay", "cuba_readout", "sdnn_dense", "sdnn_conv")
EXECUTORS = ("nir-torch", "emulator", "lava-float", "lava-fixed", "netx", "netx-float")
# (executor, reference): what each pair checks
PAIRS = (("lava-fixed", "netx", "our fixed_pt lowering vs Intel's loader"),
         ("lava-float", "netx-float", "our float lowering vs netx's graph on float models"),
         ("emulator", "lava-fixed", "the integer emulator vs Lava fixed_pt"),
         ("lava-float", "nir-torch", "Lava float vs the float graph"),
         ("emulator", "nir-torch", "integers vs their float equivalent (fixed-point truncation)"))


def measure(kind: str, folder: Path, steps: int, samples: int) -> dict:
    import numpy as np

    import neurodeploy as nd
    from ndfixtures import slayer_nets as sn
    from neurodeploy.bundle import Bundle
    from neurodeploy.targets import make_executor
    from neurodeploy.verify import verdict

    net = sn.train_and_export(kind, folder)
    x = sn.test_input(net, t_steps=steps, samples=samples)
    start = time.perf_counter()
    bundle = nd.export(net.path, folder / f"{kind}-bundle").path
    export_s = time.perf_counter() - start
    b = Bundle.open(bundle)
    traces, wall = {}, {}
    for name in EXECUTORS:
        start = time.perf_counter()
        traces[name] = make_executor(name, b).run(x)
        wall[name] = time.perf_counter() - start
    names = [f"sample {i}" for i in range(samples)]
    g = b.deploy_graph
    states = [n for n in g.neuron_layers() if g.kind(n) in ("cubali", "li", "i")]  # voltages, not events
    pairs, state_err = {}, {}
    for ex, ref, _ in PAIRS:
        v = verdict(traces[ref], traces[ex], names, 0.0, 0.0)
        pairs[f"{ex} vs {ref}"] = {k: float(a) for k, a in v.layers.items() if k not in states}
        # a state layer's values are real: equality of floats says little, the largest error relative to its range more
        state_err[f"{ex} vs {ref}"] = {
            k: float(max(np.abs(a.layers[k] - c.layers[k]).max() for a, c in zip(traces[ex], traces[ref]))
                     / max(max(np.abs(c.layers[k]).max() for c in traces[ref]), 1e-300)) for k in states}
    # events per neuron per step: spikes, or a sigma-delta layer's graded messages (non-zero payloads)
    rates = {k: float(np.mean([np.count_nonzero(t.layers[k]) / t.layers[k].size for t in traces["netx"]]))
             for k in traces["netx"][0].layers}
    graded = {ex: {k: float(max(np.abs(a.layers[k] - b.layers[k]).max() for a, b in zip(traces[ex], traces[ref])))
                   for k in traces[ex][0].layers} for ex, ref in (("lava-fixed", "netx"),)}
    return {"network": kind, "layers": [f"{n} {list(g.shape(n))}" for n in g.neuron_layers()],
            "input_shape": list(net.input_shape), "train_iterations": len(net.losses),
            "train_loss_first_last": [net.losses[0], net.losses[-1]], "train_s": net.train_s, "export_s": export_s,
            "steps": steps, "samples": samples, "firing_rate_netx": rates, "agreement_pct": pairs, "wall_s": wall,
            "max_abs_difference_lava_fixed_vs_netx": graded["lava-fixed"], "state_layers": states,
            "state_error_rel": state_err}


def render(out: dict) -> str:
    """interop_netx.md from its recorded output file alone."""
    from _record import provenance, table

    lines = ["# SLAYER networks via netx HDF5: our executors against lava-dl's netx loader", "",
             provenance(out.get("meta"), out), "",
             "Each network is trained here for a few iterations on synthetic data (`tests/fixtures/slayer_nets.py`), "
             "written by slayer's own `export_hdf5`, exported with `neurodeploy export FILE.net` (the file's integers are "
             f"the bundle's) and run on {out['samples']} held-out samples of {out['steps']} steps of synthetic input (spikes; "
             "for the sigma-delta net, delta payloads). "
             "`netx` is `lava.lib.dl.netx.hdf5.Network` on `Loihi2SimCfg(select_tag='fixed_pt')`; `netx-float` is the "
             "same process graph on Lava's `floating_pt` models (its integers translated: decays / 4096, Dense weight "
             "exponents applied), since netx's block models are tagged `fixed_pt` only.", ""]
    lines += ["## Networks", ""]
    lines += table(["network", "neuron layers (shape)", "training (iterations, loss first → last, s)",
                    "events per neuron and step, per layer (netx)"],
                   [[r["network"], ", ".join(f"`{s}`" for s in r["layers"]),
                     f"{r['train_iterations']}, {r['train_loss_first_last'][0]:.1f} → {r['train_loss_first_last'][1]:.1f}, "
                     f"{r['train_s']:.1f}",
                     ", ".join(f"{v:.3f}" for v in r["firing_rate_netx"].values())] for r in out["rows"]])
    lines += ["", "## Agreement per executor pair (minimum over event layers, %; every layer in the record)", ""]
    pairs = [f"{ex} vs {ref}" for ex, ref, _ in PAIRS]
    lines += table(["network", *pairs],
                   [[r["network"], *(f"{min(r['agreement_pct'][p].values()):.2f}" for p in pairs)] for r in out["rows"]],
                   "l" + "r" * len(pairs))
    lines += ["", *(f"- `{ex} vs {ref}`: {what}." for ex, ref, what in PAIRS)]
    for r in out["rows"]:
        if r.get("state_layers"):
            lines += ["", f"State layers of {r['network']} (voltages; largest |difference| / largest |reference|): "
                      + "; ".join(f"`{p}` " + ", ".join(f"{v:.2g}" for v in errs.values())
                                  for p, errs in r["state_error_rel"].items()) + "."]
    lines += ["", "Largest |difference| of any recorded value (spike, or a sigma-delta message's payload) between "
              "`lava-fixed` and `netx`: " + "; ".join(
                  f"{r['network']} {max(r['max_abs_difference_lava_fixed_vs_netx'].values()):g}" for r in out["rows"])
              + ". `cuba_readout` ends in slayer's Affine readout, a voltage that never fires (its events column "
              "counts non-zero voltages; netx's is read by a Monitor of `v`). `sdnn_dense` takes delta-encoded random walks as integer payloads of 12 fraction bits (netx's "
              "`spike_exp + state_exp`); its `emulator vs nir-torch` column is the bits netx drops from each message "
              "(`s >> 6`), which the float form keeps."]
    lines += ["", "## Run times (wall s for all samples: build, compile and run)", ""]
    lines += table(["network", *EXECUTORS],
                   [[r["network"], *(f"{r['wall_s'][e]:.2f}" for e in EXECUTORS)] for r in out["rows"]],
                   "l" + "r" * len(EXECUTORS))
    lines += ["", "Our Lava executors stream all samples through one run (reset between them); `netx` builds and runs "
              "one Lava network per sample (its LIF has no reset of its own unless `reset_interval` is given).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import _record

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="write the .out.json and render the .md from it")
    ap.add_argument("--check", action="store_true", help="re-render the .md from the .out.json; exit 1 if it differs")
    args = ap.parse_args(argv)
    if args.check:
        return _record.check_or_write(MD, OUT, render, write=False)
    warnings.filterwarnings("ignore")
    meta = _record.started()
    rows = []
    with tempfile.TemporaryDirectory(prefix="interop-netx-") as tmp:
        for kind in NETS:
            row = measure(kind, Path(tmp), args.steps, args.samples)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.write:
        out = {"command": meta["command"], "python": platform.python_version(), "meta": _record.finished(meta),
               "steps": args.steps, "samples": args.samples, "rows": rows}
        _record.write_json(OUT, out)
        _record.write_md(MD, render(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
