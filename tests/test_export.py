"""Export to NIR: structure, names, BatchNorm folding, metadata, round trip, refusals."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

from neurodeploy.errors import ExportError
from neurodeploy.nir_export import export_graph, lif_to_nir
from neurodeploy.ir import graph_info, read_graph, topological_order, write_graph
from neurodeploy.ir import nodes as nd
from neurodeploy.models.layers import DirectEncode, MeanDecode, SeqConv2d
from neurodeploy.models.neurons import LIF


def test_toy_graph_structure_and_names(toy_graph):
    graph, info = toy_graph
    assert list(graph.nodes) == ["input", "encode", "conv_in", "lif1", "conv2", "lif2", "conv3", "lif3",
                                 "conv_out", "decode", "output"]
    assert set(graph.edges) == {
        ("input", "encode"), ("encode", "conv_in"), ("conv_in", "lif1"), ("lif1", "conv2"), ("conv2", "lif2"),
        ("lif1", "conv3"), ("lif2", "conv3"),  # the residual join: NIR sums a node's inputs
        ("conv3", "lif3"), ("lif3", "conv_out"), ("conv_out", "decode"), ("encode", "decode"), ("decode", "output"),
    }
    assert info.domain("encode") == "seq" and info.domain("decode") == "image"
    assert info.folded_batchnorm == {"conv2": "bn2", "conv3": "bn3"}
    assert info.edge_kind("lif1", "conv3") == "binary"
    assert info.edge_kind("encode", "conv_in") == "real"
    assert info.neuron_layers(graph) == ["lif1", "lif2", "lif3"]
    assert info.input_shape == (3, 12, 10)
    assert isinstance(graph.nodes["lif2"], nir.LIF)
    assert graph.nodes["lif2"].v_threshold.shape == (4, 12, 10)


def test_batchnorm_folding_matches_the_unfolded_layers(toy_model, toy_graph):
    graph, _ = toy_graph
    conv = graph.nodes["conv2"]
    x = torch.randn(2, 4, 12, 10, dtype=torch.float64)
    folded = nn.functional.conv2d(x, torch.as_tensor(conv.weight), torch.as_tensor(conv.bias), padding=1)
    model = toy_model.double()
    unfolded = model.bn2(model.conv2(x))
    assert torch.allclose(folded, unfolded, atol=1e-12)


def test_nir_write_read_round_trip_keeps_graph_and_metadata(toy_graph, tmp_path):
    graph, info = toy_graph
    write_graph(tmp_path / "g.nir", graph)
    again = read_graph(tmp_path / "g.nir")
    assert set(again.nodes) == set(graph.nodes)
    assert sorted(again.edges) == sorted(graph.edges)
    assert graph_info(again) == info
    np.testing.assert_array_equal(again.nodes["conv3"].weight, graph.nodes["conv3"].weight)


def test_plain_nir_reader_rejects_our_node_types_instead_of_misreading(toy_graph, tmp_path):
    graph, _ = toy_graph
    # Since issue 16 the encoder and decoder are written as nir.Scale stand-ins (per step
    # they are the identity): nir.read loads the toy graph ...
    write_graph(tmp_path / "g.nir", graph)
    assert type(nir.read(str(tmp_path / "g.nir")).nodes["encode"]).__name__ == "Scale"
    # ... while a node NIR has no primitive for stays ours. nir 1.0.8 stops on a bare
    # assertion for the unknown type (its own read_node would raise ValueError "Unknown
    # unit type"); either way the graph is refused, not misread.
    graph.nodes["decode"] = nd.Upsample(np.array([3, 12, 10]), scale_factor=1)
    write_graph(tmp_path / "g.nir", graph)
    with pytest.raises((AssertionError, ValueError)):
        nir.read(str(tmp_path / "g.nir"))


def test_lif_time_step_convention_reproduces_the_papers_lif():
    """One Euler step of the NIR LIF equals H = V - V/tau + X (tau = 2, r = 2, dt = 1 ms)."""
    node = lif_to_nir(LIF(v_threshold=0.15, tau=2.0), (1,), dt_s=1e-3)
    dt = 1e-3
    v, x = 0.3, 0.05
    euler = v + dt / node.tau[0] * (node.v_leak[0] - v + node.r[0] * x)
    assert euler == pytest.approx(v - v / 2.0 + x)


def test_firing_rates_of_the_fixture_are_realistic(toy_model, rainy_images):
    rates = {}
    hooks = [getattr(toy_model, n).register_forward_hook(lambda m, a, o, n=n: rates.__setitem__(n, o.mean().item()))
             for n in ("lif1", "lif2", "lif3")]
    with torch.no_grad():
        toy_model(torch.as_tensor(rainy_images, dtype=torch.float32))
    for h in hooks:
        h.remove()
    assert all(0.02 < r < 0.6 for r in rates.values()), rates


class _Sigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.encode, self.conv, self.decode = DirectEncode(2), SeqConv2d(3, 3, 1), MeanDecode()

    def forward(self, x):
        return self.decode(torch.sigmoid(self.conv(self.encode(x))))


class _NoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.t_steps, self.conv, self.lif = 2, SeqConv2d(3, 3, 1), LIF()

    def forward(self, x):
        return self.lif(self.conv(x))


@pytest.mark.parametrize("model, message", [
    (_Sigmoid(), "operation 'sigmoid'"),
    (_NoEncoder(), "exactly one DirectEncode"),
])
def test_unsupported_models_are_refused_with_a_named_cause(model, message):
    model.t_steps = 2
    with pytest.raises(ExportError, match=message):
        export_graph(model, (4, 4))


def test_topological_order_rejects_cycles_and_dangling_edges(toy_graph):
    graph, _ = toy_graph
    from neurodeploy.errors import GraphError

    # a loop through a neuron is recurrence (issue 28): ordered, cut at the edge back into the loop
    recurrent = nir.NIRGraph(nodes=dict(graph.nodes), edges=graph.edges + [("lif3", "conv2")], metadata={},
                             type_check=False)
    order = topological_order(recurrent)
    assert sorted(order) == sorted(graph.nodes) and order.index("conv2") < order.index("lif3")
    cyclic = nir.NIRGraph(nodes=dict(graph.nodes), edges=graph.edges + [("decode", "encode")], metadata={},
                          type_check=False)
    with pytest.raises(GraphError, match="cycle .* without a neuron"):
        topological_order(cyclic)
    dangling = nir.NIRGraph(nodes=dict(graph.nodes), edges=graph.edges + [("lif3", "ghost")], metadata={},
                            type_check=False)
    with pytest.raises(GraphError, match="ghost"):
        topological_order(dangling)


def test_read_graph_reports_a_damaged_file(tmp_path):
    from neurodeploy.errors import GraphError

    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(GraphError, match="not a readable NIR graph"):
        read_graph(bad)


@pytest.mark.parametrize("name, preset", [("toy-residual", "default"), ("esdnet", "tiny"), ("spikerain", "tiny")])
def test_shape_rules_agree_with_running_the_model(name, preset):
    """Export propagates shapes by rule (fast); running the model (on the meta device) must agree."""
    from neurodeploy.nir_export import infer_shapes, propagate_shapes, trace_ops
    from neurodeploy.models import get_architecture

    arch = get_architecture(name)
    model = arch.build(arch.config(preset)).eval()
    by_rule, by_run = trace_ops(model), trace_ops(model)
    assert propagate_shapes(model, by_rule, (3, 32, 48))
    infer_shapes(model, by_run, (3, 32, 48))
    assert {n: (o.shape, o.domain) for n, o in by_rule.items()} == {n: (o.shape, o.domain) for n, o in by_run.items()}


def test_export_size_must_fit_the_model_stride():
    from neurodeploy.models import get_architecture

    arch = get_architecture("esdnet")
    with pytest.raises(ExportError, match="divisible by 4"):
        export_graph(arch.build(arch.config("tiny")), (30, 32), architecture="esdnet", config=arch.config("tiny"))


def test_large_graphs_carry_per_channel_neuron_parameters(toy_model, tmp_path):
    """Above 1 M neurons LIF parameters are (C, 1, 1); the graph still reads, checks and runs."""
    from neurodeploy.targets.nir_torch import NirTorchExecutor
    from neurodeploy.targets.torch_reference import TorchReference
    from neurodeploy.verify import verdict

    graph = export_graph(toy_model, (512, 512))  # 3 layers x 4 channels x 512^2 = 3.1 M neurons
    info = graph_info(graph)
    assert info.lif_params == "per_channel"
    assert graph.nodes["lif2"].v_threshold.shape == (4, 1, 1) and info.shapes["lif2"] == [4, 512, 512]
    write_graph(tmp_path / "g.nir", graph)
    graph = read_graph(tmp_path / "g.nir")
    images = np.random.default_rng(0).random((1, 3, 512, 512))
    v = verdict(TorchReference(toy_model, graph, info).run(images),
                NirTorchExecutor(graph, info).run(images), ["random"])
    assert v.passed and v.layers["lif3"] == 100.0
