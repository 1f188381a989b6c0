"""Blended tiles (derain's default): the window is a partition of unity, blending brings a
tiled derain closer to the whole image than hard cuts, and --tiling is a checked option."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from neurodeploy.checkpoint import load_model
from neurodeploy.images import DEFAULT_IMAGE
from neurodeploy.models.evaluate import _spans, blend_ramp, derain, tile_windows


@pytest.mark.parametrize("h, w, tile, halo", [(1000, 700, 256, 32), (97, 301, 40, 8), (513, 1100, 512, 32),
                                              (300, 200, 16, 64), (61, 250, 20, 7)])
def test_blend_weights_sum_to_one_and_stay_inside_their_windows(h, w, tile, halo):
    rows, cols = _spans(h, tile), _spans(w, tile)
    wy, wx = blend_ramp(h, rows, halo), blend_ramp(w, cols, halo)
    total = torch.zeros(h, w, dtype=torch.float64)
    for (core_r, core_c), (win_r, win_c) in tile_windows(h, w, tile, halo):
        weight = torch.outer(wy[rows.index((core_r.start, core_r.stop))], wx[cols.index((core_c.start, core_c.stop))])
        inside = torch.zeros(h, w, dtype=torch.bool)
        inside[win_r, win_c] = True
        # derain adds a tile's weights over its window only: any weight outside would be lost
        assert float(weight[~inside].abs().sum()) == 0.0
        assert float(weight[core_r, core_c].min()) > 0  # every core pixel is (partly) its own tile's
        assert float(weight.min()) >= 0 and float(weight.max()) <= 1
        total += weight
    assert torch.allclose(total, torch.ones(h, w, dtype=torch.float64), atol=1e-12, rtol=0)


def test_the_ramp_is_smooth_and_its_width_is_the_halo():
    """A raised cosine, not a step: neighbouring pixels' weights differ by at most pi/(2 r)."""
    w = blend_ramp(300, [(0, 150), (150, 300)], 32)[0]
    steps = (w[1:] - w[:-1]).abs()
    assert float(steps.max()) <= math.pi / (2 * 32) + 1e-12
    ramp = torch.nonzero((w > 0) & (w < 1)).flatten()
    assert (int(ramp.min()), int(ramp.max())) == (150 - 16, 150 + 15)  # 32 px centred on the boundary


@pytest.fixture(scope="module")
def crop() -> torch.Tensor:
    """A real 96x128 rainy crop in [0, 1], (3, H, W)."""
    a = np.asarray(Image.open(DEFAULT_IMAGE).convert("RGB"))[:96, :128]
    return torch.as_tensor(a.transpose(2, 0, 1) / 255.0, dtype=torch.float32)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1.0 / float(((a.double() - b.double()) ** 2).mean()))


@pytest.mark.parametrize("name", ["esdnet-tiny", "spikerain-tiny", "vlifnet-tiny"])
def test_blended_tiles_are_closer_to_the_whole_image_than_hard_cuts(name, crop):
    """Shipped derainers, tile 32 (12 tiles): measured 53.7 / 61.2 / 52.5 dB blended (the
    defaults) against 46.4 / 57.5 / 47.7 dB cut; the bounds leave room for float noise only."""
    torch.set_num_threads(1)
    model, _ = load_model(name)
    whole = derain(model, crop, tile=0)
    # one pass: the stitching alone (each tile pools over itself in both)
    blend, cut = derain(model, crop, tile=32, passes=1), derain(model, crop, tile=32, tiling="cut")
    p_blend, p_cut = _psnr(blend, whole), _psnr(cut, whole)
    assert p_blend >= p_cut + 2.0 and p_blend >= 50.0, (p_blend, p_cut)
    assert float((blend - whole).abs().max()) <= float((cut - whole).abs().max())


def test_blend_of_a_model_exact_on_each_window_is_exact(toy_model):
    """The toy has a 4-pixel receptive radius and no pooling: blend keeps halo/2 of pure
    context, so halo 8 must give the whole image (up to float rounding of the weights)."""
    from neurodeploy.images import read_image

    x = torch.as_tensor(read_image(DEFAULT_IMAGE)[:, :60, :70], dtype=torch.float32)
    whole = derain(toy_model, x, tile=0)
    assert torch.allclose(derain(toy_model, x, tile=16, halo=8), whole, atol=1e-5)
    assert not torch.allclose(derain(toy_model, x, tile=16, halo=2), whole, atol=1e-3)  # too little context


def test_cli_tiling_parses_and_bad_values_give_one_line_exit_2(run_cli, tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(np.asarray(Image.open(DEFAULT_IMAGE).convert("RGB"))[:96, :128].copy()).save(src)
    outs = {}
    for mode in ("blend", "cut"):  # esdnet-tiny pools globally: the two stitchings differ
        code, _, err = run_cli("derain", "esdnet-tiny", src, "--out", tmp_path / mode, "--tiling", mode, "--tile", "32")
        assert code == 0, err
        outs[mode] = np.asarray(Image.open(tmp_path / mode / "a.png"))
    assert not np.array_equal(outs["blend"], outs["cut"])  # the option reaches the tiler
    for value, words in (("smooth", "--tiling takes blend (default), cut or exact, not 'smooth'"),):
        for cmd in (("derain", "toy-residual", src, "--out", tmp_path / "x"), ("evaluate", "toy-residual", "--data", tmp_path)):
            code, out, err = run_cli(*cmd, "--tiling", value)
            assert code == 2 and err.strip() == f"error: {words}" and not out, (cmd, err)
    assert not (tmp_path / "x").exists()


def test_evaluate_scores_what_derain_writes_with_the_same_tiler(tmp_path, crop):
    """evaluate and derain share one tiler: the per-image PSNR is the derained image's, for
    each --tiling, and the two tilings do score differently (so the option reaches it)."""
    from neurodeploy.metrics import psnr_y
    from neurodeploy.models.data import load_image
    from neurodeploy.models.evaluate import evaluate

    torch.set_num_threads(1)
    for sub, arr in (("rainy", crop), ("clean", crop.flip(1))):
        (tmp_path / sub).mkdir()
        Image.fromarray((arr.numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)).save(tmp_path / sub / "a.png")
    model, _ = load_model("esdnet-tiny")
    rainy, clean = load_image(tmp_path / "rainy" / "a.png"), load_image(tmp_path / "clean" / "a.png")
    scores = {}
    for mode in ("blend", "cut"):
        scores[mode] = evaluate(model, tmp_path, tile=32, tiling=mode)["images"][0]["psnr"]
        assert scores[mode] == pytest.approx(psnr_y(derain(model, rainy, tile=32, tiling=mode), clean), abs=1e-9)
    assert scores["blend"] != scores["cut"]
