"""Deploy a NIR file written by snntorch: snntorch net -> .nir file -> bundle -> Lava simulator, spike for spike.

    python examples/deploy_snntorch_nir.py [--out build/snntorch]

snntorch's ``export_to_nir`` fails on conv + Leaky nets with scalar parameters
(neuromorphs/NIR#69, jeshraghian/snntorch#410); per-neuron ``beta``/``threshold`` of the
layer's shape and an unbatched sample make it write a file. snntorch does not record its
reset: ``--reset`` (here ``reset="zero"``, the default) says which one it used. The file is
exported to a bundle like any model (``neurodeploy.export``, ``writer="snntorch"``), run on
Lava's float simulator and compared with the graph in torch (``neurodeploy.validate``),
which is compared with snntorch itself: snntorch == NIR in torch == Lava.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nir
import numpy as np
import snntorch as snn
import torch
from snntorch import utils as snn_utils
from snntorch.export_nir import export_to_nir
from torch import nn

import neurodeploy

T = 4  # time steps per input


def snntorch_spikes(net: nn.Module, x: np.ndarray) -> np.ndarray:
    """snntorch's own run of ``x`` ``(T, N, *shape)``: the Leaky layer's spikes ``(T, N, ...)``,
    each sample from rest."""
    out = []
    with torch.no_grad():
        for i in range(x.shape[1]):
            snn_utils.reset(net)
            out.append(np.stack([net(torch.as_tensor(x[t, i], dtype=torch.float32)).numpy() for t in range(x.shape[0])]))
    return np.stack(out, axis=1)


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

    # 2. the same input for everyone: two images, each shown for T steps (direct encoding)
    images = np.random.default_rng(0).random((2, 2, 8, 8))
    x = np.repeat(images[None], T, axis=0)
    np.save(args.out / "input.npy", x)

    # 3. export, validate on the Lava simulator against the graph in torch, compare with snntorch
    bundle = neurodeploy.export(path, args.out / "bundle", writer="snntorch", reset="zero", force=True).path
    v = neurodeploy.validate(bundle, executor="lava-float", input=args.out / "input.npy")
    torch_traces = neurodeploy.run(bundle, "nir-torch", input=args.out / "input.npy")
    ours = np.stack([t.layers["1"] for t in torch_traces], axis=1)
    same_as_snntorch = 100.0 * float(np.mean(ours == snntorch_spikes(net, x)))
    print(f"{path}: Lava float vs NIR in torch {'PASSED' if v.passed else 'FAILED'}, per layer "
          + ", ".join(f"{k} {pct:.2f} %" for k, pct in v.layers.items())
          + f"; NIR in torch vs snntorch {same_as_snntorch:.2f} %; {ours.sum():.0f} spikes")
    return {**v.data, "snntorch_agreement_pct": same_as_snntorch}


if __name__ == "__main__":
    main()
