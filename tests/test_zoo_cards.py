"""Shipped derainer checkpoints: small, carded, and their cards' numbers reproduce."""

import re
from pathlib import Path

import pytest

from neurodeploy.checkpoint import load_model, zoo

DERAINERS = [e for e in zoo() if e.name.split("-")[0] in {"esdnet", "vlifnet", "spikerain"}]
TEST_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "test"


@pytest.mark.parametrize("entry", DERAINERS, ids=lambda e: e.name)
def test_shipped_derainer_is_small_and_has_a_card_with_both_counts(entry):
    assert entry.path.stat().st_size < 5e6
    assert entry.card is not None
    text = entry.card.read_text()
    for needle in ("exact;", "papers' thop convention", "**command**", "**wall time**", "rainy input PSNR"):
        assert needle in text
    model, ckpt = load_model(entry.name)
    assert ckpt.meta["preset"] == "tiny" and model.t_steps == 4
    # repo-relative data, and the first paragraph says what the checkpoint is (issue 20)
    data_line = next(line for line in text.splitlines() if line.startswith("- **training data**"))
    assert data_line.startswith("- **training data**: ../shared/data/train ")
    lead = text.split("\n\n")[1]
    assert lead.startswith("**What this is**") and "2-core CPU" in lead and "dB PSNR(Y)" in lead
    assert ("neurodeploy import" in lead) == (ckpt.architecture in ("esdnet", "spikerain"))


def test_card_generator_writes_data_paths_repo_relative():
    from neurodeploy.models.cards import repo_relative

    assert repo_relative("/work/shared/data/train") == "../shared/data/train"
    assert repo_relative("/home/me/shared/data/test/Rain100L") == "../shared/data/test/Rain100L"
    assert repo_relative("my/data") == "my/data"


@pytest.mark.slow
@pytest.mark.skipif(not TEST_ROOT.is_dir(), reason="shared test data not present")
@pytest.mark.parametrize("entry", DERAINERS, ids=lambda e: e.name)
def test_card_numbers_reproduce(entry):
    from neurodeploy.models.evaluate import evaluate

    rows = re.findall(r"^\| (\S+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", entry.card.read_text(), re.M)
    assert rows, "card has no evaluation table"
    model, _ = load_model(entry.name)
    for set_name, _, psnr, ssim, in_psnr, in_ssim in rows:
        r = evaluate(model, TEST_ROOT / set_name)
        assert f"{r['psnr']:.2f}" == psnr and f"{r['ssim']:.4f}" == ssim
        assert f"{r['input_psnr']:.2f}" == in_psnr and f"{r['input_ssim']:.4f}" == in_ssim


def test_card_text_puts_the_deployment_row_it_is_handed_and_reads_no_benchmark_file(tmp_path):
    """The deployment section comes from the row the caller passes (benchmarks/quantize_qat.py, or
    ``--deployment FILE``), laid out by deployment_lines before the notes; without one the card has
    none, even for esdnet-tiny, which has a row in the repository's benchmark results."""
    from neurodeploy.images import DEFAULT_IMAGE, read_image, write_image
    from neurodeploy.models.cards import DEPLOY_HEADING, card_text, deployment_lines, deployment_row

    img = read_image(DEFAULT_IMAGE)
    for side, crop in (("rainy", img[:, 100:116, 200:216]), ("clean", img[:, 40:56, 300:316])):
        (tmp_path / "set" / side).mkdir(parents=True)
        write_image(tmp_path / "set" / side / "a.png", crop)
    row = {"model": "esdnet-tiny", "test": "T", "images": 2, "float_psnr": 25.0, "float_ssim": 0.9,
           "ptq_psnr": 24.9, "ptq_ssim": 0.89, "ptq_cost_db": 0.1, "calib": "C"}
    handed = deployment_row({"command": "cmd", "rows": [{"model": "other"}, row]}, "esdnet-tiny")
    assert handed == (row, "cmd") and deployment_row({"rows": [row]}, "vlifnet-tiny") is None
    text, results = card_text("esdnet-tiny", tmp_path, notes="keep me", deployment=handed)
    section = "\n".join(deployment_lines(row, "cmd"))
    assert text.count(DEPLOY_HEADING) == 1 and section in text
    assert text.index(section) < text.index("## Notes\n\nkeep me") and list(results) == ["set"]
    plain, _ = card_text("esdnet-tiny", tmp_path)
    assert DEPLOY_HEADING not in plain and plain.startswith("# esdnet-tiny\n")
