"""Every NIR 1.0 primitive read from files the real ``nir`` package writes (issue 16).

Graphs are built from ``nir``'s own dataclasses, written with ``nir.write`` and read back
with :func:`neurodeploy.ir.read_graph` (and ``neurodeploy inspect``): shapes inferred,
subgraphs flattened with their names kept, parameters the chip cannot express refused
in one line naming the node.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy.errors import GraphError
from neurodeploy.ir import read_graph
from neurodeploy.ir.nirread import kinds

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
