"""GraphInfo parses and checks itself: ``from_json`` on damaged JSON, ``__post_init__`` on bad
field values, each one GraphError line; ``graph_info`` is that same parser."""

from __future__ import annotations

import json
from dataclasses import asdict

import nir
import numpy as np
import pytest

from neurodeploy.errors import GraphError
from neurodeploy.ir import METADATA_KEY, GraphInfo, graph_info

DAMAGED = "the graph's neurodeploy metadata is damaged ("


def valid() -> dict:
    return asdict(GraphInfo(t_steps=4, dt_s=1e-3, input_shape=(3, 8, 8), edge_kinds={"input->conv": "real"},
                            node_kinds={"input": "input", "conv": "conv"}, side={"conv": "chip"},
                            latency={"conv": 1}, delays={"input->conv": 2}, shapes={"conv": [2, 8, 8]}))


def one_line_error(fn, *args, **kwargs) -> str:
    with pytest.raises(GraphError) as exc:
        fn(*args, **kwargs)
    msg = str(exc.value)
    assert "\n" not in msg and msg.endswith("re-export the model with `neurodeploy export`"), msg
    return msg


def test_from_json_reads_back_what_attach_writes_as_text_bytes_and_hdf5_scalar():
    text = json.dumps(valid())
    info = GraphInfo.from_json(text)
    assert info.input_shape == (3, 8, 8) and info.delays == {"input->conv": 2}
    assert asdict(info) == json.loads(text) | {"input_shape": (3, 8, 8)}
    assert GraphInfo.from_json(text.encode()) == info
    assert GraphInfo.from_json(np.array(text.encode())) == info  # h5py reads a string attribute so


@pytest.mark.parametrize("raw, why", [
    (b"\xff\xfe{}", "not UTF-8"),
    ('{"t_steps": 4, "dt_s":', "not JSON: Expecting value"),
    ("[4, 0.001]", "not a JSON object"),
    (4, "int, not JSON text"),
    ("[" * 100_000 + "]" * 100_000, "not JSON"),  # json.loads' RecursionError
])
def test_from_json_refuses_damaged_text(raw, why):
    msg = one_line_error(GraphInfo.from_json, raw)
    assert msg.startswith(DAMAGED) and why in msg, msg


@pytest.mark.parametrize("edit, why", [
    (lambda d: d.update(colour="red"), "unknown field 'colour'"),
    (lambda d: d.pop("dt_s"), "no dt_s"),
    (lambda d: d.update(t_steps=0), "t_steps 0 is not an integer in 1..1000000"),
    (lambda d: d.update(t_steps=True), "t_steps True is not an integer"),
    (lambda d: d.update(dt_s=-1e-3), "dt_s -0.001 is not a positive number of seconds"),
    (lambda d: d.update(dt_s=10 ** 400), "is not a positive number of seconds"),  # float() overflows
    (lambda d: d.update(input_shape=[3, 8]), "input_shape [3, 8] is not (C, H, W)"),
    (lambda d: d.update(lif_params="per_pixel"), "lif_params 'per_pixel' is not per_neuron or per_channel"),
    (lambda d: d["node_kinds"].update(conv=3), "node_kinds is not a map of names to text"),
    (lambda d: d.update(shapes={"conv": [2, 0, 8]}), "shapes is not a map of node names to positive sizes"),
    (lambda d: d.update(latency=[1]), "latency is not a map of node names"),
    (lambda d: d["delays"].update({"input->conv": 0}), "delays is not a map of the graph's edges to steps >= 1"),
])
def test_from_json_refuses_bad_fields_as_damage(edit, why):
    data = valid()
    edit(data)
    msg = one_line_error(GraphInfo.from_json, json.dumps(data))
    assert msg.startswith(DAMAGED) and why in msg, msg


@pytest.mark.parametrize("field, value, message", [
    ("side", {"conv": "cloud"}, "node 'conv': the metadata's side 'cloud' is not one of chip, host"),
    ("window", {"conv": "future"}, "node 'conv': the metadata's window 'future' is not one of step, causal, all_steps"),
    ("domains", {"conv": "video"}, "node 'conv': the metadata's domain 'video' is not seq or image"),
    ("spike_condition", {"conv": "<"}, "node 'conv': spike condition '<' needs a neuron and '>=' or '>'"),
    ("edge_kinds", {"input->conv": "analog"}, "edge 'input->conv': kind 'analog' is not one of binary, graded, real"),
    ("latency", {"conv": -1}, "node 'conv': the metadata's latency -1 is not a number of steps >= 0"),
    ("synapse_gain", {"conv": 10 ** 400}, "node 'conv': the metadata's synapse_gain 1000"),  # was a TypeError
    ("quant", {"conv": 7}, "node 'conv': the metadata's quant 7 is not a map of integer parameters"),
])
def test_constructor_refuses_values_no_stage_can_use(field, value, message):
    data = valid() | {field: value}
    msg = one_line_error(GraphInfo, **data)
    assert msg.startswith(message), msg


def test_graph_info_is_from_json():
    """graph_info parses with from_json (one parser): same result, same refusal."""
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3, 8, 8])}),
                                "output": nir.Output(output_type={"output": np.array([3, 8, 8])})},
                         edges=[("input", "output")], metadata={METADATA_KEY: json.dumps(valid()).encode()},
                         type_check=False)
    assert graph_info(graph) == GraphInfo.from_json(json.dumps(valid()))
    graph.metadata[METADATA_KEY] = json.dumps(valid() | {"t_steps": -4})
    assert one_line_error(graph_info, graph) == one_line_error(GraphInfo.from_json, graph.metadata[METADATA_KEY])
