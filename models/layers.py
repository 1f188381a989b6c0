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


class SeqUpsample(nn.Upsample):
    """``nn.Upsample`` (default: bilinear ×2, ``align_corners=False``) on each time step."""

    def __init__(self, scale_factor: int = 2, mode: str = "bilinear"):
        super().__init__(scale_factor=scale_factor, mode=mode, align_corners=False if mode == "bilinear" else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _per_step(super().forward, x)


class SeqPixelUnshuffle(nn.PixelUnshuffle):
    """``nn.PixelUnshuffle(r)`` on each time step: ``(T,N,C,H,W) -> (T,N,C·r²,H/r,W/r)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _per_step(super().forward, x)


class SeqPixelShuffle(nn.PixelShuffle):
    """``nn.PixelShuffle(r)`` on each time step: ``(T,N,C·r²,H,W) -> (T,N,C,H·r,W·r)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _per_step(super().forward, x)


class PadToMultiple(nn.Module):
    """Pad an image ``(N, C, H, W)`` on the bottom/right so H and W are multiples of ``multiple``.

    Reflection padding (replicate when the image is smaller than the pad), so the
    network sees image-like borders; :class:`CropLike` cuts the output back.
    """

    def __init__(self, multiple: int):
        super().__init__()
        self.multiple = int(multiple)

    def extra_repr(self) -> str:
        return f"multiple={self.multiple}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph == 0 and pw == 0:
            return x
        mode = "reflect" if ph < h and pw < w else "replicate"
        return nn.functional.pad(x, (0, pw, 0, ph), mode=mode)


class CropLike(nn.Module):
    """Crop ``x`` (``(..., H', W')``) to the top-left H×W of ``ref``; undoes :class:`PadToMultiple`."""

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return x[..., : ref.shape[-2], : ref.shape[-1]]
