"""Every NIR 1.0 primitive read from files the real ``nir`` package writes, and run (issue 16).

Graphs are built from ``nir``'s own dataclasses, written with ``nir.write`` and read back
with :func:`neurodeploy.ir.read_graph` (and ``neurodeploy inspect``): shapes inferred,
subgraphs flattened with their names kept, parameters the chip cannot express refused
in one line naming the node. Then run: the torch sequence executor against the writers'
own simulations (snntorch, norse: real libraries, files written at test time), and the
Lava float mapping against the torch executor, on seeded random spikes at 10 % (the
issue's default input).
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

from neurodeploy.errors import GraphError, LoweringError
from neurodeploy.ir import as_deploy_graph, read_graph
from neurodeploy.ir.nirread import kinds
from neurodeploy.targets.nir_primitives import NirSequenceExecutor, eval_primitive

from ndfixtures import nir_graphs

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # nirtorch inside the writers

RNG = np.random.default_rng(0)


def conv_graph(**over) -> nir.NIRGraph:
    """Input (2, 9, 9) -> Conv2d(stride 1, pad 1, dilation 1) -> IF -> SumPool2d -> Conv2d
    (groups 2, stride 2, dilation 2 ... ) -> LIF -> AvgPool2d -> Flatten -> Affine -> CubaLIF
    -> Output; ``over`` replaces nodes by name."""
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 9, 9])}),
        "conv1": nir.Conv2d(input_shape=(9, 9), weight=RNG.normal(size=(4, 2, 3, 3)), stride=1, padding=1,
                            dilation=1, groups=1, bias=RNG.normal(size=4)),
        "if1": nir.IF(r=np.ones((4, 9, 9)), v_threshold=np.ones((4, 9, 9))),
        "pool1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([1, 1])),
        "conv2": nir.Conv2d(input_shape=(5, 5), weight=RNG.normal(size=(6, 2, 3, 3)), stride=(1, 2), padding=(2, 1),
                            dilation=(2, 1), groups=2, bias=np.zeros(6)),
        "lif2": nir.LIF(tau=np.full((6, 5, 3), 2e-3), r=np.ones((6, 5, 3)), v_leak=np.zeros((6, 5, 3)),
                        v_threshold=np.ones((6, 5, 3))),
        "pool2": nir.AvgPool2d(kernel_size=np.array([2, 1]), stride=np.array([2, 1]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([6, 2, 3])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=RNG.normal(size=(5, 36)), bias=RNG.normal(size=5)),
        "cuba": nir.CubaLIF(tau_syn=np.full(5, 1e-3), tau_mem=np.full(5, 2e-3), r=np.ones(5), v_leak=np.zeros(5),
                            v_threshold=np.ones(5)),
        "output": nir.Output(output_type={"output": np.array([5])}),
    }
    nodes.update(over)
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False)


def dense_graph(**over) -> nir.NIRGraph:
    """Input (3, 4) -> Conv1d -> Threshold -> Flatten -> Linear -> Scale -> Delay -> I ->
    Affine -> LI -> Affine -> CubaLI -> Output."""
    nodes = {
        "input": nir.Input(input_type={"input": np.array([3, 4])}),
        "c1d": nir.Conv1d(input_shape=4, weight=RNG.normal(size=(2, 3, 2)), stride=1, padding=1, dilation=1,
                          groups=1, bias=np.zeros(2)),
        "thr": nir.Threshold(threshold=np.full((2, 5), 0.1)),
        "flat": nir.Flatten(input_type={"input": np.array([2, 5])}, start_dim=0, end_dim=1),
        "lin": nir.Linear(weight=RNG.normal(size=(4, 10))),
        "scale": nir.Scale(scale=np.array([1.0, 2.0, 0.5, -1.0])),
        "delay": nir.Delay(delay=np.full(4, 3e-4)),
        "integ": nir.I(r=np.ones(4)),
        "fc": nir.Affine(weight=RNG.normal(size=(3, 4)), bias=np.zeros(3)),
        "li": nir.LI(tau=np.full(3, 5e-4), r=np.ones(3), v_leak=np.zeros(3)),
        "fc2": nir.Affine(weight=RNG.normal(size=(2, 3)), bias=np.zeros(2)),
        "cubali": nir.CubaLI(tau_syn=np.full(2, 1e-3), tau_mem=np.full(2, 1e-3), r=np.ones(2), v_leak=np.zeros(2)),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    nodes.update(over)
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False)


def roundtrip(graph: nir.NIRGraph, tmp_path, **kw) -> nir.NIRGraph:
    path = tmp_path / "net.nir"
    nir.write(str(path), graph, compression=None)
    return read_graph(path, **kw)


def shapes(graph: nir.NIRGraph) -> dict[str, tuple[int, ...]]:
    return {n: tuple(int(v) for v in node.output_type["output"]) for n, node in graph.nodes.items()}


def test_every_primitive_is_read_with_its_shape(tmp_path):
    conv = roundtrip(conv_graph(), tmp_path)
    assert shapes(conv) == {"input": (2, 9, 9), "conv1": (4, 9, 9), "if1": (4, 9, 9), "pool1": (4, 5, 5),
                            "conv2": (6, 5, 3), "lif2": (6, 5, 3), "pool2": (6, 2, 3), "flat": (36,), "fc": (5,),
                            "cuba": (5,), "output": (5,)}
    dense = roundtrip(dense_graph(), tmp_path)
    assert shapes(dense)["c1d"] == (2, 5) and shapes(dense)["flat"] == (10,) and shapes(dense)["output"] == (2,)
    every = set(kinds(conv).values()) | set(kinds(dense).values())
    assert every == {"input", "output", "conv", "conv1d", "if", "lif", "sumpool", "avgpool", "flatten", "affine",
                     "linear", "scale", "delay", "i", "li", "cubali", "cubalif", "threshold"}
    # NIR's own reader, with its type check, loads the normalised graph written back
    # (with an ungrouped conv2: see test_upstream_nir_grouped_conv_input_type)
    ungrouped = roundtrip(conv_graph(conv2=nir.Conv2d(input_shape=(5, 5), weight=RNG.normal(size=(6, 4, 3, 3)),
                                                      stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=1,
                                                      bias=np.zeros(6))), tmp_path)
    nir.write(str(tmp_path / "back.nir"), ungrouped)
    assert set(nir.read(str(tmp_path / "back.nir")).nodes) == set(conv.nodes)
    nir.write(str(tmp_path / "back.nir"), dense)
    assert set(nir.read(str(tmp_path / "back.nir")).nodes) == set(dense.nodes)


def test_upstream_nir_grouped_conv_input_type(tmp_path):
    """nir 1.0.8's Conv2d declares ``weight.shape[1]`` = C_in/groups input channels, so its
    own type check refuses every grouped conv after a layer of C_in channels; neurodeploy
    reads C_in = groups * weight.shape[1]. Fails when NIR fixes it."""
    conv = roundtrip(conv_graph(), tmp_path)
    nir.write(str(tmp_path / "back.nir"), conv)
    with pytest.raises(ValueError, match="conv2.input"):
        nir.read(str(tmp_path / "back.nir"))


def test_scalar_parameters_broadcast_to_the_layer(tmp_path):
    """snntorch and norse write neuron parameters as scalars (0-d); they take the layer's shape."""
    g = conv_graph(if1=nir.IF(r=np.array(1.0), v_threshold=np.array(0.5)))
    read = roundtrip(g, tmp_path)
    assert read.nodes["if1"].v_threshold.shape == (4, 9, 9)
    assert np.all(read.nodes["if1"].v_threshold == 0.5)


def test_nested_graph_is_flattened_with_names_kept(tmp_path):
    sub = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([5])}),
                              "lif": nir.LIF(tau=np.full(5, 1e-3), r=np.ones(5), v_leak=np.zeros(5),
                                             v_threshold=np.ones(5)),
                              "output": nir.Output(output_type={"output": np.array([5])})},
                       edges=[("input", "lif"), ("lif", "output")], type_check=False)
    g = conv_graph(cuba=sub)
    g.edges = [(s, "cuba.input" if d == "cuba" else d) for s, d in g.edges]  # nirtorch's spelling of the entry
    read = roundtrip(g, tmp_path)
    assert "cuba.lif" in read.nodes and "cuba" not in read.nodes
    assert ("fc", "cuba.lif") in read.edges and ("cuba.lif", "output") in read.edges


def test_singleton_dimensions_give_one_warning(tmp_path):
    """rockpool writes Output types with extra singleton dimensions."""
    lines = []
    read = roundtrip(conv_graph(output=nir.Output(output_type={"output": np.array([1, 5, 1])})), tmp_path,
                     warn=lines.append)
    assert len(lines) == 1 and "'output'" in lines[0] and "singleton" in lines[0]
    assert shapes(read)["output"] == (5,)
    with pytest.raises(GraphError, match="'output'.*disagrees"):
        roundtrip(conv_graph(output=nir.Output(output_type={"output": np.array([6])})), tmp_path)


def test_sinabs_and_norse_quirks_only_when_asked(tmp_path):
    g = conv_graph()
    plain = roundtrip(g, tmp_path)
    sinabs = roundtrip(g, tmp_path, writer="sinabs")
    assert np.all(plain.nodes["if1"].r == 1) and np.all(sinabs.nodes["if1"].r == 1e4)  # v += x per step
    norse = roundtrip(conv_graph(lif2=nir.LIF(tau=np.full((6, 5, 3), 1e-5), r=np.ones((6, 5, 3)),
                                              v_leak=np.zeros((6, 5, 3)), v_threshold=np.ones((6, 5, 3)))),
                      tmp_path, writer="norse")
    assert np.allclose(norse.nodes["lif2"].tau, 1e-2)  # written as dt/tau_mem_inv with dt = 1e-3 s


BAD = [
    ("negative tau", lambda: conv_graph(lif2=nir.LIF(tau=np.full((6, 5, 3), -1e-3), r=np.ones((6, 5, 3)),
                                                     v_leak=np.zeros((6, 5, 3)), v_threshold=np.ones((6, 5, 3)))),
     "lif2", "not > 0"),
    ("tau shorter than dt", lambda: conv_graph(cuba=nir.CubaLIF(
        tau_syn=np.full(5, 1e-5), tau_mem=np.full(5, 2e-3), r=np.ones(5), v_leak=np.zeros(5),
        v_threshold=np.ones(5))), "cuba", "shorter than dt"),
    ("non-integer delay", lambda: dense_graph(delay=nir.Delay(delay=np.full(4, 2.5e-4))), "delay",
     "not a whole number of steps"),
    ("negative delay", lambda: dense_graph(delay=nir.Delay(delay=np.full(4, -1e-4))), "delay", "negative"),
    ("flatten mixing time", lambda: conv_graph(flat=nir.Flatten(input_type={"input": np.array([1, 6, 2, 3])},
                                                                start_dim=0, end_dim=-1)), "flat", "mix time steps"),
    ("affine without flatten", lambda: conv_graph(flat=nir.Scale(scale=np.ones((6, 2, 3)))), "fc", "Flatten"),
    ("pool larger than input", lambda: conv_graph(pool2=nir.AvgPool2d(kernel_size=np.array([9, 9]),
                                                                      stride=np.array([1, 1]),
                                                                      padding=np.array([0, 0]))), "pool2", "fit"),
    ("asymmetric same padding", lambda: conv_graph(conv1=nir.Conv2d(
        input_shape=(9, 9), weight=np.ones((4, 2, 2, 2)), stride=1, padding="same", dilation=1, groups=1,
        bias=np.zeros(4))), "conv1", "not symmetric"),
]


@pytest.mark.parametrize("case,make,node,match", BAD, ids=[b[0] for b in BAD])
def test_bad_parameters_one_line_exit_2(run_cli, tmp_path, case, make, node, match):
    path = tmp_path / "bad.nir"
    nir.write(str(path), make(), compression=None)
    code, out, err = run_cli("inspect", path)
    assert code == 2, (out, err)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and f"'{node}'" in lines[0] and match in lines[0], err


def test_empty_dangling_and_unknown_subgraphs(run_cli, tmp_path):
    empty = nir.NIRGraph(nodes={}, edges=[], type_check=False)
    with pytest.raises(GraphError, match="subgraph 'cuba' is empty"):
        from neurodeploy.ir.nirread import flatten_subgraphs
        flatten_subgraphs(conv_graph(cuba=empty))
    lonely = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([5])}),
                                 "lif": nir.LIF(tau=np.full(5, 1e-3), r=np.ones(5), v_leak=np.zeros(5),
                                                v_threshold=np.ones(5)),
                                 "output": nir.Output(output_type={"output": np.array([5])})},
                          edges=[("input", "lif")], type_check=False)  # its output is not connected inside
    path = tmp_path / "dangling.nir"
    nir.write(str(path), conv_graph(cuba=lonely), compression=None)
    code, _, err = run_cli("inspect", path)
    assert code == 2 and "subgraph 'cuba' is dangling" in err and err.count("\n") == 1, err
    # an unknown type written into a file: named, exit 2
    nir.write(str(path), conv_graph(), compression=None)
    import h5py

    with h5py.File(path, "r+") as f:
        del f["node/nodes/pool1/type"]
        f["node/nodes/pool1/type"] = "MaxPool2d"
    code, _, err = run_cli("inspect", path)
    assert code == 2 and "'pool1'" in err and err.count("\n") == 1, err


def test_inspect_reads_every_primitive(run_cli, tmp_path):
    path = tmp_path / "net.nir"
    nir.write(str(path), conv_graph(), compression=None)
    code, out, err = run_cli("inspect", path, "--json")
    assert code == 0, err
    import json

    result = json.loads(out)
    rows = {r["node"]: r for r in result["nodes"]}
    assert rows["pool1"]["shape"] == [4, 5, 5] and rows["if1"]["edge_kind"] == "binary"
    assert rows["fc"]["params"] == 5 * 36 + 5
    assert result["dt_s"] == 1e-4 and result["writer"] == "nir"




def spikes(t: int, n: int, shape, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).random((t, n, *shape)) < 0.1).astype(np.float64) * scale


def stacked(traces, layer):
    return np.stack([t.layers[layer] for t in traces], 1)


def record(net: nn.Module, layers: list[str]) -> tuple[dict[str, list], list]:
    rec = {k: [] for k in layers}
    hooks = [net.get_submodule(k).register_forward_hook(
        lambda m, a, o, k=k: rec[k].append((o[0] if isinstance(o, tuple) else o).detach().double()))
        for k in layers]
    return rec, hooks


# --- the writers' own simulations ------------------------------------------------------


def snntorch_dense(reset: str = "zero") -> nn.Sequential:
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(16, 8), snn.Leaky(beta=torch.full((8,), 0.9), threshold=torch.full((8,), 0.5), init_hidden=True,
                                    reset_mechanism="zero"),
        nn.Linear(8, 4), snn.Synaptic(alpha=torch.full((4,), 0.8), beta=torch.full((4,), 0.9),
                                      threshold=torch.full((4,), 0.5), init_hidden=True, reset_mechanism=reset))


def run_snntorch(net, x) -> dict[str, np.ndarray]:
    for m in net.modules():
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    rec, hooks = record(net, ["1", "3"])
    with torch.no_grad():
        for x_t in x:
            net(torch.tensor(x_t, dtype=torch.float32))
    for h in hooks:
        h.remove()
    return {k: torch.stack(v).numpy() for k, v in rec.items()}


def snntorch_file(net, tmp_path, shape=(16,)) -> str:
    from snntorch.export_nir import export_to_nir

    path = tmp_path / "snntorch.nir"
    nir.write(str(path), export_to_nir(net, torch.zeros(*shape)))  # unbatched sample: see interop.md
    return path


def test_snntorch_dense_leaky_runs_as_snntorch(tmp_path):
    net = snntorch_dense()
    graph = read_graph(snntorch_file(net, tmp_path), writer="snntorch")
    x = spikes(100, 3, (16,))
    ours = NirSequenceExecutor(graph).run(x)
    ref = run_snntorch(net, x)
    assert ref["1"].mean() > 0.01
    np.testing.assert_array_equal(stacked(ours, "1"), ref["1"])


def test_upstream_snntorch_synaptic_zero_reset_is_one_step_late(tmp_path):
    """snntorch 1.0's ``Synaptic(reset_mechanism="zero")`` zeroes the membrane on the step
    *after* a spike, discarding that step's input (``mem -= mem * reset`` with ``reset``
    from the previous membrane); NIR's CubaLIF (and ``Leaky``) resets right after the spike.
    No NIR parameter says so: read as NIR says (dt 1e-4 s, snntorch's, without --writer) the
    CubaLIF layer cannot agree; ``--writer snntorch`` records the late reset
    (neurodeploy/ir/rules.py) and agrees exactly. Fails when snntorch changes."""
    net = snntorch_dense()
    path = snntorch_file(net, tmp_path)
    x = spikes(100, 3, (16,))
    ref = run_snntorch(net, x)["3"]
    as_nir = read_graph(path, dt_s=1e-4)
    agree = (stacked(NirSequenceExecutor(as_nir).run(x), "3") == ref).mean()
    assert 0.5 < agree < 0.99, agree
    as_snntorch = read_graph(path, writer="snntorch")
    assert as_snntorch.nodes["3"].metadata["neurodeploy.reset_delay"] == 1
    np.testing.assert_array_equal(stacked(NirSequenceExecutor(as_snntorch).run(x), "3"), ref)


def norse_dense():
    norse = pytest.importorskip("norse.torch")
    torch.manual_seed(0)
    return norse.SequentialState(
        nn.Linear(16, 8), norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.tensor(100.0),
                                                                  v_th=torch.tensor(0.3))),
        nn.Linear(8, 4), norse.LIFCell(norse.LIFParameters(tau_syn_inv=torch.tensor(200.0),
                                                           tau_mem_inv=torch.tensor(100.0), v_th=torch.tensor(0.3))))


def run_norse(net, x) -> dict[str, np.ndarray]:
    rec, hooks = record(net, ["1", "3"])
    state = None
    net = net.double()
    with torch.no_grad():
        for x_t in x:
            _, state = net(torch.tensor(x_t), state)
    for h in hooks:
        h.remove()
    return {k: torch.stack(v).numpy() for k, v in rec.items()}


def norse_file(net, tmp_path, sample) -> str:
    norse = pytest.importorskip("norse.torch")
    path = tmp_path / "norse.nir"
    # norse writes 0-d parameters, which nir.write's default gzip refuses (interop.md)
    nir.write(str(path), norse.to_nir(net, sample), compression=None)
    return path


def test_norse_dense_lif_and_cubalif_run_as_norse(tmp_path):
    net = norse_dense()
    x = spikes(100, 3, (16,), scale=20.0)
    path = norse_file(net, tmp_path, torch.zeros(1, 16))
    ref = run_norse(net, x)
    graph = read_graph(path, writer="norse")
    ours = NirSequenceExecutor(graph).run(x)
    assert ref["1"].mean() > 0.01 and ref["3"].mean() > 0.01
    for layer in ("1", "3"):
        np.testing.assert_array_equal(stacked(ours, layer), ref[layer])
    # NIR's semantics without --writer: norse's tau = dt/tau_mem_inv is shorter than dt, refused
    with pytest.raises(GraphError, match="shorter than dt"):
        read_graph(path)


# --- the torch executor's primitives on their own ----------------------------------------


def test_pool_delay_flatten_and_if_semantics():
    x = torch.as_tensor(spikes(6, 2, (2, 4, 4), seed=1))
    pooled = eval_primitive("p", nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                               padding=np.array([0, 0])), x, 1e-4)
    assert torch.equal(pooled, x.reshape(6, 2, 2, 2, 2, 2, 2).sum((4, 6)))
    delayed = eval_primitive("d", nir.Delay(delay=np.full((2, 4, 4), 3e-4)), x, 1e-4)
    assert torch.equal(delayed[3:], x[:-3]) and not delayed[:3].any()
    flat = eval_primitive("f", nir.Flatten(input_type={"input": np.array([2, 4, 4])}, start_dim=0, end_dim=-1),
                          x, 1e-4)
    assert torch.equal(flat, x.reshape(6, 2, 32))
    # IF: v += dt r x; fires on v > v_th, resets to v_reset
    drive = torch.ones(6, 1, 1, dtype=torch.float64)
    s = eval_primitive("i", nir.IF(r=np.array([2e3]), v_threshold=np.array([0.5]), v_reset=np.array([0.0])),
                       drive, 1e-4)
    assert s.flatten().tolist() == [0, 0, 1, 0, 0, 1]  # 0.2, 0.4, 0.6 -> 0, 0.2, 0.4, 0.6 -> 0


# --- Lava float against the torch executor -----------------------------------------------


def _lava_vs_torch(graph: nir.NIRGraph, x: np.ndarray) -> dict[str, float]:
    from neurodeploy.targets.loihi.executor import sequence_executor

    torch_traces = NirSequenceExecutor(graph).run(x)
    lava = sequence_executor(graph)
    lava_traces = lava.run(x)
    out = {}
    for layer in lava.layers:
        a, b = stacked(torch_traces, layer), stacked(lava_traces, layer)
        out[layer] = 100.0 * np.isclose(a, b, rtol=1e-9, atol=1e-9).mean()
        if lava.lowered.nodes[layer].params["spiking"]:
            assert a.mean() > 0.005, (layer, a.mean())
    return out


@pytest.mark.lava
def test_lava_runs_conv_pool_flatten_if_lif_cubalif_as_torch(tmp_path):
    """The representative Lava test: Conv2d (padding, stride, dilation, groups), IF, SumPool2d,
    LIF, AvgPool2d, Flatten, Affine, CubaLIF on Lava float, spike for spike with torch."""
    path = tmp_path / "conv.nir"
    g = conv_graph(lif2=nir.LIF(tau=np.full((6, 5, 3), 2e-4), r=np.full((6, 5, 3), 4.0), v_leak=np.zeros((6, 5, 3)),
                                v_threshold=np.full((6, 5, 3), 0.5), v_reset=np.full((6, 5, 3), -0.1)),
                   if1=nir.IF(r=np.full((4, 9, 9), 5e3), v_threshold=np.ones((4, 9, 9))),
                   cuba=nir.CubaLIF(tau_syn=np.full(5, 2e-4), tau_mem=np.full(5, 4e-4), r=np.full(5, 4.0),
                                    v_leak=np.zeros(5), v_threshold=np.full(5, 0.2), w_in=np.full(5, 2.0)))
    nir.write(str(path), g, compression=None)
    graph = read_graph(path)
    agreement = _lava_vs_torch(graph, spikes(20, 2, (2, 9, 9), scale=1.0))
    assert agreement == {"if1": 100.0, "lif2": 100.0, "cuba": 100.0}


def dense_lava_graph(last: str) -> nir.NIRGraph:
    """Conv1d -> Threshold -> Flatten -> Linear -> Scale -> LIF -> Delay -> Affine -> ``last``
    (the graph the Lava fixed_pt benchmark runs too: ``tests/fixtures/nir_graphs.py: hand_dense``)."""
    return nir_graphs.hand_dense(last)()


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("last", ["if", "li", "i", "cubali"])
def test_lava_runs_conv1d_threshold_linear_scale_delay_and_integrators_as_torch(tmp_path, last):
    path = tmp_path / "dense.nir"
    nir.write(str(path), dense_lava_graph(last), compression=None)
    graph = read_graph(path)
    agreement = _lava_vs_torch(graph, spikes(30, 2, (3, 6), seed=2))
    assert set(agreement.values()) == {100.0}, agreement


def test_lava_mapping_refuses_what_it_cannot_express_by_name(tmp_path):
    from neurodeploy.targets.loihi.lower import lower

    g = dense_lava_graph("li")
    g.nodes["lif"] = nir.LIF(tau=np.linspace(1e-3, 2e-3, 8), r=np.ones(8), v_leak=np.zeros(8),
                             v_threshold=np.ones(8))
    path = tmp_path / "bad.nir"
    nir.write(str(path), g, compression=None)
    with pytest.raises(LoweringError, match="neuron 'lif': tau varies"):
        lower(as_deploy_graph(read_graph(path), 1e-4))


# --- NIR that others read: graph.nir / chip.nir of a bundle -------------------------------


def test_toy_residual_bundle_loads_in_nir_read_and_runs_in_snntorch_and_norse(run_cli, tmp_path, toy_checkpoint,
                                                                             rainy_images):
    """``nir.read`` (with its type check) loads graph.nir and chip.nir of toy-residual;
    snntorch's and norse's importers run graph.nir *as nir.read returns it* and agree
    100 % per layer with our torch model (crosscheck's documented workarounds applied)."""
    from neurodeploy.checkpoint import build_model, load_checkpoint
    from neurodeploy.ir import graph_info
    from neurodeploy.targets.crosscheck import load_into_norse, load_into_snntorch, run_library
    from neurodeploy.targets.torch_reference import TorchReference

    out = tmp_path / "toy"
    code, _, err = run_cli("export", toy_checkpoint, "--out", out, "--size", 12, 10)
    assert code == 0, err
    chip = nir.read(str(out / "chip.nir"))
    assert {type(n).__name__ for n in chip.nodes.values()} == {"Input", "Conv2d", "LIF", "Output"}
    graph = nir.read(str(out / "graph.nir"))
    assert {type(n).__name__ for n in graph.nodes.values()} == {"Input", "Scale", "Conv2d", "LIF", "Output"}
    # our reader restores the encoder and decoder the Scale stand-ins carry
    ours = read_graph(out / "graph.nir")
    assert type(ours.nodes["encode"]).__name__ == "DirectEncode" and ours.nodes["encode"].t_steps == 4
    info = graph_info(graph)
    layers = info.neuron_layers(graph)
    model = build_model(load_checkpoint(toy_checkpoint))
    reference = TorchReference(model, ours, info, dtype=torch.float32).run(rainy_images)
    snn_traces = run_library(load_into_snntorch(graph), rainy_images, info.t_steps, layers, "snntorch")
    module, _ = load_into_norse(graph)
    norse_traces = run_library(module, rainy_images, info.t_steps, layers, "norse")
    for traces in (snn_traces, norse_traces):
        for ref, got in zip(reference, traces):
            assert ref.layers["lif1"].mean() > 0.01
            for layer in layers:
                np.testing.assert_array_equal(got.layers[layer], ref.layers[layer])
