"""neurodeploy: deploy spiking derainers from PyTorch to Intel Loihi.

Pipeline (see DESIGN.md): load -> export (NIR) -> lower (Lava) -> run (Trace) -> verify -> report.
The public surface is the CLI and these functions (imported lazily, so that importing
``neurodeploy.models`` does not pull in Lava):

- :func:`load_model` -- checkpoint file or shipped name -> (torch module, Checkpoint)
- :func:`export_graph` -- torch module -> ``nir.NIRGraph``
- :func:`export_bundle`, :func:`validate_bundle`, :func:`report_bundle` -- the CLI's three stages
- :class:`Trace` -- what every executor returns
"""

__version__ = "0.1.0"

_PUBLIC = {
    "load_model": "neurodeploy.checkpoint",
    "save_checkpoint": "neurodeploy.checkpoint",
    "export_graph": "neurodeploy.export",
    "export_bundle": "neurodeploy.bundle",
    "validate_bundle": "neurodeploy.validate",
    "report_bundle": "neurodeploy.report",
    "Trace": "neurodeploy.trace",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'neurodeploy' has no attribute {name!r}")
