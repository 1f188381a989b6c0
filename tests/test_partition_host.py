"""Partition, islands, chip.nir, host/ISLAND.onnx, the NIR torch and split executors on the derainers."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from neurodeploy.nir_export import export_graph
from neurodeploy.targets.host_onnx import HostIsland, run_host_onnx, write_host_onnx
from neurodeploy.ir import DeployGraph, graph_info, read_graph, write_graph
from neurodeploy.images import DEFAULT_IMAGE, read_image
from neurodeploy.models import get_architecture
from neurodeploy.passes.partition import chip_graph, partition, summarize
from neurodeploy.targets.nir_torch import NirTorchExecutor
from neurodeploy.targets.torch_reference import TorchReference
from neurodeploy.verify import verdict

DERAINERS = ["esdnet", "vlifnet", "spikerain"]


def _model(name: str, seed: int = 0):
    """The shipped tiny checkpoint when there is one, else the tiny preset (seeded)."""
    from neurodeploy.checkpoint import load_model, zoo

    if f"{name}-tiny" in [e.name for e in zoo()]:
        model, ckpt = load_model(f"{name}-tiny")
        return model, ckpt.config
    arch = get_architecture(name)
    torch.manual_seed(seed)
    return arch.build(arch.config("tiny")).eval(), arch.config("tiny")


def _rainy_crops(size=32) -> np.ndarray:
    img = read_image(DEFAULT_IMAGE)
    return np.stack([img[:, 60:60 + size, 100:100 + size], img[:, 200:200 + size, 320:320 + size]])


@pytest.fixture(scope="module", params=DERAINERS)
def derainer(request):
    name = request.param
    model, config = _model(name)
    graph = export_graph(model, (32, 32), architecture=name, config=config)
    return name, model, graph, graph_info(graph)


def test_nir_executor_reproduces_the_model(derainer, tmp_path):
    """Issue 6: identical spikes on >= 99.9 % of neurons per layer, output >= 60 dB, on real rainy crops."""
    name, model, graph, info = derainer
    write_graph(tmp_path / "g.nir", graph)
    graph = read_graph(tmp_path / "g.nir")  # through the file, as a user would
    images = _rainy_crops()
    reference = TorchReference(model, graph, info, dtype=torch.float32).run(images)
    ran = NirTorchExecutor(graph, info).run(images)
    v = verdict(reference, ran, ["a", "b"], min_agreement_pct=99.9, min_psnr_db=60.0)
    assert v.passed, (name, v.layers, v.output_psnr_db)
    assert len(v.layers) >= 5 and sum(t.sum() for t in reference[0].layers.values()) > 0


def test_partition_puts_gates_on_the_host_and_synapses_on_chip(derainer):
    name, _, graph, info = derainer
    g = DeployGraph(graph, info)
    part = partition(g)
    kinds = info.node_kinds
    # products of activations run on the chip (export's default residency, issue 31)
    assert all(kinds[n] in ("conv", "lif", "nilif", "patch_to_time", "upsample", "concat", "sum", "gain", "product")
               for n in part.chip)
    assert all(kinds[n] in ("input", "encode", "host", "decode_mean", "conv", "output") for n in part.host)
    assert any(kinds[n] == "host" for n in part.host) and any(kinds[n] == "lif" for n in part.chip)
    chip = set(part.chip)
    assert all((c.src in chip) != (c.dst in chip) for c in part.cut)
    assert {(c.src, c.dst) for c in part.cut} == {(s, d) for s, d in graph.edges if (s in chip) != (d in chip)}
    assert g.info.side == {n: "chip" if n in chip else "host" for n in graph.nodes}
    summary = summarize(g, part)
    assert summary["crossings_per_step"] == len(part.cut) > 0
    assert summary["chip"]["neurons"] == sum(int(np.prod(info.shapes[n])) for n in part.chip
                                             if kinds[n] in ("lif", "nilif"))
    if name == "vlifnet":  # NI-LIF runs on the chip; only its temporal gate stays on the host
        assert any(kinds[n] == "nilif" for n in part.chip)
        assert all(info.node_kinds[n] != "nilif" for n in part.host)
    assert summary["host"]["host_block_flops_per_image"] > 0


def test_islands_cover_the_host_and_never_wait_on_themselves(derainer):
    """Every host node is in exactly one island; no island reads a value that depends
    (through the chip) on a value it computes itself; windows follow the block declarations."""
    _, _, graph, info = derainer
    g = DeployGraph(graph, info)
    part = partition(g)
    members = [n for isl in part.islands for n in isl.nodes]
    assert sorted(members) == sorted(part.host) and len(members) == len(set(members))
    succ = {n: [d for s, d in graph.edges if s == n] for n in graph.nodes}

    def downstream(start):
        seen, todo = set(), list(start)
        while todo:
            n = todo.pop()
            for d in succ[n]:
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen

    for isl in part.islands:
        leaving = [d for n in isl.nodes for d in succ[n] if d not in isl.nodes]
        assert not downstream(leaving) & set(isl.inputs), isl.name
        assert set(isl.inputs) <= set(graph.nodes) and set(isl.outputs) <= set(isl.nodes)
        blocks = [graph.nodes[n] for n in isl.nodes if info.node_kinds[n] == "host"]
        if any(b.block in ("MultiDimensionalAttention", "MDSA", "TemporalFusion", "VLIF") for b in blocks):
            assert isl.window == "all_steps"
    assert len(part.islands) >= 3


def test_host_islands_onnx_match_torch(derainer, tmp_path):
    """Every island's ONNX file passes onnx.checker and onnxruntime matches torch within 1e-5."""
    name, _, graph, info = derainer
    g = DeployGraph(graph, info)
    part = partition(g)
    rng = np.random.default_rng(0)
    for island in part.islands[:4]:  # the first islands cover input, gates and products
        host = HostIsland(g, island)
        write_host_onnx(tmp_path / f"{island.name}.onnx", host)
        inputs = tuple(rng.random(s).astype(np.float32) for s in host.input_shapes())
        with torch.no_grad():
            want = [o.numpy() for o in host(*map(torch.as_tensor, inputs))]
        got = run_host_onnx(tmp_path / f"{island.name}.onnx", host, inputs)
        assert len(got) == len(host.output_names) >= 1
        for w, gv in zip(want, got):
            np.testing.assert_allclose(gv, w, atol=1e-5, rtol=0)


def test_host_onnx_runs_at_another_size_than_traced(tmp_path):
    """Height and width are dynamic: traced at half size, run at the bundle's."""
    model, config = _model("esdnet")
    g = DeployGraph.from_nir(export_graph(model, (128, 96), architecture="esdnet", config=config))
    island = next(i for i in partition(g).islands if any(g.kind(n) == "host" for n in i.nodes))
    host = HostIsland(g, island)
    assert host.trace_shrink() == 2
    write_host_onnx(tmp_path / "h.onnx", host)
    inputs = tuple(np.random.default_rng(1).random(s).astype(np.float32) for s in host.input_shapes())
    with torch.no_grad():
        want = [o.numpy() for o in host(*map(torch.as_tensor, inputs))]
    for w, gv in zip(want, run_host_onnx(tmp_path / "h.onnx", host, inputs)):
        np.testing.assert_allclose(gv, w, atol=1e-5, rtol=0)


def test_toy_chip_part_is_plain_nir(toy_graph, tmp_path):
    graph, info = toy_graph
    g = DeployGraph(graph, info)
    part = partition(g)
    assert part.chip == ["conv_in", "lif1", "conv2", "lif2", "conv3", "lif3", "conv_out"]
    assert [(i.nodes, i.window) for i in part.islands] == [(["input", "encode"], "step"),
                                                           (["decode", "output"], "all_steps")]
    write_graph(tmp_path / "chip.nir", chip_graph(g, part).to_nir())
    chip = nir.read(str(tmp_path / "chip.nir"))  # NIR's own reader, type checks on
    assert {type(n).__name__ for n in chip.nodes.values()} == {"Input", "Conv2d", "LIF", "Output"}
    assert ("encode", "conv_in") in chip.edges and ("conv_out", "decode") in chip.edges


def test_one_step_islands_stream_and_the_others_wait_t_minus_one_steps(derainer):
    """An island whose every node computes each step from the same step (products, sums)
    adds no Lava steps; one that needs all T steps adds T - 1 (it runs when the last arrives)."""
    from neurodeploy.targets.loihi.lower import lower

    name, _, graph, info = derainer
    lowered = lower(graph, info)
    islands = [n for n in lowered.nodes.values() if n.kind == "island"]
    for node in islands:
        added = node.latency - node.params["input_latency"]
        assert added == (0 if node.params["streams"] else info.t_steps - 1), node.name
    if name == "vlifnet":  # kept on the host (residency host), the SDEM products x_h * x are per step
        assert any(n.kind == "product" for n in lowered.nodes.values())  # on the chip by default
        model, config = _model(name)
        host = export_graph(model, (32, 32), architecture=name, config=config, residency="host")
        lowered = lower(host, graph_info(host))
        assert any(n.params["streams"] for n in lowered.nodes.values() if n.kind == "island")
