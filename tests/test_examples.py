"""Every examples/NAME.py runs as a new user would run it (small sizes to stay fast)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_has_a_test():
    tested = {"deploy_your_own", "deploy_snntorch_nir", "compare_derainers"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


@pytest.mark.lava
def test_deploy_your_own(tmp_path, capsys):
    result = _load("deploy_your_own").main(["--out", str(tmp_path), "--size", "12", "12", "--steps", "3"])
    assert result["verdict"]["passed"] and result["verdict"]["executor"] == "lava-float"
    assert (tmp_path / "bundle" / "report.html").is_file() and result["report"]["totals"]["spikes"] > 0
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.lava
def test_deploy_snntorch_nir(tmp_path, capsys):
    pytest.importorskip("snntorch")
    v = _load("deploy_snntorch_nir").main(["--out", str(tmp_path)])
    assert (tmp_path / "snn.nir").is_file()
    assert v["passed"] and v["layers"] == {"1": 100.0} and v["snntorch_agreement_pct"] == 100.0
    assert "PASSED" in capsys.readouterr().out


def _compare(tmp_path, models):
    from neurodeploy.images import read_image, write_image

    folder = tmp_path / "rainy"
    folder.mkdir()
    write_image(folder / "crop.png", read_image(EXAMPLES / "images" / "real-010.png")[:, 200:216, 200:216])
    return _load("compare_derainers").main([str(folder), "--size", "16", "16", "--out", str(tmp_path / "out"),
                                            *(["--models", *models] if models else [])])


def test_compare_derainers_on_a_folder_one_model(tmp_path, capsys):
    """Fast: the example's whole path with the quickest derainer to export."""
    rows = _compare(tmp_path, ["spikerain-tiny"])
    r = rows[0]
    assert r["model"] == "spikerain-tiny" and r["passed"] and r["spikes"] > 0 and r["cores"] > 0
    assert 0 < r["energy_45nm_uj"] < r["energy_loihi_uj"] and r["energy_papers_uj"] > 0
    assert "| spikerain-tiny |" in capsys.readouterr().out


@pytest.mark.slow
def test_compare_derainers_on_a_folder(tmp_path, capsys):
    rows = _compare(tmp_path, None)  # the default: all three
    assert [r["model"] for r in rows] == ["esdnet-tiny", "vlifnet-tiny", "spikerain-tiny"]
    for r in rows:
        assert r["passed"] and r["spikes"] > 0 and r["cores"] > 0
        assert 0 < r["energy_45nm_uj"] < r["energy_loihi_uj"] and r["energy_papers_uj"] > 0
    assert "| spikerain-tiny |" in capsys.readouterr().out


def test_examples_import_nothing_of_the_project_but_neurodeploy_itself():
    import ast

    for path in EXAMPLES.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        ours = [n for n in names if n.split(".")[0] == "neurodeploy"]
        assert ours and set(ours) == {"neurodeploy"}, (path.name, ours)
