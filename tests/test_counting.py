"""Counts: exact vs the papers' thop convention, checked against DERAINERS.md's figures."""

import pytest
import torch
from torch import nn

from neurodeploy.models import get_architecture
from neurodeploy.models.counting import count, count_params, paper_counted
from neurodeploy.models.layers import SeqBatchNorm2d, SeqConv2d

# DERAINERS.md, measured on the authors' code: (all parameters, thop parameters)
PAPER = {"esdnet": (12.81e6, 165_911), "spikerain": (4.43e6, 99_268)}


def _paper(name):
    torch.manual_seed(0)
    arch = get_architecture(name)
    return arch.build(arch.config("paper"))


def test_thop_rule_counts_exact_types_only():
    assert paper_counted(nn.Conv2d(1, 1, 1)) and paper_counted(nn.BatchNorm2d(1))
    assert not paper_counted(SeqConv2d(1, 1, 1)) and not paper_counted(SeqBatchNorm2d(1))
    bn = SeqBatchNorm2d(1)
    bn.paper_counted = True
    assert paper_counted(bn)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_preset_counts_within_two_percent(name):
    exact, paper = count_params(_paper(name))
    want_exact, want_paper = PAPER[name]
    assert abs(exact - want_exact) / want_exact < 0.02
    assert abs(paper - want_paper) / want_paper < 0.02


def test_esdnet_thop_flops_match_the_paper_scaled_from_64x64():
    # convs dominate and scale with H·W exactly; 7.3204 G at 256² (DERAINERS.md)
    c = count(_paper("esdnet"), 64, 64)
    assert abs(c.flops_paper * 16 - 7.3204e9) / 7.3204e9 < 0.02
    # ... and so does the papers' energy convention: ESDNet's published 9.15e4 µJ within 1 %
    from neurodeploy.energy import OpCounts, PapersConvention

    at_256 = OpCounts(flops_paper=c.flops_paper * 16, synops_paper=c.synops_paper * 16, spikes=c.spikes * 16)
    assert abs(PapersConvention().energy_uj(at_256) - 9.150e4) / 9.150e4 < 0.01
    assert c.spikes > 0 and c.synops_paper == 0  # thop sees none of the spiking convs


@pytest.mark.slow
def test_count_cli_gives_esdnets_published_energy_at_256(run_cli):
    import json

    code, out, err = run_cli("count", "esdnet", "--preset", "paper", "--size", "256", "256", "--json")
    assert code == 0, err
    assert abs(json.loads(out)["energy_paper_uj"] - 9.150e4) / 9.150e4 < 0.01


def test_macs_and_synops_of_a_single_spiking_conv():
    from neurodeploy.models.neurons import LIF

    class Tiny(nn.Module):
        t_steps = 2

        def __init__(self):
            super().__init__()
            self.lif = LIF(0.5)
            self.conv = SeqConv2d(3, 4, 3, padding=1, bias=False)

        def forward(self, x):
            return self.conv(self.lif(x.unsqueeze(0).expand(2, *x.shape)))

    c = count(Tiny(), 8, 8)
    assert c.macs == 2 * 4 * 8 * 8 * 3 * 9  # T × C_out × H × W × C_in × k²
    assert 0 < c.synops < c.macs
    assert c.params_exact == 4 * 3 * 9 and c.params_paper == 0
