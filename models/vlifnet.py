"""VLIF-Net ("Visual LIF" spiking deraining network), rebuilt from the paper's description.

The authors' code was not available to us, so every structural choice below that the
paper text (as summarised in DERAINERS.md) leaves open is marked *guess*. The neurons and
the VLIF mechanism follow the paper's equations.

- **NI-LIF** (:class:`models.neurons.NILIF`): integer-valued spikes 0..D (D = 4), leak β;
  its input is the stream × D (guess), so stream and spikes share one [0, 1] scale.
- **VLIF** = patch-to-time + NI-LIF + temporal attention + compression. Patch-to-time
  pixel-unshuffles by r and moves the r² neighbours into the time axis: ``(T, N, C, H, W)``
  -> ``(T·r², N, C, H/r, W/r)`` (the r² sub-steps of step t follow each other). NI-LIF
  integrates across them; a temporal gate (avg+max pool over C, H, W, MLP, sigmoid)
  reweights the T·r² steps. Compression brings time back to T:
  *VLIF-T* = ``Conv3d`` with kernel and stride (r², 1, 1) over time (used to downsample);
  *VLIF-C* = the r² sub-steps flattened into channels and a 1×1 conv + BN (guess: one 1×1
  layer for the paper's "small MLP").
- **SDEM** (two stages, the first with LIF spikes S = LIF(X), the second with
  S = up(VLIF-C(X)) (bilinear ×r)), each stage::

      X_h = α·S,  X_l = X - X_h,  X_h' = X_h·X,  X_l' = β2·X_l
      refined = BN(Conv3×3(X_h' + X_l' + X)),  short = BN(Conv3×3(X))
      out = refined + short + short + MDA(refined)          (eq. 12–14 as written)

  α and β2 are learned scalars per stage (guess: initialised to 1 and 0.5).
- **SMU** (level 1): ``a = SDEM(x)``; ``b = VLIF-T(a)`` (H/r); two spiking units
  ``LIF -> Conv3×3 -> BN -> MDA`` (guess: the paper lists LIF, BN, Conv, MDA; we keep the
  pre-activation order of the other two papers); bilinear ×r; ``+ a``; MDA.
- **Network** (guess for the level layout the paper abbreviates as "[4, 10, 2]"):
  encoder level 1 = SMU, down (VLIF-T, channels ×2), encoder level 2 = 4 SDEMs, down,
  level 3 = 10 SDEMs, up (bilinear ×2, LIF -> Conv -> BN, channels ÷2), concat skip +
  1×1 reduce, decoder level 2 = 2 SDEMs, up, concat + reduce, decoder level 1 = SMU,
  refinement = 4 SDEMs, mean over T, Conv3×3 to RGB, + image.
- MDA = :class:`models.attention.MultiDimensionalAttention` (as in ESDNet).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .attention import MultiDimensionalAttention, _PoolMLPGate
from .blocks import SpikingUnit, td_batchnorm
from .layers import CropLike, DirectEncode, MeanDecode, PadToMultiple, SeqConv2d, SeqUpsample
from .neurons import LIF, NILIF
from .registry import Architecture, register


class PatchToTime(nn.Module):
    """``(T, N, C, H, W)`` -> ``(T·r², N, C, H/r, W/r)``: pixel-unshuffle, neighbours into time.

    Sub-step ``t·r² + i·r + j`` holds pixel ``(i, j)`` of every r×r patch of step t.
    A reshape/permute (pixel unshuffle), no arithmetic.
    """

    def __init__(self, r: int):
        super().__init__()
        self.r = int(r)

    def extra_repr(self) -> str:
        return f"r={self.r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, n, c, h, w = x.shape
        r = self.r
        x = x.reshape(t, n, c, h // r, r, w // r, r).permute(0, 4, 6, 1, 2, 3, 5)
        return x.reshape(t * r * r, n, c, h // r, w // r)


class VLIF(nn.Module):
    """Patch-to-time, NI-LIF over T·r² steps, temporal gate; returns ``(T·r², N, C, H/r, W/r)``."""

    def __init__(self, t_steps: int, r: int, levels: int, beta: float):
        super().__init__()
        self.to_time = PatchToTime(r)
        self.neuron = NILIF(levels, beta)
        self.temporal_gate = _PoolMLPGate(t_steps * r * r, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Input scaled by D so that input and output share one scale (1.0 = D levels, the
        # "normalised" in NI-LIF). Guess: without it the stream (|x| ~ 0.1-1) rarely reaches
        # level 1 and the graded spikes are all zero at initialisation.
        s = self.neuron(self.to_time(x) * self.neuron.levels).transpose(0, 1)  # (N, T·r², C, h, w)
        return (self.temporal_gate(s) * s).transpose(0, 1)


class VLIFGate(nn.Module):
    """VLIF's temporal gate in the deployment layout (the part of a VLIF the host runs).

    On ``(T, N, r²·C, h, w)`` -- the r² sub-steps of each step as channel groups, as
    :class:`neurodeploy.ir.nodes.PatchToTime` lays them out -- returns the same layout with
    each of the T·r² sub-steps multiplied by its gate: exactly ``VLIF``'s
    ``temporal_gate(s) * s``, re-laid. Wraps a trained :class:`VLIF` (its parameters are
    the VLIF's ``temporal_gate.*``), so checkpoints need no new keys.
    """

    def __init__(self, vlif: VLIF):
        super().__init__()
        self.vlif = vlif

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        t, n, pc, h, w = s.shape
        p = self.vlif.to_time.r ** 2
        sub = s.reshape(t, n, p, pc // p, h, w).transpose(0, 1).reshape(n, t * p, pc // p, h, w)
        gated = self.vlif.temporal_gate(sub) * sub
        return gated.reshape(n, t, p, pc // p, h, w).transpose(0, 1).reshape(t, n, pc, h, w)


class VLIFGates(nn.Module):
    """VLIF's temporal gate from pooled statistics: the part of a VLIF the host runs when the chip
    keeps its spikes (issue 31, ``export --residency gates``).

    In: ``(T, N, 2·r²·C, 1, 1)``, per step and channel of the deployment layout (channel group p =
    sub-step p of the step) the mean (first r²·C) and the max (last r²·C) over pixels of the
    NI-LIF spikes, which the chip computes. Out: ``(T, N, r²·C, 1, 1)``, the gate of sub-step
    ``t·r² + p`` on every channel of group p at step t -- what :class:`VLIFGate` multiplies in.
    Exact up to float association: the gate pools each sub-step over (C, h, w), i.e. over the
    channels of a group's per-channel statistics. Wraps a trained :class:`VLIF`.
    """

    def __init__(self, vlif: VLIF):
        super().__init__()
        self.vlif = vlif

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        t, n, pc2 = stats.shape[:3]
        p = self.vlif.to_time.r ** 2
        c = pc2 // (2 * p)
        per_sub = stats.reshape(t, n, 2, p, c).transpose(0, 1)  # (N, T, 2, r², C)
        mean = per_sub[:, :, 0].mean(dim=-1).reshape(n, t * p, 1, 1, 1)
        peak = per_sub[:, :, 1].amax(dim=-1).reshape(n, t * p, 1, 1, 1)
        mlp = self.vlif.temporal_gate.mlp
        gate = torch.sigmoid(mlp(mean) + mlp(peak)).reshape(n, t, p, 1)  # one per sub-step
        return gate.expand(n, t, p, c).reshape(n, t, p * c, 1, 1).transpose(0, 1)


class VLIFT(nn.Module):
    """VLIF-T: VLIF, then ``Conv3d`` kernel = stride = (r², 1, 1) folds the r² sub-steps: H/r, T steps."""

    def __init__(self, c_in: int, c_out: int, t_steps: int, r: int, levels: int, beta: float):
        super().__init__()
        self.vlif = VLIF(t_steps, r, levels, beta)
        self.compress = nn.Conv3d(c_in, c_out, (r * r, 1, 1), stride=(r * r, 1, 1), bias=False)
        self.compress.paper_counted = False  # stands where the authors would use a SpikingJelly layer (guess)
        self.bn = td_batchnorm(c_out, 0.15)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.vlif(x).permute(1, 2, 0, 3, 4)  # (N, C, T·r², h, w)
        y = self.compress(s).permute(2, 0, 1, 3, 4)  # (T, N, C_out, h, w)
        return self.bn(y)


class VLIFC(nn.Module):
    """VLIF-C: VLIF, then the r² sub-steps flattened into channels and a 1×1 conv + BN: H/r, T steps."""

    def __init__(self, channels: int, t_steps: int, r: int, levels: int, beta: float):
        super().__init__()
        self.r = r
        self.vlif = VLIF(t_steps, r, levels, beta)
        self.mlp = SeqConv2d(channels * r * r, channels, 1, bias=False)
        self.bn = td_batchnorm(channels, 0.15)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.vlif(x)
        tr2, n, c, h, w = s.shape
        r2 = self.r * self.r
        s = s.reshape(tr2 // r2, r2, n, c, h, w).permute(0, 2, 1, 3, 4, 5).reshape(tr2 // r2, n, r2 * c, h, w)
        return self.bn(self.mlp(s))


class SDEMStage(nn.Module):
    """One SDEM stage (see module doc); ``spiking`` is LIF (stage 1) or up∘VLIF-C (stage 2)."""

    def __init__(self, channels: int, t_steps: int, spiking: nn.Module):
        super().__init__()
        self.spiking = spiking
        self.alpha = nn.Parameter(torch.tensor(1.0))
        self.beta2 = nn.Parameter(torch.tensor(0.5))
        self.refine = nn.Sequential(SeqConv2d(channels, channels, 3, padding=1, bias=False), td_batchnorm(channels, 0.15))
        self.short = nn.Sequential(SeqConv2d(channels, channels, 3, padding=1, bias=False), td_batchnorm(channels, 0.15))
        self.attn = MultiDimensionalAttention(t_steps, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_h = self.alpha * self.spiking(x)
        x_l = x - x_h
        refined = self.refine(x_h * x + self.beta2 * x_l + x)
        short = self.short(x)
        return refined + short + short + self.attn(refined)


class SDEM(nn.Sequential):
    """Stage 1 with LIF spikes, stage 2 with VLIF-C spikes upsampled back (bilinear ×r)."""

    def __init__(self, channels: int, t_steps: int, r: int, levels: int, beta: float, v_threshold: float, tau: float):
        super().__init__(
            SDEMStage(channels, t_steps, LIF(v_threshold, tau)),
            SDEMStage(channels, t_steps, nn.Sequential(VLIFC(channels, t_steps, r, levels, beta), SeqUpsample(r))),
        )


class SMU(nn.Module):
    """Spiking multi-scale unit (level 1): SDEM, VLIF-T down, two spiking units, up, residual, MDA."""

    def __init__(self, channels: int, t_steps: int, r: int, levels: int, beta: float, v_threshold: float, tau: float):
        super().__init__()
        self.sdem = SDEM(channels, t_steps, r, levels, beta, v_threshold, tau)
        self.down = VLIFT(channels, channels, t_steps, r, levels, beta)
        self.units = nn.Sequential(
            SpikingUnit(channels, channels, 3, v_threshold=v_threshold, tau=tau), MultiDimensionalAttention(t_steps, channels),
            SpikingUnit(channels, channels, 3, v_threshold=v_threshold, tau=tau), MultiDimensionalAttention(t_steps, channels),
        )
        self.up = SeqUpsample(r)
        self.attn = MultiDimensionalAttention(t_steps, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.sdem(x)
        return self.attn(self.up(self.units(self.down(a))) + a)


class VLIFNet(nn.Module):
    """VLIF-Net; ``forward``: ``(N, 3, H, W)`` rainy image in [0, 1] -> derained image, any H, W.

    Args:
        dim: channels at level 1 (2·dim, 4·dim below).
        blocks: SDEMs at (encoder level 2, level 3, decoder level 2).
        refine_blocks: SDEMs of the refinement stage.
        t_steps: T; levels: NI-LIF's D; r: patch-to-time factor; beta: NI-LIF leak;
        v_threshold, tau: LIF parameters.
    """

    def __init__(
        self,
        dim: int = 48,
        blocks: Sequence[int] = (4, 10, 2),
        refine_blocks: int = 4,
        t_steps: int = 4,
        levels: int = 4,
        r: int = 2,
        beta: float = 0.25,
        v_threshold: float = 0.15,
        tau: float = 2.0,
    ):
        super().__init__()
        self.t_steps = t_steps
        # two downsamplings by r, then VLIF-C (inside every SDEM) halves once more at level 3
        self.stride = r**3
        d1, d2, d3 = dim, 2 * dim, 4 * dim
        sd = (t_steps, r, levels, beta, v_threshold, tau)

        def sdems(n: int, c: int) -> nn.Sequential:
            return nn.Sequential(*[SDEM(c, *sd) for _ in range(n)])

        self.pad = PadToMultiple(self.stride)
        self.encode = DirectEncode(t_steps)
        self.patch_embed = SeqConv2d(3, d1, 3, padding=1, bias=False)
        self.encoder_level1 = SMU(d1, *sd)
        self.down1_2 = VLIFT(d1, d2, t_steps, r, levels, beta)
        self.encoder_level2 = sdems(blocks[0], d2)
        self.down2_3 = VLIFT(d2, d3, t_steps, r, levels, beta)
        self.latent = sdems(blocks[1], d3)
        self.up3_2 = nn.Sequential(SeqUpsample(r), SpikingUnit(d3, d2, 3, v_threshold=v_threshold, tau=tau))
        self.reduce_chan_level2 = SpikingUnit(d3, d2, 1, v_threshold=v_threshold, tau=tau)
        self.decoder_level2 = sdems(blocks[2], d2)
        self.up2_1 = nn.Sequential(SeqUpsample(r), SpikingUnit(d2, d1, 3, v_threshold=v_threshold, tau=tau))
        self.reduce_chan_level1 = SpikingUnit(d2, d1, 1, v_threshold=v_threshold, tau=tau)
        self.decoder_level1 = SMU(d1, *sd)
        self.refinement = sdems(refine_blocks, d1)
        self.decode = MeanDecode()
        self.output = nn.Conv2d(d1, 3, 3, padding=1)
        self.crop = CropLike()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.pad(image)
        e1 = self.encoder_level1(self.patch_embed(self.encode(x)))
        e2 = self.encoder_level2(self.down1_2(e1))
        e3 = self.latent(self.down2_3(e2))
        d2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(e3), e2], dim=2)))
        d1 = self.decoder_level1(self.reduce_chan_level1(torch.cat([self.up2_1(d2), e1], dim=2)))
        y = self.output(self.decode(self.refinement(d1))) + x
        return self.crop(y, image)


_TINY = {"dim": 8, "blocks": [1, 1, 1], "refine_blocks": 1, "t_steps": 4, "levels": 4, "r": 2,
         "beta": 0.25, "v_threshold": 0.15, "tau": 2.0}

register(
    Architecture(
        name="vlifnet",
        factory=VLIFNet,
        presets={
            "paper": {"dim": 48, "blocks": [4, 10, 2], "refine_blocks": 4, "t_steps": 4, "levels": 4, "r": 2,
                      "beta": 0.25, "v_threshold": 0.15, "tau": 2.0},
            "tiny": _TINY,
            # tiny at twice the width: about 2.6x tiny's time per training step on this CPU
            "small": {**_TINY, "dim": 16},
        },
        description="VLIF-Net: NI-LIF graded spikes, patch-to-time VLIF, SDEM/SMU U-Net (rebuilt from the paper)",
    )
)
