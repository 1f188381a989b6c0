"""Operation counts of IR nodes: the one definition each, shared by the partition and reports."""

from __future__ import annotations

import nir
import numpy as np


def conv_macs(node: nir.Conv2d, out_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one evaluation (one time step, one image) of a conv:
    every output element times the taps of its kernel (C_in/groups · kH · kW)."""
    w = np.asarray(node.weight)
    return int(np.prod(out_shape) * w.shape[1] * w.shape[2] * w.shape[3])
