"""The public Python API: ``import neurodeploy`` is all a script needs, for both bundle kinds."""

from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest

import neurodeploy as nd
from neurodeploy.errors import NeurodeployError

PUBLIC = ["__version__", "Bundle", "Trace", "Exported", "Validation", "Report", "Evaluation", "Derained", "Imported",
          "export", "validate", "report", "evaluate", "derain", "import_checkpoint", "run",
          "load_model", "save_checkpoint", "export_graph", "export_bundle", "validate_bundle", "report_bundle"]


def test_the_public_names_are_pinned():
    # adding a name is a decision (and a line here); removing one breaks users' scripts
    assert sorted(nd.__all__) == sorted(PUBLIC)
    for name in nd.__all__:
        assert getattr(nd, name) is not None
    with pytest.raises(AttributeError):
        nd.no_such_name  # noqa: B018


def _dense_nir(path: Path) -> Path:
    rng = np.random.default_rng(0)
    graph = nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([6])),
        nir.Affine(weight=rng.normal(0, 1.2, (5, 6)), bias=np.full(5, 0.05)),
        nir.LIF(tau=np.full(5, 2e-3), r=np.ones(5), v_leak=np.zeros(5), v_threshold=np.full(5, 0.4),
                v_reset=np.zeros(5)),
        nir.Output(output_type=np.array([5])),
    )
    nir.write(str(path), graph)
    return path


def test_a_nir_file_and_a_model_go_through_the_same_functions(tmp_path, toy_checkpoint):
    nir_file = _dense_nir(tmp_path / "dense.nir")
    exported = nd.export(nir_file, tmp_path / "nir-bundle", quantize="int")
    assert isinstance(exported, nd.Exported) and exported.kind == "nir" and exported.quantized
    assert exported.path == (tmp_path / "nir-bundle").resolve()
    assert exported.manifest == json.loads((exported.path / "manifest.json").read_text())

    x = (np.random.default_rng(1).random((40, 2, 6)) < 0.3).astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    v = nd.validate(exported.path, executor="emulator", input=tmp_path / "x.npy", min_agreement_pct=90.0,
                    min_psnr_db=0.0)
    assert isinstance(v, nd.Validation) and v.passed and v.executor == "emulator" and v.reference == "nir-torch"
    assert v.data == json.loads((exported.path / "validation.json").read_text())["executors"]["emulator"]
    assert list(v.layers) == ["lif"] and v.data["input"]["samples"] == 2
    traces = nd.run(exported.path, "nir-torch", input=tmp_path / "x.npy")
    assert len(traces) == 2 and traces[0].layers["lif"].shape == (40, 5) and traces[0].layers["lif"].sum() > 0
    r = nd.report(exported.path, executor="nir-torch", input=tmp_path / "x.npy", html=False)
    assert isinstance(r, nd.Report) and r.totals["spikes"] == pytest.approx(
        np.mean([t.layers["lif"].sum() for t in traces]))
    assert [p.name for p in r.files] == ["report.json", "report.md"] and all(p.is_file() for p in r.files)

    model = nd.export(toy_checkpoint, tmp_path / "model-bundle", size=(12, 12))
    assert model.kind == "model" and not model.quantized
    v = nd.validate(model.path, executor="split")
    assert v.passed and v.reference == "torch-float64" and v.first_divergence is None
    with pytest.raises(NeurodeployError, match="not --image"):
        nd.validate(exported.path, images=["a.png"])
    with pytest.raises(NeurodeployError, match="does not run a bundle of a .nir file"):
        nd.run(exported.path, "torch")


def test_derain_and_evaluate_return_typed_results(tmp_path):
    from neurodeploy.images import DEFAULT_IMAGE, read_image, write_image

    pairs = tmp_path / "pairs"
    for side in ("rainy", "clean"):
        (pairs / side).mkdir(parents=True)
        write_image(pairs / side / "a.png", read_image(DEFAULT_IMAGE)[:, :32, :48])
    done = nd.derain("toy-residual", [pairs / "rainy" / "a.png"], tmp_path / "out", tile=0)
    assert isinstance(done, nd.Derained) and done.executor == "torch"
    assert [p.name for p in done.files] == ["a.png"] and done.files[0].is_file()
    scores = nd.evaluate("toy-residual", pairs, tile=0)
    assert isinstance(scores, nd.Evaluation) and scores.count == 1
    assert scores.input_psnr == float("inf") or scores.input_psnr > 90  # rainy == clean here
    assert scores.psnr == pytest.approx(scores.data["psnr"])
