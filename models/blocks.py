"""Building blocks shared by the derainers: tdBN, the spiking unit ``LIF -> Conv -> BN``, the U-Net skeleton."""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import CropLike, DirectEncode, PadToMultiple, SeqBatchNorm2d, SeqConv2d, SeqUpsample
from .neurons import LIF

#: tdBN's α of the ESDNet code (1/√2).
TDBN_ALPHA = 1.0 / math.sqrt(2.0)


def td_batchnorm(channels: int, v_threshold: float, alpha: float = TDBN_ALPHA) -> SeqBatchNorm2d:
    """Threshold-dependent BatchNorm (Zheng et al. 2021): BN over T·N, weight started at α·V_th.

    Equivalent to SpikingJelly's ``layer.ThresholdDependentBatchNorm2d`` at initialisation;
    afterwards the affine weight is free, as in the authors' training.
    """
    bn = SeqBatchNorm2d(channels)
    nn.init.constant_(bn.weight, alpha * v_threshold)
    return bn


class SpikingUnit(nn.Sequential):
    """Pre-activation spiking unit ``LIF -> Conv(k, stride, no bias) -> tdBN`` on ``(T,N,C,H,W)``.

    Input: real-valued stream (the LIF turns it into binary spikes); output: real-valued.
    ``bn_threshold`` is the V_th used for tdBN's initial scale (ESDNet uses 0.2·V_th on the
    second unit of a residual block).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int = 3,
        stride: int = 1,
        v_threshold: float = 0.15,
        tau: float = 2.0,
        bn_threshold: float | None = None,
        plain_bn: bool = False,
    ):
        bn = SeqBatchNorm2d(c_out) if plain_bn else td_batchnorm(c_out, v_threshold if bn_threshold is None else bn_threshold)
        super().__init__(
            LIF(v_threshold, tau),
            SeqConv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            bn,
        )


class SpikingUNet(nn.Module):
    """The three-level spiking U-Net that ESDNet and SpikeRain share (SpikeRain grew out of ESDNet's code).

    ::

        image ─pad─► encode(T) ─► conv3×3 ─► E1 ─┬─► down ─► E2 ─┬─► down ─► E3 ─► D3
                                                 │               └──cat◄── up ◄───┘
                                                 │                   └► reduce(1×1) ─► D2
                                                 └───────cat◄── up ◄──────────────────┘
                                                          └► D1 (2·dim) ─► decode_T ─► refinement ─► conv3×3 ─(+image)─► crop

    Subclasses call :meth:`build` with their block factories. ``stage(n, c)`` builds n blocks
    of width c on ``(T, N, C, H, W)``; ``unit(c_in, c_out, k, stride)`` builds a
    ``LIF -> Conv -> BN`` unit; ``decode`` maps ``(T, N, C, H, W)`` to ``(N, C, H, W)``;
    ``refinement`` works on that one image.
    """

    stride = 4  # two stride-2 downsamplings

    def build(self, dim, en_blocks, de_blocks, t_steps, stage, unit, decode: nn.Module, refinement: nn.Module) -> None:
        self.t_steps = t_steps
        d1, d2, d3 = dim, 2 * dim, 4 * dim
        self.pad = PadToMultiple(self.stride)
        self.encode = DirectEncode(t_steps)
        self.patch_embed = SeqConv2d(3, d1, 3, padding=1, bias=False)
        self.encoder_level1 = stage(en_blocks[0], d1)
        self.down1_2 = unit(d1, d2, 3, 2)
        self.encoder_level2 = stage(en_blocks[1], d2)
        self.down2_3 = unit(d2, d3, 3, 2)
        self.encoder_level3 = stage(en_blocks[2], d3)
        self.decoder_level3 = stage(de_blocks[2], d3)
        self.up3_2 = nn.Sequential(SeqUpsample(2), unit(d3, d2, 3, 1))
        self.reduce_chan_level2 = unit(d3, d2, 1, 1)
        self.decoder_level2 = stage(de_blocks[1], d2)
        self.up2_1 = nn.Sequential(SeqUpsample(2), unit(d2, d1, 3, 1))
        # level 1 runs at 2·dim: no channel reduction after the last concatenation (as the code)
        self.decoder_level1 = stage(de_blocks[0], d2)
        self.decode = decode
        self.refinement = refinement
        self.output = nn.Conv2d(d2, 3, 3, padding=1)
        self.crop = CropLike()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.pad(image)
        e1 = self.encoder_level1(self.patch_embed(self.encode(x)))
        e2 = self.encoder_level2(self.down1_2(e1))
        e3 = self.encoder_level3(self.down2_3(e2))
        d3 = self.decoder_level3(e3)
        d2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(d3), e2], dim=2)))
        d1 = self.decoder_level1(torch.cat([self.up2_1(d2), e1], dim=2))
        y = self.output(self.refinement(self.decode(d1))) + x
        return self.crop(y, image)
