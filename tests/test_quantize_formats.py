"""The formats view in ``neurodeploy.quantize``: derived from the limits object, and equal to the
precisions Lava's bit-accurate process models declare (the behaviour is run in test_limits.py)."""

from dataclasses import replace

from neurodeploy.limits import LOIHI2 as CHIP
from neurodeploy.quantize import LOIHI2, FixedPointFormats


def test_the_view_reads_the_limits_object_and_keeps_no_numbers_of_its_own():
    assert LOIHI2.chip is CHIP
    wider = replace(CHIP, vth_mant=replace(CHIP.vth_mant, bits=20, hi=(1 << 20) - 1))
    assert FixedPointFormats(wider).vth_bits == 20
    assert LOIHI2.formats() == CHIP.formats()


def test_view_bits_equal_the_precisions_lavas_fixed_pt_models_declare():
    import neurodeploy.targets.loihi  # noqa: F401  (Lava shim)
    from lava.proc.conv.models import PyConvModelFixed
    from lava.proc.dense.models import PyDenseModelBitAcc
    from lava.proc.lif.models import PyLifModelBitAcc

    assert (PyLifModelBitAcc.du.precision, PyLifModelBitAcc.dv.precision) == (LOIHI2.decay_bits,) * 2
    assert PyLifModelBitAcc.vth.precision == LOIHI2.vth_bits
    assert PyLifModelBitAcc.u.precision == PyLifModelBitAcc.v.precision == LOIHI2.state_bits
    assert PyLifModelBitAcc.bias_mant.precision == CHIP.bias_mant_bits
    assert PyLifModelBitAcc.bias_exp.precision == CHIP.bias_exp.bits
    assert PyDenseModelBitAcc.weights.precision == PyConvModelFixed.weight.precision == LOIHI2.weight_bits
    assert PyConvModelFixed.s_in.precision == PyLifModelBitAcc.s_out.precision == LOIHI2.message_bits
    assert PyConvModelFixed.a_out.precision == CHIP.conv_accumulator.bits
    # the shift is a plain attribute of the model instance, so it is checked by running it (test_limits)
    assert LOIHI2.state_shift == CHIP.state_shift_bits


def test_neurodeploys_fixed_pt_processes_declare_the_chip_widths():
    from neurodeploy.targets.loihi.processes.models import PyDelayLineModelFixed

    assert PyDelayLineModelFixed.s_in.precision == PyDelayLineModelFixed.buffer.precision == LOIHI2.message_bits
