"""Deploy a NIR file written by snntorch: snntorch net -> .nir file -> Lava simulator, spike for spike.

    python examples/deploy_snntorch_nir.py [--out build/snntorch]

snntorch's ``export_to_nir`` fails on conv + Leaky nets with scalar parameters
(neuromorphs/NIR#69, jeshraghian/snntorch#410); per-neuron ``beta``/``threshold`` of the
layer's shape and an unbatched sample make it write a file. snntorch does not record its
reset: use ``reset_mechanism="zero"`` (Lava's LIF cannot subtract). The file is read with
``nir.read``, annotated by :func:`neurodeploy.foreign.from_foreign_nir` (time step, shapes,
encoder/decoder), run on Lava's float simulator and compared with snntorch itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nir
import numpy as np
import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir
from torch import nn

from neurodeploy.foreign import from_foreign_nir
from neurodeploy.ir import graph_info
from neurodeploy.targets.crosscheck import run_library
from neurodeploy.targets.loihi.executor import LavaSimExecutor
from neurodeploy.verify import verdict

T = 4  # time steps per input


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("build/snntorch"))
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    # 1. an snntorch network (yours), written to a NIR file by snntorch itself
    torch.manual_seed(0)
    shape = (4, 8, 8)
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        snn.Leaky(beta=torch.full(shape, 0.5), threshold=torch.full(shape, 0.3), init_hidden=True,
                  reset_mechanism="zero"))
    path = args.out / "snn.nir"
    nir.write(path, export_to_nir(net, torch.zeros(2, 8, 8)))

    # 2. read it, annotate it, run it on the Lava simulator and in snntorch, compare
    graph = from_foreign_nir(nir.read(path), T, "snntorch")
    info = graph_info(graph)
    images = np.random.default_rng(0).random((2, 2, 8, 8))
    lava = LavaSimExecutor(graph, info).run(images)
    reference = run_library(net, images, T, info.neuron_layers(graph), "snntorch")
    v = verdict(reference, lava, ["a", "b"]).to_dict()
    spikes = sum(float(np.count_nonzero(a)) for t in lava for a in t.layers.values())
    print(f"{path}: Lava float vs snntorch {'PASSED' if v['passed'] else 'FAILED'}, per layer "
          + ", ".join(f"{k} {pct:.2f} %" for k, pct in v["layers"].items()) + f"; {spikes:.0f} spikes on Lava")
    return v


if __name__ == "__main__":
    main()
