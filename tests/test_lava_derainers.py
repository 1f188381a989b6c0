"""Whole derainers on the Lava float simulator (host islands inside the run) against torch float64."""

from __future__ import annotations

import json

import pytest


@pytest.mark.lava
@pytest.mark.parametrize("checkpoint", ["esdnet-tiny", "spikerain-tiny", "vlifnet-tiny"])
def test_derainer_on_lava_float_agrees_with_torch(run_cli, tmp_path, checkpoint):
    out = tmp_path / "b"
    code, text, err = run_cli("export", checkpoint, "--out", out, "--size", "16", "16", "--json")
    assert code == 0, err
    assert "status" not in json.loads(text)["lowering"]  # lowered, not refused
    code, text, err = run_cli("validate", out, "--executor", "lava-float", "--min-agreement", "99.9", "--json")
    verdict = json.loads(text)
    assert code == 0 and verdict["passed"] is True, verdict
    assert min(verdict["layers"].values()) >= 99.9 and verdict["output_psnr_db"] >= 60
    assert len(verdict["layers"]) >= 10


@pytest.mark.lava
def test_removing_one_delay_at_a_derainer_join_fails_at_the_join(tmp_path):
    """Drop the delay line on one input of a join: validation must fail, first at the join's consumer."""
    import numpy as np

    from neurodeploy.bundle import Bundle, export_bundle
    from neurodeploy.images import load_inputs
    from neurodeploy.targets import make_executor
    from neurodeploy.targets.loihi.executor import LavaSimExecutor
    from neurodeploy.targets.loihi.lower import lower
    from neurodeploy.verify import verdict

    export_bundle("esdnet-tiny", tmp_path / "b", size=(16, 16))
    bundle = Bundle.open(tmp_path / "b")
    lowered = lower(bundle.graph, bundle.info)
    # a residual join into a neuron: the short path's delay line (patch_embed -> down1_2.0 in ESDNet)
    edge = next(e for e in lowered.edges if e.delay and lowered.nodes[e.dst].kind == "lif")
    edge.delay = 0
    images, names = load_inputs(None, bundle.input_size)
    ref = make_executor("torch-float64", bundle).run(images)
    got = LavaSimExecutor(bundle.graph, bundle.info, lowered=lowered, island_dir=bundle.path / "host").run(images)
    v = verdict(ref, got, names)
    assert not v.passed
    assert v.first_divergence.layer == edge.dst, (edge, v.first_divergence)  # the neuron that sums the join
    assert np.isfinite(v.output_psnr_db)
