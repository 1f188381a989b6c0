"""The three derainers: shapes at any size, gradients, and the paper presets on a 64×64 crop."""

import pytest
import torch

from neurodeploy.models import get_architecture
from neurodeploy.models.neurons import LIF, NILIF

ARCHS = ["esdnet", "vlifnet", "spikerain"]


def _build(name, preset, seed=0):
    torch.manual_seed(seed)
    arch = get_architecture(name)
    return arch.build(arch.config(preset))


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("hw", [(32, 32), (37, 50)])
def test_tiny_maps_an_image_to_an_image_of_the_same_size(name, hw):
    model = _build(name, "tiny").eval()
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    assert model.t_steps == 4


@pytest.mark.parametrize("name", ARCHS)
def test_small_is_tiny_at_twice_the_width(name):
    arch = get_architecture(name)
    tiny, small = arch.config("tiny"), arch.config("small")
    widths = {"dim", "growth"}
    assert {k: v for k, v in small.items() if k not in widths} == {k: v for k, v in tiny.items() if k not in widths}
    assert all(small[k] == 2 * tiny[k] for k in widths & tiny.keys())
    model = _build(name, "small").eval()
    x = torch.rand(1, 3, 37, 50)
    with torch.no_grad():
        assert model(x).shape == x.shape
    assert sum(p.numel() for p in model.parameters()) > 3 * sum(p.numel() for p in _build(name, "tiny").parameters())


@pytest.mark.parametrize("name", ARCHS)
def test_tiny_has_spiking_neurons_and_gradients_reach_the_first_conv(name):
    model = _build(name, "tiny").train()
    assert any(isinstance(m, (LIF, NILIF)) for m in model.modules())
    x = torch.rand(2, 3, 32, 32)
    model(x).square().mean().backward()
    first = model.patch_embed.weight.grad
    assert first is not None and first.abs().sum() > 0


def test_vlif_moves_patches_into_time_and_emits_graded_spikes():
    from neurodeploy.models.vlifnet import VLIF, PatchToTime

    x = torch.arange(2 * 1 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 1, 4, 4)
    p = PatchToTime(2)(x)
    assert p.shape == (8, 1, 1, 2, 2)
    # sub-step t*4 + i*2 + j holds pixel (i, j) of each 2x2 patch of step t
    assert p[0, 0, 0].tolist() == [[0, 2], [8, 10]]
    assert p[3, 0, 0].tolist() == [[5, 7], [13, 15]]
    assert p[4, 0, 0].tolist() == [[16, 18], [24, 26]]
    torch.manual_seed(0)
    vlif = VLIF(t_steps=4, r=2, levels=4, beta=0.25)
    s = vlif.neuron(vlif.to_time(torch.rand(4, 2, 3, 8, 8)) * 4)
    levels = set((s * 4).round().unique().tolist())
    assert levels <= {0.0, 1.0, 2.0, 3.0, 4.0} and len(levels) >= 4
    assert vlif(torch.rand(4, 2, 3, 8, 8)).shape == (16, 2, 3, 4, 4)


def test_batch_items_are_independent_in_eval_mode():
    model = _build("esdnet", "tiny").eval()
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        both = model(torch.cat([a, b]))
        alone = model(a)
    assert torch.allclose(both[:1], alone, atol=1e-5)


@pytest.mark.parametrize("name", ARCHS)
def test_paper_preset_runs_forward_and_backward_on_64x64(name):
    torch.set_num_threads(1)
    model = _build(name, "paper").train()
    x = torch.rand(1, 3, 64, 64)
    y = model(x)
    assert y.shape == x.shape
    y.mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) > 0.5 * len(list(model.parameters()))
