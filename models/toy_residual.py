"""``toy-residual``: the smallest network that has everything that makes deployment hard.

A direct-encoded image goes through three spiking units; a residual join adds the
first unit's spikes to the second's (the two paths differ in depth by one synaptic
hop, so a Lava lowering must delay-balance them), and a global residual adds the input
image to the per-step output (a join of depth 0 with depth 4). BatchNorm sits after two
convs so that export must fold it. The output image is the mean over T steps.

::

    x ─encode─► conv_in ─► lif1 ─┬─► conv2 ─► bn2 ─► lif2 ─┐
      │                          └─────────────────────────(+)─► conv3 ─► bn3 ─► lif3 ─► conv_out ─(+)─► mean_T
      └──────────────────────────────────────────────────────────────────────────────────────────┘
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import DirectEncode, MeanDecode, SeqBatchNorm2d, SeqConv2d
from .neurons import LIF
from .registry import Architecture, register


class ToyResidual(nn.Module):
    """Three LIF units with a residual join and a global residual; image in, image out.

    Args:
        channels: feature channels of the spiking units.
        t_steps: time steps T of direct encoding.
        v_threshold: LIF threshold (model units).
        tau: LIF time constant (time steps).

    ``forward``: ``(N, 3, H, W)`` image in [0, 1] -> ``(N, 3, H, W)`` image; any H, W.
    """

    def __init__(self, channels: int = 8, t_steps: int = 4, v_threshold: float = 0.15, tau: float = 2.0):
        super().__init__()
        self.t_steps = t_steps
        self.encode = DirectEncode(t_steps)
        self.conv_in = SeqConv2d(3, channels, 3, padding=1)
        self.lif1 = LIF(v_threshold, tau)
        self.conv2 = SeqConv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = SeqBatchNorm2d(channels)
        self.lif2 = LIF(v_threshold, tau)
        self.conv3 = SeqConv2d(channels, channels, 3, padding=1, bias=False)
        self.bn3 = SeqBatchNorm2d(channels)
        self.lif3 = LIF(v_threshold, tau)
        self.conv_out = SeqConv2d(channels, 3, 3, padding=1)
        self.decode = MeanDecode()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_seq = self.encode(x)
        s1 = self.lif1(self.conv_in(x_seq))
        s2 = self.lif2(self.bn2(self.conv2(s1)))
        s3 = self.lif3(self.bn3(self.conv3(s1 + s2)))
        return self.decode(self.conv_out(s3) + x_seq)


register(
    Architecture(
        name="toy-residual",
        factory=ToyResidual,
        presets={"default": {"channels": 8, "t_steps": 4, "v_threshold": 0.15, "tau": 2.0}},
        description="3 LIF units, a residual join and a global residual (pipeline test bed)",
        default_input_size=(32, 32),
    )
)
