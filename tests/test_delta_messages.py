"""Issue 31: sigma-delta messages across the chip/host cut -- a value is sent only when it changed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodeploy.delta_messages import delta_encode


def test_threshold_zero_is_exact_and_a_repeated_value_is_sent_once():
    x = torch.tensor([[1.0, 0.0, 2.0], [1.0, 0.0, 3.0], [1.0, 5.0, 3.0], [0.0, 5.0, 3.0]])
    held, messages = delta_encode(x, 0.0)
    assert torch.equal(held, x)
    # first column: sent at t0, unchanged, then changed to 0 at t3 (2); second: 0 costs nothing until t2 (1);
    # third: t0 and t1 (2)
    assert messages == 5


def test_a_threshold_bounds_the_error_and_sends_fewer_messages():
    rng = np.random.default_rng(0)
    x = torch.as_tensor(np.cumsum(rng.normal(0, 0.01, size=(16, 200)), axis=0))  # slowly drifting values
    exact, n0 = delta_encode(x, 0.0)
    held, n1 = delta_encode(x, 0.05)
    assert torch.equal(exact, x) and n0 == x.numel()  # continuous values: every one changes every step
    assert float((held - x).abs().max()) <= 0.05 and n1 < n0 / 2
    with pytest.raises(ValueError, match="negative"):
        delta_encode(x, -1.0)


def test_nir_torch_counts_the_messages_of_a_gates_graph_and_threshold_zero_changes_nothing():
    """esdnet-tiny, residency gates, a real crop: with threshold 0 the run is the plain run, value for value,
    and the image (held by the direct encoder on the chip) crosses once per image: a quarter of its
    values per step at T = 4; a threshold of 0.05 sends fewer messages and costs PSNR."""
    from neurodeploy.checkpoint import load_model
    from neurodeploy.images import DEFAULT_IMAGE, read_image
    from neurodeploy.ir import DeployGraph, graph_info
    from neurodeploy.nir_export import export_graph
    from neurodeploy.passes.partition import partition, summarize
    from neurodeploy.targets.nir_torch import NirTorchExecutor

    model, ckpt = load_model("esdnet-tiny")
    graph = export_graph(model, (32, 32), architecture=ckpt.architecture, config=ckpt.config, residency="gates")
    g = DeployGraph(graph, graph_info(graph))
    shape_count = summarize(g, partition(g))["values_crossing_per_step"]
    image = read_image(DEFAULT_IMAGE)[None, :, 100:132, 200:232]
    plain = NirTorchExecutor(g.nir, g.info).run(image)[0]
    exact = NirTorchExecutor(g.nir, g.info, delta_threshold=0.0).run(image)[0]
    loose = NirTorchExecutor(g.nir, g.info, delta_threshold=0.05).run(image)[0]
    assert "cut_messages_per_step" not in plain.meta
    assert np.array_equal(plain.output, exact.output)
    assert all(np.array_equal(plain.layers[n], exact.layers[n]) for n in plain.layers)
    m0, m1 = exact.meta["cut_messages_per_step"], loose.meta["cut_messages_per_step"]
    assert m0["input->encode"] == np.count_nonzero(image) / 4  # the image into the chip's hold, once
    assert sum(m1.values()) < sum(m0.values()) < shape_count
    assert not np.array_equal(loose.output, plain.output)


def test_a_threshold_above_zero_runs_on_nir_torch_only_and_nir_files_refuse_it(run_cli, tmp_path):
    code, _, err = run_cli("export", "esdnet-tiny", "--size", "16", "16", "--residency", "gates",
                           "--delta-threshold", "0.02", "--out", str(tmp_path / "b"))
    assert code == 0, err
    code, _, err = run_cli("validate", str(tmp_path / "b"), "--executor", "emulator")
    assert code == 2 and "sigma-delta messages" in err and "--delta-threshold 0" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run_cli("export", "esdnet-tiny", "--delta-threshold", "-1", "--out", str(tmp_path / "c"))
    assert code == 2 and ">= 0" in err and not (tmp_path / "c").exists()


def test_relative_thresholds_are_a_fraction_of_each_edges_range():
    from neurodeploy.delta_messages import relative_thresholds

    assert relative_thresholds({"gate": 1.0, "map": 40.0}, 0.05) == {"gate": 0.05, "map": 2.0}
    assert relative_thresholds({"gate": 1.0}, 0.0) == {"gate": 0.0}
    with pytest.raises(ValueError, match="fraction >= 0"):
        relative_thresholds({"gate": 1.0}, -0.1)


def test_export_delta_relative_gives_each_cut_edge_its_own_threshold(run_cli, tmp_path):
    """export --delta-relative: each cut edge's source gets R x the largest |value| it sends on the export's
    input (here the example image), stored in the graph and the manifest; nir-torch uses each edge's own;
    the executors that cannot send sigma-delta refuse the bundle in one line."""
    import json

    from neurodeploy.bundle import Bundle
    from neurodeploy.targets.nir_torch import NirTorchExecutor

    code, _, err = run_cli("export", "esdnet-tiny", "--size", "16", "16", "--residency", "gates",
                           "--delta-relative", "0.05", "--out", str(tmp_path / "b"))
    assert code == 0, err
    bundle = Bundle.open(tmp_path / "b")
    th = bundle.info.delta_thresholds
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["partition"]["delta_thresholds"] == th and manifest["partition"]["delta_threshold"] == 0.0
    g = bundle.deploy_graph
    measure = NirTorchExecutor(g.nir, g.info, delta_threshold=0.0)
    from neurodeploy.images import load_inputs

    measure.run(load_inputs(None, (16, 16))[0])
    assert th and set(th) <= set(measure.cut_maxima)
    for s, t in th.items():  # its own fraction of its own range: not one threshold for all
        assert t == pytest.approx(0.05 * measure.cut_maxima[s], rel=1e-12)
    assert len({round(t, 12) for t in th.values() if t > 0}) > 1
    own = NirTorchExecutor(g.nir, g.info).run(load_inputs(None, (16, 16))[0])[0]
    exact = measure.run(load_inputs(None, (16, 16))[0])[0]
    assert sum(own.meta["cut_messages_per_step"].values()) < sum(exact.meta["cut_messages_per_step"].values())
    code, _, err = run_cli("validate", str(tmp_path / "b"), "--executor", "emulator")
    assert code == 2 and "--delta-relative" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("export", "esdnet-tiny", "--delta-relative", "0.1", "--delta-threshold", "0.1",
                           "--out", str(tmp_path / "c"))
    assert code == 2 and "exclude each other" in err and not (tmp_path / "c").exists()
