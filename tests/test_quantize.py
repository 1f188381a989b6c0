"""Post-training quantization: the integer formats on hand-computed values, and a quantized
bundle end to end (export --quantize int --calib, params.npz, manifest, the emulator, bad input)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from neurodeploy.models.neurons import NILIF
from neurodeploy.quantize.ptq import bias_mant_exp, du_mant, dv_mant, nilif_thresholds, rescale_factors, vth_mant


def test_decays_take_lavas_du_offset_of_one():
    assert du_mant(1.0) == 4095  # (4096 - 4095 - 1) / 4096 = 0: u cleared every step
    assert du_mant(0.5) == 2047  # keeps (4096 - 2047 - 1) / 4096 = 1/2
    assert du_mant(0.0) == 0  # cannot keep all of u: Lava still decays it by 1/4096
    assert dv_mant(0.5) == 2048 and dv_mant(0.0) == 0
    assert dv_mant(1.0) == 4095  # 4096 does not fit 12 bits: v keeps 1/4096


def test_vth_mant_is_the_integer_bound_over_64_rounded_half_to_even():
    # T = 64 vth / a_in_scale; '>=' fires at v >= T, i.e. v > ceil(T) - 1
    assert vth_mant(10.0, 0.25) == 40  # T = 2560: bound 2559 / 64 = 39.98 -> 40
    assert vth_mant(10.0, 0.25, fires_at_equality=False) == 40  # bound 2560 / 64 = 40
    assert vth_mant(97 / 64, 1.0) == 2  # T = 97: bound 96 / 64 = 1.5, a tie: half to even -> 2
    assert vth_mant(161 / 64, 1.0) == 2  # T = 161: bound 160 / 64 = 2.5 -> 2
    assert vth_mant(1e9, 1.0) == (1 << 17) - 1  # saturates at 17 bits


def test_bias_takes_the_smallest_exponent_whose_mantissas_fit_13_bits():
    mant, exp, sat = bias_mant_exp(np.array([5000.0, -3.0]))
    assert exp == 1 and mant.tolist() == [2500, -2] and sat == 0  # -1.5 -> -2 (half to even)
    mant, exp, sat = bias_mant_exp(np.array([4095.0 * 128 * 2, 1.0]))
    assert exp == 7 and mant.tolist() == [4095, 0] and sat == 1


def test_rescale_factors_are_an_8_bit_mantissa_and_a_shift():
    assert rescale_factors(0.3) == (154, 9)  # 0.3 * 512 = 153.6
    assert rescale_factors(1.0) == (128, 7) and rescale_factors(-1.0) == (-128, 7)
    assert rescale_factors(300.0) == (150, -1)  # a left shift
    assert rescale_factors(0.0) == (0, 0)
    # 0.999 * 256 = 255.7 rounds to 256, which needs 9 bits: one bit coarser, 0.999 * 128 -> 128
    assert rescale_factors(0.999) == (128, 7)


def test_nilif_thresholds_by_hand_with_ties_rounding_half_to_even():
    # level_scale 1: U = v / 64; levels reached at U = 0.5, 1.5, 2.5, 3.5 = v 32, 96, 160, 224 (ties)
    # round(0.5) = 0 and round(2.5) = 2 (down), round(1.5) = 2 and round(3.5) = 4 (up)
    assert nilif_thresholds(4, 1.0).tolist() == [32, 95, 160, 223]
    for scale in (1.0, 0.7, 3.0):
        t = nilif_thresholds(4, scale)
        v = torch.arange(-100, 1200)
        levels = (v[:, None] > torch.as_tensor(t)).sum(1)
        u = (v.double() * scale / 64).float()[None, :, None]
        model = NILIF(levels=4, beta=0.0)(u)[0, :, 0] * 4
        assert torch.equal(levels.float(), model.round()), scale
    assert math.isclose(nilif_thresholds(1, 2.0)[0], 16)  # T = 16 exactly, level 1 odd: tie goes down


# --- a quantized bundle end to end -----------------------------------------------------------

@pytest.fixture(scope="module")
def calib(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("calib")
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((20, 24, 3)) * 255).astype(np.uint8)).save(d / f"c{i}.png")
    return d


@pytest.fixture(scope="module")
def toy_bundle(tmp_path_factory, calib):
    from neurodeploy.bundle import export_bundle

    out = tmp_path_factory.mktemp("b") / "toy"
    manifest = export_bundle("toy-residual", out, size=(16, 16), quantize="int", calib=calib)
    return out, manifest


def test_quantized_export_writes_params_and_the_manifest_summary(toy_bundle):
    out, manifest = toy_bundle
    q = manifest["quantization"]
    assert q["status"] == "int" and q["calibration_images"] == 2 and (out / "params.npz").is_file()
    assert "params.npz" in manifest["files"]
    convs = {n: e for n, e in q["layers"].items() if e["kind"] == "conv"}
    lifs = {n: e for n, e in q["layers"].items() if e["kind"] == "lif"}
    assert convs and lifs and all("spike_agreement_pct" in e for e in lifs.values())
    with np.load(out / "params.npz") as p:
        for n in convs:
            w = p[f"{n}/weight_mant"]
            # the largest weight sets the scale, made coarser at most so far that the threshold is whole
            assert w.dtype == np.int64 and 64 <= np.abs(w).max() <= 127
    aligned = [e for e in lifs.values() if e["in_scale"] != 1.0 and
               any(c["scale"] == e["in_scale"] and not c["graded_input"] for c in convs.values())]
    assert aligned and all(math.isclose(e["vth_model"] / e["in_scale"], e["vth_mant"]) for e in aligned)
    assert all(e["du"] == 4095 and e["dv"] == 2048 for e in lifs.values())
    assert q["spike_agreement_pct_min"] > 90 and q["output_psnr_vs_float_db_mean"] > 30


def test_emulator_runs_any_image_size_and_matches_its_own_lif_arithmetic(toy_bundle):
    from neurodeploy.bundle import Bundle
    from neurodeploy.targets import make_executor

    out, _ = toy_bundle
    emu = make_executor("emulator", Bundle.open(out))
    img = np.random.default_rng(1).random((1, 3, 21, 18))
    trace = emu.run(img)[0]
    assert trace.output.shape == (3, 21, 18)  # padded to the network's multiple, cropped back
    assert all(set(np.unique(v)) <= {0.0, 1.0} for v in trace.layers.values())


def test_params_that_do_not_match_the_graph_are_refused_in_one_line(toy_bundle, tmp_path):
    import shutil

    from neurodeploy.bundle import Bundle
    from neurodeploy.errors import BundleError
    from neurodeploy.targets import make_executor

    src, _ = toy_bundle
    bad = tmp_path / "bad"
    shutil.copytree(src, bad)
    with np.load(bad / "params.npz") as p:
        arrays = dict(p)
    key = next(k for k in arrays if k.endswith("/weight_mant"))
    arrays[key] = arrays[key][:, :1]
    np.savez(bad / "params.npz", **arrays)
    import json

    from neurodeploy.checkpoint import file_sha256

    # recorded in the manifest (else the SHA-256 check refuses the file first): the shape check must catch it
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["files"]["params.npz"] = file_sha256(bad / "params.npz")
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="does not match the graph") as exc:
        make_executor("emulator", Bundle.open(bad))
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("case", ["empty", "small", "missing"])
def test_bad_calibration_folders_exit_2_in_one_line_and_write_nothing(case, tmp_path, calib, run_cli):
    from PIL import Image

    folder = tmp_path / "cal"
    folder.mkdir()
    if case == "small":
        Image.fromarray(np.zeros((8, 40, 3), dtype=np.uint8)).save(folder / "tiny.png")
    args = ["export", "toy-residual", "--out", str(tmp_path / "out"), "--size", "16", "16", "--quantize", "int"]
    if case != "missing":
        args += ["--calib", str(folder)]
    code, _, err = run_cli(*args)
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert {"empty": "no images", "small": "smaller than the export size", "missing": "--calib"}[case] in lines[0]
    assert not (tmp_path / "out").exists()


def test_evaluate_takes_a_bundle_and_an_executor(toy_bundle, tmp_path, run_cli):
    """The paired-folder path through the CLI (rainy/ + clean/ of two 20x24 images)."""
    from PIL import Image

    out, _ = toy_bundle
    data = tmp_path / "pairs"
    rng = np.random.default_rng(2)
    for sub in ("rainy", "clean"):
        (data / sub).mkdir(parents=True)
        for i in range(2):
            Image.fromarray((rng.random((20, 24, 3)) * 255).astype(np.uint8)).save(data / sub / f"p{i}.png")
    code, stdout, err = run_cli("evaluate", out, "--executor", "emulator", "--data", data, "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["executor"] == "emulator" and result["count"] == 2 and np.isfinite(result["psnr"])
    assert result["images"][0]["size"] == [20, 24]


def test_a_tiny_derainer_quantizes_and_its_host_islands_run_around_the_integer_chip(tmp_path):
    """esdnet-tiny at 16x16 on one real rainy crop: every chip LIF quantized and measured, nothing saturated."""
    from pathlib import Path

    from neurodeploy.bundle import export_bundle
    from neurodeploy.images import DEFAULT_IMAGE

    calib = tmp_path / "cal"
    calib.mkdir()
    (calib / "rainy.png").write_bytes(Path(DEFAULT_IMAGE).read_bytes())
    manifest = export_bundle("esdnet-tiny", tmp_path / "esd", size=(16, 16), quantize="int", calib=calib)
    q = manifest["quantization"]
    lifs = [n for n, e in q["layers"].items() if e["kind"] == "lif"]
    assert len(lifs) == 17 and all(q["layers"][n]["spike_agreement_pct"] > 50 for n in lifs)
    assert q["saturated_values"] == 0
    assert q["output_psnr_vs_float_db_mean"] > 20  # the host islands ran on dequantized chip values


def test_a_paired_calibration_folder_uses_its_rainy_images_centre_cropped(tmp_path):
    from PIL import Image

    from neurodeploy.images import calibration_images

    for sub, centre in (("rainy", 77), ("clean", 11)):
        (tmp_path / sub).mkdir()
        img = np.full((12, 14, 3), 200, dtype=np.uint8)
        img[5:7, 6:8] = centre  # the centre 2x2
        Image.fromarray(img).save(tmp_path / sub / "a.png")
    crops, names = calibration_images(tmp_path, (2, 2))
    assert names == ["a.png"] and crops.shape == (1, 3, 2, 2)
    assert np.allclose(crops * 255, 77)


def test_derain_a_whole_photo_with_the_integer_emulator(toy_bundle, run_cli, tmp_path):
    """`derain BUNDLE IMG` on a quantized bundle runs the emulator on the whole image, any size."""
    from PIL import Image

    from neurodeploy.images import DEFAULT_IMAGE, read_image

    src, _ = toy_bundle
    photo = tmp_path / "photo.png"
    with Image.open(DEFAULT_IMAGE) as img:
        img.convert("RGB").crop((100, 50, 100 + 40, 50 + 28)).save(photo)  # not the bundle's 16x16
    code, out, err = run_cli("derain", src, photo, "--out", tmp_path / "out")
    assert code == 0, err
    got = read_image(tmp_path / "out" / "photo.png")
    assert got.shape == (3, 28, 40)
    code, _, _ = run_cli("derain", src, photo, "--out", tmp_path / "out-torch", "--executor", "torch")
    assert code == 0
    # the integer model is close to the float one, and not identical to it
    diff = np.abs(got - read_image(tmp_path / "out-torch" / "photo.png"))
    assert 0 < diff.max() and diff.mean() < 0.05
