"""Issue 29: `neurodeploy fit`, `export --system`, and the report's mapping keys on esdnet-tiny at 64x64."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow  # 30-80 s: export and the split run of esdnet-tiny at 64x64
def test_report_of_esdnet_tiny_64_has_mapping_traffic_time_and_system_energy(run_cli, tmp_path):
    out = tmp_path / "esd"
    code, _, err = run_cli("export", "esdnet-tiny", "--out", out, "--size", "64", "64")
    assert code == 0, err
    code, stdout, err = run_cli("report", out, "--executor", "split", "--json")
    assert code == 0, err
    r = json.loads(stdout)
    assert {"layers", "totals", "energy"} <= set(r)  # old keys kept
    m = r["mapping"]
    assert m["cores"] == sum(v["blocks"] for v in m["layers"].values()) > 0
    assert m["chips"] == -(-m["cores"] // 128) and m["fits"] and m["system"] == "kapoho-point"  # smallest that fits
    for kind in ("within_core", "core_to_core", "chip_to_chip", "host_to_chip", "chip_to_host"):
        assert r["traffic"][kind]["bits_per_step"] >= 0
    assert r["traffic"]["host_to_chip"]["bits_per_step"] > 0 and r["traffic"]["chip_to_chip"]["bits_per_step"] > 0
    su = r["energy"]["system_uj"]
    assert su["total"] == pytest.approx(su["chip"] + su["host"] + su["io"]) and min(su.values()) > 0
    assert r["time_per_image_s"] > 0 and r["time"]["bottleneck"] in r["time"]["step_bounds_s"]
    html = (out / "report.html").read_text()
    assert "occupancy-heatmap" in html and "system-energy" in html
    assert "does not fit" not in (out / "report.md").read_text().split("## On")[1].splitlines()[2]


def test_export_refuses_a_system_too_small_and_writes_nothing(run_cli, tmp_path):
    out = tmp_path / "x"
    code, _, err = run_cli("export", "esdnet-tiny", "--out", out, "--size", "64", "64", "--system", "oheo-gulch")
    assert code == 2 and not out.exists()
    line = err.strip()
    assert "\n" not in line and "kapoho-point" in line and "cores" in line


def test_fit_answers_on_two_systems(run_cli):
    code, out, err = run_cli("fit", "toy-residual", "--system", "oheo-gulch", "--size", "96", "96", "--json")
    assert code == 0, err
    small = json.loads(out)
    code, out, err = run_cli("fit", "toy-residual", "--system", "hala-point", "--size", "96", "96", "--json")
    big = json.loads(out)
    assert big["largest_square_px"][0] > small["largest_square_px"][0]
    e = small["sizes"][0]
    assert e["cores"] > 0 and e["time_per_image_s"] > 0 and e["tiling"]["passes"] >= 1
    code, _, err = run_cli("fit", "toy-residual", "--system", "nope")
    assert code == 2 and "oheo-gulch" in err
