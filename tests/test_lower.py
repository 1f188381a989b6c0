"""The passes the Lava lowering reads, and the lowering itself (no Lava process is built here)."""

from __future__ import annotations

import numpy as np
import torch

from neurodeploy.ir import DeployGraph
from neurodeploy.passes import lowering_flow, run_passes
from neurodeploy.passes.latency import latency
from neurodeploy.passes.neuron_form import neuron_form
from neurodeploy.passes.partition import partition
from neurodeploy.targets.loihi.lower import lower, to_lava_layout


def _annotated(graph, info, balance=True) -> DeployGraph:
    g = DeployGraph(graph, info)
    run_passes(g, lowering_flow(balance))
    return g


def test_latencies_and_delay_lines_of_the_toy(toy_graph):
    graph, info = toy_graph
    net = lower(graph, info)
    latency = {n: node.latency for n, node in net.nodes.items()}
    # The encoder is the source; the decoder runs in the host island that ends the run: it
    # buffers the T = 4 steps (inputs from step 4), runs when the 4th arrives (step 7) and
    # sends its output step 0 in that step: latency 7.
    assert latency == {"encode": 0, "conv_in": 1, "lif1": 1, "conv2": 2, "lif2": 2, "conv3": 3, "lif3": 3,
                       "conv_out": 4, "conv_out+bias": 4, "island1": 7}
    assert net.nodes["island1"].params["inputs"] == ["encode", "conv_out"]
    delays = {(e.src, e.dst): e.delay for e in net.edges if e.delay}
    # lif1 reaches the join one hop earlier than lif2; the image reaches the decoder 4 hops early.
    assert delays == {("lif1", "conv3"): 1, ("encode", "island1"): 4}
    assert net.steps_for(1) == 4 + 4 and net.steps_for(3) == 12 + 4


def test_unbalanced_lowering_inserts_no_delays(toy_graph):
    graph, info = toy_graph
    assert all(e.delay == 0 for e in lower(graph, info, balance=False).edges)


def test_latency_pass_alone_writes_latencies_and_join_delays(toy_graph):
    graph, info = toy_graph
    g = DeployGraph(graph, info)
    lat = latency(g)
    assert lat["conv_in"] == 1 and lat["lif1"] == 1 and lat["conv3"] == 3 and lat["decode"] == 4
    assert g.info.delays == {"lif1->conv3": 1, "encode->decode": 4}
    latency(g, balance=False)
    assert g.info.delays == {}


def test_the_lowering_decides_nothing_the_partition_did_not(toy_graph):
    """Mark a chip conv as host: the lowering refuses it by name instead of deciding for itself."""
    graph, info = toy_graph
    g = _annotated(graph, info)
    g.info.side["conv2"] = "host"
    try:
        to_lava_layout(g)
    except Exception as exc:  # LoweringError
        assert "'conv2'" in str(exc) and "host" in str(exc)
    else:
        raise AssertionError("a host node between chip layers was lowered")


def test_conv_kernels_in_lava_layout_compute_pytorch_conv(toy_graph):
    """Lava computes a true convolution in (X, Y, C); the flipped, permuted kernel must undo both."""
    from scipy.signal import convolve

    graph, info = toy_graph
    g = _annotated(graph, info)
    g.info.synapse_gain["conv2"] = 1.0  # the kernel itself (lif2's input gain is checked below)
    nodes = to_lava_layout(g)
    lava_w = nodes["conv2"].params["weight"]  # (C_out, kx, ky, C_in)
    nir_conv = graph.nodes["conv2"]
    x = np.random.default_rng(0).random((4, 12, 10))  # (C, H, W)
    want = torch.nn.functional.conv2d(torch.as_tensor(x)[None], torch.as_tensor(nir_conv.weight), padding=1)[0].numpy()
    x_xyc = np.pad(x.transpose(2, 1, 0), ((1, 1), (1, 1), (0, 0)))
    got = np.stack([sum(convolve(x_xyc[..., ci], lava_w[co, :, :, ci], mode="valid") for ci in range(4))
                    for co in range(4)], axis=-1)  # (X, Y, C_out)
    np.testing.assert_allclose(got.transpose(2, 1, 0), want, atol=1e-12)


def test_neuron_mapping_fires_at_equality_and_moves_biases(toy_graph):
    graph, info = toy_graph
    g = DeployGraph(graph, info)
    partition(g)
    forms = neuron_form(g)
    assert forms["lif3"] == {"du": 1.0, "dv": 0.5, "vth": 0.15, "input_gain": 1.0, "fires_at_equality": True,
                             "vth_float": np.nextafter(0.15, -np.inf)}  # the pass decides Lava float's threshold
    latency(g)
    nodes = to_lava_layout(g)
    lif = nodes["lif3"].params
    assert lif["du"] == 1.0 and lif["dv"] == 0.5
    # Lava spikes on v > vth; the papers on v >= 0.15: vth is the float just below 0.15.
    assert lif["vth"] < 0.15 and np.nextafter(lif["vth"], 1.0) == 0.15
    conv_bias = graph.nodes["conv3"].bias
    np.testing.assert_array_equal(lif["bias"][0, 0], conv_bias)  # (X, Y, C): every pixel gets the channel bias
    # conv_out feeds the host (the decoder): its output carries its bias, through a relay
    np.testing.assert_array_equal(nodes["conv_out+bias"].params["bias"][3, 2], graph.nodes["conv_out"].bias)
    assert "conv_out" not in g.info.synapse_gain or g.info.synapse_gain["conv_out"] == 1.0
