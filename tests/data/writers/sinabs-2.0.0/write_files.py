"""Writes the sinabs 2.0.0 NIR files in this folder and sinabs 2.0.0's own runs of them.

sinabs 2.0.0 (2024-03-14); run this in a throwaway venv with the nir and nirtorch releases current
on its release day and a CPU torch:

    python3.11 -m venv /tmp/sn20
    /tmp/sn20/bin/pip install "torch==2.13.0+cpu" "numpy<2" sinabs==2.0.0 nir==1.0.1 nirtorch==1.0 h5py
    /tmp/sn20/bin/python tests/data/writers/sinabs-2.0.0/write_files.py

(nir 1.0.1: 2023-12-25, the next, 1.0.3, is 2024-04-23; nirtorch 1.0: 2023-12.)

For each net, NAME.nir (``sinabs.nir.to_nir`` + ``nir.write``) and NAME.ref.npz: the input
(steps, samples, ...), each spiking layer's spike counts per step from sinabs 2.0.0's ``from_nir``
of the file as shipped (``from_nir_<layer>``) and from the module that wrote it (``module_<layer>``),
both with sinabs' defaults (MultiSpike, MembraneSubtract). A net it cannot write is recorded in
NAME.error.txt. versions.json names every package version and the sha256 of sinabs/nir.py.
"""

from __future__ import annotations

import hashlib
import json
import platform
import traceback
from importlib.metadata import version
from pathlib import Path

import nir
import numpy as np
import sinabs.layers as sl
import torch
import torch.nn as nn
from sinabs import nir as sinabs_nir

HERE = Path(__file__).resolve().parent
STEPS, SAMPLES = 60, 2


def _run(model, x: np.ndarray, layers: list[str]) -> dict[str, np.ndarray]:
    """A sinabs model (Squeeze layers, batch size N) on x (T, N, ...): per layer (T, N, ...)."""
    t, n = x.shape[:2]
    rec: dict[str, list] = {k: [] for k in layers}
    hooks = [model.get_submodule(k).register_forward_hook(lambda m, a, o, k=k: rec[k].append(o.detach()))
             for k in layers]
    with torch.no_grad():
        model(torch.tensor(np.swapaxes(x, 0, 1).reshape(n * t, *x.shape[2:]), dtype=torch.float32))
    for h in hooks:
        h.remove()
    return {k: np.swapaxes(v[0].numpy().reshape(n, t, *v[0].shape[1:]), 0, 1).astype(np.float32)
            for k, v in rec.items()}


def _rest(net, n: int) -> None:
    for m in net.modules():
        if hasattr(m, "batch_size"):
            m.batch_size = n
        if hasattr(m, "v_mem"):
            m.v_mem = torch.zeros(0)  # sinabs layers keep state across calls: start from rest


def _write(name: str, net: nn.Sequential, shape: tuple[int, ...], x: np.ndarray, layers: list[str]) -> None:
    for stale in HERE.glob(f"{name}.*"):
        if stale.suffix != ".py":
            stale.unlink()
    try:
        net(torch.zeros(1, *shape))  # sinabs sizes its states on the first call; to_nir reads them
        graph = sinabs_nir.to_nir(net, torch.zeros(1, *shape))
        graph.infer_types()  # sinabs leaves Conv2d/Flatten types None, which nir.write cannot store
        nir.write(str(HERE / f"{name}.nir"), graph)
    except Exception:
        (HERE / f"{name}.nir").unlink(missing_ok=True)
        (HERE / f"{name}.error.txt").write_text(traceback.format_exc(limit=3))
        print(f"{name}: not written ({traceback.format_exc().splitlines()[-1]})")
        return
    ref = {}
    try:
        model = sinabs_nir.from_nir(nir.read(str(HERE / f"{name}.nir")), batch_size=x.shape[1])
        ref.update({f"from_nir_{k}": v for k, v in _run(model, x, layers).items()})
    except Exception:
        (HERE / f"{name}.from_nir_error.txt").write_text(traceback.format_exc(limit=3))
        print(f"{name}: from_nir failed ({traceback.format_exc().splitlines()[-1]})")
    _rest(net, x.shape[1])
    ref.update({f"module_{k}": v for k, v in _run(net, x, layers).items()})
    np.savez_compressed(HERE / f"{name}.ref.npz", input=x.astype(np.float32), **ref)
    print(name, {k: (float(v.sum()), float(v.max())) for k, v in ref.items()})


def main() -> None:
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    iaf = lambda: sl.IAFSqueeze(batch_size=1)  # noqa: E731 -- sinabs' defaults
    conv = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1, bias=False), iaf(), sl.SumPool2d(2),
                         nn.Conv2d(8, 8, 3, padding=1, bias=False), iaf(), sl.SumPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 32, bias=False), iaf(),
                         nn.Linear(32, 10, bias=False), iaf())
    x = (rng.random((STEPS, SAMPLES, 2, 16, 16)) < 0.1).astype(np.float32) * 3.0
    _write("conv_iaf", conv, (2, 16, 16), x, ["1", "4", "8", "10"])

    torch.manual_seed(0)
    # per-neuron tau and threshold: to_nir writes both as given, and nir 1.0.1 requires one shape
    lif = nn.Sequential(nn.Linear(16, 8), sl.LIFSqueeze(tau_mem=torch.full((8,), 5.0), batch_size=1,
                                                        spike_threshold=torch.full((8,), 0.3)),
                        nn.Linear(8, 4), sl.LIFSqueeze(tau_mem=torch.full((4,), 3.0), batch_size=1,
                                                       spike_threshold=torch.full((4,), 0.3)))
    x2 = (rng.random((STEPS, SAMPLES, 16)) < 0.1).astype(np.float32) * 4.0
    _write("dense_lif", lif, (16,), x2, ["1", "3"])

    versions = {p: version(p) for p in ("sinabs", "nir", "nirtorch", "torch", "numpy", "h5py")}
    versions["python"] = platform.python_version()
    versions["sinabs/nir.py sha256"] = hashlib.sha256(Path(sinabs_nir.__file__).read_bytes()).hexdigest()
    versions["steps"], versions["samples"] = STEPS, SAMPLES
    (HERE / "versions.json").write_text(json.dumps(versions, indent=1) + "\n")
    print(json.dumps(versions))


if __name__ == "__main__":
    main()
