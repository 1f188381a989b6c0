"""Sigma-delta messages across the chip/host cut: a value is sent only when it changed (issue 31).

Loihi 2 sends graded values as sigma-delta messages (Lava's ``lava.proc.sdn``: a delta encoder on
the sending side, an accumulating sigma on the receiving side): at each step the sender compares
the value with what the receiver holds and sends the difference only when it exceeds a threshold.
With threshold 0 the receiver holds the exact value at every step (exact); a value that stays the
same -- the image a direct encoder repeats, a gate computed once from all T steps -- is sent once.

:func:`delta_encode` is that encoder on a whole sequence; :func:`cut_edges` lists the values that
cross the cut (the partition's ``info.side``). The nir-torch executor reads the receiver's values
through it (:class:`neurodeploy.targets.nir_torch.NirTorchExecutor`, ``delta_threshold``) and
counts the messages, which is how ``benchmarks/chip_residency.py`` measures the traffic of a run
instead of the shapes of the cut edges.
"""

from __future__ import annotations

import math

import torch

from neurodeploy.ir.info import GraphInfo


def delta_encode(x: torch.Tensor, threshold: float) -> tuple[torch.Tensor, int]:
    """What the receiver holds, and how many messages were sent, for the sequence ``x`` (time first).

    ``x``: ``(T, ...)`` in model units. Per element and step: ``d = x_t - held``; when ``|d| > threshold``
    (``threshold`` in model units; 0: any change) the sender sends ``d`` and ``held += d``. The
    receiver starts from 0 (a value that is 0 at the first step costs nothing). Returns ``(held
    values (T, ...), number of messages)``; with threshold 0 the held values equal ``x``.
    """
    if threshold < 0:
        raise ValueError(f"delta threshold {threshold} is negative; it is a magnitude in model units")
    held = torch.zeros_like(x[0])
    out = torch.empty_like(x)
    messages = 0
    for t in range(x.shape[0]):
        d = x[t] - held
        send = d.abs() > threshold
        messages += int(send.sum())
        held = torch.where(send, x[t], held)
        out[t] = held
    return out, messages


def cut_edges(graph_edges, info: GraphInfo) -> list[tuple[str, str]]:
    """The edges whose source and destination the partition put on different sides (an image-domain
    source -- a chip readout -- sends its value once per image)."""
    side = info.side
    return [(s, d) for s, d in graph_edges if s in side and d in side and side[s] != side[d]]


def relative_thresholds(maxima: dict[str, float], fraction: float) -> dict[str, float]:
    """Each cut edge's source its own threshold (model units): ``fraction`` of the largest |value| it sent
    (``maxima``, e.g. nir-torch's ``cut_maxima`` on the export's input). A gate in [0, 1] and a feature map
    in [0, 40] then drop changes of the same relative size, which one threshold in model units cannot do."""
    if not (math.isfinite(fraction) and fraction >= 0):
        raise ValueError(f"a relative delta threshold is a fraction >= 0 of each edge's range, not {fraction}")
    return {s: float(fraction) * float(m) for s, m in maxima.items()}
