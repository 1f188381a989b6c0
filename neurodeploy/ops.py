"""Operation counts: the one definition of MACs and of effective operations in neurodeploy.

Ground layer (no neurodeploy imports): the counter of the models (``neurodeploy count``,
:mod:`neurodeploy.models.counting`), the partition summary and the reports all count with
these functions.

Definitions (NeuroBench, "effective operations"; Yik et al. 2024, ``neurobench/metrics``):

- **MACs** of a conv: every output element times the taps of its kernel
  (``C_in/groups · kH · kW``), per evaluation (one time step of one image) -- the work a
  dense accelerator does, whatever the input values.
- **Effective operations** of a conv on one input: for every *non-zero* input element,
  the number of synapses it reaches -- ``C_out/groups`` times the kernel taps that land
  inside the output map, counted exactly at the borders (stride, padding, dilation). Zero
  inputs cost nothing (an event-driven chip skips them).
- **Synaptic operations** (``synops``): effective operations whose input is **binary**
  spikes. Each is one accumulate (AC): the weight is added, nothing is multiplied.
- **Effective MACs** (``macs`` in reports): effective operations whose input is **graded**
  (spike payloads, e.g. NI-LIF levels) or **real** (images, residual streams): the weight is
  multiplied by the value. NeuroBench counts graded activations as MACs; so do we.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: Edge kinds whose operations are accumulates (ACs); every other kind costs MACs.
AC_EDGE_KINDS = ("binary",)

DEFINITIONS = {
    "macs": "dense multiply-accumulates of a conv: output elements x C_in/groups x kH x kW, every time step",
    "effective_ops": "NeuroBench effective operations: non-zero input elements x the synapses each reaches "
                     "(C_out/groups x in-map kernel taps), exact at borders",
    "synops": "effective operations on binary spike inputs (accumulates, AC)",
    "effective_macs": "effective operations on graded or real-valued inputs (multiply-accumulates, MAC)",
}


def conv_macs(weight_shape: Sequence[int], out_shape: Sequence[int]) -> int:
    """Dense MACs of one conv evaluation: ``prod(out_shape) · C_in/groups · kH · kW``.

    Args:
        weight_shape: ``(C_out, C_in/groups, kH, kW)``.
        out_shape: the output of one evaluation, any layout (e.g. ``(C, H, W)`` or ``(N, C, H, W)``).
    """
    return int(np.prod(out_shape)) * int(np.prod(weight_shape[1:]))


def effective_ops(active, weight_shape: Sequence[int], stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                  groups: int = 1) -> float:
    """Effective operations of a conv on ``active`` (NeuroBench; see the module docstring).

    Args:
        active: input values ``(N, C_in, H, W)`` (numpy or torch; N = steps × images);
            non-zero entries count.
        weight_shape: ``(C_out, C_in/groups, kH, kW)``.
        stride, padding, dilation, groups: as ``torch.nn.functional.conv2d``.

    Returns:
        the number of (non-zero input, synapse) pairs, summed over N (a float, exact up to 2**53).
    """
    import torch

    x = torch.as_tensor(np.asarray(active) if not isinstance(active, torch.Tensor) else active)
    x = (x != 0).to(torch.float64)
    c_out, c_in_g, kh, kw = (int(v) for v in weight_shape)
    groups = int(groups)
    # Per output position, how many active inputs its receptive field holds: the group's
    # channels summed first, then an all-ones kernel (1 channel) -- cheap even at 256x256.
    n, c, h, w = x.shape
    per_group = x.reshape(n, groups, c // groups, h, w).sum(dim=2)  # (N, G, H, W)
    ones = torch.ones(groups, 1, kh, kw, dtype=torch.float64)
    reached = torch.nn.functional.conv2d(per_group, ones, stride=tuple(int(s) for s in stride),
                                         padding=tuple(int(p) for p in padding),
                                         dilation=tuple(int(d) for d in dilation), groups=groups)
    return float(reached.sum()) * (c_out // groups)


def split_by_kind(ops: float, edge_kind: str) -> tuple[float, float]:
    """``(synops, effective_macs)`` of ``ops`` effective operations arriving over ``edge_kind``."""
    return (ops, 0.0) if edge_kind in AC_EDGE_KINDS else (0.0, ops)
