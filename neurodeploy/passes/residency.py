"""Pass: keep values on the chip -- the graph rewrites that shrink the chip/host cut (issue 31).

The partition runs it first (:func:`neurodeploy.passes.partition.partition`), and only for
graphs exported with residency ``products`` (the export default) or ``gates``
(``GraphInfo.residency``): a graph without the key, or with ``host``, is left as it is, so that bundles written before this pass keep their meaning. Two rewrites, each adding
:class:`~neurodeploy.ir.nodes.Sum` nodes (a graded relay neuron on the chip: no arithmetic
beyond the sum, no latency):

- **sum on the chip**: a host node that sums several values the chip computes (NIR's rule: a
  node sums its inputs -- e.g. an attention block fed ``residual + shortcut``, or the decoder
  fed two branches) receives their sum from a Sum node on the chip, ``BLOCK.chip_sum``: one map
  crosses the cut instead of one per input;
- **fan out on the chip**: a host value read by several chip nodes (an attention block's output
  feeding the next block, a skip and an upsampling) crosses once, into a relay
  ``NODE.chip_fanout`` whose axons reach every reader, instead of once per reader.

Neither changes a value: the sums are the ones the host node computed, in the same order of
the same float64/float32 arithmetic up to association (chip sums are exact in the integer
model). Re-running the pass on its own output adds nothing (a block then has one chip input,
a host value one chip reader), so the lowering's re-run on ``graph.nir`` reproduces the bundle.
Counted by the partition's ``values_crossing_per_step`` (one per cut edge, as before).
"""

from __future__ import annotations

import json

import numpy as np

from neurodeploy.ir import nodes as nd
from neurodeploy.ir.graph import DeployGraph, topological_order
from neurodeploy.passes.sides import side_of

SUM_SUFFIX, FANOUT_SUFFIX = ".chip_sum", ".chip_fanout"


def _new_sum(g: DeployGraph, name: str, shape: tuple[int, ...]) -> None:
    g.nir.nodes[name] = nd.Sum(np.array(shape, dtype=np.int64))
    g.info.node_kinds[name] = "sum"
    g.info.shapes[name] = [int(v) for v in shape]
    g.info.domains[name] = "seq"


def _add_edge(g: DeployGraph, edge: tuple[str, str], kind: str) -> None:
    if edge not in g.nir.edges:
        g.nir.edges.append(edge)
    g.info.edge_kinds[f"{edge[0]}->{edge[1]}"] = kind


def _rewire(g: DeployGraph, old: tuple[str, str], new: tuple[str, str]) -> None:
    """Edge ``old`` becomes ``new``, keeping its kind (binary, graded or real)."""
    kind = g.edge_kind(*old)
    g.nir.edges.remove(old)
    g.info.edge_kinds.pop(f"{old[0]}->{old[1]}", None)
    _add_edge(g, new, kind)


def _rename_operand(g: DeployGraph, node: str, old: str, new: str) -> None:
    """A Concat's or Product's operand order names its inputs: the relay takes the old name's place."""
    n = g.node(node)
    if isinstance(n, nd._OrderedInputs):
        n.order = json.dumps([new if x == old else x for x in n.inputs])


def keep_on_chip(g: DeployGraph) -> dict[str, list[str]]:
    """Add the chip sums and fan-out relays (see module docstring) to ``g`` in place.

    Returns the added nodes by rewrite: ``{"chip_sum": [...], "chip_fanout": [...]}`` (empty lists
    for a graph of residency ``host``, a sequence graph, or a graph the pass already ran on).
    """
    added: dict[str, list[str]] = {"chip_sum": [], "chip_fanout": []}
    if g.info.residency == "host" or g.info.takes_sequences:
        return added
    side = {n: side_of(g, n) for n in g.order}
    for name in list(g.order):
        if side[name] != "host" or isinstance(g.node(name), nd._OrderedInputs):
            continue
        chip_in = [p for p in g.predecessors(name) if side[p] == "chip" and g.domain(p) == "seq"]
        if len(chip_in) >= 2:
            total = name + SUM_SUFFIX
            _new_sum(g, total, g.shape(chip_in[0]))
            for p in chip_in:
                _rewire(g, (p, name), (p, total))
            _add_edge(g, (total, name), "real")
            side[total] = "chip"
            added["chip_sum"].append(total)
    for name in list(g.order):
        if side[name] != "host" or g.domain(name) != "seq":
            continue
        readers = [d for d in dict.fromkeys(d for s, d in g.nir.edges if s == name) if side.get(d) == "chip"]
        if len(readers) >= 2:
            relay = name + FANOUT_SUFFIX
            _new_sum(g, relay, g.shape(name))
            for d in readers:
                _rewire(g, (name, d), (relay, d))
                _rename_operand(g, d, name, relay)
            _add_edge(g, (name, relay), "real")
            added["chip_fanout"].append(relay)
    if added["chip_sum"] or added["chip_fanout"]:
        g.order = topological_order(g.nir)
        g.__post_init__()  # predecessors and successors of the new edges
    return added
