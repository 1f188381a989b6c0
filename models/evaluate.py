"""Inference and the papers' evaluation: derain whole images, PSNR/SSIM on the Y channel."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn

from neurodeploy.metrics import psnr_y, ssim_y

from .data import find_pairs, load_image


@torch.no_grad()
def derain(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Derain one ``(3, H, W)`` image in [0, 1] (whole image, any size) -> ``(3, H, W)`` in [0, 1]."""
    model.eval()
    return model(image[None]).clamp(0, 1)[0]


def evaluate(
    model: nn.Module, folder: str | Path, progress: Callable[[int, int], None] | None = None
) -> dict:
    """Per-image and mean PSNR/SSIM (Y, papers' convention) of the output and of the rainy input.

    Returns ``{"data", "count", "psnr", "ssim", "input_psnr", "input_ssim", "images": [...]}``;
    means are over images (as the papers average).
    """
    pairs = find_pairs(folder)
    rows = []
    for i, pair in enumerate(pairs):
        rainy, clean = load_image(pair.rainy), load_image(pair.clean)
        out = derain(model, rainy)
        rows.append(
            {
                "name": pair.name,
                "psnr": psnr_y(out, clean),
                "ssim": ssim_y(out, clean),
                "input_psnr": psnr_y(rainy, clean),
                "input_ssim": ssim_y(rainy, clean),
            }
        )
        if progress:
            progress(i + 1, len(pairs))
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("psnr", "ssim", "input_psnr", "input_ssim")}
    return {"data": str(folder), "count": len(rows), **mean, "images": rows}
