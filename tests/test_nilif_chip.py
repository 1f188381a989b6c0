"""NI-LIF as a chip node: the graph node against the model, the Lava process (floating_pt and
fixed_pt) against hand-computed sequences and the integer emulator, and a perturbed integer
threshold that the verifier must find at its layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodeploy.models.neurons import NILIF as ModelNILIF
from neurodeploy.models.vlifnet import PatchToTime as ModelPatchToTime
from neurodeploy.quantize.ptq import nilif_thresholds
from neurodeploy.targets.emulator import nilif_int
from neurodeploy.targets.nir_torch import nilif, patch_to_time

# Two positions (sub-steps) of one neuron per step, levels D = 4, beta = 0.25, in level units:
#   step 0, p0: u = 0.5            -> K = 0 (tie to even), h = 0.25 * 0.5      = 0.125
#   step 0, p1: u = 0.125 + 1.375  = 1.5   -> K = 2 (tie to even), h = 0.25 * -0.5 = -0.125
#   step 1, p0: u = -0.125 + 2.625 = 2.5   -> K = 2 (tie to even), h = 0.25 * 0.5  = 0.125
#   step 1, p1: u = 0.125 + 5.0    = 5.125 -> K = 4 (clipped),     h = 0.25 * 1.125 = 0.28125
HAND_INPUT = [[0.5, 1.375], [2.625, 5.0]]
HAND_LEVELS = [[0, 2], [2, 4]]


def test_graph_nilif_over_patch_positions_equals_the_model_on_sub_steps():
    """The chip layout (r² channel groups per step, scanned in order) computes exactly what the
    model computes on T·r² sub-steps."""
    torch.manual_seed(0)
    x = torch.randn(4, 2, 3, 8, 6, dtype=torch.float64) * 2
    model = ModelNILIF(levels=4, beta=0.25)(ModelPatchToTime(2)(x))  # (T·4, N, C, 4, 3)
    chip = nilif(patch_to_time(x, 2), 4, 0.25, positions=4)  # (T, N, 4·C, 4, 3)
    relaid = model.reshape(4, 4, 2, 3, 4, 3).transpose(1, 2).reshape(chip.shape)
    assert torch.equal(chip, relaid)
    assert 0 < chip.count_nonzero() < chip.numel()  # graded spikes, not all silent or saturated


def test_graph_nilif_hand_sequence_with_ties():
    x = torch.tensor(HAND_INPUT, dtype=torch.float64).reshape(2, 1, 2)
    assert (nilif(x, 4, 0.25, positions=2) * 4).reshape(2, 2).tolist() == HAND_LEVELS


def _integer_hand_case():
    m = 4  # input resolution 2**-4 level per a_in LSB: one level = 2**(m+6) LSBs of v
    a_in = (np.asarray(HAND_INPUT) * 2**m).astype(np.int64)  # 8, 22 / 42, 80
    return a_in, nilif_thresholds(4, 2.0**-m), 1 << (m + 6), 3072  # dv: beta 0.25


def test_integer_nilif_hand_sequence_with_ties_and_leak():
    a_in, thresholds, level_lsbs, dv = _integer_hand_case()
    assert thresholds.tolist() == [512, 1535, 2560, 3583]  # level 1 and 3 ties go down, 2 and 4 up
    k = nilif_int(torch.as_tensor(a_in).reshape(2, 1, 2), thresholds, level_lsbs, dv, positions=2)
    assert k.reshape(2, 2).tolist() == HAND_LEVELS


def _run_lava_nilif(a_in: np.ndarray, tag: str, **params) -> np.ndarray:
    """a_in ``(steps, X, Y, C)`` through one Lava NILIF process; returns what it sent, same shape."""
    from neurodeploy.targets.loihi import compat

    compat.install()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    from neurodeploy.targets.loihi.processes import NILIF

    steps, shape = a_in.shape[0], a_in.shape[1:]
    source = Source(data=np.moveaxis(a_in, 0, -1))
    neuron = NILIF(shape=shape, **params)
    sink = Sink(shape=shape, buffer=steps)
    source.s_out.connect(neuron.a_in)
    neuron.s_out.connect(sink.a_in)
    try:
        source.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag=tag))
        out = sink.data.get()
    finally:
        source.stop()
    return np.moveaxis(out, -1, 0)


@pytest.mark.lava
def test_lava_nilif_float_and_fixed_hand_sequence_and_reset_between_images():
    """Two images back to back (T = 2 each, reset every 2 steps): both give the hand sequence."""
    x = np.asarray(HAND_INPUT).reshape(2, 1, 1, 2)
    out = _run_lava_nilif(np.concatenate([x, x]), "floating_pt", positions=2, levels=4, beta=0.25,
                          reset_interval=2, reset_offset=1)
    assert (out * 4).reshape(2, 2, 2).tolist() == [HAND_LEVELS, HAND_LEVELS]
    a_in, thresholds, level_lsbs, dv = _integer_hand_case()
    a_in = a_in.reshape(2, 1, 1, 2)
    out = _run_lava_nilif(np.concatenate([a_in, a_in]), "fixed_pt", positions=2, levels=4, thresholds=thresholds,
                          level_lsbs=level_lsbs, dv=dv, reset_interval=2, reset_offset=1)
    assert out.reshape(2, 2, 2).tolist() == [HAND_LEVELS, HAND_LEVELS]


@pytest.mark.lava
def test_lava_nilif_fixed_equals_the_emulator_on_random_inputs_with_saturation():
    rng = np.random.default_rng(0)
    steps, positions, c = 6, 4, 5
    a_in = rng.integers(-2**15, 2**15, size=(steps, 3, 2, positions * c))
    a_in[2, 0, 0, :c] = 2**18 - 1  # (a_in << 6) > 2**23: u saturates at 2**23 - 1
    thresholds = nilif_thresholds(4, 2.0**-10)  # one level = 2**16 LSBs of v
    params = dict(thresholds=thresholds, level_lsbs=1 << 16, dv=3072)
    lava = _run_lava_nilif(a_in, "fixed_pt", positions=positions, levels=4, reset_interval=steps, reset_offset=1,
                           **params)
    counts: dict = {}
    # the emulator's layout: (T, N, P·C, H, W); Lava's (X, Y, P·C) per step
    emu = nilif_int(torch.as_tensor(a_in.transpose(0, 3, 2, 1))[:, None], positions=positions, counts=counts,
                    **params)[:, 0].numpy().transpose(0, 3, 2, 1)
    assert np.array_equal(lava, emu)
    assert counts["v_saturated"] > 0 and len(np.unique(lava)) == 5  # every level 0..4 occurs


def test_a_perturbed_nilif_threshold_fails_validation_at_that_layer(tmp_path):
    """Raise one NI-LIF layer's first integer threshold by half a level in a quantized
    vlifnet-tiny bundle: the emulator must part from the unperturbed one first at that layer."""
    from neurodeploy.bundle import Bundle, export_bundle
    from neurodeploy.images import load_inputs
    from neurodeploy.targets import make_executor
    from neurodeploy.verify import verdict

    export_bundle("vlifnet-tiny", tmp_path / "b", size=(16, 16), quantize="int", calib="examples/images/calib")
    bundle = Bundle.open(tmp_path / "b")
    images, names = load_inputs(None, bundle.input_size)
    reference = make_executor("emulator", bundle)
    layers = reference.layers
    target = [n for n in layers if n.endswith(".vlif.neuron")][1]
    ref = reference.run(images)
    perturbed = make_executor("emulator", bundle)
    q = perturbed.quant[target]
    q["thresholds"] = [q["thresholds"][0] + q["level_lsbs"] // 2, *q["thresholds"][1:]]
    v = verdict(ref, perturbed.run(images), names)
    assert not v.passed
    assert v.first_divergence.layer == target
    before = layers[:layers.index(target)]
    assert before and all(v.layers[n] == 100.0 for n in before)
