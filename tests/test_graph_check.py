"""Bad NIR input: each malformed graph is one GraphError line naming the node or edge.

Each test breaks a valid export of the toy-residual (2 channels, 8x8) in one way, then
checks the in-memory graph (``check_graph``) and, where the file can hold the damage, the
written file (``write_graph`` -> ``read_graph``).
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from neurodeploy import cli
from neurodeploy.ir import nodes as nd
from neurodeploy.errors import GraphError
from neurodeploy.nir_export import export_graph
from neurodeploy.ir import METADATA_KEY, read_graph, write_graph
from neurodeploy.ir.check import check_graph
from neurodeploy.models.toy_residual import ToyResidual

from ndfixtures import nir_fuzz


@pytest.fixture(scope="module")
def base() -> nir.NIRGraph:
    return export_graph(ToyResidual(channels=2), (8, 8))


@pytest.fixture
def g(base) -> nir.NIRGraph:
    """A fresh copy of the valid toy graph to break."""
    return copy.deepcopy(base)


def rejects(graph: nir.NIRGraph, *names: str, match: str = "", tmp_path: Path | None = None) -> str:
    """Assert check_graph (and, with tmp_path, write+read) raises one GraphError line that
    quotes every name in ``names`` and contains ``match``; return the in-memory message."""
    messages = []
    with pytest.raises(GraphError) as exc:
        check_graph(graph)
    messages.append(str(exc.value))
    if tmp_path is not None:
        write_graph(tmp_path / "bad.nir", graph)
        with pytest.raises(GraphError) as exc:
            read_graph(tmp_path / "bad.nir")
        messages.append(str(exc.value))
    for msg in messages:
        assert "\n" not in msg, msg
        for name in names:
            assert f"'{name}'" in msg, msg
        assert match in msg, msg
    return messages[0]


def conv(c_in: int, c_out: int, hw=(8, 8), weight=None) -> nir.Conv2d:
    weight = np.ones((c_out, c_in, 3, 3)) if weight is None else weight
    return nir.Conv2d(input_shape=hw, weight=weight, stride=1, padding=1, dilation=1, groups=1,
                      bias=np.zeros(weight.shape[0]))


def lif(shape) -> nir.LIF:
    return nir.LIF(tau=np.full(shape, 2e-3), r=np.full(shape, 2.0), v_leak=np.zeros(shape),
                   v_threshold=np.ones(shape), v_reset=np.zeros(shape))


def test_valid_exports_pass_and_read_back(base, tmp_path):
    check_graph(base)
    write_graph(tmp_path / "g.nir", base)
    back = read_graph(tmp_path / "g.nir")
    assert set(back.nodes) == set(base.nodes) and sorted(back.edges) == sorted(base.edges)


def test_edge_naming_a_missing_node(g, tmp_path):
    g.edges.append(("lif3", "ghost"))
    rejects(g, "ghost", match="does not have", tmp_path=tmp_path)


def test_deleted_node_still_named_by_edges(g, tmp_path):
    del g.nodes["conv2"]
    rejects(g, "conv2", match="does not have", tmp_path=tmp_path)


def test_node_without_input_is_dangling(g, tmp_path):
    g.edges.remove(("conv2", "lif2"))
    rejects(g, "lif2", match="no input", tmp_path=tmp_path)


def test_node_feeding_nothing_is_dangling(g, tmp_path):
    g.nodes["spare"] = lif((2, 8, 8))
    g.edges.append(("conv2", "spare"))
    g.metadata = {}  # no annotations for the new node: the structure is what fails
    rejects(g, "spare", match="feeds nothing", tmp_path=tmp_path)


def test_conv_input_channels_mismatch(g, tmp_path):
    g.nodes["conv2"] = conv(3, 2)
    rejects(g, "lif1", "conv2", match="expects (3, 8, 8)", tmp_path=tmp_path)


def test_conv_spatial_input_shape_mismatch(g, tmp_path):
    g.nodes["conv2"] = conv(2, 2, hw=(6, 6))
    rejects(g, "conv2", tmp_path=tmp_path)


def test_neuron_shape_mismatch(g, tmp_path):
    g.nodes["lif2"] = lif((2, 4, 4))
    rejects(g, "conv2", "lif2", match="parameters of shape (2, 4, 4)", tmp_path=tmp_path)


def test_summed_inputs_must_agree(g, tmp_path):
    g.edges.append(("encode", "conv3"))
    json_info = json.loads(g.metadata[METADATA_KEY])
    json_info["edge_kinds"]["encode->conv3"] = "real"
    g.metadata[METADATA_KEY] = json.dumps(json_info)
    rejects(g, "conv3", "encode", match="sums inputs of different shapes", tmp_path=tmp_path)


def test_output_shape_mismatch(g, tmp_path):
    g.nodes["output"] = nir.Output(output_type={"output": np.array([2, 8, 8])})
    rejects(g, "output", tmp_path=tmp_path)


def test_input_shape_mismatch(g, tmp_path):
    g.nodes["input"] = nir.Input(input_type={"input": np.array([3, 8, 9])})
    rejects(g, "input", tmp_path=tmp_path)


def test_concat_channels_must_sum():
    shape = np.array([2, 8, 8])
    nodes = {"input": nir.Input(input_type={"input": shape}), "a": conv(2, 2), "b": conv(2, 1),
             "cat": nd.Concat(np.array([4, 8, 8]), order=json.dumps(["a", "b"])),
             "output": nir.Output(output_type={"output": np.array([4, 8, 8])})}
    edges = [("input", "a"), ("input", "b"), ("a", "cat"), ("b", "cat"), ("cat", "output")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={}, type_check=False)
    rejects(graph, "cat", match="3 channels")
    graph.nodes["cat"] = nd.Concat(np.array([3, 8, 8]), order=json.dumps(["a", "b"]))
    graph.nodes["output"] = nir.Output(output_type={"output": np.array([3, 8, 8])})
    check_graph(graph)  # the fixed graph passes (no metadata: a graph from another tool)


@dataclass(eq=False)
class _Bogus(nir.NIRNode):
    """A node type that is no NIR 1.0 primitive (every primitive is read since issue 16)."""

    value: float = 0.0


def test_unknown_node_type(g, tmp_path):
    g.nodes["conv2"] = _Bogus()
    rejects(g, "conv2", match="does not support")
    # a NIR primitive where the metadata says conv: refused by name too
    g.nodes["conv2"] = nir.Linear(weight=np.ones((4, 4)))
    rejects(g, "conv2", match="metadata calls it 'conv'", tmp_path=tmp_path)


def test_unknown_node_type_in_file(g, tmp_path):
    write_graph(tmp_path / "bad.nir", g)
    with h5py.File(tmp_path / "bad.nir", "r+") as f:
        del f["node/nodes/decode/type"]
        f["node/nodes/decode/type"] = "neurodeploy.Bogus"
    with pytest.raises(GraphError, match="node 'decode' .*Bogus.* cannot be built"):
        read_graph(tmp_path / "bad.nir")


@pytest.mark.parametrize("where", ["conv2.weight", "conv_in.bias", "lif1.tau", "lif3.v_threshold"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nonfinite_parameters(g, tmp_path, where, value):
    name, key = where.split(".")
    arr = getattr(g.nodes[name], key).copy()
    arr.reshape(-1)[0] = value
    setattr(g.nodes[name], key, arr)
    rejects(g, name, match="NaN or infinity", tmp_path=tmp_path)


def test_nonfinite_host_block_parameters():
    block = nd.HostBlock(np.array([2, 8, 8]), block="Conv2d", architecture="toy-residual", module="conv2",
                         params={"weight": np.full((2, 2, 3, 3), np.nan)})
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2, 8, 8])}), "host": block,
                                "output": nir.Output(output_type={"output": np.array([2, 8, 8])})},
                         edges=[("input", "host"), ("host", "output")], metadata={}, type_check=False)
    rejects(graph, "host", match="params['weight'] holds NaN")


def test_neuron_parameters_of_different_shapes(g, tmp_path):
    g.nodes["lif2"].v_threshold = np.ones((2, 8, 7))
    rejects(g, "lif2", match="differ in shape")
    # In a file NIR's own constructor refuses it; the reader names the node all the same.
    write_graph(tmp_path / "bad.nir", g)
    with pytest.raises(GraphError, match="node 'lif2' .*cannot be built"):
        read_graph(tmp_path / "bad.nir")


def test_cycle_without_neuron_is_an_algebraic_loop(g, tmp_path):
    g.nodes["loop"] = nd.Sum(np.array([3, 8, 8]))
    g.edges += [("conv_out", "loop"), ("loop", "conv_out")]
    rejects(g, "conv_out", "loop", match="algebraic loop", tmp_path=tmp_path)


def test_cycle_through_neuron_is_recurrence_refused_in_an_image_graph(g, tmp_path):
    """A loop through a neuron is recurrence (issue 28): a sequence graph (a writer's file) may hold
    one (tests/test_recurrent.py); neurodeploy's image pipeline runs none and says so."""
    g.edges.append(("lif3", "conv2"))
    rejects(g, "lif3", "conv2", match="closes a recurrent loop; neurodeploy's image pipeline", tmp_path=tmp_path)


def test_node_feeding_itself_is_refused(g, tmp_path):
    g.edges.append(("lif3", "lif3"))
    rejects(g, "lif3", match="a recurrent loop must pass through a synapse", tmp_path=tmp_path)


def test_wrongly_typed_fields(g, tmp_path):
    g.nodes["conv2"].groups = "two"
    rejects(g, "conv2", match="groups", tmp_path=tmp_path)
    g = copy.deepcopy(g)
    g.nodes["conv2"].groups = 1
    g.nodes["encode"].t_steps = "4"
    rejects(g, "encode", match="t_steps")
    g.nodes["encode"].t_steps = 4
    g.nodes["lif1"].tau = np.array(["a", "b"])
    rejects(g, "lif1", match="dtype")


def test_no_input_and_no_output(g, base, tmp_path):
    del g.nodes["input"]
    g.edges = [e for e in g.edges if "input" not in e]
    rejects(g, match="no Input", tmp_path=tmp_path)
    g = copy.deepcopy(base)
    del g.nodes["output"]
    g.edges = [e for e in g.edges if "output" not in e]
    rejects(g, match="no Output", tmp_path=tmp_path)


def test_damaged_metadata(g, tmp_path):
    g.metadata[METADATA_KEY] = '{"t_steps": 4, "dt_s":'
    rejects(g, match="metadata is damaged", tmp_path=tmp_path)


def test_metadata_kind_must_match_node(g):
    info = json.loads(g.metadata[METADATA_KEY])
    info["node_kinds"]["conv2"] = "lif"
    g.metadata[METADATA_KEY] = json.dumps(info)
    rejects(g, "conv2", match="calls it 'lif'")


def test_neuron_fed_an_image(g, tmp_path):
    """A neuron placed after the decoder (no cycle, shapes agree): the domain check must name it."""
    shape = tuple(int(v) for v in g.nodes["decode"].shape)
    full = lambda v: np.full(shape, v, dtype=np.float64)  # noqa: E731
    g.nodes["lif_img"] = nir.LIF(tau=full(2e-3), r=full(2.0), v_leak=full(0.0), v_threshold=full(0.5), v_reset=full(0.0))
    g.edges.remove(("decode", "output"))
    g.edges += [("decode", "lif_img"), ("lif_img", "output")]
    info = json.loads(g.metadata[METADATA_KEY])
    del info["edge_kinds"]["decode->output"]
    info["edge_kinds"].update({"decode->lif_img": "real", "lif_img->output": "binary"})
    info["node_kinds"]["lif_img"] = "lif"
    info["domains"]["lif_img"] = "image"
    info["shapes"]["lif_img"] = list(shape)
    g.metadata[METADATA_KEY] = json.dumps(info)
    rejects(g, "lif_img", match="receives one image, not a sequence of time steps", tmp_path=tmp_path)


def test_node_dict_missing_a_field_names_the_node(g, tmp_path):
    write_graph(tmp_path / "bad.nir", g)
    with h5py.File(tmp_path / "bad.nir", "r+") as f:
        del f["node/nodes/conv2/weight"]
    with pytest.raises(GraphError) as exc:
        read_graph(tmp_path / "bad.nir")
    msg = str(exc.value)
    assert "node 'conv2' ('Conv2d') cannot be built" in msg and "weight" in msg and "\n" not in msg


def test_truncated_file_is_one_line(g, tmp_path):
    write_graph(tmp_path / "bad.nir", g)
    data = (tmp_path / "bad.nir").read_bytes()
    (tmp_path / "bad.nir").write_bytes(data[: len(data) // 2])
    with pytest.raises(GraphError, match="not a readable NIR graph") as exc:
        read_graph(tmp_path / "bad.nir")
    assert "\n" not in str(exc.value)


def test_cli_inspect_bad_graph_exits_2_with_one_line(g, tmp_path, monkeypatch, capsys):
    g.edges.append(("lif3", "ghost"))
    write_graph(tmp_path / "bad.nir", g)
    monkeypatch.setattr(sys, "argv", ["neurodeploy", "inspect", str(tmp_path / "bad.nir")])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    out, err = capsys.readouterr()
    assert exc.value.code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'ghost'" in lines[0], err
    assert out == ""


def test_fuzz_300_cases_no_uncaught_exception(base):
    result = nir_fuzz.run(300, seed=1, bases=[base], roundtrip=0.1)
    assert result.cases == 300
    assert result.failed == 0, result.failures[:2]
    assert result.outcomes["graph_error"] > 250


@pytest.mark.slow
def test_fuzz_10000_cases_no_uncaught_exception():
    result = nir_fuzz.run(10_000, seed=0)
    assert result.cases == 10_000
    assert result.failed == 0, result.failures[:2]


def test_a_read_that_hangs_becomes_a_clear_error(tmp_path, monkeypatch):
    """libhdf5 can loop forever on some damaged files: the read runs in a forked child
    with a timeout, and a hang becomes a one-line GraphError."""
    import time

    from neurodeploy.ir import nirfile as graph_mod

    path = tmp_path / "hangs.nir"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    monkeypatch.setattr(graph_mod, "read_timeout_s", lambda p, declared=0: 1.0)
    monkeypatch.setattr(graph_mod, "_declared_arrays", lambda p: 0)  # the header is all this file has
    monkeypatch.setattr(graph_mod, "_read_hdf5", lambda p: time.sleep(30))
    start = time.perf_counter()
    with pytest.raises(GraphError, match="did not finish within 1 s") as exc:
        graph_mod.read_graph(path)
    assert time.perf_counter() - start < 10 and "\n" not in str(exc.value)


def test_every_supported_node_type_has_its_field_checker():
    """check_graph accepts exactly the types of KIND_OF_TYPE; each needs its checker in
    ir/fields.py, else its nodes would reach the shape checks unchecked (a KeyError)."""
    from neurodeploy.ir.check import KIND_OF_TYPE
    from neurodeploy.ir.fields import FIELD_CHECKS

    assert set(FIELD_CHECKS) == set(KIND_OF_TYPE)
