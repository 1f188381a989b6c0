"""neurodeploy: deploy spiking derainers (or any SNN written as NIR) from PyTorch to Intel Loihi.

Pipeline (see DESIGN.md): load -> export (NIR) -> passes -> lower (Lava) -> run (Trace) ->
verify -> report. The public surface is the CLI and these names (imported lazily, so that
importing ``neurodeploy.models`` does not pull in Lava); every command has its function,
for both bundle kinds (a model's and a ``.nir`` file's), returning a typed result
(:mod:`neurodeploy.api`):

- :func:`export` -> :class:`Exported`; :func:`validate` -> :class:`Validation`;
  :func:`report` -> :class:`Report`; :func:`evaluate` -> :class:`Evaluation`;
  :func:`derain` -> :class:`Derained`; :func:`import_checkpoint` -> :class:`Imported`;
  :func:`run` -> a list of :class:`Trace` (what every executor returns)
- :class:`Bundle` -- an opened bundle folder of either kind
- :func:`load_model`, :func:`save_checkpoint` -- checkpoints; :func:`export_graph` -- torch module -> NIR
- :func:`export_bundle`, :func:`validate_bundle`, :func:`report_bundle` -- the same stages
  returning the JSON as dicts (kept for scripts written before the typed results)
"""

__version__ = "0.1.0"

_API = ("Exported", "Validation", "Report", "Evaluation", "Derained", "Imported",
        "export", "validate", "report", "evaluate", "derain", "import_checkpoint", "run")
_PUBLIC = {
    **{name: "neurodeploy.api" for name in _API},
    "Bundle": "neurodeploy.bundle",
    "Trace": "neurodeploy.trace",
    "load_model": "neurodeploy.checkpoint",
    "save_checkpoint": "neurodeploy.checkpoint",
    "export_graph": "neurodeploy.nir_export",
    "export_bundle": "neurodeploy.bundle",
    "validate_bundle": "neurodeploy.validation",
    "report_bundle": "neurodeploy.reporting",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'neurodeploy' has no attribute {name!r}")
