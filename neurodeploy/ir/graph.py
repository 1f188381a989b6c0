"""``DeployGraph``: the one object every stage after export works on.

It holds the NIR graph (NIR's dataclasses untouched), neurodeploy's annotations
(:class:`~neurodeploy.ir.info.GraphInfo`: node kinds, edge kinds, domains, shapes, and
what the passes add -- side, island, latency), per-node arrays the passes compute
(``arrays[node][name]``, e.g. the neuron form's bias), and the one topological order.
Passes read and write it; the bundle writes it; executors run it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np

from neurodeploy.ir import nodes as nd
from neurodeploy.ir.info import FOREIGN_DT_KEY, METADATA_KEY, GraphInfo, attach_info, graph_info
from neurodeploy.ir.order import Loops
from neurodeploy.ir.order import loops as _loops
from neurodeploy.ir.order import topological_order as _order
from neurodeploy.ir.primitives import is_stateful_neuron


def _declared_shape(node: nir.NIRNode) -> tuple[int, ...]:
    if isinstance(node, nir.Input):
        return tuple(int(v) for v in node.input_type["input"])
    if isinstance(node, nir.Output):
        return tuple(int(v) for v in node.output_type["output"])
    if isinstance(node, nd.NeurodeployNode):
        return tuple(int(v) for v in node.shape)
    if isinstance(node, nir.LIF):
        return tuple(node.v_threshold.shape)
    return tuple(int(v) for v in node.output_type["output"])


def topological_order(graph: nir.NIRGraph) -> list[str]:
    """Node names of a NIR graph, every node after its inputs across the edges that are not
    recurrent (see :mod:`neurodeploy.ir.order`)."""
    return _order(graph.nodes, graph.edges, lambda n: is_stateful_neuron(graph.nodes[n]))


def loops_of(graph: nir.NIRGraph) -> Loops:
    """A NIR graph's recurrent loops: the edges that cut them for the order (``back``) and the
    edges that carry their source's value of the previous time step (``delayed``; zeros on step 0),
    see :mod:`neurodeploy.ir.order`."""
    return _loops(graph.nodes, graph.edges, lambda n: is_stateful_neuron(graph.nodes[n]))


def node_shape(graph: nir.NIRGraph, name: str, info: GraphInfo | None = None) -> tuple[int, ...]:
    """Per-step output shape (C, H, W); from the metadata when it has one (LIF parameters
    may be per channel, see GraphInfo.lif_params)."""
    if info is not None and name in info.shapes:
        return tuple(info.shapes[name])
    return _declared_shape(graph.nodes[name])


def predecessors(graph: nir.NIRGraph, name: str) -> list[str]:
    return [src for src, dst in graph.edges if dst == name]


@dataclass
class DeployGraph:
    """A NIR graph with its annotations, arrays and order (see module docstring).

    Attributes:
        nir: the NIR graph (nodes by name, edges).
        info: annotations; persisted in the graph's metadata when written.
        arrays: node -> name -> array computed by passes (model units unless the name says).
        order: topological order of the node names (across the edges that are not recurrent).
        loops: its recurrent loops (:func:`loops_of`: ``back`` edges cut them for ``order``,
            ``delayed`` edges carry the previous time step); empty for a graph without cycles.
    """

    nir: nir.NIRGraph
    info: GraphInfo
    arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.order:
            self.order = topological_order(self.nir)
        self.loops = loops_of(self.nir)
        self._preds = {n: [] for n in self.nir.nodes}
        self._succs = {n: [] for n in self.nir.nodes}
        for src, dst in self.nir.edges:
            self._preds[dst].append(src)
            self._succs[src].append(dst)

    @classmethod
    def from_nir(cls, graph: nir.NIRGraph) -> "DeployGraph":
        """Wrap an exported graph (its neurodeploy metadata is required)."""
        return cls(graph, graph_info(graph))

    # ---------------------------------------------------------------- structure
    @property
    def nodes(self) -> dict[str, nir.NIRNode]:
        return self.nir.nodes

    @property
    def edges(self) -> list[tuple[str, str]]:
        return self.nir.edges

    def node(self, name: str) -> nir.NIRNode:
        return self.nir.nodes[name]

    def predecessors(self, name: str) -> list[str]:
        return list(self._preds[name])

    def forward_predecessors(self, name: str) -> list[str]:
        """The predecessors whose same time step ``name`` takes (all but its recurrent edges' sources)."""
        back = {s for s, d in self.loops.back if d == name}
        return [p for p in self._preds[name] if p not in back]

    def successors(self, name: str) -> list[str]:
        return list(self._succs[name])

    # ---------------------------------------------------------------- annotations
    def kind(self, name: str) -> str:
        return self.info.node_kinds.get(name, "")

    def domain(self, name: str) -> str:
        return self.info.domain(name)

    def shape(self, name: str) -> tuple[int, ...]:
        """Per-step output shape (C, H, W)."""
        return node_shape(self.nir, name, self.info)

    def edge_kind(self, src: str, dst: str) -> str:
        return self.info.edge_kinds.get(f"{src}->{dst}", "real")

    def side(self, name: str) -> str:
        """``chip`` or ``host`` (written by the partition pass)."""
        return self.info.side[name]

    @property
    def t_steps(self) -> int:
        return self.info.t_steps

    def islands(self) -> dict[str, list[str]]:
        """Host island name -> its nodes in graph order (from ``info.island``, the partition's)."""
        out: dict[str, list[str]] = {}
        for n in self.order:
            if n in self.info.island:
                out.setdefault(self.info.island[n], []).append(n)
        return out

    def neuron_layers(self) -> list[str]:
        """Neuron nodes in topological order: the layers a Trace records."""
        return self.info.neuron_layers(self.nir)

    def inputs(self) -> list[str]:
        return [n for n in self.order if isinstance(self.node(n), nir.Input)]

    def outputs(self) -> list[str]:
        return [n for n in self.order if isinstance(self.node(n), nir.Output)]

    # ---------------------------------------------------------------- parts
    def subgraph(self, names: list[str], extra_nodes: dict[str, nir.NIRNode] | None = None,
                 extra_edges: list[tuple[str, str]] | None = None,
                 extra_info: dict[str, dict[str, Any]] | None = None) -> "DeployGraph":
        """The part of the graph on ``names``, every annotation and array kept for it.

        ``extra_nodes``/``extra_edges`` add boundary nodes (e.g. ``Input``/``Output`` that
        stand for the other side of a cut) and ``extra_info`` their annotations
        (field -> key -> value).
        """
        keep = set(names)
        nodes = {n: self.nir.nodes[n] for n in self.order if n in keep}
        nodes.update(extra_nodes or {})
        edges = [(s, d) for s, d in self.nir.edges if s in keep and d in keep] + list(extra_edges or [])
        info = self.info.restrict(list(nodes), edges)
        for table, values in (extra_info or {}).items():
            getattr(info, table).update(values)
        sub = nir.NIRGraph(nodes=nodes, edges=edges, metadata={}, type_check=False)
        attach_info(sub, info)
        arrays = {n: dict(a) for n, a in self.arrays.items() if n in nodes}
        return DeployGraph(sub, info, arrays)

    def to_nir(self) -> nir.NIRGraph:
        """The NIR graph with the current annotations in its metadata."""
        attach_info(self.nir, self.info)
        return self.nir


def as_deploy_graph(graph: "nir.NIRGraph | DeployGraph", dt_s: float | None = None) -> DeployGraph:
    """Any graph as a :class:`DeployGraph`: itself; one of ours with its stored annotations; or one
    from another writer (normalised by :func:`neurodeploy.ir.read_graph`) with a sequence graph's
    annotations (:func:`neurodeploy.ir.nirread.sequence_info`) at ``dt_s`` seconds per step
    (default: the dt it was read with, else NIR's 1e-4 s)."""
    if isinstance(graph, DeployGraph):
        return graph
    metadata = graph.metadata if isinstance(graph.metadata, dict) else {}
    if METADATA_KEY in metadata:
        return DeployGraph.from_nir(graph)
    from neurodeploy.ir.nirread import sequence_info
    from neurodeploy.ir.primitives import DEFAULT_DT_S

    dt = dt_s if dt_s is not None else float(metadata.get(FOREIGN_DT_KEY, DEFAULT_DT_S))
    return DeployGraph(graph, sequence_info(graph, dt))
