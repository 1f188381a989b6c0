"""Building blocks shared by the derainers: tdBN and the spiking unit ``LIF -> Conv -> BN``."""

from __future__ import annotations

import math

from torch import nn

from .layers import SeqBatchNorm2d, SeqConv2d
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
