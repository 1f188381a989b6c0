"""Fixed routing and interpolation in Lava's (X, Y, C) layout, numpy only: the arithmetic the
float processes (:mod:`.processes.functions`) and the fixed_pt lowering (:mod:`.fixed`) share."""

from __future__ import annotations

import numpy as np


def interp_matrix(n_in: int, scale: int, mode: str, align_corners: bool) -> np.ndarray:
    """``(n_in * scale, n_in)`` weights of 1-D interpolation, as torch's ``F.interpolate``."""
    n_out = n_in * scale
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        if mode == "nearest":
            m[o, min(o // scale, n_in - 1)] = 1.0
            continue
        src = o * (n_in - 1) / (n_out - 1) if align_corners and n_out > 1 else max((o + 0.5) / scale - 0.5, 0.0)
        i0 = min(int(np.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        lam = src - i0
        m[o, i0] += 1.0 - lam
        m[o, i1] += lam
    return m


def max_xyc(x: np.ndarray, over: str) -> np.ndarray:
    """A Max in Lava's (X, Y, C) layout: over the pixels of each channel (``pixels``) or the channels of
    each pixel; float, or exact on integers."""
    return np.max(x, axis=(0, 1) if over == "pixels" else (2,), keepdims=True)


def patch_to_time_xyc(x: np.ndarray, r: int) -> np.ndarray:
    """VLIF-Net's patch-to-time as routing: ``(X, Y, C)`` -> ``(X/r, Y/r, r²·C)``, channel
    ``(i·r + j)·C + c`` = pixel ``(j, i)`` of each r×r patch (``x = X·r + j``, ``y = Y·r + i``)."""
    x_in, y_in, c = x.shape
    # (X·r + j, Y·r + i, c) -> (X, j, Y, i, c) -> (X, Y, i, j, c)
    return x.reshape(x_in // r, r, y_in // r, r, c).transpose(0, 2, 3, 1, 4).reshape(x_in // r, y_in // r, r * r * c)
