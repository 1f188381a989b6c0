"""What neurodeploy adds beside a NIR graph, and reading/writing graphs with it.

NIR's dataclasses stay untouched; our facts about the graph live in one JSON string in
``graph.metadata["neurodeploy"]`` (NIR's HDF5 writer keeps flat metadata values), keyed
by node name:

- ``edge_kinds``: ``"src->dst"`` -> ``binary`` (0/1 spikes), ``graded`` (integer spike
  payloads, e.g. NI-LIF levels) or ``real`` (real values: images, synaptic currents);
- ``node_kinds``: node -> ``input | encode | conv | lif | upsample | concat | host |
  decode_mean | output`` (graphs from other tools: ``input | conv | lif | output``);
- ``domains``: node -> ``seq`` (one value per time step) or ``image`` (per image);
- ``spike_condition``: neuron node -> ``>=`` (the papers fire at equality; NIR says ``>``);
- ``shapes``: node -> per-step output shape (C, H, W);
- ``lif_params``: ``per_neuron`` (every LIF parameter array has the layer's shape: strict
  NIR readers type-check it) or ``per_channel`` (arrays of shape (C, 1, 1) that broadcast
  over H, W: large graphs, where per-neuron arrays would take gigabytes);
- ``t_steps``, ``dt_s`` (seconds per step), ``input_shape`` (C, H, W), encoding/decoding.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nir

from neurodeploy import nodes as nd
from neurodeploy.errors import GraphError

EDGE_BINARY = "binary"
EDGE_GRADED = "graded"
EDGE_REAL = "real"
METADATA_KEY = "neurodeploy"


@dataclass
class GraphInfo:
    """neurodeploy's annotations of one NIR graph (see module docstring for units)."""

    t_steps: int
    dt_s: float
    input_shape: tuple[int, int, int]
    encode: str = "direct"
    decode: str = "mean_over_time"
    edge_kinds: dict[str, str] = field(default_factory=dict)
    node_kinds: dict[str, str] = field(default_factory=dict)
    spike_condition: dict[str, str] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)
    folded_batchnorm: dict[str, str] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)
    shapes: dict[str, list[int]] = field(default_factory=dict)
    lif_params: str = "per_neuron"

    def domain(self, name: str) -> str:
        """``seq`` (a value per time step) or ``image`` (one value per image) of a node's output."""
        return self.domains.get(name, "seq")

    def edge_kind(self, src: str, dst: str) -> str:
        return self.edge_kinds[f"{src}->{dst}"]

    def neuron_layers(self, graph: nir.NIRGraph) -> list[str]:
        """Neuron nodes in topological order: the layers a Trace records."""
        return [n for n in topological_order(graph) if self.node_kinds.get(n) == "lif"]


def attach_info(graph: nir.NIRGraph, info: GraphInfo) -> None:
    graph.metadata = dict(graph.metadata or {})
    graph.metadata[METADATA_KEY] = json.dumps(asdict(info))


def graph_info(graph: nir.NIRGraph) -> GraphInfo:
    raw = (graph.metadata or {}).get(METADATA_KEY) if isinstance(graph.metadata, dict) else None
    if raw is None:
        raise GraphError("the NIR graph has no neurodeploy metadata; export it with `neurodeploy export`")
    try:
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        data = json.loads(str(raw))
        data["input_shape"] = tuple(data["input_shape"])
        return GraphInfo(**data)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise GraphError(f"the graph's neurodeploy metadata is damaged ({type(exc).__name__}: {exc}); "
                         "re-export the graph") from None


def _shape(node: nir.NIRNode) -> tuple[int, ...]:
    if isinstance(node, nir.Input):
        return tuple(int(v) for v in node.input_type["input"])
    if isinstance(node, nir.Output):
        return tuple(int(v) for v in node.output_type["output"])
    if isinstance(node, nd.NeurodeployNode):
        return tuple(int(v) for v in node.shape)
    if isinstance(node, nir.LIF):
        return tuple(node.v_threshold.shape)
    return tuple(int(v) for v in node.output_type["output"])


def node_shape(graph: nir.NIRGraph, name: str, info: GraphInfo | None = None) -> tuple[int, ...]:
    """Per-step output shape (C, H, W); from the metadata when it has one (LIF parameters
    may be per channel, see GraphInfo.lif_params)."""
    if info is not None and name in info.shapes:
        return tuple(info.shapes[name])
    return _shape(graph.nodes[name])


def topological_order(graph: nir.NIRGraph) -> list[str]:
    """Node names, every node after all its inputs (Kahn's algorithm, stable by insertion)."""
    for src, dst in graph.edges:
        for end in (src, dst):
            if end not in graph.nodes:
                raise GraphError(f"edge {src}->{dst} names node '{end}', which the graph does not have")
    indegree = {n: 0 for n in graph.nodes}
    for _, dst in graph.edges:
        indegree[dst] += 1
    order, ready = [], [n for n in graph.nodes if indegree[n] == 0]
    while ready:
        n = ready.pop(0)
        order.append(n)
        for src, dst in graph.edges:
            if src == n:
                indegree[dst] -= 1
                if indegree[dst] == 0:
                    ready.append(dst)
    if len(order) != len(graph.nodes):
        stuck = sorted(set(graph.nodes) - set(order))
        raise GraphError(f"the graph has a cycle through {', '.join(stuck)}; recurrent graphs are not supported yet")
    return order


def predecessors(graph: nir.NIRGraph, name: str) -> list[str]:
    return [src for src, dst in graph.edges if dst == name]


def write_graph(path: str | Path, graph: nir.NIRGraph) -> None:
    """``nir.write``; gzip only for graphs with per-neuron parameters (constant arrays that
    compress 100x). Otherwise the arrays are weights, which gzip barely shrinks (2 %) at
    6 s per 100 MB."""
    try:
        per_channel = graph_info(graph).lif_params == "per_channel"
    except GraphError:
        per_channel = False
    nir.write(str(path), graph, compression=None if per_channel else "gzip")


def _read_hdf5(path: Path) -> dict:
    import h5py
    from nir.serialization import hdf2dict

    with h5py.File(path, "r") as f:
        return hdf2dict(f["node"])


def read_timeout_s(path: Path) -> float:
    """Seconds a read may take before the file counts as damaged: 5 s + 1 s per 20 MB
    (a 100 MB graph reads in about 1 s here)."""
    return 5.0 + path.stat().st_size / 20e6


def _read_hdf5_guarded(path: Path, read) -> dict:
    """``read()`` in a forked child with a timeout, its result sent back through a pipe.

    libhdf5 can loop forever, raising nothing, on a file whose string heap has damaged
    bytes (found by benchmarks/fuzz_nir.py); a hang cannot be caught in-process.
    """
    import multiprocessing
    import pickle

    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            sender.send_bytes(pickle.dumps(("ok", read()), protocol=pickle.HIGHEST_PROTOCOL))
        except BaseException as exc:  # noqa: BLE001 -- reported by the parent
            sender.send_bytes(pickle.dumps(("error", f"{type(exc).__name__}: {exc}")))

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    sender.close()
    timeout = read_timeout_s(path)
    try:
        if not receiver.poll(timeout):
            raise GraphError(f"{path}: reading did not finish within {timeout:.0f} s (libhdf5 loops on some "
                             "damaged files); the file is damaged, re-export it")
        status, payload = pickle.loads(receiver.recv_bytes())
    except EOFError:
        raise GraphError(f"{path}: the reader died on this file; the file is damaged, re-export it") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        receiver.close()
    if status != "ok":
        raise ValueError(payload)
    return payload


def read_graph(path: str | Path) -> nir.NIRGraph:
    """Read a NIR file, including neurodeploy's own node types, with a clear error.

    ``nir.read`` rejects our node types (by design: they are not NIR's); this reader
    builds them with :func:`neurodeploy.nodes.node_from_dict` and NIR's own with NIR's.
    """
    from neurodeploy.graph_check import build_nodes, check_graph

    path = Path(path)
    if not path.is_file():
        raise GraphError(f"{path}: no such NIR file")
    try:
        data = _read_hdf5_guarded(path, lambda: _read_hdf5(path))
        nodes = build_nodes(data["nodes"])  # names the node whose dict cannot be built
        edges = [tuple(e.decode() if isinstance(e, bytes) else str(e) for e in edge) for edge in data["edges"]]
        metadata = data.get("metadata", {})
        graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)
    except GraphError as exc:
        raise GraphError(f"{path}: {exc}") from None
    except Exception as exc:  # h5py/nir raise many types on a damaged file
        exc = " ".join(str(exc).split())  # one line, whatever h5py says
        raise GraphError(f"{path}: not a readable NIR graph ({exc}); re-export the bundle") from None
    try:
        check_graph(graph)
    except GraphError as exc:
        raise GraphError(f"{path}: {exc}") from exc.__cause__
    return graph
