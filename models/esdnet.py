"""ESDNet (Song et al., IJCAI 2024): efficient spiking deraining network.

Structure follows the authors' released code (``MingTian99/ESDNet``, ``model.py``), which
differs from the paper's figure in one place: the decoder has three stages (levels 3, 2
and 1), not two. ::

    image ─pad─► encode(T) ─► conv3×3 ─► SRB×e1 ─┬─► down ─► SRB×e2 ─┬─► down ─► SRB×e3 ─► SRB×d3
                                                  │                    │                     │
                                                  │                    └──cat◄── up ◄────────┘
                                                  │                        └► reduce(1×1) ─► SRB×d2
                                                  └───────────cat◄── up ◄──────────────────────┘
                                                               └► SRB×d1 (2·dim) ─► mean_T ─► FRB ─► conv3×3 ─(+image)─► crop

- SRB (spiking residual block): ``out = MAU(SCU(SCU(x)) + tdBN(Conv(x))) + x`` with
  SCU = ``LIF -> Conv3×3 -> tdBN``; the stream between blocks is real-valued.
- down: ``LIF -> Conv3×3 stride 2 -> tdBN`` (channels ×2); up: bilinear ×2 then
  ``LIF -> Conv3×3 -> tdBN`` (channels ÷2); the level-1 decoder runs at 2·dim channels
  (no channel reduction after the last concatenation, as in the code).
- MAU: :class:`models.attention.MultiDimensionalAttention` (T, C, r_t = 4, r_c = 16).
- FRB (feature refinement block, real-valued, after the mean over T):
  ``F̂ = σ(Conv1(ReLU(Conv1(GAP(Y)))))``, ``F = σ(Conv3(ReLU(Conv3(Conv3(Y)))))``,
  ``out = Y⊙F + (1-F)⊙F̂``.

Everything after :class:`MeanDecode` (FRB, last conv, global residual) works on one image
per input, not per time step: a host op for deployment.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .attention import MultiDimensionalAttention
from .blocks import SpikingUNet, SpikingUnit, td_batchnorm
from .layers import MeanDecode, SeqConv2d
from .registry import Architecture, register


class SpikingResidualBlock(nn.Module):
    """ESDNet's SRB on ``(T, N, C, H, W)``: two SCUs, a conv shortcut, MAU, identity skip."""

    def __init__(self, channels: int, t_steps: int, v_threshold: float, tau: float):
        super().__init__()
        self.residual = nn.Sequential(
            SpikingUnit(channels, channels, 3, v_threshold=v_threshold, tau=tau),
            # the code starts the second tdBN at 0.2·V_th: the residual branch starts small
            SpikingUnit(channels, channels, 3, v_threshold=v_threshold, tau=tau, bn_threshold=0.2 * v_threshold),
        )
        self.shortcut = nn.Sequential(
            SeqConv2d(channels, channels, 3, padding=1, bias=False), td_batchnorm(channels, v_threshold)
        )
        self.attn = MultiDimensionalAttention(t_steps, channels, reduction_t=4, reduction_c=16, kernel_size=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(self.residual(x) + self.shortcut(x)) + x


class FeatureRefinementBlock(nn.Module):
    """ESDNet's FRB on one image ``(N, C, H, W)``: a channel gate F̂ and a pixel gate F mixed."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.ca = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )
        hidden_sa = max(channels // 8, 1)
        self.sa = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.Conv2d(channels, hidden_sa, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden_sa, channels, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        f_hat = self.ca(y)
        f = self.sa(y)
        return y * f + (1 - f) * f_hat


class ESDNet(SpikingUNet):
    """ESDNet; ``forward``: ``(N, 3, H, W)`` rainy image in [0, 1] -> derained image, any H, W.

    Args:
        dim: channels at level 1 (levels 2 and 3 have 2·dim and 4·dim).
        en_blocks: SRBs per encoder level (1, 2, 3).
        de_blocks: SRBs per decoder level (1, 2, 3); level 1 runs at 2·dim channels.
        t_steps: T, time steps of direct encoding.
        v_threshold: LIF threshold (model units); also sets tdBN's initial scale.
        tau: LIF time constant (time steps).
        frb_reduction: channel reduction of the FRB's channel gate.
    """

    def __init__(
        self,
        dim: int = 48,
        en_blocks: Sequence[int] = (4, 4, 8),
        de_blocks: Sequence[int] = (2, 2, 2),
        t_steps: int = 4,
        v_threshold: float = 0.15,
        tau: float = 2.0,
        frb_reduction: int = 8,
    ):
        super().__init__()

        def stage(n: int, c: int) -> nn.Sequential:
            return nn.Sequential(*[SpikingResidualBlock(c, t_steps, v_threshold, tau) for _ in range(n)])

        def unit(c_in: int, c_out: int, k: int, stride: int) -> SpikingUnit:
            return SpikingUnit(c_in, c_out, k, stride=stride, v_threshold=v_threshold, tau=tau)

        self.build(dim, en_blocks, de_blocks, t_steps, stage, unit, MeanDecode(), FeatureRefinementBlock(2 * dim, frb_reduction))


_TINY = {"dim": 8, "en_blocks": [1, 1, 1], "de_blocks": [1, 1, 1], "t_steps": 4, "v_threshold": 0.15, "tau": 2.0}

register(
    Architecture(
        name="esdnet",
        factory=ESDNet,
        presets={
            # the authors' model.py: ESDNet(dim=48, en_num_blocks=[4,4,8,8], de_num_blocks=[2,2,2,2], T=4)
            "paper": {"dim": 48, "en_blocks": [4, 4, 8], "de_blocks": [2, 2, 2], "t_steps": 4, "v_threshold": 0.15, "tau": 2.0},
            "tiny": _TINY,
            # tiny at twice the width: about 2.2x tiny's time per training step on this CPU
            "small": {**_TINY, "dim": 16},
        },
        description="ESDNet (IJCAI 2024): LIF residual U-Net with mixed attention and feature refinement",
    )
)
