"""validate and report on a toy bundle: new keys, validation.json entries, exit codes, report.html in Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from neurodeploy.images import DEFAULT_IMAGE, read_image, write_image

ORIGINAL_VALIDATION_KEYS = {"passed", "layers", "first_divergence", "output_psnr_db"}


@pytest.fixture
def bundle(tmp_path, toy_checkpoint):
    """A toy-residual bundle at 16x16."""
    from neurodeploy.bundle import export_bundle

    out = tmp_path / "bundle"
    export_bundle(toy_checkpoint, out, size=(16, 16))
    return out


@pytest.fixture
def images(tmp_path):
    """Two 16x16 rainy crops as files in a folder, and a 'clean' image per crop."""
    img = read_image(DEFAULT_IMAGE)
    folder = tmp_path / "rainy"
    folder.mkdir()
    clean = tmp_path / "clean"
    clean.mkdir()
    for i, (y, x) in enumerate([(100, 200), (40, 300)]):
        write_image(folder / f"c{i}.png", img[:, y:y + 16, x:x + 16])
        write_image(clean / f"c{i}.png", np.clip(img[:, y:y + 16, x:x + 16] * 0.9, 0, 1))
    return folder, clean


def test_validate_any_against_any_keeps_keys_and_entries(run_cli, bundle, images):
    folder, clean = images
    code, out, err = run_cli("validate", bundle, "--executor", "split", "--against", "nir-torch", "--image", folder,
                             "--truth", clean, "--json")
    assert code == 0, err
    v = json.loads(out)
    assert ORIGINAL_VALIDATION_KEYS <= set(v) and v["passed"] is True
    assert v["reference"] == "nir-torch" and v["images"] == ["c0.png", "c1.png"]
    assert set(v["layers_per_step"]) == set(v["layers"]) and all(len(s) == 4 for s in v["layers_per_step"].values())
    assert all(r["difference"] == 0.0 and r["reference"] > 0 for r in v["firing_rate"].values())
    assert v["real_valued_error"]["output"]["max_abs"] < 1e-5 and v["output_ssim"] > 0.999
    assert 0 < v["truth"]["executor"]["psnr_y_db"] < 100 and len(v["per_image"]) == 2
    code, _, err = run_cli("validate", bundle, "--executor", "torch", "--image", folder, "--json")
    saved = json.loads((bundle / "validation.json").read_text())
    assert set(saved["executors"]) == {"split", "torch"}  # one entry per executor
    assert saved["executor"] == "torch" and ORIGINAL_VALIDATION_KEYS <= set(saved)  # latest run on top
    assert saved["executors"]["split"]["reference"] == "nir-torch"


def test_validate_exit_codes(run_cli, bundle, images, tmp_path):
    folder, clean = images
    code, _, err = run_cli("validate", bundle, "--executor", "loihi")
    assert code == 3 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("validate", bundle, "--executor", "split", "--image", folder, "--truth", clean / "c0.png")
    assert code == 2 and "--truth" in err
    code, _, _ = run_cli("validate", bundle, "--executor", "split", "--image", folder, "--min-psnr", "1000")
    assert code == 1


def test_report_keys_energy_and_markdown_verdict(run_cli, bundle):
    run_cli("validate", bundle, "--executor", "split")
    code, out, err = run_cli("report", bundle, "--executor", "split", "--fps", "10", "--json")
    assert code == 0, err
    r = json.loads(out)
    for row in r["layers"]:
        assert sum(row["spikes_per_step"]) == pytest.approx(row["spikes"]) and len(row["spikes_per_step"]) == 4
        assert row["cores"] == -(-row["neurons"] // 1024) and row["edge_kind"] in ("binary", "graded", "real")
    assert r["totals"]["synops"] > 0 and r["totals"]["real_input_macs"] > 0
    models = r["energy"]["models"]
    assert set(models) == {"papers", "horowitz45nm", "loihi"}
    assert models["loihi"]["per_second_uj"] == pytest.approx(10 * models["loihi"]["per_image_uj"])
    md = (bundle / "report.md").read_text()
    assert "Validation: PASSED" in md and "Loihi 1" in md
    html = (bundle / "report.html").read_text()
    assert "http://" not in html and "https://" not in html  # self-contained
    assert html.count("data:image/png;base64,") >= 8 and "spike-heatmaps" in html and 'id="chart-energy"' not in html and "id='chart-energy'" in html


def test_divergence_view_appears_when_validation_failed(bundle):
    from neurodeploy.report_html import divergence_view
    from neurodeploy.trace import Trace

    layers = {"lif1": np.zeros((4, 2, 5, 5))}
    ref = Trace("torch-float64", 4, layers, np.zeros((3, 5, 5)))
    got = Trace("split", 4, {"lif1": layers["lif1"].copy()}, np.zeros((3, 5, 5)))
    got.layers["lif1"][1, 1, 2, 3] = 1.0
    failed = {"passed": False, "reference": "torch-float64",
              "first_divergence": {"layer": "lif1", "step": 1, "index": [1, 2, 3]}}
    assert divergence_view(failed, ref, got).startswith("data:image/png;base64,")
    assert divergence_view({**failed, "passed": True}, ref, got) is None


def _screenshot(chromium, html_path, png_path):
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1000,1600", f"--screenshot={png_path}", html_path.as_uri()],
                   check=True, capture_output=True, timeout=60)
    from PIL import Image

    return np.asarray(Image.open(png_path).convert("RGB")).astype(int)


def test_report_html_renders_its_charts_in_chromium(run_cli, bundle, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium); cannot render report.html")
    code, _, err = run_cli("report", bundle, "--executor", "split", "--json")
    assert code == 0, err
    html = (bundle / "report.html").read_text()
    # The same page with the chart images blanked: what the screenshot would show without charts.
    import re

    blank = re.sub(r"(<img id='chart-[^']+' alt='[^']+' src=')[^']+'", r"\1'", html)
    assert blank != html
    (tmp_path / "blank.html").write_text(blank)
    full = _screenshot(chromium, bundle / "report.html", tmp_path / "full.png")
    empty = _screenshot(chromium, tmp_path / "blank.html", tmp_path / "blank.png")

    def bar_pixels(img):  # matplotlib's default blue (#1f77b4), the colour of the chart bars and line
        return int((np.abs(img - np.array([31, 119, 180])).sum(axis=-1) < 30).sum())

    assert bar_pixels(full) > 2000 and bar_pixels(full) > 20 * bar_pixels(empty)


def test_report_html_shows_the_divergence_of_a_failed_validation(run_cli, bundle):
    code, out, _ = run_cli("validate", bundle, "--executor", "split", "--min-psnr", "1000", "--json")
    assert code == 1 and json.loads(out)["first_divergence"] is None
    saved = json.loads((bundle / "validation.json").read_text())
    # a failed run that parted at lif2 (as a diverging executor would record it)
    saved["executors"]["split"]["first_divergence"] = {"layer": "lif2", "step": 1, "neuron": 5, "index": [0, 0, 5],
                                                       "reference_value": 0.0, "executor_value": 1.0, "image": ""}
    (bundle / "validation.json").write_text(json.dumps(saved))
    code, _, err = run_cli("report", bundle, "--executor", "split", "--json")
    assert code == 0, err
    html = (bundle / "report.html").read_text()
    assert "id='divergence'" in html and "Validation FAILED" in html
    assert "Validation: FAILED" in (bundle / "report.md").read_text()
