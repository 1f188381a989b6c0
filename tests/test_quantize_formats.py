"""Loihi 2 formats as data: checked against the precisions Lava's bit-accurate LIF declares."""

from neurodeploy.quantize import LOIHI2


def test_loihi2_formats_match_lavas_bit_accurate_lif():
    import neurodeploy.targets.loihi  # noqa: F401  (Lava shim)
    from lava.proc.lif.models import PyLifModelBitAcc

    assert PyLifModelBitAcc.du.precision == LOIHI2.decay_bits
    assert PyLifModelBitAcc.vth.precision == LOIHI2.vth_bits
    assert PyLifModelBitAcc.v.precision == LOIHI2.state_bits
    assert LOIHI2.signed_range(LOIHI2.weight_bits) == (-128, 127)
