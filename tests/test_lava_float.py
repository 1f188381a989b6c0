"""End to end on the real Lava simulator: torch vs Lava floating_pt, and two broken lowerings
the verifier must catch, naming the right layer."""

from __future__ import annotations

import numpy as np
import pytest

from neurodeploy.targets.loihi.executor import LavaSimExecutor
from neurodeploy.targets.loihi.lower import lower
from neurodeploy.targets.torch_reference import TorchReference
from neurodeploy.verify import verdict

pytestmark = pytest.mark.lava


@pytest.fixture
def reference(toy_model, toy_graph, rainy_images):
    graph, info = toy_graph
    return TorchReference(toy_model, graph, info).run(rainy_images)


def test_lava_float_matches_torch_spike_for_spike(toy_graph, rainy_images, reference):
    graph, info = toy_graph
    traces = LavaSimExecutor(graph, info).run(rainy_images)  # two images streamed in one run
    v = verdict(reference, traces, ["a", "b"])
    assert v.passed, v.to_dict()
    assert v.layers == {"lif1": 100.0, "lif2": 100.0, "lif3": 100.0}
    assert v.output_psnr_db > 100.0
    for ref, got in zip(reference, traces):
        assert ref.layers["lif3"].sum() > 0  # something fired: the comparison is not vacuous
        # the decoder runs in its host island's ONNX file, in float32 as a host runs it
        np.testing.assert_allclose(got.output, ref.output, atol=1e-6)


def test_verifier_catches_a_lowering_without_delay_balancing(toy_graph, rainy_images, reference):
    graph, info = toy_graph
    unbalanced = lower(graph, info, balance=False)
    traces = LavaSimExecutor(graph, info, lowered=unbalanced).run(rainy_images)
    v = verdict(reference, traces, ["a", "b"])
    assert not v.passed
    # lif1 and lif2 are upstream of every join and still agree; lif3 sums lif1 + lif2 and parts.
    assert v.layers["lif1"] == 100.0 and v.layers["lif2"] == 100.0
    assert v.first_divergence.layer == "lif3"
    assert v.layers["lif3"] < 100.0


def test_verifier_names_the_layer_of_a_perturbed_weight(toy_graph, rainy_images, reference):
    graph, info = toy_graph
    broken = lower(graph, info)
    broken.nodes["conv2"].params["weight"][1, 1, 1, 2] += 0.5  # one synapse of conv2 -> feeds lif2
    traces = LavaSimExecutor(graph, info, lowered=broken).run(rainy_images)
    v = verdict(reference, traces, ["a", "b"])
    assert not v.passed
    assert v.layers["lif1"] == 100.0
    assert v.first_divergence.layer == "lif2"
    assert v.first_divergence.index[0] == 1  # the perturbed output channel
