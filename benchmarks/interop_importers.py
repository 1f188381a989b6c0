"""sinabs' and rockpool's NIR importers on toy-residual's ``graph.nir`` (issue 16).

Usage::

    .venv/bin/python benchmarks/interop_importers.py [--size 32] [--images 4]

Exports the shipped ``models/checkpoints/toy-residual.pt`` (``neurodeploy export ... --target
loihi``), reads its ``graph.nir`` with ``nir.read`` (as any NIR tool does), imports it with
``sinabs.from_nir`` (float32) -- with all of
:func:`neurodeploy.targets.crosscheck_sinabs.load_into_sinabs`'s workarounds, and with
each group of them left out -- and with rockpool's ``from_nir``, runs ``--images`` crops of
the shipped rainy photo (direct encoding, T steps) and prints the spike agreement per
layer against our torch model (float32), as a Markdown table.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
import warnings
from pathlib import Path

import nir
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def crops(size: int, count: int) -> np.ndarray:
    from neurodeploy.images import DEFAULT_IMAGE, read_image

    img = read_image(DEFAULT_IMAGE)
    corners = [(40 + 37 * i, 60 + 71 * i) for i in range(count)]
    return np.stack([img[:, y:y + size, x:x + size] for y, x in corners])


def variants(graph: nir.NIRGraph, n: int):
    """(label, a callable building the sinabs module) per workaround set."""
    import sinabs
    from sinabs.activation import MembraneReset, MembraneSubtract, MultiSpike, SingleSpike

    from neurodeploy.targets.crosscheck import plain_nir
    from neurodeploy.targets.crosscheck_sinabs import load_into_sinabs, set_spike_and_reset

    def all_fixes():
        return load_into_sinabs(graph, n)

    def sinabs_spike_and_reset():
        return set_spike_and_reset(load_into_sinabs(graph, n), MultiSpike, MembraneSubtract())

    def tau_as_written():  # only the v_leak bug and the spike/reset functions fixed
        g, _ = plain_nir(copy.deepcopy(graph))
        for node in g.nodes.values():
            if isinstance(node, nir.LIF):
                node.v_leak = np.zeros(1)
        return set_spike_and_reset(sinabs.from_nir(g, batch_size=n), SingleSpike, MembraneReset())

    def none():
        return sinabs.from_nir(plain_nir(copy.deepcopy(graph))[0], batch_size=n)

    return [("all four", all_fixes), ("sinabs' MultiSpike + MembraneSubtract kept", sinabs_spike_and_reset),
            ("tau read in steps, r and dt/tau gain dropped", tau_as_written), ("none", none)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--images", type=int, default=4)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import rockpool
    import sinabs

    from neurodeploy.bundle import export_bundle
    from neurodeploy.checkpoint import build_model, load_checkpoint
    from neurodeploy.ir import graph_info, read_graph
    from neurodeploy.targets.crosscheck_sinabs import run_sinabs
    from neurodeploy.targets.torch_reference import TorchReference

    ckpt = ROOT / "models" / "checkpoints" / "toy-residual.pt"
    x = crops(args.size, args.images)
    with tempfile.TemporaryDirectory() as tmp:
        export_bundle(ckpt, Path(tmp) / "toy", size=(args.size, args.size))
        path = Path(tmp) / "toy" / "graph.nir"
        graph = nir.read(str(path))
        ours = read_graph(path)
    info = graph_info(ours)
    layers = info.neuron_layers(ours)
    ref = TorchReference(build_model(load_checkpoint(ckpt)), ours, info, dtype=torch.float32).run(x)
    rate = float(np.mean([t.layers[k].mean() for t in ref for k in layers]))
    print(f"toy-residual at {args.size}x{args.size}, T = {info.t_steps}, {args.images} crops of the shipped rainy "
          f"photo; sinabs {sinabs.__version__}, rockpool {rockpool.__version__}, nir {nir.__version__}; our "
          f"firing rate {rate:.3f}\n")
    print("| importer | workarounds | spike agreement per layer (%) vs our torch model | run s |")
    print("|---|---|---|---|")
    for label, build in variants(graph, len(x)):
        start = time.perf_counter()
        try:
            got = run_sinabs(build(), x, info.t_steps, layers)
        except Exception as exc:  # an importer's own failure is the measurement
            print(f"| sinabs.from_nir | {label} | fails: {type(exc).__name__}: {str(exc).splitlines()[0][:90]} | |")
            continue
        per = {k: 100.0 * float(np.mean([(g.layers[k] == r.layers[k]).mean() for g, r in zip(got, ref)]))
               for k in layers}
        print(f"| sinabs.from_nir | {label} | {', '.join(f'{k}: {v:.2f}' for k, v in per.items())} | "
              f"{time.perf_counter() - start:.1f} |")
    from rockpool.nn.modules.torch.nir import from_nir

    try:
        from_nir(graph)
        print("| rockpool from_nir | none | imports (unexpected: re-measure) | |")
    except Exception as exc:
        print(f"| rockpool from_nir | none | fails: {type(exc).__name__}: {str(exc).splitlines()[0][:90]} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
