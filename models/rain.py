"""Seeded rain-streak synthesis: turn clean images into (rainy, clean) pairs.

Model (in the spirit of the Rain100/Rain1400 generators, simplified): sparse random
drops (``density``: fraction of pixels seeding a streak) are smeared along a line of
``length`` pixels at ``angle_deg`` (0 = vertical, positive = leaning right), blurred by
a Gaussian of ``blur`` pixels, scaled to ``brightness`` and composited with a screen blend
``rainy = 1 - (1 - clean)(1 - streaks)(1 - veil)``, so rain only brightens, as real streaks
do; ``veil`` is the uniform haze of heavy rain (the accumulated-rain layer of Rain100H and
the washed-out look of DDN's dense-rain images).
:class:`ColourCast` is a separate, optional step for training crops: a random per-channel
gain and offset on the rainy side, the tinted, contrast-changed look of some synthetic test
sets (DDN-SIRR) that the screen-blended grey veil cannot produce.
All randomness comes from the ``torch.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class RainParams:
    """One rain layer. Units: degrees, pixels, fraction of pixels, [0, 1] intensity."""

    angle_deg: float = 0.0
    length: int = 15
    density: float = 0.01
    blur: float = 0.8
    brightness: float = 0.8
    veil: float = 0.0


def _line_kernel(length: int, angle_deg: float) -> torch.Tensor:
    """A normalised ``(k, k)`` kernel: a line of ``length`` pixels through the centre at the angle."""
    length = max(int(length), 1)
    k = length if length % 2 == 1 else length + 1
    kernel = torch.zeros(k, k)
    c = (k - 1) / 2
    a = math.radians(angle_deg)
    dx, dy = math.sin(a), math.cos(a)
    for s in torch.linspace(-(length - 1) / 2, (length - 1) / 2, steps=4 * length).tolist():
        x, y = round(c + s * dx), round(c + s * dy)
        if 0 <= x < k and 0 <= y < k:
            kernel[y, x] = 1.0
    return kernel / kernel.sum()


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(int(math.ceil(3 * sigma)), 1)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def rain_layer(height: int, width: int, params: RainParams, generator: torch.Generator) -> torch.Tensor:
    """A ``(1, H, W)`` streak layer in [0, 1] for the given parameters."""
    drops = (torch.rand(1, 1, height, width, generator=generator) < params.density).float()
    drops = drops * (0.5 + 0.5 * torch.rand(1, 1, height, width, generator=generator))
    line = _line_kernel(params.length, params.angle_deg)[None, None]
    streaks = F.conv2d(drops, line, padding=line.shape[-1] // 2) * params.length
    if params.blur > 0:
        g = _gaussian_kernel(params.blur)[None, None]
        streaks = F.conv2d(streaks, g, padding=g.shape[-1] // 2)
    return (streaks[0] * params.brightness).clamp(0, 1)


def add_rain(clean: torch.Tensor, params: RainParams, generator: torch.Generator) -> torch.Tensor:
    """``clean`` ``(3, H, W)`` in [0, 1] with one rain layer and the veil screen-blended on (same on R, G, B)."""
    layer = rain_layer(clean.shape[-2], clean.shape[-1], params, generator)
    return 1 - (1 - clean) * (1 - layer) * (1 - params.veil)


class RainSynthesizer:
    """Draws random :class:`RainParams` from ranges and applies them (seeded by the generator).

    Ranges (inclusive): ``angle_deg``, ``length``, ``density``, ``blur``, ``brightness``,
    ``veil``. The defaults span light sparse streaks up to the dense, hazy rain of DDN's
    Rain14000 (density to 5 % of pixels, veil to 0.25).
    """

    def __init__(
        self,
        angle_deg: tuple[float, float] = (-30.0, 30.0),
        length: tuple[int, int] = (8, 40),
        density: tuple[float, float] = (0.002, 0.05),
        blur: tuple[float, float] = (0.5, 1.5),
        brightness: tuple[float, float] = (0.2, 1.0),
        veil: tuple[float, float] = (0.0, 0.25),
    ):
        self.ranges = {
            "angle_deg": angle_deg, "length": length, "density": density, "blur": blur,
            "brightness": brightness, "veil": veil,
        }

    def draw(self, generator: torch.Generator) -> RainParams:
        u = torch.rand(len(self.ranges), generator=generator).tolist()
        vals = {k: lo + (hi - lo) * ui for (k, (lo, hi)), ui in zip(self.ranges.items(), u)}
        vals["length"] = int(round(vals["length"]))
        return RainParams(**vals)

    def random(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return add_rain(clean, self.draw(generator), generator)


@dataclass(frozen=True)
class ColourCast:
    """Random per-channel tone change of a rainy image, ``rainy_c = clamp(a_c · x_c + b_c, 0, 1)``.

    ``gain`` (dimensionless) and ``offset`` ([0, 1] intensity) are drawn uniformly and
    independently for R, G and B from the inclusive ranges. The defaults cover the casts
    that per-channel affine fits (rainy against clean) measure on DDN-SIRR's rainy images
    (gains 0.87-1.20, offsets 0.01-0.23; ``benchmarks/derain_headroom.md``), which the
    training pairs, whose veils are grey, never show. The network must then undo a cast it
    cannot tell from the scene's own colour, so it learns a colour-constancy prior.
    """

    gain: tuple[float, float] = (0.85, 1.2)
    offset: tuple[float, float] = (0.0, 0.2)

    def random(self, rainy: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``rainy`` ``(3, H, W)`` in [0, 1] with one random cast applied."""
        (alo, ahi), (blo, bhi) = self.gain, self.offset
        a = alo + (ahi - alo) * torch.rand(3, 1, 1, generator=generator)
        b = blo + (bhi - blo) * torch.rand(3, 1, 1, generator=generator)
        return (a * rainy + b).clamp(0, 1)
