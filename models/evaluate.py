"""Inference and the papers' evaluation: derain whole images, PSNR/SSIM on the Y channel."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch
from torch import nn

from neurodeploy.metrics import psnr_y, ssim_y

from neurodeploy.errors import CheckpointError, DataError
from neurodeploy.images import image_size, not_a_file, read_image_info

from .data import find_pairs, load_image, load_image_info, save_image


# Tiling. A tile is a core of at most DEFAULT_TILE x DEFAULT_TILE pixels plus a halo of
# real context on each side, so memory is bounded by the padded tile, not the photo.
# Convolutions see the same pixels as on the whole image once the halo covers their
# receptive field; the attention gates' global pooling (MultiDimensionalAttention, FRB)
# sees only the tile, which no halo can fix, so neighbouring tiles disagree a little and
# a hard cut between them is a visible seam. Two ways to stitch (TILINGS):
#   "blend" (default): neighbouring windows overlap and their outputs are mixed with a
#       raised-cosine ramp of width ``halo`` centred on the core boundary; the weights are a
#       partition of unity (they sum to 1 at every pixel), so no division is needed and an
#       exact model stays exact. The outer halo/2 pixels of each window are context only.
#   "cut": the old stitching, each core's pixels from its own window (halo DEFAULT_HALO).
#   "exact": every global pooling over the whole image (exact_derain): the tiles run again,
#       pass after pass, each pool returning the whole image's statistic gathered from every
#       core in the pass before, until the statistics stop changing; hard cuts, since the
#       cores then compute what the whole image computes wherever the halo covers the convs'
#       receptive field.
# benchmarks/tiling.md measures them against the whole image (PSNR, max pixel difference,
# time, peak memory) and is where BLEND_HALO and EXACT_HALO were chosen.
DEFAULT_TILE = 512
DEFAULT_HALO = 16  # "cut"
BLEND_HALO = 32  # "blend": ramp 32 px, 16 px of pure context (benchmarks/tiling.md)
BLEND_PASSES = 2  # "blend" of a model with global poolings: tiled runs that share the statistics (benchmarks/tiling.md)
EXACT_HALO = 64  # "exact": context for the convs' receptive field (benchmarks/tiling.md)
TILINGS = ("blend", "cut", "exact")
DEFAULT_TILING = "blend"


def default_halo(tiling: str = DEFAULT_TILING) -> int:
    """The halo a tiling mode uses when none is given."""
    return {"blend": BLEND_HALO, "exact": EXACT_HALO}.get(tiling, DEFAULT_HALO)


def _spans(n: int, tile: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into ceil(n / tile) near-equal spans ``(start, stop)``."""
    k = max(1, -(-n // tile))
    edges = [round(i * n / k) for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:]))


def tile_grid(height: int, width: int, tile: int | None = DEFAULT_TILE, halo: int = DEFAULT_HALO) -> list[tuple[slice, slice]]:
    """The core windows ``(rows, cols)`` that cover a ``height`` x ``width`` image.

    One window (the whole image) when ``tile`` is None or 0, or when the image fits in one
    padded tile (both sides <= tile + 2 * halo): the whole image is then exact and cheap.
    """
    if not tile or (height <= tile + 2 * halo and width <= tile + 2 * halo):
        return [(slice(0, height), slice(0, width))]
    return [(slice(y0, y1), slice(x0, x1)) for y0, y1 in _spans(height, tile) for x0, x1 in _spans(width, tile)]


def tile_windows(height: int, width: int, tile: int, halo: int) -> list[tuple[tuple[slice, slice], tuple[slice, slice]]]:
    """``(core, window)`` per tile of :func:`tile_grid`: the window is the core plus ``halo``
    on each side, shifted inwards at the borders so that every window has one shape
    (``min(side, tile + 2 halo)``): oneDNN prepares its convolutions once per input shape,
    and a new shape per border tile costs seconds on the small derainers. At a border the
    window then holds more context, not less."""
    win_h, win_w = min(height, tile + 2 * halo), min(width, tile + 2 * halo)
    pairs = []
    for rows, cols in tile_grid(height, width, tile, halo):
        y0 = min(max(0, rows.start - halo), height - win_h)
        x0 = min(max(0, cols.start - halo), width - win_w)
        pairs.append(((rows, cols), (slice(y0, y0 + win_h), slice(x0, x0 + win_w))))
    return pairs


def blend_ramp(n: int, cores: Sequence[tuple[int, int]], halo: int) -> torch.Tensor:
    """Blend weights along one axis of length ``n``: ``(len(cores), n)`` float64.

    Row i is core i's weight: 1 inside the core, a raised-cosine (sin^2) ramp of width
    ``r = min(halo, shortest core)`` centred on each boundary with a neighbour, 0 beyond.
    At a boundary the left core's ramp down is exactly 1 - the right core's ramp up, so the
    rows sum to 1 at every pixel (a partition of unity), and the 2-D weights, products of
    one row per axis, do too. A weight is non-zero at most r/2 <= halo/2 pixels outside its
    core, i.e. inside the window, leaving halo/2 pixels of context for the convolutions.
    """
    r = min(halo, min(e - s for s, e in cores))
    centres = torch.arange(n, dtype=torch.float64) + 0.5

    def up(c: int) -> torch.Tensor:  # 0 before c - r/2, 1 after c + r/2, sin^2 between (smooth, C1)
        if r <= 0:
            return (centres >= c).double()
        u = ((centres - (c - r / 2)) / r).clamp(0, 1)
        return torch.sin(u * (torch.pi / 2)) ** 2

    rows = []
    for s, e in cores:
        w = torch.ones(n, dtype=torch.float64)
        if s > 0:
            w = w * up(s)
        if e < n:
            w = w * (1 - up(e))
        rows.append(w)
    return torch.stack(rows)


def _finite(out: torch.Tensor) -> torch.Tensor:
    # clamp keeps NaN, and NaN written as 8 bits is 0: a black image with exit 0
    if not bool(torch.isfinite(out).all()):
        raise CheckpointError("the model's output holds NaN or infinite values on this image; "
                              "its weights or config are damaged (re-train or re-download the checkpoint)")
    return out


_GLOBAL_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)


class WholeImagePools:
    """A model's global poolings (adaptive pools to one value) computed over the whole image while
    the model runs on windows of it (:func:`exact_derain`).

    Each pooling module's ``forward`` is replaced (an instance attribute, removed by
    :meth:`remove`): it adds the sum (float64) or max of its input over the current window's
    core -- the core scaled to the feature map's resolution, so cores and windows must lie on
    the model's multiple -- to this pass's statistics, and returns the whole image's statistic
    from the pass before (the window's own on the first pass). Calls are told apart by module
    and by call number within one window's forward.
    """

    def __init__(self, model: nn.Module):
        self.modules = global_pools(model)
        for m in self.modules:
            size = m.output_size if isinstance(m.output_size, tuple) else (m.output_size,)
            if any(v != 1 for v in size):
                raise ValueError(f"exact tiling pools to one value only; {m} pools to {m.output_size}")
        self.known: dict[tuple[int, int], torch.Tensor] = {}
        self.sums: dict[tuple[int, int], list] = {}
        self.core = (0, 0, 0, 0)
        self.window = (1, 1)
        self.calls = [0] * len(self.modules)

    def attach(self) -> "WholeImagePools":
        for i, m in enumerate(self.modules):
            m.forward = self._forward(i, m)
        return self

    def remove(self) -> None:
        for m in self.modules:
            m.__dict__.pop("forward", None)

    def start_window(self, core: tuple[int, int, int, int], window: tuple[int, int]) -> None:
        """``core`` = (y0, y1, x0, x1) in the window's pixels; ``window`` = its (height, width)."""
        self.core, self.window = core, window
        self.calls = [0] * len(self.modules)

    def finish_pass(self) -> bool:
        """Make this pass's statistics the next pass's; True when they equal the ones this pass used."""
        whole = {k: (v[0] / v[1] if v[1] else v[0]) for k, v in self.sums.items()}
        same = whole.keys() == self.known.keys() and all(torch.equal(whole[k], self.known[k]) for k in whole)
        self.known, self.sums = whole, {}
        return same

    def _forward(self, i: int, module: nn.Module):
        is_max = isinstance(module, (nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d))
        pool = type(module).forward

        def forward(x: torch.Tensor) -> torch.Tensor:
            key = (i, self.calls[i])
            self.calls[i] += 1
            h, w = x.shape[-2:]
            sy, sx = self.window[0] // h, self.window[1] // w
            if sy * h != self.window[0] or sx * w != self.window[1]:
                raise ValueError(f"a pooled feature map of {h}x{w} does not divide the window {self.window}")
            y0, y1, x0, x1 = self.core
            region = x[..., y0 // sy:y1 // sy, x0 // sx:x1 // sx].double()
            dims = tuple(range(2, x.dim()))
            if is_max:
                part = region.amax(dim=dims, keepdim=True)
                old = self.sums.get(key)
                self.sums[key] = [part if old is None else torch.maximum(old[0], part), 0]
            else:
                part = region.sum(dim=dims, keepdim=True)
                count = region[0, 0].numel()
                old = self.sums.get(key)
                self.sums[key] = [part, count] if old is None else [old[0] + part, old[1] + count]
            if key in self.known:
                return self.known[key].to(x.dtype)  # the pool's own shape: (N, K, 1, ...)
            return pool(module, x)
        return forward


def _aligned_spans(n: int, tile: int, multiple: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` (``n`` a multiple of ``multiple``) into near-equal spans of at most
    about ``tile`` whose edges are multiples of ``multiple``."""
    units = n // multiple
    k = max(1, -(-n // max(tile, multiple)))
    edges = [multiple * round(i * units / k) for i in range(k + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def blend_passes(passes: int | None) -> int:
    """``--passes``: None is the default (``BLEND_PASSES``); below 1 is refused in one line."""
    if passes is None:
        return BLEND_PASSES
    if int(passes) < 1:
        raise ValueError(f"--passes must be 1 or more (1: each tile pools over itself), got {passes}")
    return int(passes)


def global_pools(model: nn.Module) -> list[nn.Module]:
    """The model's poolings of a whole feature map to one value (the attention gates' statistics):
    what makes a tile's output differ from the whole image's beyond the convs' receptive field."""
    return [m for m in model.modules() if isinstance(m, _GLOBAL_POOLS)]


@torch.no_grad()
def exact_derain(model: nn.Module, image: torch.Tensor, tile: int = DEFAULT_TILE, halo: int = EXACT_HALO,
                 progress: Callable[[int], None] | None = None, max_passes: int | None = None) -> tuple[torch.Tensor, dict]:
    """Derain ``(3, H, W)`` in tiles with every global pooling over the whole image: ``(output, info)``.

    The image is padded as the model pads it (its ``pad`` module), cut into cores on the model's
    multiple with ``halo`` (rounded up to the multiple) of context, and run pass after pass
    (:class:`WholeImagePools`) until the pooled statistics of a pass equal those it used: the
    output of that pass is the one kept. A pass costs one tiled run; the number of passes is one
    more than the longest chain of poolings that depend on each other (``info['passes']``).
    Memory: one window's working set plus the image and the output (float32), as ``blend``.
    """
    return _pooled_derain(model, image, tile, halo, progress, passes=None, limit=max_passes, seed=False, stitch="cut")


@torch.no_grad()
def shared_stats_derain(model: nn.Module, image: torch.Tensor, tile: int = DEFAULT_TILE, halo: int = BLEND_HALO,
                        passes: int = BLEND_PASSES, progress: Callable[[int], None] | None = None) -> tuple[torch.Tensor, dict]:
    """``blend`` for a model with global poolings: overlapping windows mixed by :func:`blend_ramp`,
    every global pooling fed the whole image's statistic, approximated in ``passes`` tiled runs
    instead of :func:`exact_derain`'s run to the fixed point: ``(output, info)``.

    Before the first pass the whole image, downscaled (area) by the smallest power of 2 that
    makes it no larger than two windows, runs once and seeds every statistic (about a quarter of
    a pass or less); each pass then runs every window with the statistics the pass before gathered
    over the whole image, and the last pass's outputs are blended. Each pass corrects one more
    level of poolings that depend on each other, so the error shrinks with ``passes`` and is 0 at
    exact's count (benchmarks/tiling.md measures 1, 2 and 3 against ``--tile 0``). Memory: one window's
    working set plus the image and the output (float32), as ``exact``.
    """
    return _pooled_derain(model, image, tile, halo, progress, passes=passes, limit=None, seed=True, stitch="blend")


def _pooled_derain(model: nn.Module, image: torch.Tensor, tile: int, halo: int, progress: Callable[[int], None] | None,
                   passes: int | None, limit: int | None, seed: bool, stitch: str) -> tuple[torch.Tensor, dict]:
    """Tiles on the model's multiple run pass after pass with :class:`WholeImagePools`: ``passes`` of
    them, or (``passes=None``) until a pass's statistics equal those it used (at most ``limit``).
    ``seed``: a downscaled whole-image run gives the first pass its statistics. ``stitch``: "cut"
    (each core from its window) or "blend" (:func:`blend_ramp` over the overlaps)."""
    model.eval()
    _, h, w = image.shape
    multiple = int(getattr(getattr(model, "pad", None), "multiple", 1))
    x = model.pad(image[None].float())[0] if hasattr(model, "pad") else image.float()
    ph, pw = x.shape[-2:]
    halo = -(-halo // multiple) * multiple
    rows, cols = _aligned_spans(ph, tile, multiple), _aligned_spans(pw, tile, multiple)
    win_h = min(ph, max(b - a for a, b in rows) + 2 * halo)
    win_w = min(pw, max(b - a for a, b in cols) + 2 * halo)
    windows = []
    for r0, r1 in rows:
        for c0, c1 in cols:
            y0, x0 = min(max(0, r0 - halo), ph - win_h), min(max(0, c0 - halo), pw - win_w)
            windows.append(((slice(r0, r1), slice(c0, c1)), (slice(y0, y0 + win_h), slice(x0, x0 + win_w))))
    tiles = TileAssembler.on_spans(ph, pw, rows, cols, windows, halo, stitch)
    pools = WholeImagePools(model).attach()
    limit = passes or limit or 2 * len(pools.modules) + 2
    info = {"tiles": len(windows), "window": [win_h, win_w], "halo": halo, "pools": len(pools.modules)}
    try:
        if seed and pools.modules:
            # two windows' pixels: on a 1536x1024 photo a 2x downscale (4x left the worst pixel 12.3 levels
            # off the whole image after 2 passes, 2x 10.5: benchmarks/tiling.md), memory still about a window's
            info["seed_downscale"] = _seed_statistics(model, pools, x, 2 * win_h * win_w, multiple)
        for n in range(1, limit + 1):
            last = passes is not None and n == passes  # None: every pass may be the last
            for i, ((cr, cc), (wr, wc)) in enumerate(windows):
                pools.start_window((cr.start - wr.start, cr.stop - wr.start, cc.start - wc.start, cc.stop - wc.start),
                                   (win_h, win_w))
                piece = _finite(model(x[None, :, wr, wc]))[0]
                if passes is None or last:  # "cut" overwrites each pass's cores; "blend" adds the last pass only
                    tiles.add(i, piece.clamp(0, 1))
                if progress:
                    # a bar over the whole run: ``passes`` runs of the tiles, or (to the fixed point) each pass anew
                    progress(i + 1 if passes is None else ((n - 1) * len(windows) + i + 1) // passes)
            settled = pools.finish_pass()
            if last or (passes is None and (settled or not pools.modules)):
                break
        else:
            raise RuntimeError(f"exact tiling: the pooled statistics still changed after {limit} passes")
    finally:
        pools.remove()
    return tiles.result()[:, :h, :w].clamp_(0, 1), {"passes": n, **info}


def _seed_statistics(model: nn.Module, pools: WholeImagePools, x: torch.Tensor, budget: int, multiple: int) -> int:
    """Run the padded image ``x`` downscaled (area) by the smallest power of 2 that brings it within
    ``budget`` pixels (a window's or two: memory stays about a window's) and keep its pooled statistics as the
    first pass's. Returns the factor."""
    ph, pw = x.shape[-2:]
    factor = 1
    while (ph // factor) * (pw // factor) > budget:
        factor *= 2
    sh, sw = max(multiple, ph // factor // multiple * multiple), max(multiple, pw // factor // multiple * multiple)
    small = torch.nn.functional.interpolate(x[None], size=(sh, sw), mode="area") if factor > 1 else x[None]
    pools.start_window((0, sh, 0, sw), (sh, sw))
    model(small)
    pools.finish_pass()
    return factor


@torch.no_grad()
def derain(
    model: nn.Module,
    image: torch.Tensor,
    tile: int | None = DEFAULT_TILE,
    halo: int | None = None,
    progress: Callable[[int], None] | None = None,
    tiling: str = DEFAULT_TILING,
    passes: int | None = None,
) -> torch.Tensor:
    """Derain one ``(3, H, W)`` image in [0, 1] (any size) -> ``(3, H, W)`` float32 in [0, 1].

    Args:
        tile: side in pixels of a tile's core (None or 0: the whole image at once).
        halo: pixels of context added on each side of a core (None: the tiling's default,
            :func:`default_halo`); with "blend" the inner half of it is the blend ramp.
        progress: called with the number of tiles finished after each tile.
        tiling: "blend" (overlapping windows mixed by a smooth window), "cut" (hard seams) or
            "exact" (every global pooling over the whole image: :func:`exact_derain`).
        passes: "blend" only: tiled runs that share the global poolings' statistics over the
            whole image (:func:`shared_stats_derain`; None: ``BLEND_PASSES``); 1 = each tile pools
            over itself (one run, the fastest). A model without global poolings runs once.
    """
    if tiling not in TILINGS:
        raise ValueError(f"tiling must be one of {TILINGS}, got {tiling!r}")
    halo = default_halo(tiling) if halo is None else halo
    model.eval()
    _, h, w = image.shape
    grid = tile_grid(h, w, tile, halo)
    if tiling == "exact" and len(grid) > 1:
        return exact_derain(model, image, tile, halo, progress)[0]
    passes = blend_passes(passes)
    if tiling == "blend" and len(grid) > 1 and passes > 1 and global_pools(model):
        return shared_stats_derain(model, image, tile, halo, passes, progress)[0]
    if len(grid) == 1:
        out = derain_window(model, image)
        if progress:
            progress(1)
        return out
    tiles = TileAssembler(h, w, tile, halo, tiling)
    for i, (core, window) in enumerate(tiles.windows):
        tiles.add(i, derain_window(model, image[:, window[0], window[1]]))
        if progress:
            progress(i + 1)
    return tiles.result()


def derain_window(model: nn.Module, window: torch.Tensor) -> torch.Tensor:
    """One tile's window ``(3, h, w)`` in [0, 1] through the model -> ``(3, h, w)`` float32 in [0, 1]."""
    return _finite(model(window[None].float())).clamp(0, 1)[0]


class TileAssembler:
    """The tiles of one ``H x W`` image (:func:`tile_windows`) and their outputs put together:
    ``windows[i]`` is tile ``i``'s ``(core, window)`` (row and column slices); :meth:`add` takes
    its derained window (any order: a scaled-out run's tiles arrive as they finish), :meth:`result`
    the image -- "blend": each window weighted by the raised-cosine ramps of :func:`blend_ramp`
    (a partition of unity), "cut": each core copied from its window."""

    def __init__(self, height: int, width: int, tile: int, halo: int, tiling: str = DEFAULT_TILING):
        self._setup(height, width, _spans(height, tile), _spans(width, tile), tile_windows(height, width, tile, halo),
                    halo, tiling)

    @classmethod
    def on_spans(cls, height: int, width: int, rows: list[tuple[int, int]], cols: list[tuple[int, int]],
                 windows: list, halo: int, tiling: str) -> "TileAssembler":
        """Tiles whose cores (``rows`` x ``cols``) and windows are given, e.g. :func:`_pooled_derain`'s on
        the model's multiple; ``windows`` as :attr:`windows`."""
        tiles = cls.__new__(cls)
        tiles._setup(height, width, rows, cols, windows, halo, tiling)
        return tiles

    def _setup(self, height: int, width: int, rows, cols, windows, halo: int, tiling: str) -> None:
        if tiling not in ("blend", "cut"):
            raise ValueError(f"tiles are assembled by 'blend' or 'cut', not {tiling!r}")
        self.tiling, self.halo = tiling, halo
        self.windows, self.rows, self.cols = windows, rows, cols
        if tiling == "blend":
            self.wy, self.wx = blend_ramp(height, self.rows, halo).float(), blend_ramp(width, self.cols, halo).float()
            self.out = torch.zeros((3, height, width), dtype=torch.float32)
        else:
            self.out = torch.empty((3, height, width), dtype=torch.float32)

    def add(self, i: int, piece: torch.Tensor) -> None:
        (rows, cols), (wr, wc) = self.windows[i]
        if self.tiling == "blend":
            # the weights are 0 outside the window (blend_ramp: at most halo/2 past the core)
            ry = self.wy[self.rows.index((rows.start, rows.stop))]
            rx = self.wx[self.cols.index((cols.start, cols.stop))]
            self.out[:, wr, wc] += piece * (ry[wr, None] * rx[None, wc])
        else:
            self.out[:, rows, cols] = piece[:, rows.start - wr.start:rows.stop - wr.start,
                                            cols.start - wc.start:cols.stop - wc.start]

    def result(self) -> torch.Tensor:
        # a convex mix of values in [0, 1]; the clamp only removes float rounding past 1
        return self.out.clamp_(0, 1) if self.tiling == "blend" else self.out


def evaluate(
    model: nn.Module,
    folder: str | Path,
    progress: Callable[[int, int], None] | None = None,
    tile: int | None = DEFAULT_TILE,
    halo: int | None = None,
    tiling: str = DEFAULT_TILING,
    passes: int | None = None,
) -> dict:
    """Per-image and mean PSNR/SSIM (Y, papers' convention) of the output and of the rainy input.

    Returns ``{"data", "count", "psnr", "ssim", "input_psnr", "input_ssim", "images": [...]}``;
    means are over images (as the papers average). ``progress(done, total)`` counts tiles
    over all images (:func:`tile_grid`); ``tile``/``halo``/``tiling``/``passes`` as in :func:`derain`
    (the same tiler: an evaluation scores exactly what ``derain`` writes).
    """
    halo = default_halo(tiling) if halo is None else halo
    pairs = find_pairs(folder)
    sizes = [image_size(p.rainy) for p in pairs]
    for pair, (w, h) in zip(pairs, sizes):
        if min(w, h) < 11:
            raise DataError(f"{pair.rainy} is {w}x{h}; SSIM needs images of at least 11x11 pixels")
    total = sum(len(tile_grid(h, w, tile, halo)) for w, h in sizes)
    rows, done = [], 0
    for i, pair in enumerate(pairs):
        rainy, clean = load_image(pair.rainy), load_image(pair.clean)
        base = done
        out = derain(model, rainy, tile, halo, (lambda k: progress(base + k, total)) if progress else None, tiling, passes)
        done = base + len(tile_grid(rainy.shape[1], rainy.shape[2], tile, halo))
        rows.append(score_row(pair.name, out, rainy, clean))
    return {"data": str(folder), **summarise_rows(rows)}


def score_row(name: str, out: torch.Tensor, rainy: torch.Tensor, clean: torch.Tensor) -> dict:
    """One image's scores (Y channel): the output's and the rainy input's PSNR (dB) and SSIM."""
    return {"name": name, "psnr": psnr_y(out, clean), "ssim": ssim_y(out, clean),
            "input_psnr": psnr_y(rainy, clean), "input_ssim": ssim_y(rainy, clean)}


def summarise_rows(rows: list[dict]) -> dict:
    """``count``, the means over images (as the papers average) and the rows under ``images``."""
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("psnr", "ssim", "input_psnr", "input_ssim")}
    return {"count": len(rows), **mean, "images": rows}


def _writable_suffixes() -> set[str]:
    from PIL import Image

    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE}


def check_batch(paths: Sequence[str | Path], out: str | Path) -> list[tuple[Path, tuple[int, int]]]:
    """Check a derain batch before any work: names, --out, and that every input decodes.

    Raises a one-line :class:`DataError` (or InputImageError) and writes nothing when two
    inputs share a file name, when ``out`` is a file, when an output would replace an input
    (``out`` is an input's folder), when an input's suffix is not a format that can be
    written, or when an input cannot be read or decoded in full.
    """
    paths = [Path(p) for p in paths]
    out = Path(out)
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        raise DataError("two input images share a file name; they would overwrite each other in --out")
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; pass a folder (it is created if missing)")
    writable = _writable_suffixes()
    for p in paths:
        odd = not_a_file(p)  # a folder or /dev/null has no suffix to complain about: say what it is
        if odd is not None:
            raise odd
        if p.suffix.lower() not in writable:
            raise DataError(f"{p}: cannot write a '{p.suffix}' image; rename the input to .png, .jpg, .tif, .bmp or .webp")
        if out.exists() and p.parent.exists() and p.parent.resolve() == out.resolve():
            raise DataError(f"--out {out} is the folder of {p.name}: its output would replace the input; choose another folder")
    sizes = []
    for p in paths:
        image, _ = read_image_info(p)  # full decode: a damaged file fails here, before anything is written
        sizes.append(image.shape[1:])
        del image
    return list(zip(paths, sizes))


def derain_files(
    model: nn.Module,
    paths: Sequence[str | Path],
    out: str | Path,
    tile: int | None = DEFAULT_TILE,
    halo: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    note: Callable[[str], None] | None = None,
    tiling: str = DEFAULT_TILING,
    passes: int | None = None,
) -> list[Path]:
    """Derain image files into the folder ``out`` (same file names), all or nothing.

    Every input is checked first (:func:`check_batch`). Outputs are written into a hidden
    temporary sibling of ``out`` and moved in only when all of them are done, so a failure
    or Ctrl-C leaves ``out`` as it was. Rule for an existing ``out``: its other files are
    kept; files of the same name as an output are replaced (each by one atomic rename).
    A new ``out`` appears at once, complete (one rename of the temporary folder).
    ``progress(done, total)`` counts tiles over all images; ``note`` gets notes for the
    user (alpha composited ...). Returns the paths written.
    """
    halo = default_halo(tiling) if halo is None else halo
    checked = check_batch(paths, out)
    paths = [p for p, _ in checked]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    total = sum(len(tile_grid(h, w, tile, halo)) for _, (h, w) in checked)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        done = 0
        for path in paths:
            image, info = load_image_info(path)
            for line in info.notes:
                if note:
                    note(line)
            base = done
            result = derain(model, image, tile, halo, (lambda k: progress(base + k, total)) if progress else None, tiling,
                            passes)
            done = base + len(tile_grid(image.shape[1], image.shape[2], tile, halo))
            del image
            save_image(result, tmp / path.name, like=info)
        if not out.exists():
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a normal folder follows the umask
            tmp.rename(out)
        else:
            for path in paths:
                os.replace(tmp / path.name, out / path.name)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return [out / p.name for p in paths]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
