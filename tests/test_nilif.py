"""Neurons against sequences computed by hand: LIF (papers') and NI-LIF (VLIF-Net)."""

import pytest
import torch

from neurodeploy.models.neurons import LIF, NILIF


def _seq(*values):
    return torch.tensor(values, dtype=torch.float32).reshape(-1, 1)


def test_lif_hand_sequence_with_threshold_equality():
    # tau 2, V_th 0.15: H = 0.5 V + X; fire at H >= 0.15 (equality fires), hard reset.
    # t0: H=0.10 -> no spike, V=0.10; t1: H=0.05+0.10=0.15 -> spike (equality), V=0
    # t2: H=0.14 -> no, V=0.14; t3: H=0.07+0.20=0.27 -> spike, V=0; t4: H=-0.3 -> no
    x = _seq(0.10, 0.10, 0.14, 0.20, -0.30)
    s, h = LIF(0.15, 2.0)(x, return_membrane=True)
    assert s.flatten().tolist() == [0, 1, 0, 1, 0]
    assert torch.allclose(h.flatten(), torch.tensor([0.10, 0.15, 0.14, 0.27, -0.30]))


def test_lif_state_is_reset_between_calls():
    lif = LIF(0.15)
    first = lif(_seq(0.1, 0.0))
    second = lif(_seq(0.1, 0.0))
    assert torch.equal(first, second)


def test_nilif_hand_sequence_levels_and_leak():
    # D=4, beta=0.25: U = H + X; K = clip(round(U), 0, 4); S = K/4; H = 0.25 (U - K)
    # t0: U=1.4 K=1 H=0.1; t1: U=0.1+2.6=2.7 K=3 H=-0.075; t2: U=-0.075+9=8.925 K=4 H=1.23125
    # t3: U=1.23125-2=-0.76875 K=0 H=-0.1921875; t4: U=-0.1921875+0.7=0.5078125 K=1
    x = _seq(1.4, 2.6, 9.0, -2.0, 0.7)
    s, u = NILIF(levels=4, beta=0.25)(x, return_membrane=True)
    assert s.flatten().tolist() == [0.25, 0.75, 1.0, 0.0, 0.25]
    assert torch.allclose(u.flatten(), torch.tensor([1.4, 2.7, 8.925, -0.76875, 0.5078125]))


def test_nilif_half_rounds_to_even_at_the_level_boundary():
    # U exactly 0.5 -> round half to even -> 0; U exactly 1.5 -> 2 (torch.round semantics)
    s = NILIF(levels=4, beta=0.0)(_seq(0.5, 1.5, 2.5))
    assert (s.flatten() * 4).tolist() == [0, 2, 2]


def test_nilif_with_one_level_is_binary():
    s = NILIF(levels=1, beta=1.0)(torch.rand(6, 3, 5) * 3 - 1)
    assert set(s.unique().tolist()) <= {0.0, 1.0}


def test_lif_surrogate_gradient_is_sigmoid_derivative():
    x = torch.tensor([[0.15], [0.0]], requires_grad=True)  # H[0] = V_th exactly
    s = LIF(0.15, 2.0, surrogate_alpha=4.0)(x)
    s[0].sum().backward()
    # dS0/dX0 = alpha * sig(0) * (1 - sig(0)) = 4 * 0.25 = 1
    assert x.grad[0].item() == pytest.approx(1.0)


def test_nilif_straight_through_gradient():
    x = torch.tensor([[1.3], [9.0]], requires_grad=True)
    s = NILIF(levels=4, beta=0.0)(x)
    s.sum().backward()
    # inside [0, D]: dS/dX = 1/D through round; saturated (clip at D): 0
    assert x.grad.flatten().tolist() == [0.25, 0.0]


@pytest.mark.parametrize("bad", [{"levels": 0}, {"beta": 1.5}])
def test_nilif_rejects_bad_parameters(bad):
    with pytest.raises(ValueError):
        NILIF(**bad)
