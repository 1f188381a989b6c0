"""Checkpoints (public entry point): see :mod:`neurodeploy.models.checkpoint`.

The format lives with the models (training writes it, the pipeline reads it); this module
keeps the public import path ``neurodeploy.checkpoint``.
"""

from neurodeploy.models.checkpoint import (FORMAT, FORMAT_VERSION, Checkpoint, ZooEntry, build_model,  # noqa: F401
                                           file_sha256, load_checkpoint, load_model, resolve, save_checkpoint, zoo)

__all__ = ["Checkpoint", "ZooEntry", "build_model", "file_sha256", "load_checkpoint", "load_model", "resolve",
           "save_checkpoint", "zoo", "FORMAT", "FORMAT_VERSION"]
