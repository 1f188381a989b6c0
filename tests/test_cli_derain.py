"""The derainer commands as a user meets them: count, train, derain, evaluate."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from neurodeploy.checkpoint import save_checkpoint
from neurodeploy.models import get_architecture




@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("p1", "p2"):
        clean = rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)
        rainy = np.clip(clean.astype(int) + 40, 0, 255).astype(np.uint8)
        for sub, arr in (("clean", clean), ("rainy", rainy)):
            (tmp_path / "data" / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(tmp_path / "data" / sub / f"{name}.png")
    return tmp_path / "data"


@pytest.fixture
def ckpt(tmp_path):
    torch.manual_seed(0)
    arch = get_architecture("esdnet")
    config = arch.config("tiny")
    return save_checkpoint(tmp_path / "m.pt", arch.build(config), "esdnet", config, {"preset": "tiny"})


def test_count_json_has_the_four_keys(run_cli):
    code, out, err = run_cli("count", "esdnet", "--preset", "tiny", "--size", "32", "40", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert {"params_exact", "params_paper", "synops", "macs", "energy_paper_uj", "spikes", "effective_macs"} <= set(d)
    assert d["energy_paper_uj"] > 0
    assert d["params_exact"] > d["params_paper"] > 0 and d["macs"] > 0 and (d["height"], d["width"]) == (32, 40)


def test_count_unknown_architecture_or_preset_exits_2(run_cli):
    code, _, err = run_cli("count", "nope")
    assert code == 2 and "unknown architecture" in err
    code, _, err = run_cli("count", "esdnet", "--preset", "huge")
    assert code == 2 and "no preset 'huge'" in err


def test_evaluate_json_means_and_per_image(run_cli, ckpt, pairs):
    code, out, err = run_cli("evaluate", ckpt, "--data", pairs, "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["count"] == 2 and [r["name"] for r in d["images"]] == ["p1", "p2"]
    for k in ("psnr", "ssim", "input_psnr", "input_ssim"):
        assert d[k] == pytest.approx(np.mean([r[k] for r in d["images"]]))


def test_derain_writes_images_of_the_input_size(run_cli, ckpt, pairs, tmp_path):
    images = sorted((pairs / "rainy").glob("*.png"))
    code, _, err = run_cli("derain", ckpt, *images, "--out", tmp_path / "out")
    assert code == 0, err
    for p in images:
        assert Image.open(tmp_path / "out" / p.name).size == Image.open(p).size


def test_train_then_resume_from_the_cli(run_cli, pairs, tmp_path):
    out = tmp_path / "t.pt"
    args = ["train", "spikerain", "--preset", "tiny", "--data", pairs, "--epochs", "1", "--iters-per-epoch", "1",
            "--batch-size", "2", "--crop", "16", "--colour-cast", "0.5", "--out", out]
    code, _, err = run_cli(*args)
    assert code == 0 and out.exists(), err
    code, _, err = run_cli(*args[:7], "2", *args[8:], "--resume")
    assert code == 0, err
    from neurodeploy.checkpoint import load_checkpoint

    assert load_checkpoint(out).meta["train"]["colour_cast"] == 0.5
    code, _, err = run_cli(*args[:-4], "--colour-cast", "2", "--out", tmp_path / "bad.pt")
    assert code == 2 and "colour-cast fraction 2.0 is outside [0, 1]" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad.pt").exists()


@pytest.mark.parametrize("bad", ["missing", "unpaired"])
def test_bad_data_exits_2_with_one_line(run_cli, bad, ckpt, pairs):
    data = pairs.parent / "nowhere" if bad == "missing" else pairs
    if bad == "unpaired":
        (pairs / "clean" / "p1.png").unlink()
    code, _, err = run_cli("evaluate", ckpt, "--data", data)
    assert code == 2 and err.count("\n") <= 2 and "error:" in err
