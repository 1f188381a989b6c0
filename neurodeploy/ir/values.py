"""Small value tests and message pieces shared by the checks of node fields
(:mod:`.fields`), of :class:`~neurodeploy.ir.info.GraphInfo` and of the graph (:mod:`.check`),
so that every refusal reads the same way: one line, the name quoted, what to do."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

REEXPORT = "re-export the model with `neurodeploy export`"
FOREIGN = "read graphs from other tools with `neurodeploy export FILE.nir --writer W` (neurodeploy.ir.read_deploy_graph)"


def quoted(name: Any) -> str:
    """A node name quoted for a one-line message (repr when it holds odd characters)."""
    text = str(name)
    return f"'{text}'" if text.isprintable() and "'" not in text and len(text) < 200 else repr(text)[:200]


def short(value: Any) -> str:
    """A value on one short line (numpy reprs of arrays span lines)."""
    return " ".join(repr(value).split())[:60]


def one_line(exc: BaseException) -> str:
    """An exception's text on one line (h5py/numpy messages can span several)."""
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def is_int(value: Any) -> bool:
    # bool is an Integral to Python, but a flag where a count belongs is damage
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_finite_number(value: Any) -> bool:
    """A real number (not bool) that float() takes and that is finite: a JSON integer of
    400 digits is a number float() overflows on, and damage."""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        return False
    try:
        return bool(np.isfinite(float(value)))
    except OverflowError:
        return False
