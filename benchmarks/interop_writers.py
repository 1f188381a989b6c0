"""NIR files from four writers (snntorch, norse, sinabs, rockpool), run by neurodeploy (issue 16).

Usage::

    .venv/bin/python benchmarks/interop_writers.py [--steps 100] [--samples 2] [--no-lava] [--json OUT] [--keep DIR]

For every writer, a dense LIF / CubaLIF network and a conv SNN (with pooling and flatten
where the writer exports them) are built with seeded weights, written to a ``.nir`` file
by the writer's own exporter (workarounds only where the writer's file cannot be written,
listed in ``WRITE_NOTES``), read back with ``neurodeploy.ir.read_graph(path, writer=W)``
and run on the same input -- 100 steps of seeded random spikes at 10 % (the issue's
default input) -- by the writer's own simulation, neurodeploy's torch executor
(``nir-torch``, float64) and the Lava float mapping (``Loihi2SimCfg(floating_pt)``).
Agreement = equal (step, neuron) entries / all, per neuron layer, in %.
"""

from __future__ import annotations

import argparse
import copy
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
import torch
from torch import nn

WRITE_NOTES = {
    "snntorch": "export_to_nir with an unbatched sample (a batched one puts the batch into the Input type and "
                "NIR's type inference fails, neuromorphs/NIR#69)",
    "norse": "nir.write(..., compression=None): norse writes 0-d parameters, which h5py cannot gzip",
    "sinabs": "graph.infer_types() before nir.write: sinabs leaves Conv2d/Flatten types None, which nir.write "
              "cannot store; spike_fn=SingleSpike, reset_fn=MembraneReset (sinabs' defaults, MultiSpike and "
              "MembraneSubtract, are not written into the file and have no NIR form)",
    "rockpool": "none (its Output types carry singleton dimensions: read with one warning line)",
    "norse residual": "nirtorch.torch_to_nir with norse's own module map (norse.to_nir drops the skip path)",
}


@dataclass
class Case:
    writer: str
    net: str
    input_shape: tuple[int, ...]
    build: Callable[[], Any]
    write: Callable[[Any, Path], Any]  # writes the .nir file (None) or returns the graph it cannot write
    simulate: Callable[[Any, np.ndarray], dict[str, np.ndarray]]  # (T, N, *in) -> layer -> (T, N, ...)
    scale: float = 1.0  # input spike amplitude
    reset: str | None = None  # --reset: the reset of a writer that does not write it (snntorch, sinabs)


def _hooks(net: nn.Module, layers: list[str], rec: dict) -> list:
    return [net.get_submodule(k).register_forward_hook(
        lambda m, a, o, k=k: rec[k].append((o[0] if isinstance(o, tuple) else o).detach().double()))
        for k in layers]


# ---------------------------------------------------------------- snntorch

def _snntorch_dense(reset: str = "zero", synaptic_threshold: float = 0.5):
    # "subtract" keeps the bias-driven output neuron firing on every step at threshold 0.5: 2.0 leaves it room
    def build():
        import snntorch as snn

        torch.manual_seed(0)
        return nn.Sequential(
            nn.Linear(16, 8), snn.Leaky(beta=torch.full((8,), 0.9), threshold=torch.full((8,), 0.5), init_hidden=True,
                                        reset_mechanism=reset),
            nn.Linear(8, 4), snn.Synaptic(alpha=torch.full((4,), 0.8), beta=torch.full((4,), 0.9),
                                          threshold=torch.full((4,), synaptic_threshold), init_hidden=True,
                                          reset_mechanism=reset))
    return build


def _snntorch_conv():
    import snntorch as snn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), snn.Leaky(beta=torch.full((4, 8, 8), 0.8), threshold=torch.full((4, 8, 8), 0.3),
                                                 init_hidden=True, reset_mechanism="zero"),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 5),
        snn.Leaky(beta=torch.full((5,), 0.8), threshold=torch.full((5,), 0.3), init_hidden=True,
                  reset_mechanism="zero"))


def _snntorch_write(shape):
    def write(net, path):
        from snntorch.export_nir import export_to_nir

        if len(shape) == 1:
            nir.write(str(path), export_to_nir(net, torch.zeros(*shape)))
            return None
        # conv nets: export_to_nir fails with either sample (unbatched: Flatten(start_dim=1) flattens the
        # channels away and the Linear refuses; batched: NIR's type inference, neuromorphs/NIR#69), so the same
        # mapping without type inference (crosscheck.export_snntorch), kept in memory: its types are None
        from neurodeploy.targets.crosscheck import export_snntorch

        return export_snntorch(net, shape)
    return write


def _snntorch_sim(layers):
    def sim(net, x):
        for m in net.modules():
            if hasattr(m, "reset_mem"):
                m.reset_mem()
        rec = {k: [] for k in layers}
        hooks = _hooks(net, layers, rec)
        with torch.no_grad():
            for x_t in x:
                net(torch.tensor(x_t, dtype=torch.float32))
        for h in hooks:
            h.remove()
        return {k: torch.stack(v).numpy() for k, v in rec.items()}
    return sim


# ---------------------------------------------------------------- norse

def _norse_dense():
    import norse.torch as norse

    torch.manual_seed(0)
    return norse.SequentialState(
        nn.Linear(16, 8), norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.tensor(100.0),
                                                                  v_th=torch.tensor(0.3))),
        nn.Linear(8, 4), norse.LIFCell(norse.LIFParameters(tau_syn_inv=torch.tensor(200.0),
                                                           tau_mem_inv=torch.tensor(100.0), v_th=torch.tensor(0.3))))


def _norse_conv():
    import norse.torch as norse

    torch.manual_seed(0)
    p = lambda th: norse.LIFBoxParameters(tau_mem_inv=torch.tensor(200.0), v_th=torch.tensor(th))  # noqa: E731
    # norse 1.1's to_nir writes no pooling and no Flatten (both map to None)
    return norse.SequentialState(nn.Conv2d(2, 4, 3, padding=1), norse.LIFBoxCell(p(0.1)),
                                 nn.Conv2d(4, 4, 3, stride=2, padding=1), norse.LIFBoxCell(p(0.1)))


def _norse_write(shape):
    def write(net, path):
        import norse.torch as norse

        graph = norse.to_nir(net, torch.zeros(1, *shape))
        if len(shape) > 1:
            return graph  # its Conv2d types are None (nir.write cannot store them) and its Input is batched
        nir.write(str(path), graph, compression=None)
        return None
    return write


def _norse_sim(layers):
    def sim(net, x):
        rec = {k: [] for k in layers}
        net = net.double()
        hooks = _hooks(net, layers, rec)
        state = None
        with torch.no_grad():
            for x_t in x:
                _, state = net(torch.tensor(x_t), state)
        for h in hooks:
            h.remove()
        net.float()
        return {k: torch.stack(v).numpy() for k, v in rec.items()}
    return sim


class NorseSkip(nn.Module):
    """Two paths of different depth into ``lif3``: fc1-lif1-fc2-lif2-fc3 (3 synapses) and ``skip`` (1)."""

    def __init__(self):
        import norse.torch as norse

        super().__init__()
        torch.manual_seed(0)

        def p(n):  # per-neuron parameters: nirtorch's type check needs the layer's shape
            return norse.LIFBoxParameters(tau_mem_inv=torch.full((n,), 200.0), v_th=torch.full((n,), 0.3),
                                          v_leak=torch.zeros(n), v_reset=torch.zeros(n))

        self.fc1, self.lif1 = nn.Linear(16, 8), norse.LIFBoxCell(p(8))
        self.fc2, self.lif2 = nn.Linear(8, 8), norse.LIFBoxCell(p(8))
        self.fc3, self.skip, self.lif3 = nn.Linear(8, 4), nn.Linear(16, 4), norse.LIFBoxCell(p(4))
        self.fc2.weight.data.abs_()  # drive lif2 (a quiet middle layer would make the skip trivial)

    def forward(self, x, state=None):
        s = state if state is not None else (None, None, None)
        a, s1 = self.lif1(self.fc1(x), s[0])
        b, s2 = self.lif2(self.fc2(a), s[1])
        y, s3 = self.lif3(self.fc3(b) + self.skip(x), s[2])
        return y, (s1, s2, s3)


def _norse_skip_write(net, path):
    """norse's own module mapping through nirtorch's current tracer (``torch_to_nir``):
    ``norse.to_nir`` (nirtorch's deprecated ``extract_nir_graph``) drops the skip path."""
    from functools import partial

    import nirtorch
    from norse.torch.module.lif_box import LIFBoxCell
    from norse.torch.utils.export_nir import _extract_norse_module

    graph = nirtorch.torch_to_nir(net, {LIFBoxCell: partial(_extract_norse_module, dt=1e-3)},
                                  stateful_modules={LIFBoxCell}, concrete_args={"state": None})
    nir.write(str(path), graph, compression=None)
    return None


# ---------------------------------------------------------------- sinabs

def _sinabs_conv(reset: str = "zero"):
    def build():
        import sinabs.layers as sl
        from sinabs.activation import MembraneReset, MembraneSubtract, SingleSpike

        torch.manual_seed(0)
        fn = MembraneSubtract if reset == "subtract" else MembraneReset
        iaf = lambda: sl.IAFSqueeze(batch_size=1, spike_fn=SingleSpike, reset_fn=fn())  # noqa: E731
        net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), iaf(), sl.SumPool2d(2), nn.Flatten(),
                            nn.Linear(64, 5, bias=False), iaf())
        net(torch.zeros(1, 2, 8, 8))  # sinabs sizes its states on the first call; to_nir reads them
        return net
    return build


def _sinabs_dense():
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 8), sl.LIFSqueeze(tau_mem=5.0, batch_size=1, spike_fn=SingleSpike,
                                                        reset_fn=MembraneReset(), spike_threshold=0.3),
                        nn.Linear(8, 4), sl.LIFSqueeze(tau_mem=3.0, batch_size=1, spike_fn=SingleSpike,
                                                       reset_fn=MembraneReset(), spike_threshold=0.3))
    net(torch.zeros(1, 16))
    return net


def _sinabs_write(shape):
    def write(net, path):
        from sinabs.nir import to_nir

        graph = to_nir(net, torch.zeros(1, *shape))
        try:
            graph.infer_types()
        except ValueError:  # LIF/ExpLeak written with 0-d parameters: no types to infer from
            return graph
        nir.write(str(path), graph)
        return None
    return write


def _sinabs_sim(layers):
    def sim(net, x):
        import copy

        net = copy.deepcopy(net)
        t, n = x.shape[:2]
        for m in net.modules():
            if hasattr(m, "batch_size"):
                m.batch_size = n
            if hasattr(m, "reset_states"):
                m.reset_states()
        for m in net.modules():  # sinabs layers keep state across calls: start from rest
            if hasattr(m, "v_mem"):
                m.v_mem = torch.zeros(0)
        rec = {k: [] for k in layers}
        hooks = _hooks(net, layers, rec)
        flat = torch.tensor(np.swapaxes(x, 0, 1).reshape(n * t, *x.shape[2:]), dtype=torch.float32)
        with torch.no_grad():
            net(flat)  # Squeeze layers: (N*T, ...) = N samples of T steps
        for h in hooks:
            h.remove()
        return {k: np.swapaxes(v[0].numpy().reshape(n, t, *v[0].shape[1:]), 0, 1) for k, v in rec.items()}
    return sim


# ---------------------------------------------------------------- rockpool

def _rockpool_dense():
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch

    torch.manual_seed(0)
    return Sequential(LinearTorch((16, 8)), LIFTorch(8, tau_mem=0.02, tau_syn=0.01, dt=1e-3, max_spikes_per_dt=1),
                      LinearTorch((8, 4)), LIFTorch(4, tau_mem=0.02, tau_syn=0.01, dt=1e-3, max_spikes_per_dt=1))


def _rockpool_write(net, path):
    from rockpool.nn.modules.torch.nir import to_nir

    nir.write(str(path), to_nir(net))
    return None


def _rockpool_sim(layers):
    def sim(net, x):
        with torch.no_grad():
            _, _, rec = net(torch.tensor(np.swapaxes(x, 0, 1), dtype=torch.float32), record=True)
        return {k: np.swapaxes(rec[k]["spikes"].double().numpy(), 0, 1) for k in layers}
    return sim


def cases() -> list[Case]:
    return [
        Case("snntorch", "dense Leaky+Synaptic", (16,), _snntorch_dense(), _snntorch_write((16,)),
             _snntorch_sim(["1", "3"])),
        Case("snntorch", "dense Leaky+Synaptic, subtract", (16,), _snntorch_dense("subtract", 2.0),
             _snntorch_write((16,)), _snntorch_sim(["1", "3"]), reset="subtract"),
        Case("snntorch", "conv+AvgPool+Flatten", (2, 8, 8), _snntorch_conv, _snntorch_write((2, 8, 8)),
             _snntorch_sim(["1", "5"])),
        Case("norse", "dense LIFBox+LIFCell(CubaLIF)", (16,), _norse_dense, _norse_write((16,)),
             _norse_sim(["1", "3"]), scale=20.0),
        Case("norse", "conv (no pool/flatten export)", (2, 8, 8), _norse_conv, _norse_write((2, 8, 8)),
             _norse_sim(["1", "3"]), scale=20.0),
        Case("norse", "residual LIFBox (skip join, nirtorch.torch_to_nir)", (16,), NorseSkip, _norse_skip_write,
             _norse_sim(["lif1", "lif2", "lif3"]), scale=20.0),
        Case("sinabs", "conv+IAF+SumPool+Flatten", (2, 8, 8), _sinabs_conv(), _sinabs_write((2, 8, 8)),
             _sinabs_sim(["1", "5"]), scale=3.0),
        Case("sinabs", "conv+IAF+SumPool+Flatten, subtract", (2, 8, 8), _sinabs_conv("subtract"),
             _sinabs_write((2, 8, 8)), _sinabs_sim(["1", "5"]), scale=3.0, reset="subtract"),
        Case("sinabs", "dense LIF", (16,), _sinabs_dense, _sinabs_write((16,)), _sinabs_sim(["1", "3"]),
             scale=4.0),
        Case("rockpool", "dense LIFTorch(CubaLIF)", (16,), _rockpool_dense, _rockpool_write,
             _rockpool_sim(["1_LIFTorch", "3_LIFTorch"]), scale=2.0),
    ]


def spikes(steps: int, samples: int, shape, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """The issue's default input: seeded random spikes at 10 %, ``(T, N, *shape)``."""
    return (np.random.default_rng(seed).random((steps, samples, *shape)) < 0.1).astype(np.float64) * scale


def write_and_read(case: Case, folder: Path, warn=None) -> tuple[Any, nir.NIRGraph, bool, list[str], Path]:
    """Build the case's net, write it with the writer's exporter, read it back as the CLI's
    ``--writer`` (and ``--reset``) does: ``(net, graph, read from a file, warning lines, the file's path)``."""
    from neurodeploy.ir import read_graph

    path = Path(folder) / f"{case.writer}-{case.net.split()[0]}.nir"
    net = case.build()
    in_memory = case.write(net, path)
    lines: list[str] = []
    if in_memory is None:
        graph = read_graph(path, writer=case.writer, warn=(warn or lines.append), reset=case.reset)
    else:  # the writer's graph cannot be written by nir.write: read in memory, same reader
        from neurodeploy.ir.check import check_graph
        from neurodeploy.ir.nirfile import FOREIGN_DT_KEY
        from neurodeploy.ir.nirread import read_foreign

        graph, _, dt = read_foreign(in_memory, writer=case.writer, warn=(warn or lines.append), reset=case.reset)
        check_graph(graph)
        graph.metadata[FOREIGN_DT_KEY] = dt
    return net, graph, in_memory is None, lines, path


def measure(case: Case, steps: int = 100, samples: int = 2, lava: bool = True, folder: Path | None = None,
            warn=None) -> dict[str, Any]:
    """One case: write, read, run on the writer, nir-torch and (optionally) Lava float."""
    from neurodeploy.ir import rules as nr
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    with tempfile.TemporaryDirectory() as tmp:
        net, graph, from_file, lines, path = write_and_read(case, folder or Path(tmp), warn)
        x = spikes(steps, samples, case.input_shape, scale=case.scale)
        if folder is not None and from_file:  # its first sample, as `validate/report --input` takes it
            np.save(path.with_suffix(".input.npy"), x[:, 0])
        ref = case.simulate(net, x)
        row: dict[str, Any] = {"writer": case.writer, "net": case.net, "steps": steps, "samples": samples,
                               "file": from_file, "reset": case.reset,
                               "neuron_rules": {n: nr.rules_of(n, v).describe() for n, v in graph.nodes.items()
                                                if not nr.rules_of(n, v).is_nir},
                               "dt_s": float(graph.metadata["neurodeploy.dt_s"]), "warnings": lines,
                               "firing_rate": {k: float(v.mean()) for k, v in ref.items()}}
        start = time.perf_counter()
        ours = NirSequenceExecutor(graph).run(x)
        row["nir_torch_s"] = time.perf_counter() - start
        row["nir_torch"] = {k: 100.0 * float((np.stack([t.layers[k] for t in ours], 1) == ref[k]).mean())
                            for k in ref}
        if row["neuron_rules"]:  # what the writer's rules add: the same graph run with NIR's rules
            plain = copy.deepcopy(graph)
            for node in plain.nodes.values():
                for key in (nr.SPIKE_KEY, nr.RESET_KEY, nr.DELAY_KEY):
                    (node.metadata or {}).pop(key, None)
            runs = NirSequenceExecutor(plain).run(x)
            row["nir_torch_nir_rules"] = {k: 100.0 * float((np.stack([t.layers[k] for t in runs], 1) == ref[k]).mean())
                                          for k in ref}
        if lava:
            from neurodeploy.targets.loihi.nir_lava import NirLavaExecutor

            start = time.perf_counter()
            got = NirLavaExecutor(graph).run(x)
            row["lava_s"] = time.perf_counter() - start
            row["lava_float"] = {k: 100.0 * float((np.stack([t.layers[k] for t in got], 1) == ref[k]).mean())
                                 for k in ref}
        return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--no-lava", action="store_true")
    parser.add_argument("--json", type=Path, help="write the rows as JSON lines here")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the writers' .nir files in DIR "
                        "(WRITER-NET.nir, and the first input sample as WRITER-NET.input.npy), e.g. for "
                        "`neurodeploy export DIR/norse-residual.nir` and "
                        "`report BUNDLE --input DIR/norse-residual.input.npy`")
    args = parser.parse_args(argv)
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
        args.json.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
