"""The split executor: the bundle's chip.nir and host/ISLAND.onnx files alone reproduce the model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

REAL = "real-001.png"


@pytest.fixture(scope="module")
def real_crop(tmp_path_factory):
    """A 32x32 crop of a real rainy photo (../shared/data/real, or the shipped example)."""
    from pathlib import Path

    from neurodeploy.images import DEFAULT_IMAGE

    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / REAL
    source = shared if shared.is_file() else DEFAULT_IMAGE
    with Image.open(source) as img:
        rgb = np.asarray(img.convert("RGB"))
    h, w = rgb.shape[:2]
    path = tmp_path_factory.mktemp("img") / "crop.png"
    Image.fromarray(rgb[h // 2 - 16:h // 2 + 16, w // 2 - 16:w // 2 + 16]).save(path)
    return path


@pytest.mark.parametrize("checkpoint", ["toy-residual", "esdnet-tiny", "vlifnet-tiny", "spikerain-tiny"])
def test_split_executor_reproduces_the_model_from_the_bundle_files(run_cli, tmp_path, real_crop, checkpoint):
    out = tmp_path / "b"
    code, _, err = run_cli("export", checkpoint, "--out", out, "--size", "32", "32")
    assert code == 0, err
    islands = json.loads((out / "manifest.json").read_text())["partition"]["islands"]
    assert sorted(p.name for p in (out / "host").iterdir()) == sorted(f"{i['name']}.onnx" for i in islands)
    code, out_text, err = run_cli("validate", out, "--executor", "split", "--image", real_crop,
                                  "--min-agreement", "99.9", "--json")
    verdict = json.loads(out_text)
    assert code == 0 and verdict["passed"], verdict
    assert min(verdict["layers"].values()) >= 99.9 and verdict["output_psnr_db"] >= 60
    assert verdict["executor"] == "split" and len(verdict["layers"]) >= 3


def test_split_executor_fails_at_the_layer_an_island_feeds_when_its_file_differs(run_cli, tmp_path, real_crop):
    """Swap two islands' files: validation fails and names a layer, it does not pass silently."""
    out = tmp_path / "b"
    code, _, err = run_cli("export", "esdnet-tiny", "--out", out, "--size", "32", "32")
    assert code == 0, err
    islands = json.loads((out / "manifest.json").read_text())["partition"]["islands"]
    # two attention blocks' islands (one input each since their sums run on the chip, issue 31)
    gates = [i["name"] for i in islands if len(i["inputs"]) == 1 and len(i["outputs"]) == 1
             and i["window"] == "all_steps"][:2]
    a, b = (out / "host" / f"{n}.onnx" for n in gates)
    data_a = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(data_a)
    code, out_text, err = run_cli("validate", out, "--executor", "split", "--image", real_crop, "--json")
    # the files' input names no longer fit the manifest's islands: one line, exit 2
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"host/{gates[0]}.onnx" in err and "re-export" in err


def test_old_bundle_layout_gets_one_line_saying_how_to_upgrade(run_cli, tmp_path):
    out = tmp_path / "b"
    code, _, err = run_cli("export", "toy-residual", "--out", out, "--size", "16", "16")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["format_version"] = 1
    (out / "manifest.json").write_text(json.dumps(manifest))
    for command in ("validate", "report"):
        code, _, err = run_cli(command, out)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "format version 1" in err and "re-export with `neurodeploy export" in err and "--force" in err


def test_cross_check_executors_run_a_bundle_in_snntorch_and_norse(run_cli, tmp_path, real_crop):
    """The registered snntorch/norse executors agree spike for spike with torch on toy-residual."""
    out = tmp_path / "b"
    code, _, err = run_cli("export", "toy-residual", "--out", out, "--size", "16", "16")
    assert code == 0, err
    for library in ("snntorch", "norse"):
        code, text, err = run_cli("validate", out, "--executor", library, "--image", real_crop, "--json")
        verdict = json.loads(text)
        assert verdict["layers"] == {"lif1": 100.0, "lif2": 100.0, "lif3": 100.0}, (library, verdict)
        if library == "norse":
            assert code == 0 and verdict["output_psnr_db"] >= 60
        else:
            # snntorch's imported module returns an output that differs from the graph's (8.7 dB
            # on this bundle; not investigated yet): the verdict says so rather than passing
            assert code == 1 and verdict["output_psnr_db"] < 60
