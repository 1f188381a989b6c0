"""Trace comparison: agreement, first divergence ordering, output PSNR."""

from __future__ import annotations

import numpy as np

from neurodeploy.trace import Trace
from neurodeploy.verify import PSNR_CAP_DB, compare, verdict


def _trace(name, layers, output):
    return Trace(name, 3, {k: v.copy() for k, v in layers.items()}, output.copy())


def test_identical_traces_pass_with_full_agreement():
    rng = np.random.default_rng(0)
    layers = {"a": (rng.random((3, 2, 4, 4)) > 0.5).astype(float), "b": (rng.random((3, 2, 4, 4)) > 0.5).astype(float)}
    out = rng.random((3, 4, 4))
    v = verdict([_trace("ref", layers, out)], [_trace("sim", layers, out)], ["img"])
    assert v.passed and v.layers == {"a": 100.0, "b": 100.0}
    assert v.first_divergence is None and v.output_psnr_db == PSNR_CAP_DB


def test_first_divergence_is_earliest_step_then_graph_order():
    layers = {"a": np.zeros((3, 2, 4, 4)), "b": np.zeros((3, 2, 4, 4))}
    ref = _trace("ref", layers, np.zeros((3, 4, 4)))
    sim = _trace("sim", layers, np.zeros((3, 4, 4)))
    sim.layers["a"][2, 1, 3, 0] = 1.0  # layer a differs at step 2
    sim.layers["b"][1, 0, 2, 1] = 1.0  # layer b (later in graph order) differs at step 1: earlier in time
    c = compare(ref, sim, "img")
    d = c.first_divergence
    assert (d.layer, d.step, d.index, d.neuron) == ("b", 1, [0, 2, 1], 0 * 16 + 2 * 4 + 1)
    assert (d.reference_value, d.executor_value) == (0.0, 1.0)
    assert c.layers["a"] == (95, 96)
    v = verdict([ref], [sim], ["img"], min_agreement_pct=98.0)
    assert v.passed  # 95/96 = 98.96 % per layer >= 98 %
    v = verdict([ref], [sim], ["img"], min_agreement_pct=99.0)
    assert not v.passed and v.first_divergence.layer == "b"


def test_output_difference_fails_on_psnr():
    layers = {"a": np.zeros((3, 1, 2, 2))}
    ref = _trace("ref", layers, np.full((3, 2, 2), 0.5))
    sim = _trace("sim", layers, np.full((3, 2, 2), 0.51))  # MSE 1e-4 -> 40 dB
    v = verdict([ref], [sim], ["img"], min_psnr_db=60.0)
    assert not v.passed and abs(v.output_psnr_db - 40.0) < 1e-6


def test_trace_save_load_round_trip(tmp_path):
    layers = {"x": np.ones((3, 1, 2, 2)), "y": np.zeros((3, 2, 1, 1))}
    t = Trace("torch", 3, layers, np.full((3, 2, 2), 0.25), meta={"image": "a.png"})
    t.save(tmp_path / "t.npz")
    u = Trace.load(tmp_path / "t.npz")
    assert list(u.layers) == ["x", "y"] and u.meta == {"image": "a.png"} and u.executor == "torch"
    np.testing.assert_array_equal(u.output, t.output)
