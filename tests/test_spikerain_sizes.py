"""SpikeRain's three sizes (the authors' S, M = paper, L) and the channel gate's pooling order."""

import pytest
import torch
from torch import nn

from neurodeploy.models import get_architecture
from neurodeploy.models.counting import count_params
from neurodeploy.models.spikerain import MDSA

# Exact trainable parameters of the authors' SpikeRainFactory variants (issue 20).
AUTHORS_PARAMS = {"S": 1_589_888, "paper": 4_434_392, "L": 8_048_576}


@pytest.mark.parametrize("preset", sorted(AUTHORS_PARAMS))
def test_spikerain_presets_have_the_authors_parameter_counts(preset):
    arch = get_architecture("spikerain")
    exact, _ = count_params(arch.build(arch.config(preset)))
    assert exact == AUTHORS_PARAMS[preset]


def test_count_command_reports_the_small_size(run_cli):
    import json

    code, out, err = run_cli("count", "spikerain", "--preset", "S", "--size", "16", "16", "--json")
    assert code == 0, err
    c = json.loads(out)
    assert c["params_exact"] == 1_589_888 and c["preset"] == "S"


def _authors_order(attn: MDSA, x: torch.Tensor) -> torch.Tensor:
    """The gate order of the authors' MDSA, written out: every pooling on a contiguous (N, C, T, H, W) copy."""
    xc = x.permute(1, 2, 0, 3, 4).contiguous()
    xc = xc * torch.sigmoid(attn.temporal_conv(attn.temporal_pool(xc.mean(1, keepdim=True))))
    xc = xc * torch.sigmoid(attn.channel_mlp(nn.AdaptiveAvgPool3d(1)(xc.contiguous())))
    xc = xc * torch.sigmoid(attn.spatial_conv(xc.mean(1, keepdim=True)))
    return xc.permute(2, 0, 1, 3, 4)


def test_mdsa_pools_a_contiguous_copy_bit_for_bit():
    torch.manual_seed(0)
    attn = MDSA(48).eval()
    x = torch.randn(4, 1, 48, 16, 16)
    pooled = []
    attn.channel_pool.register_forward_hook(lambda m, inp, out: pooled.append((inp[0], out)))
    with torch.no_grad():
        y = attn(x)
        inp, out = pooled[0]
        assert torch.equal(out, nn.AdaptiveAvgPool3d(1)(inp.contiguous()))
        # over the permuted view the sum order differs: this input is one where it shows
        view = x.permute(1, 2, 0, 3, 4)
        assert not torch.equal(attn.channel_pool(view), attn.channel_pool(view.contiguous()))
        assert torch.equal(y, _authors_order(attn, x))
