"""Attention blocks of the derainers: sigmoid gates multiplied into features.

These are real-valued ops (pooling, tiny 1×1 MLPs, sigmoid, product of two activations):
a spiking chip cannot run them natively, so deployment puts them on the host (see
LOIHI.md, "host ops"). They are built from plain torch layers (``nn.Conv3d``,
``nn.AdaptiveAvgPool3d``, ...) because the authors' code builds them that way, which is
also why the papers' thop counts include them (see :mod:`models.counting`).
"""

from __future__ import annotations

import torch
from torch import nn


class _PoolMLPGate(nn.Module):
    """``sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`` over all but dim 1 of ``(N, K, A, B, C)``.

    The shared MLP is two bias-free 1×1×1 ``nn.Conv3d`` with a ReLU (K -> K/r -> K).
    Output ``(N, K, 1, 1, 1)``: one gate per K.
    """

    def __init__(self, k: int, reduction: int):
        super().__init__()
        hidden = max(k // reduction, 1)
        self.avg_pool = nn.AdaptiveAvgPool3d(1)
        self.max_pool = nn.AdaptiveMaxPool3d(1)
        self.mlp = nn.Sequential(
            nn.Conv3d(k, hidden, 1, bias=False), nn.ReLU(), nn.Conv3d(hidden, k, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mlp(self.avg_pool(x)) + self.mlp(self.max_pool(x)))


class MultiDimensionalAttention(nn.Module):
    """Mixed temporal/channel/spatial attention of Yao et al. 2023 (ESDNet's MAU, VLIF-Net's MDA).

    On ``(T, N, C, H, W)``, in this order (each a sigmoid gate multiplied in):

    1. temporal: one gate per time step from avg+max pooling over (C, H, W), MLP T -> T/r_t -> T;
    2. channel: one gate per channel from avg+max pooling over (T, H, W), MLP C -> C/r_c -> C;
    3. spatial: one gate per pixel from a 3×3 conv (2 -> 1, no bias) over the mean and
       the max across (T, C);

    then a ReLU. Structure as SpikingJelly's ``layer.MultiDimensionalAttention``, which
    the ESDNet code uses with ``reduction_t=4, reduction_c=16, kernel_size=3``.

    Args:
        t_steps: T (time steps of the input sequence).
        channels: C.
        reduction_t, reduction_c: MLP reductions.
        kernel_size: spatial conv kernel (3 or 7).
    """

    def __init__(self, t_steps: int, channels: int, reduction_t: int = 4, reduction_c: int = 16, kernel_size: int = 3):
        super().__init__()
        self.ta = _PoolMLPGate(t_steps, reduction_t)
        self.ca = _PoolMLPGate(channels, reduction_c)
        self.sa_conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(0, 1)  # (N, T, C, H, W): T plays the channel role for the temporal gate
        out = self.ta(x) * x
        out_c = out.transpose(1, 2)  # (N, C, T, H, W)
        out = (self.ca(out_c) * out_c).transpose(1, 2)
        n, t, c, h, w = out.shape
        flat = out.reshape(n, t * c, h, w)
        pooled = torch.cat([flat.mean(1, keepdim=True), flat.amax(1, keepdim=True)], dim=1)
        gate = torch.sigmoid(self.sa_conv(pooled)).unsqueeze(1)  # (N, 1, 1, H, W)
        out = self.relu(gate * out)
        return out.transpose(0, 1)


class MDAGates(nn.Module):
    """MDA's temporal and channel gates from per-step pooled statistics: the part of a
    :class:`MultiDimensionalAttention` the host runs when the chip keeps the feature map
    (issue 31, ``export --residency gates``).

    In: ``(T, N, 2C, 1, 1)``, per step and channel the mean (first C) and the max (last C) over
    pixels of the block's input, which the chip computes (an average-pooling synapse and a max
    tree). Out: ``(T, N, C, 1, 1)``, the product ``a_t · g_c`` of the temporal and the channel
    gate that the block multiplies into step t of the map. Exact up to float association: the
    temporal gate pools over (C, H, W) = over channels of the per-channel statistics, and since
    ``a_t > 0`` (a sigmoid), ``max_{t,h,w}(a_t x) = max_t a_t max_{h,w} x`` and
    ``mean_{t,h,w}(a_t x) = mean_t a_t mean_{h,w} x``. Wraps a trained block (its parameters),
    so checkpoints need no new keys.
    """

    def __init__(self, mda: MultiDimensionalAttention):
        super().__init__()
        self.mda = mda

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        c = stats.shape[2] // 2
        s = stats.permute(1, 0, 2, 3, 4)  # (N, T, 2C, 1, 1)
        mean, peak = s[:, :, :c], s[:, :, c:]
        ta = self.mda.ta
        a = torch.sigmoid(ta.mlp(mean.mean(dim=2, keepdim=True)) + ta.mlp(peak.amax(dim=2, keepdim=True)))
        ca = self.mda.ca  # over (N, C, T, 1, 1): the channel gate pools over time the temporally gated statistics
        am, ap = (a * mean).transpose(1, 2), (a * peak).transpose(1, 2)
        g = torch.sigmoid(ca.mlp(am.mean(dim=2, keepdim=True)) + ca.mlp(ap.amax(dim=2, keepdim=True)))  # (N, C, 1, 1, 1)
        return (a * g.transpose(1, 2)).transpose(0, 1)  # (T, N, C, 1, 1)


class MDASpatial(nn.Module):
    """MDA's spatial gate from per-step channel statistics of the gated map: the other host part
    of a split :class:`MultiDimensionalAttention`. In ``(T, N, 2, H, W)`` (per step and pixel,
    the mean and the max over channels of ``a_t g_c x``), out the gate ``(T, N, 1, H, W)``, the
    same at every step (it pools over time: ``mean_{t,c} = mean_t mean_c``, ``max_{t,c} = max_t max_c``)."""

    def __init__(self, mda: MultiDimensionalAttention):
        super().__init__()
        self.mda = mda

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        t = stats.shape[0]
        pooled = torch.cat([stats[:, :, :1].mean(0), stats[:, :, 1:].amax(0)], dim=1)  # (N, 2, H, W)
        gate = torch.sigmoid(self.mda.sa_conv(pooled))
        return gate.unsqueeze(0).expand(t, -1, -1, -1, -1)
