"""SLAYER models in: a PyTorch module built from ``lava.lib.dl.slayer.block`` layers, exported through
the netx HDF5 file slayer itself writes (``export_hdf5``), then read as any netx file
(:mod:`neurodeploy.ir.netxread`). A SLAYER user passes the trained module to
``neurodeploy.export`` and needs no manual step.

Accepted:

- a module with its own ``export_hdf5(filename)`` (the convention of lava-dl's tutorials:
  the network class writes ``layer/0``, ``layer/1`` ... from its blocks);
- a ``torch.nn.Sequential`` / ``ModuleList`` of slayer blocks, or a module whose ``blocks``
  attribute is one: each block's ``export_hdf5(group)`` writes ``layer/I`` in order.

slayer's blocks learn their shapes on the first forward pass (``Input``, ``Flatten``): a module
that has never run is refused in one line, saying so.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

from neurodeploy.errors import NeurodeployError


def _blocks(module) -> list | None:
    import torch

    if isinstance(module, (torch.nn.Sequential, torch.nn.ModuleList)):
        return list(module)
    blocks = getattr(module, "blocks", None)
    if isinstance(blocks, (torch.nn.Sequential, torch.nn.ModuleList)):
        return list(blocks)
    return None


def is_slayer_module(source: Any) -> bool:
    """Whether ``source`` is a torch module ``write_netx`` can export (see module docstring)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    if not isinstance(source, torch.nn.Module):
        return False
    blocks = _blocks(source)
    return callable(getattr(source, "export_hdf5", None)) or (
        bool(blocks) and all(callable(getattr(b, "export_hdf5", None)) for b in blocks))


def write_netx(module, path: Path) -> Path:
    """Write ``module`` as a netx file at ``path`` with slayer's own exporters; one-line
    NeurodeployError when it cannot."""
    import h5py

    blocks = _blocks(module)
    try:
        if blocks is not None and all(callable(getattr(b, "export_hdf5", None)) for b in blocks):
            with h5py.File(path, "w") as f:
                layers = f.create_group("layer")
                for i, block in enumerate(blocks):
                    block.export_hdf5(layers.create_group(str(i)))
        else:
            module.export_hdf5(str(path))
    except (TypeError, AttributeError, ValueError) as exc:  # slayer's exporters on a module that never ran
        msg = " ".join(str(exc).split())
        raise NeurodeployError(f"the SLAYER module {type(module).__name__} could not be written as netx HDF5 ({msg}); "
                               "run one forward pass first (slayer's Input and Flatten blocks learn their shapes "
                               "then)") from None
    return path


def export_slayer_bundle(module, out: str | Path, export: Callable[..., dict], **kwargs) -> dict:
    """``module`` -> a temporary netx file (:func:`write_netx`) -> ``export(file, out, **kwargs)`` (the netx
    path of :func:`neurodeploy.nir_bundle.export_nir_bundle`); the manifest's ``source`` names the module."""
    with tempfile.TemporaryDirectory(prefix="neurodeploy-slayer-") as tmp:
        path = write_netx(module, Path(tmp) / f"{type(module).__name__}.net")
        return export(path, out, source_note={"slayer_module": f"{type(module).__module__}.{type(module).__name__}",
                                              "via": "slayer export_hdf5 -> netx HDF5 (chip.net is that file)"},
                      **kwargs)


__all__ = ["is_slayer_module", "write_netx", "export_slayer_bundle"]
