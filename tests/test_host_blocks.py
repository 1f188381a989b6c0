"""Each host block's declaration (models/host_blocks.py) holds for the block itself."""

from __future__ import annotations

import pytest
import torch

from neurodeploy.models.host_blocks import HOST_BLOCKS


def _captured_blocks():
    """(block class name, module, its input) for every host block in the three shipped tiny
    derainers on a real rainy crop (trained weights: random ones leave NI-LIF silent, and a
    silent block hides how its gate mixes time steps). A block that is a view of a module
    (VLIFGate of a VLIF) is captured through its wrapper, fed what the chip sends it."""
    from neurodeploy.checkpoint import load_model
    from neurodeploy.images import DEFAULT_IMAGE, read_image
    from neurodeploy.models import attention, spikerain, vlifnet

    def gate_input(vlif, spikes):  # NI-LIF's (T·r², N, C, h, w) as the chip lays it out: (T, N, r²·C, h, w)
        p = vlif.to_time.r ** 2
        s = spikes.reshape(-1, p, *spikes.shape[1:]).transpose(1, 2)
        return s.flatten(2, 3).detach().clone()

    def mdsa_parts(mdsa, x):  # (T, N, C, H, W): the per-step channel means, then the gated map's channel mean
        gates = spikerain.MDSAGates(mdsa)
        means = x.mean(dim=(3, 4), keepdim=True)
        q = (x * gates(means)).mean(dim=2, keepdim=True)
        return [("MDSAGates", gates, means), ("MDSASpatial", spikerain.MDSASpatial(mdsa), q)]

    def vlif_parts(vlif, s):  # the whole gate, and its split: per-step channel means and maxima in
        stats = torch.cat([s.mean(dim=(3, 4), keepdim=True), s.amax(dim=(3, 4), keepdim=True)], dim=2)
        return [("VLIFGate", vlifnet.VLIFGate(vlif), s), ("VLIFGates", vlifnet.VLIFGates(vlif), stats)]

    def mda_parts(mda, x):  # (T, N, C, H, W): per-step channel means and maxima, then the gated map's per pixel
        gates = attention.MDAGates(mda)
        stats = torch.cat([x.mean(dim=(3, 4), keepdim=True), x.amax(dim=(3, 4), keepdim=True)], dim=2)
        y = x * gates(stats)
        spatial = torch.cat([y.mean(dim=2, keepdim=True), y.amax(dim=2, keepdim=True)], dim=2)
        return [("MDAGates", gates, stats), ("MDASpatial", attention.MDASpatial(mda), spatial)]

    image = torch.as_tensor(read_image(DEFAULT_IMAGE)[:, 100:132, 200:232], dtype=torch.float32)[None]
    found = []
    for arch_name in ("esdnet", "vlifnet", "spikerain"):
        model, _ = load_model(f"{arch_name}-tiny")
        hooks = []
        for _, module in model.named_modules():
            name = type(module).__name__
            if name in HOST_BLOCKS:
                hooks.append(module.register_forward_hook(
                    lambda mod, args, out, name=name: found.append((name, mod, args[0].detach().clone()))))
            if name == "MDSA":  # its split (residency gates): the host parts, fed what the chip sends them
                hooks.append(module.register_forward_hook(
                    lambda mod, args, out: found.extend(mdsa_parts(mod, args[0].detach().clone()))))
            if name == "MultiDimensionalAttention":  # its split: the host parts, fed what the chip sends them
                hooks.append(module.register_forward_hook(
                    lambda mod, args, out: found.extend(mda_parts(mod, args[0].detach().clone()))))
            if isinstance(module, vlifnet.VLIF):
                hooks.append(module.neuron.register_forward_hook(
                    lambda mod, args, out, vlif=module: found.extend(vlif_parts(vlif, gate_input(vlif, out)))))
        with torch.no_grad():
            model(image)
        for h in hooks:
            h.remove()
    return found


CAPTURED = _captured_blocks()


def test_every_declared_block_occurs_in_a_derainer():
    assert {name for name, _, _ in CAPTURED} == set(HOST_BLOCKS)


@pytest.mark.parametrize("name", sorted(HOST_BLOCKS))
def test_declared_shape_rule_and_temporal_window_hold(name):
    spec = HOST_BLOCKS[name]
    _, module, x = next(c for c in CAPTURED if c[0] == name)
    with torch.no_grad():
        out = module(x)
        if spec.shape == "same":
            assert out.shape == x.shape
        elif spec.shape == "to_image":
            assert x.dim() == 5 and out.shape == x.shape[1:]
        elif spec.shape == "half_channels":
            assert out.shape == (*x.shape[:2], x.shape[2] // 2, *x.shape[3:])
        else:
            assert out.shape != x.shape
        if x.dim() == 4:  # a block on the decoded image: it needs all T steps to have been decoded
            assert spec.window == "all_steps"
            return
        if out.dim() == 4:  # T steps in, one image out: it pools over time
            assert spec.window == "all_steps"
            return
        # Change only the last input step: unless the block pools over time, earlier outputs stay.
        y = x.clone()
        y[-1] = 3.0 * y[-1].abs() + 1.0  # far above the original: more spikes, larger pools
        earlier_changed = not torch.equal(out[:-1], module(y)[:-1])
        assert earlier_changed == (spec.window == "all_steps"), (name, spec.window)
        # Change only the first input step: a per-step block keeps every later output step.
        y = x.clone()
        y[0] = 3.0 * y[0].abs() + 1.0
        later_changed = not torch.equal(out[1:], module(y)[1:])
        assert later_changed == (spec.window != "step"), (name, spec.window)


def test_a_split_mda_gives_the_gates_and_output_of_the_block():
    """MDAGates and MDASpatial from the statistics the chip sends (means and maxima over pixels, then
    over channels of the gated map), multiplied in and through the ReLU as the chip does, give the
    trained block's output within float noise -- on an ESDNet block fed a real crop's activations."""
    from neurodeploy.models import attention

    name, module, x = next(c for c in CAPTURED if c[0] == "MultiDimensionalAttention")
    with torch.no_grad():
        stats = torch.cat([x.mean(dim=(3, 4), keepdim=True), x.amax(dim=(3, 4), keepdim=True)], dim=2)
        y = x * attention.MDAGates(module)(stats)
        spatial = torch.cat([y.mean(dim=2, keepdim=True), y.amax(dim=2, keepdim=True)], dim=2)
        out = torch.relu(y * attention.MDASpatial(module)(spatial))
        assert torch.allclose(out, module(x), rtol=1e-5, atol=1e-6)
        assert not torch.allclose(out, torch.relu(x), atol=1e-3)  # the gates did something


def test_a_split_vlif_gate_gives_the_gated_spikes():
    """VLIFGates from the per-step channel means and maxima of the NI-LIF spikes, multiplied in as the
    chip's product neuron does, gives VLIFGate's output (the trained temporal gate) within float noise."""
    (_, whole, s), (_, split, stats) = next(
        (a, b) for a, b in zip(CAPTURED, CAPTURED[1:]) if a[0] == "VLIFGate" and b[0] == "VLIFGates")
    with torch.no_grad():
        gated = s * split(stats)
        assert torch.allclose(gated, whole(s), rtol=1e-6, atol=1e-7)
        assert s.abs().sum() > 0 and not torch.allclose(gated, s)  # spikes present, the gate did something
