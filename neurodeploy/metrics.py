"""Image quality metrics.

``psnr`` here compares two images of any channel layout (used by the verifier on the
output images of two executors). The papers' Y-channel convention lives beside it.
"""

from __future__ import annotations

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of ``a`` against ``b`` (inf when identical)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * np.log10(data_range**2 / mse)


# --- The derain papers' convention: PSNR and SSIM on the Y channel ------------------------

#: ITU-R BT.601 luma for 8-bit RGB, as MATLAB ``rgb2ycbcr``: Y = 16 + (65.481 R + 128.553 G
#: + 24.966 B) / 255 with R, G, B in [0, 255]; Y lies in [16, 235].
_BT601_Y = (65.481, 128.553, 24.966)


def to_uint8(image) -> np.ndarray:
    """An image in [0, 1] (float array or tensor, ``(H, W, 3)`` or ``(3, H, W)``) as 8-bit ``(H, W, 3)``.

    Clips to [0, 1] and rounds, exactly as saving the image to PNG would.
    """
    try:
        import torch

        if isinstance(image, torch.Tensor):
            image = image.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    a = np.asarray(image)
    if a.dtype == np.uint8:
        return a if a.shape[-1] == 3 else np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[0] == 3 and a.shape[-1] != 3:
        a = np.moveaxis(a, 0, -1)
    return np.round(np.clip(a.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def rgb_to_y(image_u8: np.ndarray) -> np.ndarray:
    """Y of YCbCr (BT.601, MATLAB ``rgb2ycbcr`` on uint8: rounded to integers) of an 8-bit RGB image.

    Returns float64 ``(H, W)`` with integer values in [16, 235] (the [0, 255] scale).
    """
    rgb = np.asarray(image_u8, dtype=np.float64)
    y = 16.0 + (rgb[..., 0] * _BT601_Y[0] + rgb[..., 1] * _BT601_Y[1] + rgb[..., 2] * _BT601_Y[2]) / 255.0
    return np.round(y)


def psnr_y(output, target) -> float:
    """The papers' PSNR (dB): Y channel of 8-bit images, peak 255, whole image (no border crop)."""
    yo, yt = rgb_to_y(to_uint8(output)), rgb_to_y(to_uint8(target))
    return psnr(yo, yt, data_range=255.0)


def ssim_y(output, target) -> float:
    """The papers' SSIM: Wang et al. 2004 on the Y channel in [0, 255], no border crop.

    Gaussian window 11×11, σ = 1.5, K1 = 0.01, K2 = 0.03, L = 255, averaged over the
    positions where the whole window fits (MATLAB ``ssim_index`` / the ESDNet code's
    ``calculate_ssim``). The SSIM map comes from torchmetrics; torchmetrics 1.9 averages
    it over the whole reflect-padded image, so we take the full map and average only the
    valid positions (5 pixels in from each border), which is the papers' convention.
    """
    import torch
    from torchmetrics.functional.image import structural_similarity_index_measure

    yo = torch.from_numpy(rgb_to_y(to_uint8(output)))[None, None]
    yt = torch.from_numpy(rgb_to_y(to_uint8(target)))[None, None]
    if min(yo.shape[-2:]) < 11:
        raise ValueError(f"ssim_y: images must be at least 11x11 pixels, got {tuple(yo.shape[-2:])}")
    _, ssim_map = structural_similarity_index_measure(
        yo, yt, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=255.0, k1=0.01, k2=0.03,
        return_full_image=True,
    )
    half = 5  # (11 - 1) / 2: positions whose window would reach into the padding
    return float(ssim_map[..., half:-half, half:-half].mean())
