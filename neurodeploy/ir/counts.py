"""Operation counts of IR nodes, shared by the partition and reports (definitions in :mod:`neurodeploy.ops`)."""

from __future__ import annotations

import nir
import numpy as np

from neurodeploy.ops import conv_macs as _conv_macs


def conv_macs(node: nir.Conv2d, out_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one evaluation (one time step, one image) of a conv:
    every output element times the taps of its kernel (C_in/groups · kH · kW)."""
    return _conv_macs(np.asarray(node.weight).shape, out_shape)
