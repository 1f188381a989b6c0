"""neurodeploy's node types written as NIR primitives wherever NIR has one, so that ``nir.read``
(and snntorch's and norse's importers) load ``graph.nir`` and ``chip.nir``.

A NIR graph describes one time step; how values enter and leave over T steps is the
reader's business. So, per step:

- :class:`~.nodes.DirectEncode` (the image on every step) is the identity: ``nir.Scale(1)``;
- :class:`~.nodes.TemporalMean` (the decoder) is the identity per step, the mean over T
  being the reader's decoding (the graph's neurodeploy metadata says ``decode``): ``nir.Scale(1)``;
- :class:`~.nodes.Sum` (an explicit sum node) is ``nir.Scale(1)`` (NIR nodes sum their inputs);
- :class:`~.nodes.Gain` is ``nir.Scale(factor)``.

Each stand-in carries its own type and fields in its node metadata (``neurodeploy.type``
and ``neurodeploy.*``), from which :func:`restore` rebuilds our node exactly. Concat,
Upsample, Product and HostBlock have no NIR primitive (NIR 1.0 has no concatenation,
interpolation or product node: neuromorphs/NIR issues on "Concat"/"Upsample" are open
discussions) and stay ``neurodeploy.*`` -- a graph holding them still refuses to load in
``nir.read``, rather than being misread.
"""

from __future__ import annotations

import copy

import nir
import numpy as np

from neurodeploy.ir import nodes as nd

TYPE_KEY = "neurodeploy.type"
STAND_INS = (nd.DirectEncode, nd.TemporalMean, nd.Sum, nd.Gain)


def to_primitives(graph: nir.NIRGraph) -> nir.NIRGraph:
    """A copy of ``graph`` with every stand-in-able node as a ``nir.Scale`` (see module doc)."""
    if not any(type(n) in STAND_INS for n in graph.nodes.values()):
        return graph
    nodes = {}
    for name, node in graph.nodes.items():
        if type(node) not in STAND_INS:
            nodes[name] = node
            continue
        shape = tuple(int(v) for v in node.shape)
        factor = float(node.factor) if isinstance(node, nd.Gain) else 1.0
        meta = {TYPE_KEY: type(node).__name__}
        if isinstance(node, nd.DirectEncode):
            meta["neurodeploy.t_steps"] = int(node.t_steps)
        if isinstance(node, nd.Gain):
            meta["neurodeploy.factor"] = factor
        if isinstance(node, nd.TemporalMean) and node.step_weights:
            meta["neurodeploy.weights"] = node.weights
        nodes[name] = nir.Scale(scale=np.full(shape, factor), metadata=meta)
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), metadata=copy.copy(graph.metadata), type_check=False)


def _value(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v.item()
    if isinstance(v, np.generic):
        return v.item()
    return v.decode() if isinstance(v, bytes) else v


def restore(nodes: dict[str, nir.NIRNode]) -> dict[str, nir.NIRNode]:
    """Stand-ins (``nir.Scale`` with ``neurodeploy.type`` metadata) back to our node types."""
    out = {}
    for name, node in nodes.items():
        meta = getattr(node, "metadata", None) or {}
        kind = _value(meta.get(TYPE_KEY)) if isinstance(meta, dict) else None
        if not isinstance(node, nir.Scale) or kind is None:
            out[name] = node
            continue
        shape = np.asarray(np.shape(node.scale), dtype=np.int64)
        if kind == "DirectEncode":
            out[name] = nd.DirectEncode(shape, t_steps=int(_value(meta["neurodeploy.t_steps"])))
        elif kind == "TemporalMean":
            out[name] = nd.TemporalMean(shape, weights=str(_value(meta.get("neurodeploy.weights", "[]"))))
        elif kind == "Sum":
            out[name] = nd.Sum(shape)
        elif kind == "Gain":
            out[name] = nd.Gain(shape, factor=float(_value(meta["neurodeploy.factor"])))
        else:
            raise ValueError(f"node '{name}': unknown neurodeploy stand-in type {kind!r}")
    return out
