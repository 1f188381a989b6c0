"""Writes the rockpool 2.8 NIR files in this folder and rockpool 2.8's own run of them.

rockpool 2.8 (2024-06-25) is rockpool's first NIR-writing release; run this in a throwaway venv with
the nir and nirtorch releases current on its release day and a CPU torch:

    python3.11 -m venv /tmp/rp28
    /tmp/rp28/bin/pip install "torch==2.13.0+cpu" "numpy<2" scipy rockpool==2.8 nir==1.0.4 nirtorch==1.0 h5py
    /tmp/rp28/bin/python tests/data/writers/rockpool-2.8/write_files.py [NAME ...]   # default: every net

(nir 1.0.4: 2024-04-24, the next, 1.0.5, is 2025-05; nirtorch 1.0: 2023-12, the next, 2.0, is 2025-02.)

For each net it writes NAME.nir (``rockpool.nn.modules.torch.nir.to_nir`` + ``nir.write``) and
NAME.ref.npz: the input (steps, samples, 16), and per neuron module its spike counts per step
(steps, samples, n) from the modules themselves (``record=True``; their defaults: up to 2**16
spikes per step, subtractive reset, ``v >= threshold``), keyed by the module's name in the file.
versions.json names every package version and the sha256 of rockpool's nir.py.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import sys
from importlib.metadata import version
from pathlib import Path

import nir
import numpy as np
import torch
from rockpool.nn.combinators import Sequential
from rockpool.nn.modules import LIFNeuronTorch, LIFTorch, LinearTorch
from rockpool.nn.modules.torch import nir as rp_nir

HERE = Path(__file__).resolve().parent
STEPS, SAMPLES = 100, 2


NETS = (("dense_liftorch", "LIFTorch", 1e-3, None), ("dense_lifneurontorch", "LIFNeuronTorch", 1e-3, None),
        ("dense_lifneurontorch_dt1e-4", "LIFNeuronTorch", 1e-4, None),
        # on Loihi's grid (added 2026-12-07 in the same venv): weights k/16, decays 15/16 and 7/8, threshold 2
        ("dense_liftorch_grid", "LIFTorch", 1e-3, 16), ("dense_lifneurontorch_grid", "LIFNeuronTorch", 1e-3, 16))


def _net(neuron: str, dt: float, grid: int | None = None) -> Sequential:
    """Linear(16, 24) - neuron - Linear(24, 8) - neuron; as tests/fixtures/rule_cases.py (rockpool_dense_net) builds it."""
    torch.manual_seed(0)
    tau_mem, tau_syn, threshold = 0.02, 0.01, 0.5
    if grid:
        tau_mem, tau_syn, threshold = -dt / math.log(1 - 2.0 ** -4), -dt / math.log(1 - 2.0 ** -3), 2.0
    if neuron == "LIFTorch":
        cell = lambda n: LIFTorch(n, tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, threshold=threshold)  # noqa: E731
    else:
        cell = lambda n: LIFNeuronTorch(n, tau_mem=tau_mem, dt=dt, threshold=threshold)  # noqa: E731
    net = Sequential(LinearTorch((16, 24)), cell(24), LinearTorch((24, 8)), cell(8))
    with torch.no_grad():
        for mod in (net[0], net[2]):
            if neuron != "LIFTorch":
                mod.weight.data = mod.weight.data * 2.0
            if grid:
                mod.weight.data = torch.round(mod.weight.data * grid) / grid
    return net


def _run(net, x: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        net.reset_state()
        _, _, rec = net(torch.tensor(np.swapaxes(x, 0, 1), dtype=torch.float32), record=True)
    return {k: np.swapaxes(v["spikes"].detach().numpy(), 0, 1).astype(np.float32)
            for k, v in rec.items() if isinstance(v, dict) and "spikes" in v}


def main(names: list[str]) -> None:
    """Write the nets named (all when none is)."""
    x = (np.random.default_rng(0).random((STEPS, SAMPLES, 16)) < 0.1).astype(np.float32) * 2.0
    for name, neuron, dt, grid in NETS:
        if names and name not in names:
            continue
        net = _net(neuron, dt, grid)
        nir.write(str(HERE / f"{name}.nir"), rp_nir.to_nir(net))
        ref = _run(net, x)
        np.savez_compressed(HERE / f"{name}.ref.npz", input=x, **ref)
        print(name, {k: (int(v.sum()), int(v.max())) for k, v in ref.items()})
    versions = {p: version(p) for p in ("rockpool", "nir", "nirtorch", "torch", "numpy", "h5py")}
    versions["python"] = platform.python_version()
    versions["rockpool/nn/modules/torch/nir.py sha256"] = hashlib.sha256(Path(rp_nir.__file__).read_bytes()).hexdigest()
    versions["steps"], versions["samples"] = STEPS, SAMPLES
    (HERE / "versions.json").write_text(json.dumps(versions, indent=1) + "\n")
    print(json.dumps(versions))


if __name__ == "__main__":
    main(sys.argv[1:])
