"""Issue 29: layers planted beyond one core's neurons, synaptic memory and fan-in are split into
blocks that fit, and the blocks, as real Lava processes, still compute what torch computes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neurodeploy.ir import DeployGraph, graph_info
from neurodeploy.limits import CoreBudget, Figure, Source
from neurodeploy.models.layers import DirectEncode, MeanDecode, SeqConv2d
from neurodeploy.models.neurons import LIF
from neurodeploy.nir_export import export_graph
from neurodeploy.passes import run_passes
from neurodeploy.passes.mapping import block_needs, map_graph
from neurodeploy.systems import SYSTEMS

# A small core keeps the Lava run tiny; the pass is the same for any budget.
_PLANTED = Source("test: a planted core")
PLANTED = CoreBudget("planted", Figure(256, "neurons", _PLANTED), Figure(0, "synapses", _PLANTED),
                     Figure(16384, "bits", _PLANTED), Figure(400, "axons", _PLANTED), Figure(100000, "axons", _PLANTED))
SIZE = (8, 8)


class Planted(nn.Module):
    """lif_a: 512 neurons (> 256); lif_c: reads 8 x 8 x 8 = 512 inputs (> 400 axons); lif_b: 2,304
    weights x 8 bits (> 16,384 bits). Each exceeds one resource only."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.t_steps = 4
        self.encode = DirectEncode(4)
        self.conv_a, self.lif_a = SeqConv2d(3, 8, 3, padding=1), LIF(0.15, 2.0)
        self.conv_c, self.lif_c = SeqConv2d(8, 4, 3, padding=1), LIF(0.15, 2.0)
        self.conv_b, self.lif_b = SeqConv2d(4, 64, 3, padding=1, stride=4), LIF(0.15, 2.0)
        self.conv_out = SeqConv2d(64, 3, 1)
        self.decode = MeanDecode()
        with torch.no_grad():
            for conv in (self.conv_a, self.conv_c, self.conv_b):
                conv.weight.mul_(3.0)  # enough drive that every layer fires

    def forward(self, x):
        s = self.lif_a(self.conv_a(self.encode(x)))
        s = self.lif_b(self.conv_b(self.lif_c(self.conv_c(s))))
        return self.decode(self.conv_out(s))


@pytest.fixture
def planted():
    model = Planted().eval()
    graph = export_graph(model, SIZE)
    g = DeployGraph(graph, graph_info(graph))
    run_passes(g)
    return model, graph, g


def test_each_planted_layer_exceeds_its_resource_and_its_blocks_fit(planted):
    _, _, g = planted
    m = map_graph(g, SYSTEMS["hala-point"], PLANTED)
    expect = {"lif_a": "neurons", "lif_b": "synaptic_memory_bits", "lif_c": "fan_in_axons"}
    for layer, resource in expect.items():
        u = m.units[layer]
        assert u.exceeded == [resource], (layer, u.exceeded, u.whole)
        assert u.blocks > 1
        need = block_needs(u, *u.tile, True, m.weight_bits)
        limits = PLANTED.figures()
        assert all(need[r] <= int(limits[r]) for r in need if int(limits[r])), (layer, need)
        # the blocks cover the layer exactly once
        assert sum((c[1] - c[0]) * (y[1] - y[0]) * (x[1] - x[0]) for c, y, x in u.block_regions()) == u.neurons


@pytest.mark.lava
def test_blocks_are_lava_processes_and_validate_100_percent(planted, rainy_images):
    from neurodeploy.targets.loihi.blocks import split_lowered
    from neurodeploy.targets.loihi.executor import LavaSimExecutor
    from neurodeploy.targets.loihi.lower import lower
    from neurodeploy.targets.torch_reference import TorchReference
    from neurodeploy.verify import verdict

    model, graph, g = planted
    images = rainy_images[:, :, :SIZE[0], :SIZE[1]].copy()
    m = map_graph(g, SYSTEMS["hala-point"], PLANTED)
    split = split_lowered(lower(graph, g.info), m, ["lif_a", "lif_b", "lif_c"])
    blocks = [n for n, node in split.nodes.items() if node.kind == "lif"]
    assert len(blocks) == sum(m.units[n].blocks for n in ("lif_a", "lif_b", "lif_c"))
    reference = TorchReference(model, graph, g.info).run(images)
    traces = LavaSimExecutor(graph, g.info, lowered=split).run(images)
    v = verdict(reference, traces, ["a", "b"])
    assert v.passed and set(v.layers.values()) == {100.0}, v.to_dict()
    for layer in ("lif_a", "lif_b", "lif_c"):
        assert sum(t.layers[layer].sum() for t in reference) > 0, layer  # not vacuous


def test_a_synapse_layer_fed_by_several_maps_reads_all_of_them_whatever_the_residency():
    """A conv fed ``host block + chip map`` (NIR: a node sums its inputs -- ESDNet's shortcut after
    its first block) reads the chip map under both residencies. The residency pass re-appends the
    edges it rewires, so the chip map is the conv's first input under ``products`` and a later one
    under ``host``: the mapping read only the first, and the chip producer's fan-out (its blocks,
    cores) depended on edge order -- ESDNet (paper) 456,390 vs 658,590 cores at 321x481."""
    from neurodeploy.checkpoint import load_model
    from neurodeploy.passes.mapping import _consumers, chip_units

    model, ckpt = load_model("esdnet-tiny")
    readers, multi = {}, 0
    for residency in ("host", "products"):
        graph = export_graph(model, (32, 32), architecture=ckpt.architecture, config=ckpt.config, residency=residency)
        g = DeployGraph(graph, graph_info(graph))
        run_passes(g)
        units = chip_units(g)
        for name, u in units.items():
            preds = g.predecessors(name)
            if u.kind == "conv" and len(preds) > 1:
                multi += 1
                chip_preds = {p for p in preds if p in units}
                assert chip_preds <= {src for s in u.syns for src, _ in s.sources}, (residency, name, preds)
                # one route per (neuron, core): a map reached by two paths (x and a gain of x) counts once
                assert all(len(s.sources) == len(set(s.sources)) for s in u.syns), (residency, name)
        readers[residency] = {n: sorted(q.name for q, _, _ in c) for n, c in _consumers(units).items()}
    assert multi
    # the relays add no compartments: every unit's readers are the same under both residencies
    assert readers["host"] == readers["products"]


def test_a_max_tree_counts_a_compartment_per_value_it_reads():
    """A split gate's max over the pixels of each channel is a tree of graded ReLU neurons: its block holds
    about one compartment per input value, not one per output as a pooling synapse's would."""
    from neurodeploy.passes.mapping import Syn, Unit, block_needs

    syn = Syn("conv", (8, 64, 64), kernel=(64, 64), groups=8)
    tree = Unit("pool_max", "max", (8, 1, 1), [syn], graded=True)
    pool = Unit("pool", "conv", (8, 1, 1), [syn], graded=True)
    needs = block_needs(tree, 2, 1, 1, True, 8)
    assert needs["fan_in_axons"] == 2 * 64 * 64 and needs["neurons"] == needs["fan_in_axons"]
    assert block_needs(pool, 2, 1, 1, True, 8)["neurons"] == 2
