"""Lava fixed_pt against the integer emulator: the project's fixed_pt Conv model against Lava's own,
whole quantized derainers (``lava-fixed`` vs ``emulator``), and a flipped rounding rule caught.

Default run: the fast Conv model against Lava's ``PyConvModelFixed`` on random layers (one Lava
run), esdnet-tiny at 16x16 and spikerain-tiny at 8x8 through ``validate --executor lava-fixed
--against emulator``. Slow (``-m slow``): vlifnet-tiny at 16x16, the three at 64x64, the stock
models on a whole derainer.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurodeploy.bundle import Bundle, export_bundle
from neurodeploy.images import load_inputs
from neurodeploy.limits import LOIHI2
from neurodeploy.targets import emulator as emu
from neurodeploy.targets import make_executor
from neurodeploy.verify import compare, verdict

CALIB = "examples/images/calib"

# --- the vectorised fixed_pt Conv model against Lava's own, in one Lava run ---------------------

CONV_IN = (6, 7, 4)  # X, Y, C (Lava layout)
CASES = {
    # name: (C_out, k, stride, padding, dilation, groups, num_message_bits)
    "dense_graded": (5, 3, 1, 1, 1, 1, 24),
    "stride2_graded": (6, 3, 2, 1, 1, 1, 24),
    "dilated_grouped": (4, 3, 1, 2, 2, 2, 24),
    "depthwise": (4, 3, 1, 1, 1, 4, 24),
    "binary": (3, 1, 1, 0, 1, 1, 0),  # num_message_bits = 0: Lava reads the payload as bool
}
STEPS = 4


def _conv_case_data():
    rng = np.random.default_rng(1717)
    data = rng.integers(-(1 << 11), 1 << 11, size=CONV_IN + (STEPS,))
    data[2, 3, :, 1] = (1 << 20) - 1  # large payloads: 24-bit wraps in the sums
    data[..., 2] = rng.integers(0, 4, size=CONV_IN)  # small non-negative payloads (the binary case sees 0/1/2/3)
    weights = {n: rng.integers(-127, 128, size=(c, k, k, CONV_IN[2] // g)) for n, (c, k, _, _, _, g, _) in CASES.items()}
    return data, weights


@pytest.fixture(scope="module")
def conv_runs():
    import neurodeploy.targets.loihi  # noqa: F401  (Lava's Python 3.11 shim)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.conv.process import Conv
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    from neurodeploy.targets.loihi.processes.fixed import PyConvModelFixedFast

    data, weights = _conv_case_data()
    src = Source(data=data.astype(np.int32))
    sinks, models = {}, {}
    for name, (_, _, s, p, d, g, bits) in CASES.items():
        for variant in ("stock", "fast"):
            conv = Conv(weight=weights[name], input_shape=CONV_IN, padding=(p, p), stride=(s, s), dilation=(d, d),
                        groups=g, num_message_bits=bits)
            if variant == "fast":
                models[conv] = PyConvModelFixedFast
            sinks[(name, variant)] = Sink(shape=conv.a_out.shape, buffer=STEPS)
            src.s_out.connect(conv.s_in)
            conv.a_out.connect(sinks[(name, variant)].a_in)
    try:
        src.run(condition=RunSteps(num_steps=STEPS),
                run_cfg=Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=models))
        out = {key: np.asarray(s.data.get(), dtype=np.int64) for key, s in sinks.items()}
    finally:
        src.stop()
    return data, weights, out


@pytest.mark.lava
def test_fast_fixed_conv_model_equals_lavas_fixed_conv_bit_for_bit(conv_runs):
    data, weights, out = conv_runs
    for name, (_, _, s, p, d, g, bits) in CASES.items():
        stock, fast = out[(name, "stock")], out[(name, "fast")]
        np.testing.assert_array_equal(fast, stock, err_msg=name)
        assert np.any(stock[..., 1:] != 0), name  # the case computed something (step 0 is the synapse's delay)
    # the edge cases were exercised in Lava: a wrapped sum and the binary read of payloads 2, 3
    x = data[..., 1].astype(np.int64)
    w = weights["dense_graded"]
    exact = emu.conv_int(torch.as_tensor(x.transpose(2, 1, 0))[None],
                         torch.as_tensor(np.ascontiguousarray(w[:, ::-1, ::-1].transpose(0, 3, 2, 1))),
                         padding=(1, 1), counts=(counts := {}))
    assert counts.get("acc_wrapped", 0) > 0
    np.testing.assert_array_equal(exact[0].numpy().transpose(2, 1, 0), out[("dense_graded", "stock")][..., 2])
    assert (data[..., 2] > 1).any()


# --- whole derainers: lava-fixed vs the emulator -----------------------------------------------

def _bundle(tmp_path_factory, model: str, size: int):
    out = tmp_path_factory.mktemp(model) / "b"
    export_bundle(model, out, size=(size, size), quantize="int", calib=CALIB)
    return Bundle.open(out)


def _run(bundle, executor: str):
    images, names = load_inputs(None, bundle.input_size)
    return make_executor(executor, bundle).run(images), names


@pytest.fixture(scope="module")
def esdnet16(tmp_path_factory):
    bundle = _bundle(tmp_path_factory, "esdnet-tiny", 16)
    lava, names = _run(bundle, "lava-fixed")
    return bundle, lava, names


@pytest.mark.lava
def test_validate_lava_fixed_against_emulator_is_100_percent_on_esdnet_tiny(esdnet16, run_cli):
    bundle, lava, names = esdnet16
    ref, _ = _run(bundle, "emulator")
    v = verdict(ref, lava, names)
    assert v.layers and all(a == 100.0 for a in v.layers.values()), v.layers
    assert v.first_divergence is None and v.output_psnr_db == 200.0  # identical output image
    assert sum(float(lava[0].layers[n].sum()) for n in lava[0].layers) > 0  # neurons fired
    assert lava[0].meta["select_tag"] == "fixed_pt"


@pytest.mark.lava
def test_flipping_the_rescale_rounding_fails_at_a_layer_fed_by_a_rescale(esdnet16, monkeypatch):
    """The relay synapse's ``(x · M) >> k`` rounds down (Lava's Dense with a negative weight_exp);
    rounded toward zero instead, the verifier must part exactly where the flipped emulator parts from
    the true one, at a layer whose input crosses a rescale."""
    bundle, lava, names = esdnet16
    good, _ = _run(bundle, "emulator")

    def toward_zero(x, m, k):
        y = x * m
        return torch.sign(y) * (torch.abs(y) >> k) if k >= 0 else y << -k

    monkeypatch.setattr(emu, "rescale", toward_zero)
    bad, _ = _run(bundle, "emulator")
    v = verdict(lava, bad, names)
    assert not v.passed and v.first_divergence is not None
    own = compare(good[0], bad[0]).first_divergence
    got = v.first_divergence
    assert (got.layer, got.step, got.neuron) == (own.layer, own.step, own.neuron)
    assert bundle.info.quant[got.layer]["rescale"], got.layer  # the layer reads a rescaled value
    assert verdict(lava, good, names).passed


@pytest.mark.lava
def test_cli_validate_lava_fixed_against_emulator_on_spikerain_tiny(tmp_path_factory, run_cli):
    bundle = _bundle(tmp_path_factory, "spikerain-tiny", 8)
    code, text, err = run_cli("validate", str(bundle.path), "--executor", "lava-fixed", "--against", "emulator",
                              "--json")
    assert code == 0, err
    result = json.loads(text)
    assert result["passed"] and result["layers"] and set(result["layers"].values()) == {100.0}
    assert result["first_divergence"] is None
    assert "lava-fixed" in json.loads((bundle.path / "validation.json").read_text())["executors"]


def test_lava_fixed_refuses_a_float_bundle_in_one_line(tmp_path, run_cli):
    export_bundle("toy-residual", tmp_path / "toy", size=(12, 10))
    before = sorted(p.name for p in (tmp_path / "toy").iterdir())
    code, text, err = run_cli("validate", str(tmp_path / "toy"), "--executor", "lava-fixed", "--against", "emulator")
    assert code == 2 and "--quantize int" in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == before  # nothing written


# --- slow: the three tiny derainers, 64x64 -------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("model,size", [("vlifnet-tiny", 16), ("esdnet-tiny", 64), ("spikerain-tiny", 64),
                                        ("vlifnet-tiny", 64)])
def test_lava_fixed_equals_emulator_on_every_layer(tmp_path_factory, model, size):
    bundle = _bundle(tmp_path_factory, model, size)
    lava, names = _run(bundle, "lava-fixed")
    ref, _ = _run(bundle, "emulator")
    v = verdict(ref, lava, names)
    assert v.layers and set(v.layers.values()) == {100.0} and v.output_psnr_db == 200.0, v.first_divergence


@pytest.mark.lava
def test_unfused_fixed_network_equals_the_fused_one_with_more_processes(esdnet16):
    """Fusing the integer function processes (and holding their input delays inside) changes no
    spike and no output value, only the number of Lava processes."""
    from neurodeploy.targets.loihi.fixed_network import FixedLavaNetwork

    bundle, lava, names = esdnet16
    ex = make_executor("lava-fixed", bundle)
    images, _ = load_inputs(None, bundle.input_size)
    fused = FixedLavaNetwork(ex.lowered, images, bundle.path / "host")
    alone = FixedLavaNetwork(ex.lowered, images, bundle.path / "host", fuse=False)
    assert fused.process_count < alone.process_count
    spikes, outputs, _ = alone.run("fixed_pt")
    for n in ex.layers:
        got = alone.logical(spikes[n], ex.lowered.nodes[n].latency, 0) * float(ex.quant[n].get("scale", 1.0))
        np.testing.assert_array_equal(got, lava[0].layers[n], err_msg=n)
    np.testing.assert_array_equal(outputs[0], lava[0].output)


@pytest.mark.slow
def test_lava_fixed_stock_models_equal_the_emulator_on_esdnet_tiny(esdnet16):
    bundle, lava, names = esdnet16
    stock, _ = _run(bundle, "lava-fixed-stock")
    v = verdict(lava, stock, names)
    assert set(v.layers.values()) == {100.0} and v.output_psnr_db == 200.0


def test_fixed_lowering_refuses_a_process_kind_without_a_fixed_form_by_name():
    from neurodeploy.errors import LoweringError
    from neurodeploy.targets.loihi.fixed import FIXED_KINDS, FixedKind, lower_fixed
    from neurodeploy.targets.loihi.lower import LavaEdge, LavaNode, LoweredNetwork

    low = LoweredNetwork(4, {"x": LavaNode("x", "input", (2, 2, 1)),
                             "n": LavaNode("n", "izhikevich", (2, 2, 1), latency=1)},
                         [LavaEdge("x", "n", "real")], True)
    quant = {"n": {"kind": "izhikevich", "in_scale": 0.5, "rescale": {}}}
    with pytest.raises(LoweringError, match="'n' \\(izhikevich\\) has no fixed_pt form"):
        lower_fixed(low, quant, {})
    # a neuron kind plugs in with a FixedKind: its inputs get an adapter like a LIF's (host values rounded)
    FIXED_KINDS["izhikevich"] = FixedKind(neuron=True)
    try:
        fixed = lower_fixed(low, quant, {})
    finally:
        del FIXED_KINDS["izhikevich"]
    assert fixed.neurons == ["n"] and fixed.nodes["n:in"].kind == "adapter"
    assert fixed.nodes["n:in"].params["convs"] == [("quantize", 0.5, LOIHI2.a_in.hi)]  # a neuron's int16 a_in
    assert ("x", "n:in") in fixed.float_edges and [(e.src, e.dst) for e in fixed.edges] == [("x", "n:in"), ("n:in", "n")]


@pytest.mark.lava
def test_fast_fixed_conv_model_pools_over_more_than_127_channels():
    """A split gate's statistic is a depthwise pooling over all channels (VLIF-Net's: r^2 C = 128 at
    level 3): Lava's own Conv model holds ``groups`` as int8, where 128 wraps to -128 and the conv sums
    nothing. The project's model holds it as int32 and sums every channel's pixels."""
    from neurodeploy.targets.loihi.processes.fixed import PyConvModelFixedFast  # first: installs Lava's compat

    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.conv.process import Conv
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    channels, steps = 128, 3
    data = np.random.default_rng(0).integers(0, 5, size=(2, 2, channels, steps)).astype(np.int32)
    src = Source(data=data)
    conv = Conv(weight=np.ones((channels, 2, 2, 1), dtype=np.int32), input_shape=(2, 2, channels),
                groups=channels, num_message_bits=24)
    sink = Sink(shape=conv.a_out.shape, buffer=steps)
    src.s_out.connect(conv.s_in)
    conv.a_out.connect(sink.a_in)
    try:
        src.run(condition=RunSteps(num_steps=steps),
                run_cfg=Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={conv: PyConvModelFixedFast}))
        out = np.asarray(sink.data.get(), dtype=np.int64)
    finally:
        src.stop()
    expected = data.astype(np.int64).sum(axis=(0, 1))  # (C, steps): one step of synaptic latency
    np.testing.assert_array_equal(out[0, 0, :, 1:], expected[:, :-1])
    assert expected[:, :-1].any()
