"""What neurodeploy adds beside a NIR graph: the annotations, stored in its metadata.

NIR's dataclasses stay untouched; our facts about the graph live in one JSON string in
``graph.metadata["neurodeploy"]`` (NIR's HDF5 writer keeps flat metadata values), keyed
by node name:

- ``edge_kinds``: ``"src->dst"`` -> ``binary`` (0/1 spikes), ``graded`` (integer spike
  payloads, e.g. NI-LIF levels) or ``real`` (real values: images, synaptic currents);
- ``node_kinds``: node -> ``input | encode | conv | lif | nilif | patch_to_time | upsample |
  concat | sum | gain | product | host | decode_mean | output`` (graphs from other tools: ``input | conv | lif | output``);
- ``domains``: node -> ``seq`` (one value per time step) or ``image`` (per image);
- ``spike_condition``: neuron node -> ``>=`` (the papers fire at equality; NIR says ``>``);
  with ``reset`` (node -> ``subtract``; absent: ``zero``) and ``reset_delay`` (node -> ``1``:
  the reset lands one step late; absent: 0) the neuron's rules (:meth:`GraphInfo.rules`,
  :mod:`neurodeploy.ir.rules`): the papers' ``>=`` and a writer's rules are one mechanism;
  ``max_spikes`` (node -> the most spikes a step sends as one graded count, > 1; absent: 1) and
  ``v_min`` (node -> the lower clamp of ``v`` after the reset, model units; absent: none) are
  the rest of them (issue 28: sinabs' MultiSpike and ``min_v_mem``, rockpool's ``max_spikes_per_dt``);
- ``shapes``: node -> per-step output shape (C, H, W);
- ``lif_params``: ``per_neuron`` (every LIF parameter array has the layer's shape: strict
  NIR readers type-check it) or ``per_channel`` (arrays of shape (C, 1, 1) that broadcast
  over H, W: large graphs, where per-neuron arrays would take gigabytes);
- ``t_steps``, ``dt_s`` (seconds per step), ``input_shape`` (C, H, W), encoding/decoding.

Two input domains: a model's graph takes an **image** (``input_shape`` (C, H, W), domain
``image``, encoded into T steps, ``t_steps`` > 0); a graph read from another writer's ``.nir``
file takes a **sequence** (domain ``seq``: a value of ``input_shape`` -- any rank -- per
time step; ``t_steps`` 0: the input's length decides), see :func:`sequence_info`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

import nir
import numpy as np

from neurodeploy.errors import GraphError
from neurodeploy.ir.values import REEXPORT, is_finite_number, is_int, one_line, quoted, short
from neurodeploy.models.host_blocks import WINDOWS

EDGE_BINARY = "binary"
EDGE_GRADED = "graded"
EDGE_REAL = "real"
METADATA_KEY = "neurodeploy"
# where read_graph keeps the dt (seconds per step) another writer's file was read with: that
# file's metadata is the writer's, so no GraphInfo is stored in it (sequence_info builds one)
FOREIGN_DT_KEY = "neurodeploy.dt_s"
# Node kinds whose outputs a Trace records: spiking neurons (binary for LIF, IF, CubaLIF, Threshold;
# graded 0..D for NI-LIF) and NIR's integrators (I, LI, CubaLI: their state). The one list.
NEURON_KINDS = ("lif", "nilif", "if", "cubalif", "threshold", "li", "cubali", "i", "sigma_delta")
# Annotation tables keyed by edge ("src->dst"); every other dict field is keyed by node name.
EDGE_TABLES = ("edge_kinds", "delays")
# The values GraphInfo's fields may take (checked by GraphInfo.__post_init__).
EDGE_KINDS = (EDGE_BINARY, EDGE_GRADED, EDGE_REAL)
DOMAINS = ("seq", "image")
SIDES = ("chip", "host")
SPIKE_CONDITIONS = (">=", ">")
LIF_LAYOUTS = ("per_neuron", "per_channel")
RESIDENCIES = ("host", "products", "gates")
# products: bundles of it run at any size; gates' split pooling spans the export size (targets/split.py)
DEFAULT_RESIDENCY = "products"  # what export writes unless told (a graph without the key means "host")
MAX_T_STEPS = 1_000_000  # beyond this a T is damage, and executors would allocate T copies of the image
_DAMAGED = "the graph's neurodeploy metadata is damaged ({}); " + REEXPORT
# node -> text tables; edge_kinds too (its allowed values are checked on their own below)
_TEXT_TABLES = ("edge_kinds", "node_kinds", "spike_condition", "modules", "folded_batchnorm", "domains",
                "side", "island", "window", "reset")
RESETS = ("zero", "subtract")
# node -> value tables: what each value must be
_VALUE_TABLES = (("latency", lambda v: is_int(v) and v >= 0, "a number of steps >= 0"),
                 ("synapse_gain", is_finite_number, "a finite number"),
                 ("neuron_form", lambda v: isinstance(v, dict), "a map of parameters"),
                 ("quant", lambda v: isinstance(v, dict), "a map of integer parameters"),
                 ("reset_delay", lambda v: is_int(v) and v in (0, 1), "0 or 1 (steps)"),
                 ("max_spikes", lambda v: is_int(v) and 1 <= v < (1 << 23), "a number of spikes in 1..2**23 - 1"),
                 ("v_min", is_finite_number, "a finite number (model units)"))


@dataclass
class GraphInfo:
    """neurodeploy's annotations of one NIR graph (see module docstring for units)."""

    t_steps: int
    dt_s: float
    input_shape: tuple[int, ...]  # an image (C, H, W), or a sequence's per-step value (any rank)
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
    # What the partition may keep on the chip beyond its base kinds (:data:`RESIDENCIES`; chosen at
    # export, ``--residency``): "host" (absent in graphs written before issue 31) keeps every product
    # of activations on the host; "products" runs them on the chip as product neurons, with the sums
    # into host blocks and the fan-out of host values (neurodeploy.passes.residency); "gates" also
    # splits the gate blocks that have a split (SpikeRain's MDSA, ESDNet's/VLIF-Net's MDA, VLIF's temporal
    # gate): the chip keeps the map (its pooling spans the export size: such a bundle runs at that size).
    residency: str = "host"
    # Sigma-delta across the chip/host cut (chosen at export, ``--delta-threshold``; issue 31): None (absent)
    # sends every crossing value every step; a threshold >= 0 in model units sends a value only when it
    # changed by more than it (0: exact) -- neurodeploy.delta_messages.
    delta_threshold: float | None = None
    # Per cut edge's source, its own threshold in model units (``export --delta-relative R``: R times the
    # largest |value| the source sent on the export's input); a source absent here uses delta_threshold.
    delta_thresholds: dict[str, float] = field(default_factory=dict)
    # Written by the partition pass (neurodeploy.passes.partition):
    side: dict[str, str] = field(default_factory=dict)  # node -> "chip" | "host"
    island: dict[str, str] = field(default_factory=dict)  # host node -> its island's name
    window: dict[str, str] = field(default_factory=dict)  # host node -> "step" | "causal" | "all_steps"
    # Written by the neuron form pass (neurodeploy.passes.neuron_form), model units:
    neuron_form: dict[str, dict] = field(default_factory=dict)  # chip neuron -> du, dv, vth, input_gain, ...
    synapse_gain: dict[str, float] = field(default_factory=dict)  # chip conv -> factor on its weights
    # Written by the latency pass (neurodeploy.passes.latency), in time steps:
    latency: dict[str, int] = field(default_factory=dict)  # node -> steps from input to its output
    delays: dict[str, int] = field(default_factory=dict)  # "src->dst" -> delay steps balancing a join
    # Written by post-training quantization (neurodeploy.quantize.ptq): chip node -> its integer
    # form (scale in model units per LSB, mantissas, exponents, rescales of its inputs).
    quant: dict[str, dict] = field(default_factory=dict)
    # The rest of a neuron's rules beside its spike condition (see module docstring):
    reset: dict[str, str] = field(default_factory=dict)  # neuron -> "subtract" (absent: "zero")
    reset_delay: dict[str, int] = field(default_factory=dict)  # neuron -> 1 (absent: 0), time steps
    max_spikes: dict[str, int] = field(default_factory=dict)  # neuron -> spikes per step, > 1 (absent: 1)
    v_min: dict[str, float] = field(default_factory=dict)  # neuron -> lower clamp of v, model units (absent: none)

    def rules(self, name: str):
        """The neuron's spike and reset rules (:class:`neurodeploy.ir.rules.NeuronRules`; NIR's by default)."""
        from neurodeploy.ir.rules import NeuronRules

        low = self.v_min.get(name)
        return NeuronRules(self.spike_condition.get(name, ">"), self.reset.get(name, "zero"),
                           int(self.reset_delay.get(name, 0)), int(self.max_spikes.get(name, 1)),
                           None if low is None else float(low))

    @property
    def takes_sequences(self) -> bool:
        """True for a graph fed a sequence per time step (another writer's file), False for an image."""
        return self.t_steps == 0

    def __post_init__(self) -> None:
        """Refuse field values no stage can use, with the one-line messages of a damaged
        file; whether the tables name the graph's own nodes and edges is a graph check
        (:mod:`neurodeploy.ir.check`)."""
        bad = _DAMAGED.format
        # a sequence graph (another writer's file: no encoder) has t_steps 0, its input decides
        sequence = self.encode == "none"
        if not is_int(self.t_steps) or not (0 if sequence else 1) <= self.t_steps <= MAX_T_STEPS:
            raise GraphError(bad(f"t_steps {short(self.t_steps)} is not an integer in 1..{MAX_T_STEPS}"))
        if not is_finite_number(self.dt_s) or not self.dt_s > 0:
            raise GraphError(bad(f"dt_s {short(self.dt_s)} is not a positive number of seconds"))
        shape = self.input_shape
        rank_ok = len(shape) >= 1 if sequence and isinstance(shape, (list, tuple)) else len(shape) == 3 \
            if isinstance(shape, (list, tuple)) else False
        if not rank_ok or not all(is_int(v) and v > 0 for v in shape):
            raise GraphError(bad(f"input_shape {short(shape)} is not (C, H, W)"))
        self.input_shape = tuple(shape)
        for key in ("encode", "decode"):
            if not isinstance(getattr(self, key), str):
                raise GraphError(bad(f"{key} is not text"))
        for key in _TEXT_TABLES:
            table = getattr(self, key)
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise GraphError(bad(f"{key} is not a map of names to text"))
        if not isinstance(self.shapes, dict) or not all(
                isinstance(v, (list, tuple)) and v and all(is_int(x) and x > 0 for x in v) for v in self.shapes.values()):
            raise GraphError(bad("shapes is not a map of node names to positive sizes"))
        if self.residency not in RESIDENCIES:
            raise GraphError(bad(f"residency {short(self.residency)} is not {' or '.join(RESIDENCIES)}"))
        if self.delta_threshold is not None and not (is_finite_number(self.delta_threshold)
                                                     and self.delta_threshold >= 0):
            raise GraphError(bad(f"delta_threshold {short(self.delta_threshold)} is not a number >= 0 (model units)"))
        if not isinstance(self.delta_thresholds, dict) or not all(
                is_finite_number(v) and v >= 0 for v in self.delta_thresholds.values()):
            raise GraphError(bad("delta_thresholds is not a map of node names to numbers >= 0 (model units)"))
        if self.lif_params not in LIF_LAYOUTS:
            raise GraphError(bad(f"lif_params {short(self.lif_params)} is not {' or '.join(LIF_LAYOUTS)}"))
        for key, allowed in (("side", SIDES), ("window", WINDOWS), ("reset", RESETS)):
            for name, value in getattr(self, key).items():
                if value not in allowed:
                    raise GraphError(f"node {quoted(name)}: the metadata's {key} {quoted(value)} is not one of "
                                     f"{', '.join(allowed)}; {REEXPORT}")
        for name, value in self.domains.items():
            if value not in DOMAINS:
                raise GraphError(f"node {quoted(name)}: the metadata's domain {quoted(value)} is not seq or image; "
                                 f"{REEXPORT}")
        for name, cond in self.spike_condition.items():
            if cond not in SPIKE_CONDITIONS:
                raise GraphError(f"node {quoted(name)}: spike condition {quoted(cond)} needs a neuron and '>=' or "
                                 f"'>'; {REEXPORT}")
        for key, ok, what in _VALUE_TABLES:
            table = getattr(self, key)
            if not isinstance(table, dict):
                raise GraphError(bad(f"{key} is not a map of node names"))
            for name, value in table.items():
                if not ok(value):
                    raise GraphError(f"node {quoted(name)}: the metadata's {key} {short(value)} is not {what}; "
                                     f"{REEXPORT}")
        if not isinstance(self.delays, dict) or not all(is_int(v) and v >= 1 for v in self.delays.values()):
            raise GraphError(bad("delays is not a map of the graph's edges to steps >= 1"))
        for key, kind in self.edge_kinds.items():
            if kind not in EDGE_KINDS:
                raise GraphError(f"edge {quoted(key)}: kind {quoted(kind)} is not one of {', '.join(EDGE_KINDS)}; "
                                 f"{REEXPORT}")

    @classmethod
    def from_json(cls, raw: str | bytes | Any) -> "GraphInfo":
        """The annotations from their JSON text (``str`` or UTF-8 ``bytes``; h5py's 0-d
        array of either is taken too), checked.

        Raises:
            GraphError: one line: not JSON, not an object, an unknown or a missing field,
                or a field value ``__post_init__`` refuses.
        """
        bad = _DAMAGED.format
        if isinstance(raw, np.ndarray) and raw.ndim == 0:
            raw = raw.item()
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise GraphError(bad("not UTF-8")) from None
        if not isinstance(raw, str):
            raise GraphError(bad(f"{type(raw).__name__}, not JSON text"))
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise GraphError(bad(f"not JSON: {one_line(exc)}")) from None
        if not isinstance(data, dict):
            raise GraphError(bad("not a JSON object"))
        known = fields(cls)
        unknown = sorted(set(data) - {f.name for f in known})
        if unknown:
            raise GraphError(bad(f"unknown field {quoted(unknown[0])}"))
        for f in known:
            if f.default is MISSING and f.default_factory is MISSING and f.name not in data:
                raise GraphError(bad(f"no {f.name}"))
        return cls(**data)

    def domain(self, name: str) -> str:
        """``seq`` (a value per time step) or ``image`` (one value per image) of a node's output."""
        return self.domains.get(name, "seq")

    def edge_kind(self, src: str, dst: str) -> str:
        return self.edge_kinds[f"{src}->{dst}"]

    def neuron_layers(self, graph: nir.NIRGraph) -> list[str]:
        """Neuron nodes in topological order: the layers a Trace records."""
        from neurodeploy.ir.order import topological_order
        from neurodeploy.ir.primitives import is_stateful_neuron

        order = topological_order(graph.nodes, graph.edges, lambda n: is_stateful_neuron(graph.nodes[n]))
        return [n for n in order if self.node_kinds.get(n) in NEURON_KINDS]

    def restrict(self, nodes: list[str], edges: list[tuple[str, str]]) -> "GraphInfo":
        """These annotations for a part of the graph: every per-node table kept for
        ``nodes``, every per-edge table for ``edges``, every scalar field as it is.

        Generic over the fields, so an annotation added to this class is never dropped
        by a subgraph (``chip.nir``, host islands).
        """
        keep_nodes, keep_edges = set(nodes), {f"{s}->{d}" for s, d in edges}
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in EDGE_TABLES:
                value = {k: v for k, v in value.items() if k in keep_edges}
            elif isinstance(value, dict):
                value = {k: v for k, v in value.items() if k in keep_nodes}
            values[f.name] = copy.deepcopy(value)
        return GraphInfo(**values)


def attach_info(graph: nir.NIRGraph, info: GraphInfo) -> None:
    graph.metadata = dict(graph.metadata or {})
    graph.metadata[METADATA_KEY] = json.dumps(asdict(info))


def graph_info(graph: nir.NIRGraph) -> GraphInfo:
    """The graph's annotations (:meth:`GraphInfo.from_json` of its metadata)."""
    raw = (graph.metadata or {}).get(METADATA_KEY) if isinstance(graph.metadata, dict) else None
    if raw is None:
        raise GraphError("the NIR graph has no neurodeploy metadata; export it with `neurodeploy export`")
    return GraphInfo.from_json(raw)
