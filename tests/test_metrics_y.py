"""The papers' metric convention: BT.601 Y in [0, 255], Gaussian SSIM (Wang et al.), no crop."""

import numpy as np
import pytest
from scipy.signal import correlate2d

from neurodeploy.metrics import psnr_y, rgb_to_y, ssim_y, to_uint8


def _wang_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Independent SSIM (Wang et al. 2004): 11×11 Gaussian σ 1.5, valid windows, L = 255."""
    x = np.arange(11) - 5
    g = np.exp(-(x**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    f = lambda im: correlate2d(im, w, mode="valid")  # noqa: E731
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = f(a), f(b)
    va, vb, cov = f(a * a) - mu_a**2, f(b * b) - mu_b**2, f(a * b) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (va + vb + c2))
    return float(m.mean())


def test_y_matches_matlab_rgb2ycbcr_on_known_colours():
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    # MATLAB rgb2ycbcr(uint8): black 16, white 235, red 81, green 145, blue 41
    assert rgb_to_y(rgb).tolist() == [[16, 235, 81, 145, 41]]


def test_to_uint8_rounds_and_clips_like_saving_a_png():
    x = np.array([[[-0.1, 0.5, 1.2]]])
    assert to_uint8(x).tolist() == [[[0, 128, 255]]]


def test_psnr_y_against_hand_computation():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    ya = 16 + (65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]) / 255
    yb = 16 + (65.481 * b[..., 0] + 128.553 * b[..., 1] + 24.966 * b[..., 2]) / 255
    mse = np.mean((np.round(ya) - np.round(yb)) ** 2)
    assert psnr_y(a, b) == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-9)
    assert psnr_y(a, a) == float("inf")


def test_ssim_y_matches_an_independent_wang_ssim():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (40, 52, 3)).astype(np.float64)
    # smooth-ish image plus structured noise: SSIM well inside (0, 1)
    a = np.clip(base * 0.5 + 60, 0, 255).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-25, 26, a.shape), 0, 255).astype(np.uint8)
    expected = _wang_ssim(rgb_to_y(a), rgb_to_y(b))
    assert 0.3 < expected < 0.99
    assert ssim_y(a, b) == pytest.approx(expected, abs=1e-6)
    assert ssim_y(a, a) == pytest.approx(1.0)


def test_float_images_in_unit_range_and_chw_layout_are_accepted():
    rng = np.random.default_rng(2)
    a = rng.random((3, 20, 20))
    b = rng.random((3, 20, 20))
    assert psnr_y(a, b) == pytest.approx(psnr_y(to_uint8(np.moveaxis(a, 0, -1)), to_uint8(np.moveaxis(b, 0, -1))))
