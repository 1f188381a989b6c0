"""Training: seeded determinism for a few steps, bit-exact resume, the loss."""

import numpy as np
import pytest
import torch
from PIL import Image

from neurodeploy.checkpoint import load_checkpoint
from neurodeploy.errors import CheckpointError, DataError
from neurodeploy.models.train import TrainConfig, log_mse_loss, ssim_loss, train, training_loss


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        clean = rng.integers(0, 200, (24, 28, 3), dtype=np.uint8)
        rainy = np.clip(clean.astype(int) + (rng.random(clean.shape[:2]) < 0.05)[..., None] * 80, 0, 255).astype(np.uint8)
        for sub, arr in (("clean", clean), ("rainy", rainy)):
            (tmp_path / "set" / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(tmp_path / "set" / sub / f"{name}.png")
    return tmp_path / "set"


def _cfg(data, **kw):
    base = dict(architecture="esdnet", preset="tiny", data=[str(data)], epochs=2, iters_per_epoch=2,
                batch_size=2, crop=16, seed=3)
    return TrainConfig(**{**base, **kw})


def test_loss_is_one_minus_ssim():
    x = torch.rand(2, 3, 16, 16)
    assert float(ssim_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(ssim_loss(x, torch.rand(2, 3, 16, 16))) > 0.5


def test_log_mse_loss_is_minus_psnr_over_ten_averaged_over_crops():
    clean = torch.full((2, 3, 8, 8), 0.5)
    out = clean.clone()
    out[0] += 0.1  # MSE 1e-2: PSNR 20 dB
    out[1] += 0.01  # MSE 1e-4: PSNR 40 dB
    # mean of -PSNR/10 = -3; a mean over all pixels would give log10(5.05e-3) = -2.30
    assert float(log_mse_loss(out, clean)) == pytest.approx(-3.0, abs=1e-4)


def test_training_loss_adds_only_the_terms_the_config_asks_for(data):
    out, clean = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    ssim, l1, log_mse = ssim_loss(out, clean), (out - clean).abs().mean(), log_mse_loss(out, clean)
    assert float(training_loss(out, clean, _cfg(data))) == pytest.approx(float(ssim))
    both = _cfg(data, l1_weight=10.0, psnr_weight=5.0)
    assert float(training_loss(out, clean, both)) == pytest.approx(float(ssim + 10 * l1 + 5 * log_mse), rel=1e-6)


def test_same_seed_same_weights_and_the_loss_changes(data, tmp_path):
    r1 = train(_cfg(data), tmp_path / "one.pt")
    r2 = train(_cfg(data), tmp_path / "two.pt")
    s1, s2 = r1.model.state_dict(), r2.model.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert [h["loss"] for h in r1.history] == [h["loss"] for h in r2.history]
    r3 = train(_cfg(data, seed=4), tmp_path / "three.pt")
    assert r3.history[0]["loss"] != r1.history[0]["loss"]
    meta = load_checkpoint(tmp_path / "one.pt").meta
    assert meta["preset"] == "tiny" and meta["epochs_done"] == 2 and meta["train"]["seed"] == 3


def test_resume_after_an_interruption_gives_the_same_weights(data, tmp_path):
    straight = train(_cfg(data), tmp_path / "straight.pt").model.state_dict()

    def stop_in_second_epoch(i, total, loss):
        if i == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(data), tmp_path / "resumed.pt", progress=stop_in_second_epoch)
    assert load_checkpoint(tmp_path / "resumed.pt").meta["epochs_done"] == 1
    resumed = train(_cfg(data), tmp_path / "resumed.pt", resume=True).model.state_dict()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_resume_refuses_a_missing_or_foreign_checkpoint(data, tmp_path):
    with pytest.raises(CheckpointError, match="cannot resume"):
        train(_cfg(data), tmp_path / "none.pt", resume=True)
    train(_cfg(data, epochs=1), tmp_path / "e.pt")
    with pytest.raises(CheckpointError, match="not spikerain/tiny"):
        train(_cfg(data, architecture="spikerain"), tmp_path / "e.pt", resume=True)


def test_synthetic_rain_trains_on_clean_images_only(data, tmp_path):
    import shutil

    shutil.rmtree(data / "rainy")
    r = train(_cfg(data, epochs=1, synthetic_rain=True), tmp_path / "syn.pt")
    assert len(r.history) == 1 and np.isfinite(r.history[0]["loss"])


@pytest.mark.parametrize("arch", ["esdnet", "vlifnet", "spikerain"])
def test_identity_start_returns_the_input_until_trained(arch):
    from neurodeploy.models.registry import get_architecture
    from neurodeploy.models.train import start_at_identity

    spec = get_architecture(arch)
    torch.manual_seed(0)
    model = spec.build(spec.config("tiny"))
    start_at_identity(model)
    image = torch.rand(1, 3, 20, 28)  # odd to the stride: pad and crop must also be exact
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(image), image)
    # the output conv still learns on the first step, and through it everything else after
    model.train()
    loss = (model(image) - 0.5).abs().mean()
    loss.backward()
    assert model.output.weight.grad.abs().sum() > 0


def test_identity_start_is_recorded_and_refused_for_a_model_without_an_output_conv(data, tmp_path):
    from neurodeploy.models.train import start_at_identity

    train(_cfg(data, epochs=1, identity_start=True, l1_weight=10.0, psnr_weight=0.5), tmp_path / "i.pt")
    meta = load_checkpoint(tmp_path / "i.pt").meta
    assert meta["train"]["identity_start"] is True and meta["train"]["l1_weight"] == 10.0 and meta["train"]["psnr_weight"] == 0.5
    with pytest.raises(CheckpointError, match="--identity-start"):
        start_at_identity(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1)))


def test_a_synthetic_fraction_mixes_synthetic_crops_into_real_pairs(data, tmp_path):
    from neurodeploy.models.data import PairedPatches, find_pairs
    from neurodeploy.models.rain import RainSynthesizer

    pairs = find_pairs(data)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    real = PairedPatches(pairs=pairs, size=16)
    mixed = PairedPatches(pairs=pairs, size=16, synth=RainSynthesizer(), synthetic_fraction=0.5)
    def synthetic_count(rainy):
        # real crops come from 8-bit files; screen-blended synthetic streaks fall between the levels
        on_grid = ((rainy * 255) - (rainy * 255).round()).abs().amax(dim=(1, 2, 3)) < 1e-4
        return int((~on_grid).sum())

    assert synthetic_count(real.batch(40, gen())[0]) == 0
    r_mix, _ = mixed.batch(40, gen())
    assert 10 <= synthetic_count(r_mix) <= 30
    assert torch.equal(mixed.batch(40, gen())[0], r_mix)  # seeded
    with pytest.raises(DataError, match="outside"):
        PairedPatches(pairs=pairs, size=16, synth=RainSynthesizer(), synthetic_fraction=1.5)
    with pytest.raises(DataError, match="outside"):  # a negative fraction is refused, not ignored
        train(_cfg(data, epochs=1, synthetic_fraction=-0.5), tmp_path / "neg.pt")
    assert not (tmp_path / "neg.pt").exists()
    train(_cfg(data, epochs=1, synthetic_fraction=0.5), tmp_path / "m.pt")
    assert load_checkpoint(tmp_path / "m.pt").meta["train"]["synthetic_fraction"] == 0.5


def test_a_colour_cast_tints_the_rainy_side_only_and_keeps_older_runs_reproducible(data, tmp_path):
    from neurodeploy.models.data import PairedPatches, find_pairs
    from neurodeploy.models.rain import ColourCast

    pairs = find_pairs(data)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    plain = PairedPatches(pairs=pairs, size=16)
    # a fraction of 0 draws nothing: the batches of runs without casts are unchanged
    assert all(torch.equal(a, b) for a, b in zip(plain.batch(8, gen()), PairedPatches(pairs=pairs, size=16, cast=ColourCast()).batch(8, gen())))
    # a fixed cast on one crop: the same crop, rainy = clamp(1.1·x + 0.05), clean untouched
    fixed = PairedPatches(pairs=pairs, size=16, cast=ColourCast(gain=(1.1, 1.1), offset=(0.05, 0.05)), cast_fraction=1.0)
    (r0, c0), (r1, c1) = plain.batch(1, gen()), fixed.batch(1, gen())
    assert torch.equal(c0, c1)
    assert torch.allclose(r1, (1.1 * r0 + 0.05).clamp(0, 1), atol=1e-6)
    # random casts differ per channel and stay inside the ranges
    grey = torch.full((3, 4, 4), 0.5)
    tinted = ColourCast().random(grey, gen())
    assert len(set(tinted[:, 0, 0].tolist())) == 3
    assert float(tinted.min()) >= 0.5 * 0.85 - 1e-6 and float(tinted.max()) <= 0.5 * 1.2 + 0.2 + 1e-6
    with pytest.raises(DataError, match="colour-cast fraction"):
        train(_cfg(data, epochs=1, colour_cast=1.5), tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()
    train(_cfg(data, epochs=1, colour_cast=0.5), tmp_path / "c.pt")
    assert load_checkpoint(tmp_path / "c.pt").meta["train"]["colour_cast"] == 0.5
