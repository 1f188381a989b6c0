"""Writes the snntorch 0.7.0 NIR files in this folder and snntorch 0.7.0's own run of them.

Run it in a throwaway venv that holds what snntorch 0.7.0 (2023-07-12, its first NIR-writing
release) ran with: the nir and nirtorch releases current on its release day, and a CPU torch:

    python3.11 -m venv /tmp/snn07
    /tmp/snn07/bin/pip install "torch==2.13.0+cpu" "numpy<2" snntorch==0.7.0 nir==0.0.6 nirtorch==0.0.2 h5py
    /tmp/snn07/bin/python tests/data/writers/snntorch-0.7.0/write_files.py

(nir 0.0.6 and nirtorch 0.0.2 were both released 2023-07-11; nir 0.1.0 came 2023-07-13.)

For each network it writes NAME.nir with ``snntorch.export.to_nir`` and ``nir.write``, and
NAME.ref.npz with the input (steps, samples, features) and each Leaky layer's spikes from the
module itself (``init_hidden=True``, snntorch's defaults otherwise: reset by subtraction,
threshold 1), keyed ``spikes_<k>`` for the k-th Leaky layer in the network's order. A network
snntorch 0.7.0 cannot export (its ``_extract_snntorch_module`` maps only ``Leaky`` and
``nn.Linear``) is recorded in NAME.error.txt with the exception it raised. versions.json names
every package version used.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import traceback
from importlib.metadata import version
from pathlib import Path

import nir
import numpy as np
import snntorch as snn
import torch
from snntorch import export, utils

HERE = Path(__file__).resolve().parent
STEPS, SAMPLES = 200, 4


def _run(net: torch.nn.Sequential, x: np.ndarray) -> dict[str, np.ndarray]:
    """snntorch's own simulation: the module stepped over ``x`` (steps, samples, ...), hidden state
    reset first, each Leaky layer's output spikes recorded by a forward hook."""
    leaky = [m for m in net if isinstance(m, (snn.Leaky, snn.Synaptic))]
    out: dict[int, list[np.ndarray]] = {k: [] for k in range(len(leaky))}
    hooks = [m.register_forward_hook(lambda _m, _i, o, k=k: out[k].append(o.detach().numpy().copy()))
             for k, m in enumerate(leaky)]
    utils.reset(net)
    with torch.no_grad():
        for x_t in torch.tensor(x, dtype=torch.float32):
            net(x_t)
    for h in hooks:
        h.remove()
    return {f"spikes_{k}": np.stack(v).astype(np.uint8) for k, v in out.items()}


def _write(name: str, net: torch.nn.Sequential, sample: torch.Tensor, x: np.ndarray) -> None:
    for stale in HERE.glob(f"{name}.*"):
        if stale.suffix != ".py":
            stale.unlink()
    try:
        utils.reset(net)
        graph = export.to_nir(net, sample)
        nir.write(str(HERE / f"{name}.nir"), graph)
    except Exception:  # what snntorch 0.7.0 does with a module it does not map: recorded, not hidden
        (HERE / f"{name}.nir").unlink(missing_ok=True)
        (HERE / f"{name}.error.txt").write_text(traceback.format_exc(limit=3))
        print(f"{name}: not exported ({traceback.format_exc().splitlines()[-1]})")
        return
    ref = _run(net, x)
    np.savez_compressed(HERE / f"{name}.ref.npz", input=x.astype(np.float32), **ref)
    print(f"{name}: {[n.__class__.__name__ for n in graph.nodes]}, spikes per layer "
          f"{[int(v.sum()) for v in ref.values()]} of {[v.size for v in ref.values()]}")


def main() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    # 1. dense: Linear -> Leaky (per-neuron beta) -> Linear -> Leaky (one beta)
    dense = torch.nn.Sequential(
        torch.nn.Linear(12, 16), snn.Leaky(beta=torch.linspace(0.5, 0.95, 16), init_hidden=True),
        torch.nn.Linear(16, 8), snn.Leaky(beta=0.8, init_hidden=True))
    with torch.no_grad():
        dense[0].weight.mul_(2.0)
        dense[2].weight.mul_(2.5)
    x = (rng.random((STEPS, SAMPLES, 12)) < 0.3).astype(np.float32)
    _write("dense_leaky", dense, torch.zeros(12), x)

    # 2. dense, real-valued input current and a threshold other than 1
    current = torch.nn.Sequential(
        torch.nn.Linear(6, 10), snn.Leaky(beta=0.9, threshold=0.5, init_hidden=True),
        torch.nn.Linear(10, 4, bias=False), snn.Leaky(beta=0.7, threshold=0.5, init_hidden=True))
    with torch.no_grad():
        current[2].weight.mul_(3.0)
    x2 = rng.normal(0.3, 0.5, (STEPS, SAMPLES, 6)).astype(np.float32)
    _write("dense_leaky_current", current, torch.zeros(6), x2)

    # 3. conv -> Leaky -> flatten -> linear -> Leaky: 0.7.0 maps no Conv2d
    conv = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding=1), snn.Leaky(beta=0.9, init_hidden=True), torch.nn.Flatten(),
        torch.nn.Linear(2 * 6 * 6, 5), snn.Leaky(beta=0.9, init_hidden=True))
    x3 = (rng.random((STEPS, SAMPLES, 1, 6, 6)) < 0.3).astype(np.float32)
    _write("conv_leaky", conv, torch.zeros(1, 1, 6, 6), x3)

    # 4. Synaptic: 0.7.0 maps no Synaptic
    syn = torch.nn.Sequential(torch.nn.Linear(6, 5), snn.Synaptic(alpha=0.8, beta=0.9, init_hidden=True))
    _write("dense_synaptic", syn, torch.zeros(6), x2)

    # 5. dense with one beta per layer (a Loihi layer takes one decay: what lava-* and the emulator run)
    uniform = torch.nn.Sequential(
        torch.nn.Linear(12, 16), snn.Leaky(beta=0.85, init_hidden=True),
        torch.nn.Linear(16, 8), snn.Leaky(beta=0.8, init_hidden=True))
    with torch.no_grad():
        uniform[0].weight.mul_(2.0)
        uniform[2].weight.mul_(2.5)
    x5 = (rng.random((STEPS, SAMPLES, 12)) < 0.3).astype(np.float32)
    _write("dense_leaky_uniform", uniform, torch.zeros(12), x5)

    # 6. as 5, with every number a Loihi 2 integer holds exactly once scaled: weights and biases on a grid
    # of 1/16, decays 1 - k/4096 (0.875, 0.75), threshold 1 -- so that the quantized executors show the
    # reading, not 8-bit rounding (which the other files show)
    grid = torch.nn.Sequential(
        torch.nn.Linear(12, 16), snn.Leaky(beta=0.875, init_hidden=True),
        torch.nn.Linear(16, 8), snn.Leaky(beta=0.75, init_hidden=True))
    with torch.no_grad():
        for layer, gain in ((grid[0], 2.0), (grid[2], 2.5)):
            layer.weight.copy_(torch.round(layer.weight * gain * 16) / 16)
            layer.bias.copy_(torch.round(layer.bias * 16) / 16)
    x6 = (rng.random((STEPS, SAMPLES, 12)) < 0.3).astype(np.float32)
    _write("dense_leaky_grid", grid, torch.zeros(12), x6)

    export_py = Path(export.__file__).read_bytes()
    versions = {p: version(p) for p in ("snntorch", "nir", "nirtorch", "torch", "numpy", "h5py")}
    versions["python"] = platform.python_version()
    versions["snntorch/export.py sha256"] = hashlib.sha256(export_py).hexdigest()
    versions["steps"], versions["samples"] = STEPS, SAMPLES
    (HERE / "versions.json").write_text(json.dumps(versions, indent=1) + "\n")
    print(json.dumps(versions))


if __name__ == "__main__":
    sys.exit(main())
