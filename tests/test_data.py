"""Paired-folder loader errors, crops and flips, and the seeded rain synthesiser."""

import numpy as np
import pytest
import torch
from PIL import Image

from neurodeploy.errors import DataError
from neurodeploy.models.data import PairedPatches, expand_data_dirs, find_pairs, load_image, random_crop_flip
from neurodeploy.models.rain import RainParams, RainSynthesizer, add_rain


def _img(path, w=20, h=16, value=None, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8) if value is None else np.full((h, w, 3), value, np.uint8)
    Image.fromarray(arr).save(path)


def _pairs(root, names=("a", "b")):
    for i, n in enumerate(names):
        _img(root / "rainy" / f"{n}.png", seed=i)
        _img(root / "clean" / f"{n}.png", seed=100 + i)
    return root


def test_pairs_are_matched_by_name_and_sorted(tmp_path):
    root = _pairs(tmp_path / "set", names=("b", "a"))
    pairs = find_pairs(root)
    assert [p.name for p in pairs] == ["a", "b"]
    assert pairs[0].rainy.parent.name == "rainy" and pairs[0].clean.parent.name == "clean"


def test_png_pairs_with_jpeg_of_the_same_name(tmp_path):
    _img(tmp_path / "rainy" / "x.jpg")
    _img(tmp_path / "clean" / "x.png")
    assert [p.name for p in find_pairs(tmp_path)] == ["x"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda r: None, "not found"),
        (lambda r: (r / "rainy").mkdir(parents=True), "no 'clean/'"),
        (lambda r: ((r / "rainy").mkdir(parents=True), (r / "clean").mkdir()), "empty"),
        (lambda r: (_pairs(r), _img(r / "rainy" / "c.png")), "only in rainy/: c"),
        (lambda r: (_pairs(r), _img(r / "clean" / "d.png")), "only in clean/: d"),
        (lambda r: (_pairs(r), _img(r / "clean" / "a.png", w=21)), "20x16 in rainy/ but 21x16"),
        (lambda r: (_pairs(r), (r / "rainy" / "a.png").write_text("not an image")), "not a readable image"),
    ],
)
def test_loader_errors_say_what_is_wrong(tmp_path, make, message):
    root = tmp_path / "set"
    make(root)
    with pytest.raises(DataError, match=message):
        find_pairs(root)


def test_parent_of_several_sets_expands(tmp_path):
    _pairs(tmp_path / "one")
    _pairs(tmp_path / "two")
    assert [d.name for d in expand_data_dirs([tmp_path])] == ["one", "two"]
    with pytest.raises(DataError, match="neither a paired folder"):
        expand_data_dirs([tmp_path / "one" / "rainy"])


def test_load_image_is_rgb_in_unit_range(tmp_path):
    _img(tmp_path / "g.png", value=255)
    x = load_image(tmp_path / "g.png")
    assert x.shape == (3, 16, 20) and x.dtype == torch.float32 and float(x.min()) == 1.0
    with pytest.raises(DataError):
        load_image(tmp_path / "missing.png")


def test_crop_and_flip_apply_the_same_window_to_both_images():
    gen = torch.Generator().manual_seed(3)
    a = torch.arange(3 * 10 * 12, dtype=torch.float32).reshape(3, 10, 12)
    ca, cb = random_crop_flip([a, a + 1000], 6, gen)
    assert ca.shape == (3, 6, 6)
    assert torch.equal(cb, ca + 1000)
    small = random_crop_flip([torch.zeros(3, 4, 4)], 6, gen)[0]
    assert small.shape == (3, 6, 6)


def test_patches_batches_are_seeded(tmp_path):
    patches = PairedPatches(pairs=find_pairs(_pairs(tmp_path / "s")), size=8)
    r1, c1 = patches.batch(4, torch.Generator().manual_seed(1))
    r2, c2 = patches.batch(4, torch.Generator().manual_seed(1))
    assert r1.shape == (4, 3, 8, 8) and torch.equal(r1, r2) and torch.equal(c1, c2)


def test_rain_is_seeded_only_brightens_and_follows_density():
    clean = torch.full((3, 64, 64), 0.3)
    gen = lambda: torch.Generator().manual_seed(7)  # noqa: E731
    light = add_rain(clean, RainParams(density=0.002), gen())
    assert torch.equal(light, add_rain(clean, RainParams(density=0.002), gen()))
    heavy = add_rain(clean, RainParams(density=0.05), gen())
    assert (light >= clean - 1e-6).all() and (heavy >= clean - 1e-6).all()
    assert float((heavy - clean).mean()) > 2 * float((light - clean).mean()) > 0


def test_vertical_streaks_are_longer_vertically_than_horizontally():
    gen = torch.Generator().manual_seed(0)
    layer = add_rain(torch.zeros(3, 96, 96), RainParams(angle_deg=0, length=21, density=0.003, blur=0.0), gen)[0]
    dv = (layer[1:] - layer[:-1]).abs().sum()
    dh = (layer[:, 1:] - layer[:, :-1]).abs().sum()
    assert dh > 3 * dv  # a vertical streak changes little along its own direction


def test_synthesizer_draws_within_its_ranges():
    synth = RainSynthesizer(angle_deg=(-10, 10), length=(5, 9))
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        p = synth.draw(gen)
        assert -10 <= p.angle_deg <= 10 and 5 <= p.length <= 9
        assert 0.0 <= p.veil <= 0.25


def test_the_veil_lifts_every_pixel_as_a_screen_blend():
    clean = torch.linspace(0, 1, 3 * 16 * 16).reshape(3, 16, 16)
    gen = torch.Generator().manual_seed(0)
    hazy = add_rain(clean, RainParams(density=0.0, veil=0.2), gen)
    # no streaks: exactly 1 - (1 - c)(1 - 0.2); black becomes 0.2, white stays white
    assert torch.allclose(hazy, 0.2 + 0.8 * clean, atol=1e-6)
