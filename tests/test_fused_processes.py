"""Routing/relay/interpolation nodes fused into one Lava process: same spikes, fewer processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neurodeploy.nir_export import export_graph
from neurodeploy.ir import graph_info
from neurodeploy.models.layers import DirectEncode, MeanDecode, SeqConv2d, SeqUpsample
from neurodeploy.models.neurons import LIF
from neurodeploy.targets.loihi.lower import lower
from neurodeploy.targets.loihi.network import FUNCTION_KINDS, LavaNetwork, function_groups


class RoutingNet(nn.Module):
    """Gains, a difference, a concat and an upsample between synapses; one path leaves the
    relays through a neuron and comes back without a synapse (``a - 0.5·lif(a)``), the case
    where a fused process must receive in the middle of its step."""

    def __init__(self):
        super().__init__()
        self.t_steps = 4
        self.encode = DirectEncode(4)
        self.conv1 = SeqConv2d(3, 4, 3, padding=1)
        self.lif1 = LIF(0.15)
        self.up = SeqUpsample(2)
        self.conv2 = SeqConv2d(8, 4, 3, padding=1, stride=2)
        self.lif2 = LIF(0.15)
        self.conv_out = SeqConv2d(4, 3, 1)
        self.decode = MeanDecode()

    def forward(self, x):
        a = self.conv1(self.encode(x))
        b = a * 0.5 - self.lif1(a)
        joined = self.up(torch.cat([b, a], dim=2))
        return self.decode(self.conv_out(self.lif2(self.conv2(joined))))


@pytest.fixture
def routing_net():
    torch.manual_seed(3)
    model = RoutingNet().eval()
    graph = export_graph(model, (6, 8))
    return model, graph, graph_info(graph)


def test_function_groups_cover_every_function_node_once(routing_net):
    _, graph, info = routing_net
    lowered = lower(graph, info)
    groups = function_groups(lowered)
    members = [n for g in groups.values() for n in g]
    functions = [n for n, node in lowered.nodes.items() if node.kind in FUNCTION_KINDS]
    assert sorted(members) == sorted(functions) and len(members) == len(set(members))
    assert len(groups) < len(functions)  # something was fused
    assert all(len(g) == 1 for g in function_groups(lowered, fuse=False).values())


@pytest.mark.lava
def test_fused_network_gives_the_same_values_with_fewer_processes(routing_net, rainy_images, tmp_path):
    from neurodeploy.targets.loihi.executor import write_island_files
    from neurodeploy.targets.torch_reference import TorchReference

    model, graph, info = routing_net
    images = rainy_images[:, :, :6, :8]
    lowered = lower(graph, info)
    islands = write_island_files(graph, info, tmp_path)
    runs = {}
    for fuse in (True, False):
        net = LavaNetwork(lowered, images, islands, fuse=fuse)
        spikes, outputs, _ = net.run()
        runs[fuse] = (net.process_count, spikes, outputs, net)
    assert runs[True][0] < runs[False][0]
    for layer in runs[False][1]:
        assert np.array_equal(runs[True][1][layer], runs[False][1][layer]), layer
    assert np.array_equal(runs[True][2], runs[False][2])
    # and both are the model's
    net = runs[True][3]
    ref = TorchReference(model, graph, info).run(images)
    for i, trace in enumerate(ref):
        for layer, spikes in trace.layers.items():
            got = net.logical(runs[True][1][layer], lowered.nodes[layer].latency, i)
            assert np.array_equal(got, spikes), layer
            assert 0 < spikes.sum() < spikes.size
        np.testing.assert_allclose(runs[True][2][i], trace.output, atol=1e-5)  # the decoder's island runs float32
