"""Time-distributed layers: stateless layers applied to every time step of a sequence.

They accept ``(T, N, C, H, W)`` (and, for convenience, plain ``(N, C, H, W)``). Each is a
subclass of the torch layer it wraps, so the exporter maps it like that layer.
"""

from __future__ import annotations

import torch
from torch import nn


def _per_step(layer_forward, x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 5:
        t, n = x.shape[:2]
        y = layer_forward(x.flatten(0, 1))
        return y.reshape(t, n, *y.shape[1:])
    return layer_forward(x)


class SeqConv2d(nn.Conv2d):
    """``nn.Conv2d`` applied to each time step of ``(T, N, C, H, W)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _per_step(super().forward, x)


class SeqBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm over T·N samples (the papers' tdBN at inference, before folding).

    The α·V_th scaling of tdBN is absorbed in the affine weight when trained; at
    inference the exporter folds this layer into the convolution before it.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _per_step(super().forward, x)


class DirectEncode(nn.Module):
    """Direct encoding: the image ``(N, C, H, W)`` is copied to each of ``t_steps`` time steps.

    The exporter treats this module as the graph's input: per time step, the input node
    carries the (real-valued) image.
    """

    def __init__(self, t_steps: int):
        super().__init__()
        if t_steps < 1:
            raise ValueError(f"t_steps must be >= 1, got {t_steps}")
        self.t_steps = int(t_steps)

    def extra_repr(self) -> str:
        return f"t_steps={self.t_steps}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(0).expand(self.t_steps, *x.shape)


class MeanDecode(nn.Module):
    """Decode a per-step output sequence ``(T, N, ...)`` into one image by its mean over time.

    The exporter treats this module as the graph's output: per time step the output node
    carries the per-step image; the bundle's manifest records the mean over T as decoding.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(0)
