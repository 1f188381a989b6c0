"""derain/evaluate as a user meets them: tiles, all-or-nothing batches, kept bit depth, CLI habits."""

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from neurodeploy.images import DEFAULT_IMAGE, read_image
from neurodeploy.models.evaluate import derain, tile_grid


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real 40x48 rainy crop, uint8 (H, W, 3)."""
    return np.asarray(Image.open(DEFAULT_IMAGE).convert("RGB"))[100:140, 200:248].copy()


@pytest.fixture
def rainy(tmp_path, photo):
    d = tmp_path / "in"
    d.mkdir()
    Image.fromarray(photo).save(d / "a.png")
    Image.fromarray(photo[::-1]).save(d / "b.png")
    return d


def test_tile_grid_covers_every_pixel_once():
    for h, w, tile, halo in [(1000, 700, 256, 32), (97, 301, 40, 8), (513, 513, 512, 0)]:
        hits = np.zeros((h, w), int)
        for rows, cols in tile_grid(h, w, tile, halo):
            assert rows.stop - rows.start <= tile and cols.stop - cols.start <= tile
            hits[rows, cols] += 1
        assert (hits == 1).all()
    assert tile_grid(600, 600, 512, 44) == [(slice(0, 600), slice(0, 600))]  # fits one padded tile: whole
    assert len(tile_grid(600, 600, 0)) == 1


def test_every_tile_window_has_one_shape_and_the_cores_stitch_back():
    """One input shape for all tiles (oneDNN prepares convolutions per shape); an identity
    model must give the image back exactly."""

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.shapes = set()

        def forward(self, x):
            self.shapes.add(tuple(x.shape))
            return x

    probe, x = Probe(), torch.rand(3, 1000, 700)
    assert torch.equal(derain(probe, x, tile=256, halo=16, tiling="cut"), x)
    assert probe.shapes == {(1, 3, 288, 288)}
    # blended: weights summing to 1 give the image back up to their float32 rounding
    assert torch.allclose(derain(probe, x, tile=256, halo=16), x, atol=1e-6, rtol=0)
    assert probe.shapes == {(1, 3, 288, 288)}


def test_tiles_with_a_halo_over_the_receptive_field_equal_the_whole_image(toy_model):
    """The toy has no global pooling and a 4-pixel receptive radius: halo 4 must stitch exactly."""
    x = torch.as_tensor(read_image(DEFAULT_IMAGE)[:, :60, :70], dtype=torch.float32)
    whole = derain(toy_model, x, tile=0)
    tiled = derain(toy_model, x, tile=16, halo=4, tiling="cut")
    assert torch.allclose(tiled, whole, atol=1e-5)
    assert not torch.allclose(derain(toy_model, x, tile=16, halo=0, tiling="cut"), whole, atol=1e-3)  # the halo matters


def test_a_bad_input_writes_nothing(run_cli, rainy, tmp_path):
    (rainy / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    code, _, err = run_cli("derain", "toy-residual", rainy / "a.png", rainy / "bad.png", "--out", out)
    assert code == 2 and "bad.png is not a readable image" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_an_existing_out_keeps_its_other_files(run_cli, rainy, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = run_cli("derain", "toy-residual", rainy / "a.png", rainy / "b.png", "--out", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "notes.txt"]
    assert (out / "notes.txt").read_text() == "mine" and not list(tmp_path.glob(".out*"))


def test_out_may_not_be_the_inputs_folder(run_cli, rainy):
    before = (rainy / "a.png").read_bytes()
    code, _, err = run_cli("derain", "toy-residual", rainy / "a.png", "--out", rainy)
    assert code == 2 and "would replace the input" in err
    assert (rainy / "a.png").read_bytes() == before


def test_a_16bit_png_derains_to_a_16bit_png_like_the_8bit_one(run_cli, tmp_path, photo):
    """Issue 19: a 16-bit PNG came out almost white (mean 249 for 121), exit 0."""
    grey = np.asarray(Image.fromarray(photo).convert("L"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(grey.astype(np.uint16) * 257, mode="I;16").save(tmp_path / "a" / "g.png")
    Image.fromarray(grey).convert("RGB").save(tmp_path / "b" / "g.png")
    for d in ("a", "b"):
        code, _, err = run_cli("derain", "esdnet-tiny", tmp_path / d / "g.png", "--out", tmp_path / f"out-{d}")
        assert code == 0, err
    out16 = cv2.imread(str(tmp_path / "out-a" / "g.png"), cv2.IMREAD_UNCHANGED)
    out8 = np.asarray(Image.open(tmp_path / "out-b" / "g.png").convert("L"))
    assert out16.dtype == np.uint16 and out16.ndim == 2
    assert abs(out16.mean() / 257 - out8.mean()) < 1.0 and abs(out16.mean() / 257 - grey.mean()) < 40


def test_translucent_alpha_is_composited_on_white_and_said(run_cli, tmp_path, photo):
    alpha = np.full(photo.shape[:2], 128, np.uint8)
    Image.fromarray(np.dstack([photo, alpha])).save(tmp_path / "t.png")
    code, _, err = run_cli("derain", "toy-residual", tmp_path / "t.png", "--out", tmp_path / "out")
    assert code == 0 and "composited on white" in err
    out = Image.open(tmp_path / "out" / "t.png")
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], alpha)


def test_version_and_short_help(run_cli):
    from neurodeploy import __version__

    code, out, _ = run_cli("--version")
    assert code == 0 and out.strip() == f"neurodeploy {__version__}"
    for args in ([], ["derain"], ["evaluate"], ["count"], ["export"], ["models"]):
        code, out, err = run_cli(*args, "-h")
        assert code == 0 and "Usage" in out, (args, err)


def test_count_takes_shipped_names_and_a_preset_that_exists(run_cli):
    code, out, err = run_cli("count", "toy-residual", "--size", "16", "16", "--json")
    assert code == 0, err
    assert json.loads(out)["preset"] == "default"
    code, out, err = run_cli("count", "vlifnet-tiny", "--size", "32", "32", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["architecture"] == "vlifnet" and d["weights"] == "trained (vlifnet-tiny)" and d["synops"] > 0
    code, _, err = run_cli("count", "vlifnet-tiny", "--preset", "tiny")
    assert code == 2 and "checkpoint" in err


def test_count_shows_small_synops_and_explains_zero_ones(run_cli):
    """Issue 19: VLIF-Net showed 0.0000 G synaptic ops: its untrained weights fire no spike into a conv."""
    code, out, err = run_cli("count", "vlifnet", "--preset", "tiny", "--size", "32", "32")
    assert code == 0, err
    assert "0.0000 G" in out and "no spike reaches a conv layer" in out
    code, out, err = run_cli("count", "toy-residual", "--size", "32", "32")  # ~1.2 M synops: not rounded to 0
    synops_row = next(line for line in out.splitlines() if "synaptic ops" in line)
    assert code == 0 and " M " in synops_row and "0.0000" not in synops_row and "no spike" not in out


def test_models_table_does_not_cut_names(run_cli, monkeypatch):
    from rich.console import Console

    from neurodeploy import cli
    from neurodeploy.checkpoint import zoo

    monkeypatch.setattr(cli, "console", Console(width=60))
    code, out, _ = run_cli("models")
    assert code == 0 and "…" not in out
    for entry in zoo():
        assert entry.name in out


def test_evaluate_refuses_images_smaller_than_the_ssim_window(run_cli, tmp_path):
    for sub in ("rainy", "clean"):
        (tmp_path / "d" / sub).mkdir(parents=True)
        Image.new("RGB", (8, 9), "grey").save(tmp_path / "d" / sub / "x.png")
    code, _, err = run_cli("evaluate", "toy-residual", "--data", tmp_path / "d")
    assert code == 2 and "at least 11x11" in err and len(err.strip().splitlines()) == 1
