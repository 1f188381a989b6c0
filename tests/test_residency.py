"""Issue 31: values kept on the chip -- products as product neurons, sums into host blocks and fan-out
on the chip -- decided by the partition for graphs exported with residency ``products``.

Exactness on every executor is tested where the derainers run end to end (``test_lava_derainers``:
lava-float vs torch float64; ``test_lava_fixed``: lava-fixed == emulator); here: what the partition
decides, that a ``host`` graph (and a graph written before the key existed) keeps its old partition,
and VLIF-Net's products on lava-fixed == emulator at 8x8.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurodeploy.checkpoint import load_model
from neurodeploy.errors import ExportError
from neurodeploy.ir import DeployGraph, graph_info
from neurodeploy.ir.info import METADATA_KEY
from neurodeploy.nir_export import export_graph
from neurodeploy.passes.partition import partition, summarize
from neurodeploy.passes.residency import FANOUT_SUFFIX, SUM_SUFFIX, keep_on_chip


def _graph(name: str, residency: str, size=(32, 32)) -> DeployGraph:
    model, ckpt = load_model(name)
    graph = export_graph(model, size, architecture=ckpt.architecture, config=ckpt.config, residency=residency)
    return DeployGraph(graph, graph_info(graph))


@pytest.mark.parametrize("name", ["esdnet-tiny", "vlifnet-tiny", "spikerain-tiny"])
def test_products_sums_and_fanout_move_onto_the_chip_and_fewer_values_cross(name):
    before, after = _graph(name, "host"), _graph(name, "products")
    s0, s1 = summarize(before, partition(before)), summarize(after, partition(after))
    assert s0["residency"] == "host" and s1["residency"] == "products"
    assert not any(n.endswith((SUM_SUFFIX, FANOUT_SUFFIX)) for n in before.order)  # host: the old graph
    kinds = after.info.node_kinds
    assert all(after.side(n) == "chip" for n in after.order if kinds[n] == "product")
    # no host node still receives two values from the chip, no host value reaches the chip twice
    for n in after.order:
        if after.side(n) == "host":
            assert sum(after.side(p) == "chip" for p in after.predecessors(n)) <= 1, n
            assert sum(after.side(d) == "chip" for d in after.successors(n)) <= 1, n
    assert s1["values_crossing_per_step"] < s0["values_crossing_per_step"]
    if name != "spikerain-tiny":  # its dense blocks already sum on the chip; only fan-out is left to gain
        assert s1["values_crossing_per_step"] * 1.6 <= s0["values_crossing_per_step"]
    # every sum and relay the pass added is a chip node with one output shape of its inputs
    for n in after.order:
        if n.endswith((SUM_SUFFIX, FANOUT_SUFFIX)):
            assert after.side(n) == "chip" and kinds[n] == "sum"
            assert all(tuple(after.shape(p)) == tuple(after.shape(n)) for p in after.predecessors(n))


def test_the_pass_adds_nothing_the_second_time_and_survives_the_file(tmp_path):
    from neurodeploy.ir import read_graph, write_graph

    g = _graph("vlifnet-tiny", "products", (16, 16))
    partition(g)
    nodes, edges = set(g.order), set(g.edges)
    assert keep_on_chip(g) == {"chip_sum": [], "chip_fanout": []}
    write_graph(tmp_path / "g.nir", g.to_nir())
    again = DeployGraph.from_nir(read_graph(tmp_path / "g.nir"))
    part = partition(again)  # what the lowering re-runs on a bundle's graph.nir
    assert set(again.order) == nodes and set(again.edges) == edges
    assert again.info.side == g.info.side and [i.nodes for i in part.islands] == [i.nodes for i in partition(g).islands]


def test_a_graph_written_before_residency_existed_keeps_products_on_the_host():
    g = _graph("vlifnet-tiny", "products", (16, 16))
    meta = json.loads(g.nir.metadata[METADATA_KEY])
    del meta["residency"]  # as every graph.nir written before issue 31
    g.nir.metadata[METADATA_KEY] = json.dumps(meta)
    old = DeployGraph.from_nir(g.nir)
    assert old.info.residency == "host"
    part = partition(old)
    assert all(old.side(n) == "host" for n in old.order if old.kind(n) == "product")
    assert not any(n.endswith((SUM_SUFFIX, FANOUT_SUFFIX)) for n in part.chip)


def test_an_unknown_residency_is_refused_in_one_line(run_cli, tmp_path):
    model, ckpt = load_model("toy-residual")
    with pytest.raises(ExportError, match="residency 'everything' is not one of host, products, gates"):
        export_graph(model, (8, 8), residency="everything")
    code, _, err = run_cli("export", "toy-residual", "--out", tmp_path / "b", "--residency", "maps")
    assert code != 0 and "unknown --residency 'maps'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_gates_split_spikerains_mdsa_and_the_host_gets_pooled_statistics_only():
    """Residency gates: each MDSA becomes chip pooling, products and 1x1 synapses around two
    small host blocks; what crosses per block is C channel means and C gates, H x W channel means and
    H x W spatial gates, instead of the map both ways."""
    products, gates = _graph("spikerain-tiny", "products", (64, 64)), _graph("spikerain-tiny", "gates", (64, 64))
    s0, s1 = summarize(products, partition(products)), summarize(gates, partition(gates))
    blocks = {n: gates.node(n).block for n in gates.order if gates.kind(n) == "host"}
    # temporal fusion (fixed softmax weights after training) is a readout on the chip
    assert "MDSA" not in blocks.values() and sorted(set(blocks.values())) == ["ARFE", "MDSAGates", "MDSASpatial"]
    for name, block in blocks.items():
        (src,) = gates.predecessors(name)
        c, h, w = gates.shape(src)
        if block == "MDSAGates":  # per-step channel means in, one gate per channel out (to a product neuron)
            assert gates.side(src) == "chip" and (h, w) == (1, 1)
            assert gates.info.window[name] == "all_steps" and gates.kind(gates.successors(name)[0]) == "product"
        if block == "MDSASpatial":  # the channel mean per pixel in, a gate per pixel out, step by step
            assert c == 1 and gates.info.window[name] == "step"
    assert s1["values_crossing_per_step"] * 3 <= s0["values_crossing_per_step"]
    assert s1["chip"]["neurons"] == s0["chip"]["neurons"]  # the same spiking layers, on the chip


def test_a_split_mdsa_computes_the_block(tmp_path):
    """nir-torch runs the split graph; its output equals the whole-block graph's within float64 noise."""
    import torch

    from neurodeploy.images import load_inputs
    from neurodeploy.targets.nir_torch import NirTorchExecutor
    from neurodeploy.verify import verdict

    whole, split = _graph("spikerain-tiny", "host", (16, 16)), _graph("spikerain-tiny", "gates", (16, 16))
    images, names = load_inputs(None, (16, 16))
    a = NirTorchExecutor(whole.nir, whole.info, dtype=torch.float64).run(images)
    b = NirTorchExecutor(split.nir, split.info, dtype=torch.float64).run(images)
    v = verdict(a, b, names)
    assert set(v.layers.values()) == {100.0} and v.output_psnr_db > 150, (v.layers, v.output_psnr_db)


@pytest.mark.parametrize("name", ["esdnet-tiny", "vlifnet-tiny"])
def test_gates_split_the_mda_blocks_and_the_chip_computes_their_statistics(name):
    """Residency gates on ESDNet's MAU and VLIF-Net's MDA: no whole MultiDimensionalAttention is left on
    the host; each block's host parts read 2C statistics (means and maxima over pixels, per step) and
    2 x H x W (mean and max over channels per pixel) that the chip computes with pooling synapses and
    max trees, and the block ends in a product neuron and a ReLU on the chip. nir-torch (float64) on
    the split graph gives the whole-block graph's spikes and output."""
    import torch

    from neurodeploy.images import load_inputs
    from neurodeploy.targets.nir_torch import NirTorchExecutor
    from neurodeploy.verify import verdict

    products, gates = _graph(name, "products", (16, 16)), _graph(name, "gates", (16, 16))
    s0, s1 = summarize(products, partition(products)), summarize(gates, partition(gates))
    blocks = {n: gates.node(n).block for n in gates.order if gates.kind(n) == "host"}
    assert "MultiDimensionalAttention" not in blocks.values() and "MDAGates" in blocks.values()
    assert "VLIFGate" not in blocks.values()  # VLIF-Net's temporal gates: split too (VLIFGates)
    assert ("VLIFGates" in blocks.values()) == (name == "vlifnet-tiny")
    for host, block in blocks.items():
        if block not in ("MDAGates", "MDASpatial", "VLIFGates"):
            continue
        (stats,) = gates.predecessors(host)
        assert gates.side(stats) == "chip" and gates.kind(stats) == "concat"
        kinds = sorted(gates.kind(p) for p in gates.predecessors(stats))
        assert kinds == ["conv", "max"] and gates.info.window[host] == "all_steps"
        assert {gates.kind(s) for s in gates.successors(host)} == {"product"}
        if block != "VLIFGates":
            block_out = host.rsplit(".", 1)[0]
            assert gates.kind(block_out) == "relu" and gates.side(block_out) == "chip"
    assert s1["values_crossing_per_step"] * 3 <= s0["values_crossing_per_step"] * 2
    assert s1["chip"]["neurons"] == s0["chip"]["neurons"]  # the same spiking layers, on the chip

    whole = _graph(name, "host", (16, 16))
    images, names = load_inputs(None, (16, 16))
    a = NirTorchExecutor(whole.nir, whole.info, dtype=torch.float64).run(images)
    b = NirTorchExecutor(gates.nir, gates.info, dtype=torch.float64).run(images)
    v = verdict(a, b, names)
    assert set(v.layers.values()) == {100.0} and v.output_psnr_db > 150, (v.layers, v.output_psnr_db)


@pytest.mark.lava
def test_a_split_mda_on_lava_fixed_equals_the_emulator(tmp_path):
    """The max trees and ReLUs of a split MDA in integers: ESDNet at 8x8, residency gates, Lava's fixed_pt
    run equals the emulator on every spike and output value."""
    from neurodeploy.bundle import Bundle, export_bundle
    from neurodeploy.images import load_inputs
    from neurodeploy.targets import make_executor
    from neurodeploy.verify import verdict

    manifest = export_bundle("esdnet-tiny", tmp_path / "b", size=(8, 8), quantize="int",
                             calib="examples/images/calib", residency="gates")
    processes = manifest["lowering"]["processes"].values()
    assert any(p.startswith("Max") for p in processes) and any(p.startswith("ReLU") for p in processes)
    bundle = Bundle.open(tmp_path / "b")
    images, names = load_inputs(None, bundle.input_size)
    emu, lava = make_executor("emulator", bundle).run(images), make_executor("lava-fixed", bundle).run(images)
    v = verdict(emu, lava, names)
    assert v.layers and set(v.layers.values()) == {100.0} and v.output_psnr_db == 200.0, v.first_divergence
    assert np.array_equal(emu[0].output, lava[0].output)


@pytest.mark.slow
def test_a_split_mda_on_lava_float_equals_torch_float64(tmp_path):
    """Lava float on ESDNet's split MDA (max trees, ReLUs, product neurons) against nir-torch float64."""
    from neurodeploy.bundle import Bundle, export_bundle
    from neurodeploy.images import load_inputs
    from neurodeploy.targets import make_executor
    from neurodeploy.verify import verdict

    export_bundle("esdnet-tiny", tmp_path / "b", size=(8, 8), residency="gates")
    bundle = Bundle.open(tmp_path / "b")
    images, names = load_inputs(None, bundle.input_size)
    v = verdict(make_executor("nir-torch", bundle).run(images), make_executor("lava-float", bundle).run(images), names)
    assert v.layers and set(v.layers.values()) == {100.0} and v.output_psnr_db > 60, v.first_divergence


@pytest.mark.slow
@pytest.mark.parametrize("residency", ["products", "gates"])
def test_vlifnet_products_on_lava_fixed_equal_the_emulator(tmp_path, residency):
    """VLIF-Net is the derainer with products (x_h * x in every SDEM): on the chip as product neurons,
    Lava's fixed_pt run and the emulator agree on every spike and every output value. (Slow: ~145 Lava
    processes; the default run has product neurons on lava-fixed in spikerain-tiny's split MDSA,
    ``test_lava_fixed.py``.)"""
    from neurodeploy.bundle import Bundle, export_bundle
    from neurodeploy.images import load_inputs
    from neurodeploy.targets import make_executor
    from neurodeploy.verify import verdict

    manifest = export_bundle("vlifnet-tiny", tmp_path / "b", size=(16, 16), quantize="int",
                             calib="examples/images/calib", residency=residency)
    assert sum(1 for p in manifest["lowering"]["processes"].values() if p.startswith("Product")) >= 10
    bundle = Bundle.open(tmp_path / "b")
    images, names = load_inputs(None, bundle.input_size)
    lava = make_executor("lava-fixed", bundle).run(images)
    emu = make_executor("emulator", bundle).run(images)
    v = verdict(emu, lava, names)
    assert v.layers and set(v.layers.values()) == {100.0} and v.output_psnr_db == 200.0, v.first_divergence
    assert np.array_equal(emu[0].output, lava[0].output)


def test_fused_groups_follow_the_same_step_order_of_the_network():
    """A fused group receives each member's inputs just before that member runs; if two groups ran their
    members in orders that disagree with the network's same-step dependencies, each could wait on the
    other (VLIF-Net's lava-fixed run hung so: a host island placed at its first member, before a chip sum
    feeding a later member). Every same-step edge goes forward in the order the groups use."""
    from neurodeploy.targets.loihi.lower import lower
    from neurodeploy.targets.loihi.network import SENDS_FIRST, function_groups, same_step_order

    g = _graph("vlifnet-tiny", "products", (16, 16))
    low = lower(g.nir, g.info)
    order = same_step_order(low)
    pos = {n: i for i, n in enumerate(order)}
    same_step = [e for e in low.edges if low.nodes[e.src].kind not in SENDS_FIRST]
    assert all(pos[e.src] < pos[e.dst] for e in same_step)
    plain = {n: i for i, n in enumerate(low.nodes)}
    assert any(plain[e.src] > plain[e.dst] for e in same_step)  # the lowering's own order would not do
    for members in function_groups(low).values():
        assert [pos[m] for m in members] == sorted(pos[m] for m in members)


@pytest.mark.lava
def test_a_split_mdsa_on_lava_fixed_equals_the_emulator_and_other_sizes_are_refused(tmp_path):
    """The split's chip forms in integers (a pooling synapse with mantissa 1, product neurons with a broadcast
    operand): Lava's fixed_pt run equals the emulator on every spike and value; the pooling spans the export
    size, so the emulator refuses another size in one line instead of computing something else."""
    from neurodeploy.bundle import Bundle, export_bundle
    from neurodeploy.errors import BundleError
    from neurodeploy.images import load_inputs
    from neurodeploy.targets import make_executor
    from neurodeploy.verify import verdict

    manifest = export_bundle("spikerain-tiny", tmp_path / "b", size=(8, 8), quantize="int",
                             calib="examples/images/calib", residency="gates")
    assert manifest["partition"]["residency"] == "gates"
    bundle = Bundle.open(tmp_path / "b")
    images, names = load_inputs(None, bundle.input_size)
    emu = make_executor("emulator", bundle)
    v = verdict(emu.run(images), make_executor("lava-fixed", bundle).run(images), names)
    assert v.layers and set(v.layers.values()) == {100.0} and v.output_psnr_db == 200.0, v.first_divergence
    other, _ = load_inputs(None, (16, 16))
    with pytest.raises(BundleError, match="pool over its export size 8x8.*--residency products"):
        emu.run(other)


def test_island_waits_count_the_gates_on_the_longest_path():
    """Each host island that waits for all T steps on the longest path costs T - 1 Lava steps: esdnet-tiny's
    six attention blocks wait once each with products, and a split MDA waits twice (its spatial statistics
    are of the map its first gates have gated) -- the floor under issue 31's Lava-steps target."""
    from neurodeploy.passes.latency import island_waits
    from neurodeploy.targets.loihi.lower import lower

    waits, steps = {}, {}
    for residency in ("products", "gates"):
        g = _graph("esdnet-tiny", residency, (16, 16))
        steps[residency] = lower(g.nir, g.info).steps_for(1)
        g = _graph("esdnet-tiny", residency, (16, 16))
        partition(g)
        waits[residency] = island_waits(g)
    assert waits == {"products": 6, "gates": 13}
    assert all(steps[r] > waits[r] * (g.t_steps - 1) for r in waits)
