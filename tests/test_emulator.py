"""The integer emulator against hand-computed values and against Lava's own fixed_pt models.

Lava runs (marked ``lava``): one of ``lava.proc.lif.process.LIF`` layers fed through an
identity ``Dense`` (graded, 24 message bits), read every step; one of two
``lava.proc.conv.process.Conv`` layers. Each is built once per module. The emulator must
reproduce every spike and every ``u``/``v`` of every step, and every conv output; with one
rounding rule flipped (the decay's toward-zero shift made a floor shift) the verifier must
fail at the layer whose states go negative.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodeploy import verify
from neurodeploy.limits import LOIHI2
from neurodeploy.targets import emulator as emu
from neurodeploy.trace import Trace

HALF = 1 << 23


# --- hand values (no Lava) -------------------------------------------------------------------

def test_lif_int_fires_only_strictly_above_vth_times_64_and_resets_v_to_0():
    # du = 4095 clears u each step, dv = 0 keeps v: v accumulates a_in << 6.
    a_in = torch.tensor([[10, 10, 11], [0, 1, 0], [0, 0, 0]])
    s, u, v = emu.lif_int(a_in, du=4095, dv=0, vth_mant=10, state=True)
    assert s.tolist() == [[0, 0, 1], [0, 1, 0], [0, 0, 0]]  # 640 is a tie (no spike); 641 spikes
    assert v.tolist() == [[640, 640, 0], [640, 0, 0], [640, 0, 0]]
    assert u.tolist() == [[640, 640, 704], [0, 64, 0], [0, 0, 0]]


def test_lif_int_decays_toward_zero_wraps_u_and_saturates_v():
    # dv = 2048 halves v toward zero: -3 -> -1 (a floor shift would give -2)
    s, u, v = emu.lif_int(torch.tensor([[0], [0]]), du=4095, dv=2048, vth_mant=1, bias=-3, state=True)
    assert v.flatten().tolist() == [-3, -4]  # -3, then trunc0(-3/2) = -1, + bias -3 = -4
    # du = 0 keeps 4095/4096 of u; 2**16 - 1 per step: u passes 2**23 and wraps by 2**24
    a = torch.full((3, 1), (1 << 16) - 1)
    s, u, v = emu.lif_int(a, du=0, dv=0, vth_mant=1 << 17, state=True)
    u1 = (1 << 16) - 1 << 6
    u2 = (u1 * 4095 >> 12) + u1
    u3 = (u2 * 4095 >> 12) + u1 - (1 << 24)
    assert u.flatten().tolist() == [u1, u2, u3] and u3 < 0
    assert v.flatten().tolist()[1] == HALF - 1  # u1 + u2 > 2**23 - 1: saturates
    assert s.sum() == 0


def test_conv_int_wraps_the_sum_at_24_bits_and_rescale_rounds_down():
    x = torch.tensor([[[[HALF - 1]], [[1]]]])  # (1, 2, 1, 1)
    w = torch.tensor([[[[1]], [[1]]], [[[2]], [[0]]]])  # out0 = x0 + x1 = 2**23 -> -2**23; out1 = 2 x0
    counts = {}
    assert emu.conv_int(x, w, counts=counts).flatten().tolist() == [-HALF, -2]
    assert counts["acc_wrapped"] == 2
    assert emu.rescale(torch.tensor([-5, 5]), 3, 2).tolist() == [-4, 3]  # -15/4 -> -4, 15/4 -> 3
    assert emu.rescale(torch.tensor([-5]), 3, -1).tolist() == [-30]


# --- Lava fixed_pt ----------------------------------------------------------------------------

STEPS = 12
N = 16
RNG_SEED = 17


def _lif_layers():
    rng = np.random.default_rng(RNG_SEED)
    layers = {}
    ties = np.zeros((N, STEPS - 1), dtype=np.int64)
    ties[0, 0] = 10                      # v = 640 = vth << 6: no spike, and stays (dv = 0)
    ties[1, 0], ties[1, 1] = 10, 1       # 640, then 704: spikes
    ties[2, 0] = 11                      # 704: spikes at once
    ties[3:] = rng.integers(0, 4, size=(N - 3, STEPS - 1))
    layers["ties"] = (dict(du=4095, dv=0, vth=10, bias_mant=np.zeros(N, int), bias_exp=0), ties)
    sat = np.full((N, STEPS - 1), (1 << 16) - 1, dtype=np.int64)
    sat[N // 2:] *= -1                   # u wraps both ways, v saturates both ways
    layers["saturation"] = (dict(du=0, dv=0, vth=1 << 17, bias_mant=np.zeros(N, int), bias_exp=0), sat)
    derainer = rng.integers(0, 40, size=(N, STEPS - 1))  # the derainers' form: du = 4095, dv = 2048
    layers["derainer_form"] = (dict(du=4095, dv=2048, vth=37, bias_mant=rng.integers(-300, 300, N), bias_exp=2),
                               derainer)
    for i in range(3):
        layers[f"random{i}"] = (dict(du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
                                     vth=int(rng.integers(50, 3000)), bias_mant=rng.integers(-400, 400, N),
                                     bias_exp=int(rng.integers(0, 4))),
                                rng.integers(-3000, 3000, size=(N, STEPS - 1)))
    return layers


LIF_LAYERS = _lif_layers()
RESCALES = [(154, 9), (-128, 7), (150, 2)]  # (M, k): M/2**k = 0.30, -1.0, 37.5
POSITIVE_LAYERS = ("ties", "derainer_form")  # layers whose states never go negative... except by bias


@pytest.fixture(scope="module")
def lava_lif():
    """Every layer of LIF_LAYERS in one fixed_pt run, read each step: spikes, u, v (integer units)."""
    import neurodeploy.targets.loihi  # noqa: F401  (Lava's Python 3.11 shim)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    lanes = N * len(LIF_LAYERS)
    data = np.zeros((lanes, STEPS), dtype=np.int32)
    for i, (_, payload) in enumerate(LIF_LAYERS.values()):
        data[i * N:(i + 1) * N, :STEPS - 1] = payload
    src = Source(data=data)
    procs, sinks = {}, {}
    for i, (name, (kw, _)) in enumerate(LIF_LAYERS.items()):
        sel = np.zeros((N, lanes), dtype=np.int32)
        sel[np.arange(N), i * N + np.arange(N)] = 1
        dense = Dense(weights=sel, num_message_bits=24)
        lif = LIF(shape=(N,), du=kw["du"], dv=kw["dv"], vth=kw["vth"], bias_mant=np.asarray(kw["bias_mant"]),
                  bias_exp=kw["bias_exp"])
        sink = Sink(shape=(N,), buffer=STEPS)
        src.s_out.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        lif.s_out.connect(sink.a_in)
        procs[name], sinks[name] = lif, sink
    # rescales (relay synapses): a diagonal Dense with weight M and weight_exp = -k on random0's lanes
    lane0 = list(LIF_LAYERS).index("random0") * N
    relays = {}
    for m, k in RESCALES:
        sel = np.zeros((N, lanes), dtype=np.int32)
        sel[np.arange(N), lane0 + np.arange(N)] = m
        dense = Dense(weights=sel, weight_exp=-k, num_message_bits=24)
        relays[(m, k)] = Sink(shape=(N,), buffer=STEPS)
        src.s_out.connect(dense.s_in)
        dense.a_out.connect(relays[(m, k)].a_in)
    out = {name: {"u": [], "v": []} for name in procs}
    try:
        for _ in range(STEPS):
            src.run(condition=RunSteps(num_steps=1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            for name, lif in procs.items():
                out[name]["u"].append(np.asarray(lif.u.get(), dtype=np.int64))
                out[name]["v"].append(np.asarray(lif.v.get(), dtype=np.int64))
        for name, sink in sinks.items():
            out[name]["spikes"] = np.asarray(sink.data.get(), dtype=np.int64).T
        rescaled = {mk: np.asarray(sink.data.get(), dtype=np.int64).T for mk, sink in relays.items()}
    finally:
        src.stop()
    result = {name: {k: np.asarray(v) for k, v in d.items()} for name, d in out.items()}
    result["rescale"] = rescaled
    return result


def _emulate_lif(name):
    kw, payload = LIF_LAYERS[name]
    a_in = np.zeros((STEPS, N), dtype=np.int64)
    a_in[1:] = payload.T[:STEPS - 1]  # Dense delays by one step: column t reaches the LIF at step t + 1
    bias = torch.as_tensor(np.asarray(kw["bias_mant"], dtype=np.int64)) << kw["bias_exp"]
    s, u, v = emu.lif_int(torch.as_tensor(a_in), kw["du"], kw["dv"], kw["vth"], bias, state=True)
    return s.numpy(), u.numpy(), v.numpy()


@pytest.mark.lava
def test_rescales_match_lavas_dense_with_a_negative_weight_exp(lava_lif):
    payload = LIF_LAYERS["random0"][1]
    x = np.zeros((STEPS, N), dtype=np.int64)
    x[1:] = payload.T[:STEPS - 1]
    for (m, k), got in lava_lif["rescale"].items():
        np.testing.assert_array_equal(emu.rescale(torch.as_tensor(x), m, k).numpy(), got, err_msg=f"M={m}, k={k}")
    assert (x < 0).any() and (x * 154 % 512 != 0).any()  # negative, inexact values: the floor rounding mattered


def _traces(lava, flip=False, monkeypatch=None):
    if flip:  # the decay's rounding toward zero replaced by a floor shift
        monkeypatch.setattr(emu, "decay_", lambda x, keep, bits: np.floor(x * keep * 2.0 ** -bits, out=x))
    ours = {n: _emulate_lif(n) for n in LIF_LAYERS}
    lava = {n: lava[n] for n in LIF_LAYERS}
    # spikes and states as layers of one Trace each, so that the verifier compares all three
    ref = Trace("lava-fixed", STEPS, {f"{n}/{k}": lava[n][k].astype(float) for n in LIF_LAYERS
                                      for k in ("spikes", "u", "v")}, np.zeros(1))
    got = Trace("emulator", STEPS, {f"{n}/{k}": ours[n][i].astype(float) for n in LIF_LAYERS
                                    for i, k in enumerate(("spikes", "u", "v"))}, np.zeros(1))
    return ref, got, ours


@pytest.mark.lava
def test_lif_layers_match_lavas_fixed_pt_lif_in_every_spike_u_and_v(lava_lif):
    ref, got, ours = _traces(lava_lif)
    cmp = verify.compare(ref, got)
    assert cmp.first_divergence is None, cmp.first_divergence
    for name in LIF_LAYERS:
        s, u, v = ours[name]
        np.testing.assert_array_equal(u, lava_lif[name]["u"], err_msg=f"{name}: u")
        np.testing.assert_array_equal(v, lava_lif[name]["v"], err_msg=f"{name}: v")
    # the edge cases happened in Lava (else the test would prove nothing about them)
    assert lava_lif["ties"]["spikes"][:, 0].sum() == 0 and lava_lif["ties"]["v"][1:, 0].max() == 640
    assert lava_lif["ties"]["spikes"][:, 1].sum() == 1 and lava_lif["ties"]["spikes"][:, 2].sum() == 1
    sat = lava_lif["saturation"]
    assert (sat["v"] == HALF - 1).any() and (sat["v"] == -(HALF - 1)).any()
    assert (np.diff(np.sign(sat["u"][:, 0])) < 0).any()  # u wrapped from + to -
    assert all(lava_lif[f"random{i}"]["spikes"].sum() > 0 for i in range(3))


@pytest.mark.lava
def test_flipping_the_decay_rounding_makes_the_verifier_fail_at_a_layer_with_negative_states(lava_lif, monkeypatch):
    ref, got, ours = _traces(lava_lif, flip=True, monkeypatch=monkeypatch)
    cmp = verify.compare(ref, got)
    v_diff = [n for n in LIF_LAYERS if not np.array_equal(ours[n][2], lava_lif[n]["v"])]
    assert v_diff, "a floor shift in the decay must change some membrane"
    assert cmp.first_divergence is not None
    layer, state = cmp.first_divergence.layer.split("/")
    assert state in ("u", "v") and (lava_lif[layer][state] < 0).any()
    assert cmp.layers["ties/v"][0] == cmp.layers["ties/v"][1]  # all states >= 0 there: both roundings agree


CONV_SHAPE = (3, 6, 7)  # C, H, W
CONV_CASES = {
    # name: (C_out, kernel, stride, padding)
    "k3_s1_p1": (4, 3, 1, 1),
    "k3_s2_p1": (5, 3, 2, 1),
}


def _conv_inputs():
    rng = np.random.default_rng(RNG_SEED + 1)
    x = rng.integers(-(1 << 12), 1 << 12, size=(2, *CONV_SHAPE))
    x[1, :, 2, 3] = (1 << 20) - 1  # large payloads: the 24-bit sums wrap
    weights = {name: rng.integers(-128, 128, size=(c, CONV_SHAPE[0], k, k)) for name, (c, k, _, _) in CONV_CASES.items()}
    return x, weights


@pytest.fixture(scope="module")
def lava_conv():
    import neurodeploy.targets.loihi  # noqa: F401
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.conv.process import Conv
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    x, weights = _conv_inputs()
    c, h, w = CONV_SHAPE
    data = np.zeros((w, h, c, 3), dtype=np.int32)
    for t in range(2):
        data[..., t] = x[t].transpose(2, 1, 0)
    src = Source(data=data)
    sinks = {}
    for name, (c_out, k, stride, pad) in CONV_CASES.items():
        lava_w = np.ascontiguousarray(weights[name][:, :, ::-1, ::-1].transpose(0, 3, 2, 1))  # as the lowering lays it
        conv = Conv(weight=lava_w, input_shape=(w, h, c), padding=(pad, pad), stride=(stride, stride),
                    num_message_bits=24)
        sinks[name] = Sink(shape=conv.a_out.shape, buffer=3)
        src.s_out.connect(conv.s_in)
        conv.a_out.connect(sinks[name].a_in)
    try:
        src.run(condition=RunSteps(num_steps=3), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = {name: np.asarray(s.data.get(), dtype=np.int64) for name, s in sinks.items()}
    finally:
        src.stop()
    return {name: np.stack([o[..., t].transpose(2, 1, 0) for t in (1, 2)]) for name, o in out.items()}


@pytest.mark.lava
def test_conv_layers_match_lavas_fixed_pt_conv_including_24_bit_wraps(lava_conv):
    x, weights = _conv_inputs()
    wrapped = 0
    for name, (_, _, stride, pad) in CONV_CASES.items():
        counts = {}
        ours = emu.conv_int(torch.as_tensor(x), torch.as_tensor(weights[name]), (stride, stride), (pad, pad),
                            counts=counts).numpy()
        np.testing.assert_array_equal(ours, lava_conv[name], err_msg=name)
        wrapped += counts.get("acc_wrapped", 0)
    assert wrapped > 0  # the wrap was exercised


def test_bilinear_x2_upsample_is_16_times_an_exact_integer_kernel():
    """align_corners=False: each output is (3 near + 1 far) / 4 per axis, borders replicated."""
    x = torch.as_tensor(np.random.default_rng(3).integers(-(1 << 20), 1 << 20, size=(1, 1, 5, 6)))

    def axis(a: torch.Tensor, dim: int) -> torch.Tensor:  # 4 x interp along one axis, in integers
        n = a.shape[dim]
        prev = a.index_select(dim, torch.tensor([0] + list(range(n - 1))))
        nxt = a.index_select(dim, torch.tensor(list(range(1, n)) + [n - 1]))
        even, odd = 3 * a + prev, 3 * a + nxt
        return torch.stack([even, odd], dim=dim + 1).flatten(dim, dim + 1)

    expected = axis(axis(x, 2), 3)
    got = torch.round(16 * torch.nn.functional.interpolate(x.double(), scale_factor=2, mode="bilinear",
                                                           align_corners=False)).long()
    assert torch.equal(got, expected)
