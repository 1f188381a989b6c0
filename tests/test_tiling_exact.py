"""--tiling exact: every global pooling over the whole image, so tiles equal the whole image
(issue 32); benchmarks/tiling.md measures it on a 1536x1024 photo and at 24 MP."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from neurodeploy.checkpoint import load_model
from neurodeploy.images import DEFAULT_IMAGE
from neurodeploy.models.data import load_image
from neurodeploy.models.evaluate import _aligned_spans, derain, exact_derain, shared_stats_derain


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


@pytest.fixture(scope="module")
def photo():
    # 94 x 162: not a multiple of the networks' 4, so the padding path is exercised too
    return load_image(DEFAULT_IMAGE)[:, 100:194, 90:252].contiguous()


@pytest.mark.parametrize("n, tile, multiple", [(128, 32, 4), (1024, 512, 4), (36, 64, 4), (1000, 300, 8)])
def test_aligned_spans_partition_the_side_on_the_multiple(n, tile, multiple):
    spans = _aligned_spans(n, tile, multiple)
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(a % multiple == 0 and b % multiple == 0 and b > a for a, b in spans)
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
    assert max(b - a for a, b in spans) <= tile + multiple


def test_exact_tiles_equal_the_whole_image_where_blended_tiles_do_not(photo):
    torch.set_num_threads(1)
    model, _ = load_model("esdnet-tiny")
    whole = derain(model, photo, tile=0)
    exact, info = exact_derain(model, photo, tile=48, halo=32)
    blend = derain(model, photo, tile=48, passes=1)  # each tile pools over itself
    assert info["tiles"] >= 4 and info["pools"] > 0 and info["passes"] > 2  # the statistics needed passes
    assert _psnr(exact, whole) >= 60, info
    assert _psnr(blend, whole) < _psnr(exact, whole) - 10
    assert torch.equal(derain(model, photo, tile=48, halo=32, tiling="exact"), exact)  # derain's exact is this


def test_one_pass_is_the_per_tile_statistics_and_is_not_exact(photo):
    """max_passes=1 stops before the whole image's statistics are used: the pools matter."""
    model, _ = load_model("esdnet-tiny")
    whole = derain(model, photo, tile=0)
    with pytest.raises(RuntimeError, match="still changed after 1 passes"):
        exact_derain(model, photo, tile=48, halo=32, max_passes=1)
    assert not any("forward" in m.__dict__ for m in model.modules())  # the pools are restored after a failure
    assert torch.equal(derain(model, photo, tile=0), whole)


def test_blend_passes_share_the_statistics_and_each_pass_comes_closer_to_the_whole_image():
    """blend's default on a model with attention gates: a downscaled whole-image run seeds the gates'
    statistics and each pass over the tiles corrects them (measured at 192x320, tile 48: 46.3 dB per-tile
    statistics, 48.5 seeded, 54.7 after 2 passes, 59.3 after 3)."""
    torch.set_num_threads(1)
    model, _ = load_model("esdnet-tiny")
    photo = load_image(DEFAULT_IMAGE)[:, :192, :320].contiguous()
    whole = derain(model, photo, tile=0)
    own = derain(model, photo, tile=48, passes=1)
    seeded, info = shared_stats_derain(model, photo, 48, 32, passes=1)
    two = derain(model, photo, tile=48)  # the default: 2 passes
    assert info["seed_downscale"] == 2 and info["passes"] == 1 and info["tiles"] > 20
    assert torch.equal(two, shared_stats_derain(model, photo, 48, 32, passes=2)[0])
    assert _psnr(seeded, whole) > _psnr(own, whole) + 1
    assert _psnr(two, whole) > _psnr(seeded, whole) + 3
    assert float((two - whole).abs().max()) < float((own - whole).abs().max())
    assert not any("forward" in m.__dict__ for m in model.modules())  # the pools are restored


def test_cli_passes_below_one_is_refused_in_one_line(run_cli, tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(np.asarray(Image.open(DEFAULT_IMAGE).convert("RGB"))[:96, :128].copy()).save(src)
    code, _, err = run_cli("derain", "esdnet-tiny", src, "--out", tmp_path / "x", "--passes", "0")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--passes" in err, err
    assert not (tmp_path / "x").exists()


def test_cli_derain_exact_and_bundles_refused_in_one_line(run_cli, tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(np.asarray(Image.open(DEFAULT_IMAGE).convert("RGB"))[:96, :128].copy()).save(src)
    code, _, err = run_cli("derain", "esdnet-tiny", src, "--out", tmp_path / "exact", "--tiling", "exact", "--tile", "32")
    assert code == 0, err
    code, _, err = run_cli("derain", "esdnet-tiny", src, "--out", tmp_path / "whole", "--tile", "0")
    assert code == 0, err
    a = np.asarray(Image.open(tmp_path / "exact" / "a.png")).astype(int)
    b = np.asarray(Image.open(tmp_path / "whole" / "a.png")).astype(int)
    assert np.abs(a - b).max() <= 1  # 8-bit outputs: equal but for a rounding at most
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    code, out, err = run_cli("derain", str(bundle), src, "--out", tmp_path / "x", "--tiling", "exact")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--tiling exact" in err, err
    assert not (tmp_path / "x").exists()
