"""SpikeRain (WACV 2026): dense spiking residual U-Net with multi-dimensional attention.

Structure follows the authors' released code (``tanvirnwu/SpikeRain``, ``model/``),
preset ``paper`` = the code's "M" variant (dim 48, encoder [4, 4, 8], decoder [2, 2, 2]),
whose thop count matches the paper's claim (see :mod:`models.counting`); presets ``S``
(dim 32, [2, 2, 4], [1, 1, 1]) and ``L`` (dim 64, [6, 6, 8], [4, 4, 4]) are the code's
other two variants. ::

    image ─pad─► encode(T) ─► conv3×3 ─► DSRB×e1 ─┬─► down ─► DSRB×e2 ─┬─► down ─► DSRB×e3 ─► DSRB×d3
                                                   │                     └─cat◄─ up ◄───────────┘
                                                   │                        └► reduce(1×1) ─► DSRB×d2
                                                   └──────────cat◄─ up ◄──────────────────────┘
                                                              └► DSRB×d1 (2·dim) ─► temporal fusion ─► ARFE ─► conv3×3 ─(+image)

- DSRB (dense spiking residual block): 4 dense layers ``LIF -> Conv3×3 (-> growth 24) -> BN``,
  each fed the concatenation of the block input and all previous layers' outputs; local
  fusion ``LIF -> Conv1×1`` back to C; ``out = MDSA(fused) + x``.
- MDSA: a temporal gate (one scalar per image from the channel-mean pooled over T, H, W,
  through a 1×1×1 conv), a channel gate (C -> C/16 -> C MLP on the pooled features), a
  spatial gate per time step and pixel (1×3×3 conv on the channel mean); each a sigmoid
  multiplied into the features.
- Temporal fusion: ``sum_t softmax(w)_t · x_t`` with a learned w (T values).
- ARFE: channel-attended and spatially attended copies of Y mixed by a learned gate,
  ``out = g·ca + (1-g)·sa + Y`` with ``g = σ(Conv1×1([Y, ca, sa]))``.

The BatchNorms are plain ``nn.BatchNorm2d`` in the authors' code (wrapped to accept
T·N), so thop counts them; ours carry ``paper_counted = True`` for the same reason.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .blocks import SpikingUNet, SpikingUnit
from .layers import SeqConv2d
from .neurons import LIF
from .registry import Architecture, register


def _unit(c_in: int, c_out: int, k: int, stride: int, v_threshold: float, tau: float) -> SpikingUnit:
    unit = SpikingUnit(c_in, c_out, k, stride=stride, v_threshold=v_threshold, tau=tau, plain_bn=True)
    unit[2].paper_counted = True  # the authors' BN wrapper holds a plain nn.BatchNorm2d
    return unit


class MDSA(nn.Module):
    """SpikeRain's multi-dimensional spiking attention on ``(T, N, C, H, W)`` (see module doc)."""

    def __init__(self, channels: int, reduction_c: int = 16, kernel_size: int = 3):
        super().__init__()
        hidden = max(channels // reduction_c, 1)
        self.temporal_pool = nn.AdaptiveAvgPool3d(1)
        self.temporal_conv = nn.Conv3d(1, 1, 1)
        self.channel_pool = nn.AdaptiveAvgPool3d(1)
        self.channel_mlp = nn.Sequential(nn.Conv3d(channels, hidden, 1), nn.ReLU(), nn.Conv3d(hidden, channels, 1))
        self.spatial_conv = nn.Conv3d(1, 1, (1, kernel_size, kernel_size), padding=(0, kernel_size // 2, kernel_size // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, C, T, H, W). A contiguous copy, as the authors' code: the channel gate's average
        # pool sums in memory order, and over the permuted view that order (so the float sum)
        # differs by ~1e-8, enough to flip spikes downstream of an imported checkpoint.
        xp = x.permute(1, 2, 0, 3, 4).contiguous()
        t_gate = torch.sigmoid(self.temporal_conv(self.temporal_pool(xp.mean(1, keepdim=True))))
        xp = xp * t_gate
        xp = xp * torch.sigmoid(self.channel_mlp(self.channel_pool(xp)))
        xp = xp * torch.sigmoid(self.spatial_conv(xp.mean(1, keepdim=True)))
        return xp.permute(2, 0, 1, 3, 4)


class MDSAGates(nn.Module):
    """MDSA's temporal and channel gates from per-step channel means: the part of an MDSA the host
    runs when the chip keeps the feature map (issue 31, ``export --residency gates``).

    In: ``(T, N, C, 1, 1)``, the mean over pixels of the block's input per step and channel (a
    fixed average-pooling synapse on the chip). Out: ``(T, N, C, 1, 1)``, the product ``s · g_c`` of
    the temporal gate and the channel gates, the same at every step: exactly what
    :class:`MDSA` multiplies into the map before its spatial gate, because its pools are
    averages (``mean_{t,h,w}(s x) = s mean_{t,h,w}(x)``). Wraps a trained :class:`MDSA` (its
    parameters), so checkpoints need no new keys.
    """

    def __init__(self, mdsa: MDSA):
        super().__init__()
        self.mdsa = mdsa

    def forward(self, m: torch.Tensor) -> torch.Tensor:
        t = m.shape[0]
        mp = m.permute(1, 2, 0, 3, 4)  # (N, C, T, 1, 1)
        s = torch.sigmoid(self.mdsa.temporal_conv(mp.mean(dim=(1, 2), keepdim=True)))  # (N, 1, 1, 1, 1)
        g = torch.sigmoid(self.mdsa.channel_mlp(s * mp.mean(dim=2, keepdim=True)))  # (N, C, 1, 1, 1)
        return (s * g).permute(2, 0, 1, 3, 4).expand(t, -1, -1, -1, -1)


class MDSASpatial(nn.Module):
    """MDSA's spatial gate from the channel mean of the channel-gated map, per step and pixel: the
    other host part of a split MDSA. In ``(T, N, 1, H, W)``, out the gate ``(T, N, 1, H, W)``."""

    def __init__(self, mdsa: MDSA):
        super().__init__()
        self.mdsa = mdsa

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mdsa.spatial_conv(q.permute(1, 2, 0, 3, 4))).permute(2, 0, 1, 3, 4)


class DSRB(nn.Module):
    """Dense spiking residual block on ``(T, N, C, H, W)``: dense layers, 1×1 fusion, MDSA, skip."""

    def __init__(self, channels: int, v_threshold: float, tau: float, growth: int = 24, n_layers: int = 4):
        super().__init__()
        self.layers = nn.ModuleList(
            _unit(channels + i * growth, growth, 3, 1, v_threshold, tau) for i in range(n_layers)
        )
        self.lff = nn.Sequential(LIF(v_threshold, tau), SeqConv2d(channels + n_layers * growth, channels, 1, bias=False))
        self.attn = MDSA(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, dim=2)))
        return self.attn(self.lff(torch.cat(feats, dim=2))) + x


class TemporalFusion(nn.Module):
    """Decode ``(T, N, ...)`` to ``(N, ...)`` by a learned softmax-weighted sum over T.

    The graph's output for deployment: like :class:`~models.layers.MeanDecode` but with
    weights ``softmax(w)`` (w starts at 1/T, i.e. the plain mean).
    """

    def __init__(self, t_steps: int):
        super().__init__()
        self.weights = nn.Parameter(torch.full((t_steps,), 1.0 / t_steps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.weights, 0).reshape(-1, *([1] * (x.dim() - 1)))
        return (x * w).sum(0)


class ARFE(nn.Module):
    """Adaptive residual feature enhancement on one image ``(N, C, H, W)`` (see module doc)."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.ca = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1), nn.Sigmoid()
        )
        hidden_sa = max(channels // 8, 1)
        self.sa = nn.Sequential(
            nn.Conv2d(channels, hidden_sa, 1), nn.ReLU(), nn.Conv2d(hidden_sa, 1, 5, padding=2), nn.Sigmoid()
        )
        self.gate = nn.Sequential(nn.Conv2d(3 * channels, channels, 1), nn.Sigmoid())

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        ca = self.ca(y) * y
        sa = self.sa(y) * y
        g = self.gate(torch.cat([y, ca, sa], dim=1))
        return g * ca + (1 - g) * sa + y


class SpikeRain(SpikingUNet):
    """SpikeRain; ``forward``: ``(N, 3, H, W)`` rainy image in [0, 1] -> derained image, any H, W.

    Args:
        dim: channels at level 1 (2·dim, 4·dim below).
        en_blocks, de_blocks: DSRBs per level (1, 2, 3); decoder level 1 runs at 2·dim.
        growth, dense_layers: DSRB growth rate and number of dense layers (code: 24, 4).
        t_steps: T; v_threshold: LIF threshold; tau: LIF time constant (time steps).
    """

    def __init__(
        self,
        dim: int = 48,
        en_blocks: Sequence[int] = (4, 4, 8),
        de_blocks: Sequence[int] = (2, 2, 2),
        growth: int = 24,
        dense_layers: int = 4,
        t_steps: int = 4,
        v_threshold: float = 0.15,
        tau: float = 2.0,
    ):
        super().__init__()

        def stage(n: int, c: int) -> nn.Sequential:
            return nn.Sequential(*[DSRB(c, v_threshold, tau, growth, dense_layers) for _ in range(n)])

        def unit(c_in: int, c_out: int, k: int, stride: int) -> SpikingUnit:
            return _unit(c_in, c_out, k, stride, v_threshold, tau)

        self.build(dim, en_blocks, de_blocks, t_steps, stage, unit, TemporalFusion(t_steps), ARFE(2 * dim, 8))


_TINY = {"dim": 8, "en_blocks": [1, 1, 1], "de_blocks": [1, 1, 1], "growth": 8, "dense_layers": 2,
         "t_steps": 4, "v_threshold": 0.15, "tau": 2.0}

register(
    Architecture(
        name="spikerain",
        factory=SpikeRain,
        presets={
            # the authors' SpikeRainFactory.spikerain_m(): dim 48, en [4,4,8,8], de [2,2,2,2], T 4
            "paper": {"dim": 48, "en_blocks": [4, 4, 8], "de_blocks": [2, 2, 2], "growth": 24, "dense_layers": 4,
                      "t_steps": 4, "v_threshold": 0.15, "tau": 2.0},
            # spikerain_s() and spikerain_l() of the same factory (the 4th list entry is unused
            # there too): 1,589,888 and 8,048,576 parameters
            "S": {"dim": 32, "en_blocks": [2, 2, 4], "de_blocks": [1, 1, 1], "growth": 24, "dense_layers": 4,
                  "t_steps": 4, "v_threshold": 0.15, "tau": 2.0},
            "L": {"dim": 64, "en_blocks": [6, 6, 8], "de_blocks": [4, 4, 4], "growth": 24, "dense_layers": 4,
                  "t_steps": 4, "v_threshold": 0.15, "tau": 2.0},
            "tiny": _TINY,
            # tiny at twice the width: about 2x tiny's time per training step on this CPU
            "small": {**_TINY, "dim": 16, "growth": 16},
        },
        description="SpikeRain (WACV 2026): dense spiking residual U-Net, MDSA, temporal fusion, ARFE",
    )
)
