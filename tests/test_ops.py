"""The one definition of operations (neurodeploy.ops): effective ops, exact at borders, shared by count and report."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

from neurodeploy.ops import conv_macs, effective_ops, split_by_kind


def _brute(x, weight_shape, stride, padding, dilation, groups):
    """Every (non-zero input, output) pair through a weight: loops, no tricks."""
    c_out, c_in_g, kh, kw = weight_shape
    n, c, h, w = x.shape
    out = torch.nn.functional.conv2d(torch.zeros(1, c, h, w), torch.zeros(weight_shape), stride=stride,
                                     padding=padding, dilation=dilation, groups=groups)
    oh, ow = out.shape[-2:]
    total = 0
    for b in range(n):
        for ci in range(c):
            g = ci // c_in_g
            for y in range(h):
                for xx in range(w):
                    if x[b, ci, y, xx] == 0:
                        continue
                    for ky in range(kh):
                        for kx in range(kw):
                            ny, nx = y + padding[0] - ky * dilation[0], xx + padding[1] - kx * dilation[1]
                            if ny % stride[0] or nx % stride[1]:
                                continue
                            ny, nx = ny // stride[0], nx // stride[1]
                            if 0 <= ny < oh and 0 <= nx < ow:
                                total += c_out // groups
    return total


@pytest.mark.parametrize("stride,padding,dilation,groups", [((1, 1), (1, 1), (1, 1), 1), ((2, 2), (1, 1), (1, 1), 2),
                                                            ((1, 1), (0, 0), (2, 2), 1), ((1, 2), (2, 0), (1, 1), 4)])
def test_effective_ops_equal_a_brute_force_count(stride, padding, dilation, groups):
    rng = np.random.default_rng(1)
    x = (rng.random((2, 4, 7, 6)) < 0.3).astype(np.float64)
    x[0, :, 0, :] = 1.0  # border rows active: borders must count exactly
    shape = (8, 4 // groups, 3, 3)
    assert effective_ops(x, shape, stride, padding, dilation, groups) == _brute(x, shape, stride, padding, dilation, groups)


def test_dense_macs_and_kinds():
    assert conv_macs((8, 2, 3, 3), (8, 5, 5)) == 8 * 5 * 5 * 2 * 9
    assert split_by_kind(10.0, "binary") == (10.0, 0.0)
    assert split_by_kind(10.0, "graded") == (0.0, 10.0) and split_by_kind(3.0, "real") == (0.0, 3.0)


def test_count_and_report_use_the_same_synops():
    """models.counting (the `count` command) and report count a LIF -> conv alike."""
    from neurodeploy.models.counting import count
    from neurodeploy.models.layers import SeqConv2d
    from neurodeploy.models.neurons import LIF
    from neurodeploy.report_counts import fan_out_synops

    class Tiny(nn.Module):
        t_steps = 3

        def __init__(self):
            super().__init__()
            self.lif = LIF(0.3)
            self.conv = SeqConv2d(3, 5, 3, padding=1, stride=2, bias=False)

        def forward(self, x):
            return self.conv(self.lif(x.unsqueeze(0).expand(3, *x.shape)))

    torch.manual_seed(0)
    model = Tiny().eval()
    seen = {}
    model.lif.register_forward_hook(lambda m, i, o: seen.__setitem__("s", o[:, 0].numpy()))
    c = count(model, 9, 9)
    conv = nir.Conv2d(None, model.conv.weight.detach().numpy(), model.conv.stride, model.conv.padding,
                      model.conv.dilation, 1, np.zeros(5))
    assert c.synops == fan_out_synops(seen["s"], conv) > 0
    assert c.spikes == int(np.count_nonzero(seen["s"]))
