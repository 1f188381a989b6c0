"""Pass: mapping -- split every chip layer into blocks that fit one neuro core, place the blocks
on cores and the cores on chips of a system, and count the traffic between them.

Reads: node kinds, shapes, conv parameters, ``info.side`` (the partition) and edge kinds.
Returns a :class:`Mapping` (the decision; :mod:`neurodeploy.targets.loihi.blocks` reads it to
build one Lava process per block). It writes no annotation: the mapping depends on the system
and the core budget a caller chooses, and a bundle stays the same for every system.

**Units.** A *unit* is a chip node whose values live in neuron compartments: LIF and NI-LIF
layers, fixed interpolation (a depthwise transposed conv on Loihi 2), and a conv whose output is
not consumed by exactly one neuron layer (it needs accumulator compartments of its own; a conv
feeding one neuron layer is that layer's synapses). Sums, gains, concatenation and patch-to-time
are routing: they add no compartments; their consumers' synapses read the values they route.

**Blocks.** Each unit is cut into channel groups x spatial tiles (a conv tile reads its input
window with the kernel's halo), the largest square tile that fits for each channel grouping, and
the grouping giving the fewest blocks wins. Every block is checked against a
:class:`~neurodeploy.limits.CoreBudget`: neurons, stored synapses (or synaptic memory bits),
fan-in axons (distinct input values its synapses read) and fan-out axons (distinct
(neuron, destination core) routes). A unit whose one-neuron block does not fit is refused by name.

**Placement.** One block per core (nengo-loihi's default); cores are numbered in graph order,
so a layer's blocks sit next to its producer's and its consumer's, and chips are filled in that
order (greedy, locality first).

Assumptions (named, listed in :attr:`Mapping.assumptions`): conv weights are stored once per
block (``conv_weights_shared``; False stores them per neuron), a weight takes the chip's weight
mantissa bits, and spike rates are uniform within a layer when traffic is split among blocks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import nir
import numpy as np

from neurodeploy.errors import NeurodeployError
from neurodeploy.ir.graph import DeployGraph
from neurodeploy.limits import LOIHI2, LOIHI2_DERIVED_CORE, CoreBudget
from neurodeploy.systems import AER_ADDRESS_BITS, System

ROUTING_KINDS = ("sum", "gain", "concat", "patch_to_time", "flatten", "scale", "delay")
NEURON_KINDS = ("lif", "nilif", "i", "li", "if", "cubali", "cubalif", "threshold")
SYNAPSE_KINDS = ("conv", "affine", "linear", "conv1d", "sumpool", "avgpool")
RESOURCES = ("neurons", "synapses", "synaptic_memory_bits", "fan_in_axons", "fan_out_axons")


class MappingError(NeurodeployError):
    """A layer no block of one core can hold (exit 2)."""

    def __init__(self, layer: str, resource: str, need: int, limit: int, budget: str):
        self.layer, self.resource, self.need, self.limit = layer, resource, need, limit
        super().__init__(f"layer '{layer}' does not fit one core even as a one-neuron block: {resource} {need:,} > "
                         f"{limit:,} ({budget} core budget)")


def _shape3(shape) -> tuple[int, int, int]:
    s = tuple(int(v) for v in shape)
    return {1: lambda: (s[0], 1, 1), 2: lambda: (s[0], 1, s[1]), 3: lambda: s}.get(len(s), lambda: (int(np.prod(s)), 1, 1))()


@dataclass
class Syn:
    """The synapses of a unit from one input tensor.

    ``kind``: ``conv`` (kernel, stride, padding, dilation, groups), ``dense`` (every input to
    every output), ``identity`` (one synapse per neuron) or ``upsample`` (fixed interpolation,
    ``scale``). ``in_shape``: the input tensor (C, H, W). ``sources``: (unit or None for the host,
    channel offset of its values in the input tensor).
    """

    kind: str
    in_shape: tuple[int, int, int]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    scale: int = 1
    taps: int = 1
    sources: list[tuple[str | None, int]] = field(default_factory=list)
    weight_groups: int = 1  # 2: its weights stored as two 8-bit synapse groups (export --weight-bits)

    def window(self, lo: int, hi: int, dim: int, out_n: int) -> tuple[int, int]:
        """Input interval [a, b) read by outputs [lo, hi) along ``dim`` (0: rows, 1: cols), clipped."""
        n_in = self.in_shape[1 + dim]
        if self.kind == "dense":
            return 0, n_in
        if self.kind == "conv":
            s, p, d, k = self.stride[dim], self.padding[dim], self.dilation[dim], self.kernel[dim]
            a, b = lo * s - p, (hi - 1) * s - p + d * (k - 1) + 1
        elif self.kind == "upsample":
            a, b = lo // self.scale - 1, (hi - 1) // self.scale + 2
        else:  # identity: the same place, proportionally when routing changed the geometry
            a, b = lo * n_in // max(out_n, 1), -(-hi * n_in // max(out_n, 1))
        return max(a, 0), min(b, n_in)

    def span(self, t: int, dim: int, out_n: int) -> int:
        """Input values along ``dim`` an interior tile of ``t`` outputs reads (its halo included)."""
        n_in = self.in_shape[1 + dim]
        if self.kind == "dense":
            return n_in
        if self.kind == "conv":
            span = (t - 1) * self.stride[dim] + self.dilation[dim] * (self.kernel[dim] - 1) + 1
        elif self.kind == "upsample":
            span = (t - 1) // self.scale + 3
        else:
            span = -(-t * n_in // max(out_n, 1))
        return min(n_in, span)

    def channels_read(self, c_block: int, c_out: int) -> int:
        """Input channels a block of ``c_block`` output channels reads."""
        c_in = self.in_shape[0]
        if self.kind in ("dense",) or (self.kind == "conv" and self.groups == 1):
            return c_in
        if self.kind == "conv":
            per_group_out = max(c_out // self.groups, 1)
            return min(c_in, -(-c_block // per_group_out) * (c_in // self.groups))
        return min(c_block, c_in)

    def weights_per_neuron(self) -> int:
        if self.kind == "conv":
            return (self.in_shape[0] // self.groups) * self.kernel[0] * self.kernel[1]
        if self.kind == "dense":
            return int(np.prod(self.in_shape))
        return self.taps

    def stored(self, c_block: int, neurons: int, shared: bool) -> int:
        """Synaptic weights a block stores (synapses; each of two synapse groups its own)."""
        if self.kind == "dense":
            return neurons * self.weights_per_neuron() * self.weight_groups
        if shared:  # conv kernels once per output channel; fixed interpolation once per channel
            phases = self.scale * self.scale if self.kind == "upsample" else 1
            return c_block * self.weights_per_neuron() * phases * self.weight_groups
        return neurons * self.weights_per_neuron() * self.weight_groups

    def dense_ops(self, neurons: int) -> int:
        """Synaptic operations per step for ``neurons`` outputs when every input is active."""
        return neurons * self.weights_per_neuron()


@dataclass
class Unit:
    """A layer that takes cores: its output shape (C, H, W), its synapses, and how it is split."""

    name: str
    kind: str
    shape: tuple[int, int, int]
    syns: list[Syn]
    graded: bool
    split: tuple[int, int, int] = (1, 1, 1)  # channel groups, row tiles, column tiles
    tile: tuple[int, int, int] = (0, 0, 0)  # channels, rows, columns of a full block
    core_base: int = 0
    exceeded: list[str] = field(default_factory=list)
    whole: dict[str, int] = field(default_factory=dict)

    @property
    def neurons(self) -> int:
        return int(np.prod(self.shape))

    @property
    def blocks(self) -> int:
        return int(np.prod(self.split))

    def intervals(self, dim: int) -> list[tuple[int, int]]:
        """[lo, hi) of each group along ``dim`` (0 channels, 1 rows, 2 columns)."""
        n, t = self.shape[dim], self.tile[dim]
        return [(a, min(a + t, n)) for a in range(0, n, t)]

    def block_regions(self) -> list[tuple[tuple[int, int], tuple[int, int], tuple[int, int]]]:
        """Every block's (channels, rows, columns) intervals, in core order (channel-major)."""
        return [(c, y, x) for c in self.intervals(0) for y in self.intervals(1) for x in self.intervals(2)]


@dataclass
class Mapping:
    """The mapping of a chip part onto a system: units with their splits, cores, chips."""

    system: System
    budget: CoreBudget
    units: dict[str, Unit]
    conv_weights_shared: bool
    weight_bits: int
    scale: tuple[float, float] = (1.0, 1.0)

    @property
    def cores(self) -> int:
        return sum(u.blocks for u in self.units.values())

    @property
    def cores_per_chip(self) -> int:
        return int(self.system.chip.cores_per_chip)

    @property
    def chips(self) -> int:
        return -(-self.cores // self.cores_per_chip)

    @property
    def fits(self) -> bool:
        return self.chips <= int(self.system.chips)

    def chip_of(self, core: np.ndarray) -> np.ndarray:
        return np.asarray(core) // self.cores_per_chip

    def assumptions(self) -> dict[str, str]:
        return {
            "conv_weights_shared": (f"{self.conv_weights_shared}: a conv block stores its kernels once per output "
                                    "channel (Loihi 2's brief announces convolutional synapse encodings; the memory "
                                    "layout is not published)" if self.conv_weights_shared else
                                    "False: every neuron stores its own copy of its kernel taps"),
            "weight_bits": f"{self.weight_bits} bits per stored weight (the chip's weight mantissa, limits.py)",
            "one_block_per_core": "each core holds one block (nengo-loihi's default); small layers are not packed",
            "placement": "cores numbered in graph order, chips filled in that order (greedy, locality first)",
            "uniform_rates": "spike rates are uniform within a layer when its traffic is split among its blocks",
            "max_trees": ("a max over pixels or channels (a split gate block's statistic) is a tree of graded ReLU "
                          "neurons (max(a, b) = b + relu(a - b)): a block counts one compartment per input value it "
                          "reads (the tree's n - 1 neurons and its output) and reads them like the average-pooling "
                          "synapse of the same statistic; the tree's ceil(log2 n) levels of latency are not counted "
                          "(Lava runs it as one same-step function)"),
            "graded_dense": "a graded (non-binary) output is sent at every step by every neuron",
        }

    def occupancy(self) -> list[float]:
        """Neurons used / the core's neuron budget, per core in core order (0..1)."""
        cap = int(self.budget.neurons)
        out = []
        for u in self.units.values():
            for c, y, x in u.block_regions():
                out.append((c[1] - c[0]) * (y[1] - y[0]) * (x[1] - x[0]) / cap)
        return out

    def first_misfit(self) -> dict[str, Any] | None:
        """When the system is too small: the first layer that does not fit on it, and what is short."""
        if self.fits:
            return None
        limit = int(self.system.chips) * self.cores_per_chip
        for u in self.units.values():
            if u.core_base + u.blocks > limit:
                return {"layer": u.name, "resource": "cores", "need": self.cores, "limit": limit,
                        "chips_needed": self.chips}
        return None

    def to_dict(self, per_core_limit: int = 4096) -> dict[str, Any]:
        """JSON: cores, chips, per-layer blocks, occupancy (per core, or per chip beyond ``per_core_limit`` cores)."""
        from neurodeploy.limits import describe_figure

        occ = self.occupancy()
        per_chip = [float(np.mean(occ[i:i + self.cores_per_chip])) for i in range(0, len(occ), self.cores_per_chip)]
        return {
            "system": self.system.name,
            "fits": self.fits,
            "cores": self.cores,
            "chips": self.chips,
            "system_chips": int(self.system.chips),
            "cores_per_chip": self.cores_per_chip,
            "budget": {"name": self.budget.name, **{k: describe_figure(v) for k, v in self.budget.figures().items()}},
            "scale": list(self.scale),
            "first_misfit": self.first_misfit(),
            "layers": {u.name: {"kind": u.kind, "shape": list(u.shape), "neurons": u.neurons, "blocks": u.blocks,
                                "split": list(u.split), "tile": list(u.tile), "exceeded": u.exceeded,
                                "whole_layer_needs": u.whole,
                                "cores": [u.core_base, u.core_base + u.blocks],
                                "chips": [u.core_base // self.cores_per_chip,
                                          (u.core_base + u.blocks - 1) // self.cores_per_chip]}
                       for u in self.units.values()},
            "occupancy_per_core": occ if len(occ) <= per_core_limit else None,
            "occupancy_per_chip": per_chip,
            "assumptions": self.assumptions(),
        }


# ------------------------------------------------------------------------------ units from the graph
def _is_unit(g: DeployGraph, name: str) -> bool:
    kind = g.kind(name)
    if g.info.side.get(name, g.side(name)) != "chip":
        return False
    if kind in NEURON_KINDS or kind in ("upsample", "product", "relu", "max", "decode_mean", "encode"):  # per element
        return True
    if kind in SYNAPSE_KINDS:
        succ = g.successors(name)
        # a synapse feeding exactly one neuron layer is that layer's synapses
        return not (len(succ) == 1 and g.kind(succ[0]) in NEURON_KINDS and g.side(succ[0]) == "chip")
    return False


def _sources(g: DeployGraph, name: str, units: set[str], offset: int = 0) -> list[tuple[str | None, int]]:
    """The units (None: the host) whose values the tensor ``name`` carries, with their channel offsets."""
    if name in units:
        return [(name, offset)]
    if g.side(name) != "chip" or g.kind(name) not in ROUTING_KINDS:
        return [(None, offset)]
    if g.kind(name) == "concat":
        out, off = [], offset
        for p in g.node(name).inputs:
            out += _sources(g, p, units, off)
            off += _shape3(g.shape(p))[0]
        return out
    return [s for p in g.predecessors(name) for s in _sources(g, p, units, offset)]


def _pair(v, n: int = 2) -> tuple[int, ...]:
    v = np.atleast_1d(np.asarray(v)).astype(int).tolist()
    return tuple(v * n if len(v) == 1 else v[-n:])


def _syn_of(g: DeployGraph, name: str, units: set[str]) -> Syn:
    """The synapses node ``name`` (a synapse kind, or fixed interpolation) applies to its input."""
    node = g.node(name)
    preds = g.predecessors(name)
    in_shape = _shape3(g.shape(preds[0]))
    # A node sums its inputs (NIR): its synapses read every one of them, as a Sum's consumer does
    # (_sources). Reading only the first made a producer's fan-out depend on edge order: the
    # residency pass re-appends the edges it rewires, so e.g. ESDNet's shortcut conv fed
    # ``attn + patch_embed`` lost patch_embed as a source under residency host, kept it under products.
    # A unit reached by two paths (x and a gain of x) is one route per (neuron, core): listed once.
    sources = list(dict.fromkeys(s for p in preds for s in _sources(g, p, units)))
    kind = g.kind(name)
    groups = int((g.info.quant or {}).get(name, {}).get("synapse_groups", 1))  # a quantized bundle's
    if kind in ("affine", "linear"):
        return Syn("dense", in_shape, sources=sources, weight_groups=groups)
    if kind == "upsample":
        scale = int(node.scale_factor)
        taps = 4 if str(node.mode) == "bilinear" else 1
        return Syn("upsample", in_shape, scale=scale, taps=taps, sources=sources)
    if kind in ("sumpool", "avgpool"):
        k = _pair(node.kernel_size)
        return Syn("conv", in_shape, kernel=k, stride=_pair(node.stride), padding=_pair(getattr(node, "padding", 0)),
                   groups=in_shape[0], sources=sources)
    w = np.asarray(node.weight)
    k = (1, int(w.shape[-1])) if w.ndim == 3 else (int(w.shape[-2]), int(w.shape[-1]))
    one = 1 if w.ndim == 3 else 2
    pad = node.padding if not isinstance(node.padding, str) else 0
    return Syn("conv", in_shape, kernel=k, stride=_pair(node.stride, one) if one == 2 else (1, _pair(node.stride, 1)[0]),
               padding=_pair(pad, one) if one == 2 else (0, _pair(pad, 1)[0]),
               dilation=_pair(node.dilation, one) if one == 2 else (1, _pair(node.dilation, 1)[0]),
               groups=int(node.groups), sources=sources, weight_groups=groups)


def chip_units(g: DeployGraph) -> dict[str, Unit]:
    """The units of the chip part (graph order), each with its synapses (see module docstring)."""
    names = [n for n in g.order if _is_unit(g, n)]
    unit_set = set(names)
    units: dict[str, Unit] = {}
    for name in names:
        kind = g.kind(name)
        syns = []
        if kind == "max":  # a max tree: read like the pooling synapse of the same statistic (see assumptions)
            (src,) = g.predecessors(name)
            c, h, w = _shape3(g.shape(src))
            over_pixels = g.node(name).over == "pixels"
            syns.append(Syn("conv", (c, h, w), kernel=(h, w) if over_pixels else (1, 1), groups=c if over_pixels else 1,
                            sources=_sources(g, src, unit_set)))
        elif kind in NEURON_KINDS or kind in ("product", "relu", "decode_mean", "encode"):  # one to one
            for p in g.predecessors(name):
                if g.kind(p) in SYNAPSE_KINDS and p not in unit_set and g.side(p) == "chip":
                    syns.append(_syn_of(g, p, unit_set))
                else:
                    syns.append(Syn("identity", _shape3(g.shape(p)), sources=_sources(g, p, unit_set)))
        else:
            syns.append(_syn_of(g, name, unit_set))
        graded = any(g.edge_kind(name, d) != "binary" for d in g.successors(name)) or kind not in NEURON_KINDS
        units[name] = Unit(name, kind, _shape3(g.shape(name)), syns, graded)
    return units


def _scaled(units: dict[str, Unit], fy: float, fx: float) -> dict[str, Unit]:
    """The units of the same network on an image ``fy`` x ``fx`` times as large (spatial dims scale)."""
    def sc(shape):
        c, h, w = shape
        return (c, max(1, round(h * fy)) if h > 1 else h, max(1, round(w * fx)) if w > 1 else w)
    out = {}
    for name, u in units.items():
        syns = [Syn(**{**asdict(s), "in_shape": sc(s.in_shape), "sources": list(s.sources)}) for s in u.syns]
        out[name] = Unit(name, u.kind, sc(u.shape), syns, u.graded)
    return out


# ------------------------------------------------------------------------------ splitting
def block_needs(u: Unit, c_b: int, th: int, tw: int, shared: bool, weight_bits: int) -> dict[str, int]:
    """Resources of the largest block of ``c_b`` channels x ``th`` x ``tw`` (neurons, synapses, bits, axons)."""
    neurons = c_b * th * tw
    fan_in = stored = 0
    for s in u.syns:
        span_r = s.span(th, 0, u.shape[1])
        span_c = s.span(tw, 1, u.shape[2])
        fan_in += s.channels_read(c_b, u.shape[0]) * span_r * span_c
        stored += s.stored(c_b, neurons, shared)
    if u.kind == "max":  # a tree of graded ReLU neurons: n - 1 of them and the output, n = the values it reads
        neurons = max(neurons, fan_in)
    return {"neurons": neurons, "synapses": stored, "synaptic_memory_bits": stored * weight_bits,
            "fan_in_axons": fan_in}


def _over(need: dict[str, int], budget: CoreBudget) -> list[str]:
    limits = budget.figures()
    return [r for r in RESOURCES if r in need and int(limits[r]) > 0 and need[r] > int(limits[r])]


def split_unit(u: Unit, budget: CoreBudget, shared: bool, weight_bits: int, max_side: int | None = None) -> None:
    """Choose ``u.split`` and ``u.tile``: the channel grouping and largest square tile with the fewest blocks."""
    c, h, w = u.shape
    u.whole = block_needs(u, c, h, w, shared, weight_bits)
    u.exceeded = _over(u.whole, budget)
    best = None
    nc = 1
    side_max = min(max(h, w), max_side or max(h, w))
    while True:
        cb = -(-c // nc)
        fits = lambda s: not _over(block_needs(u, cb, min(h, s), min(w, s), shared, weight_bits), budget)  # noqa: E731
        if fits(1):
            lo, hi = 1, side_max
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
            th, tw = min(h, lo), min(w, lo)
            n = -(-c // cb) * -(-h // th) * -(-w // tw)
            if best is None or n < best[0]:
                best = (n, cb, th, tw)
        if cb == 1:
            break
        nc = min(c, nc * 2)
    if best is None:
        need = block_needs(u, 1, 1, 1, shared, weight_bits)
        r = _over(need, budget)[0]
        raise MappingError(u.name, r, need[r], int(budget.figures()[r]), budget.name)
    _, cb, th, tw = best
    u.tile = (cb, th, tw)
    u.split = (-(-c // cb), -(-h // th), -(-w // tw))


# ------------------------------------------------------------------------------ fan-out and traffic
def _overlap(p_iv: list[tuple[int, int]], q_iv: list[tuple[int, int]]) -> np.ndarray:
    a = np.array(p_iv)[:, None, :]
    b = np.array(q_iv)[None, :, :]
    return np.clip(np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0]), 0, None)


def _pair_overlaps(p: Unit, q: Unit, s: Syn, offset: int) -> list[np.ndarray]:
    """Per dimension (channels, rows, cols): P block x Q block counts of P's neurons each Q block reads."""
    def scale_iv(ivs, n_from, n_to):
        return [(a * n_to // n_from, -(-b * n_to // n_from)) for a, b in ivs] if n_from != n_to else ivs
    pc = [(a + offset, b + offset) for a, b in p.intervals(0)]
    if s.kind == "dense" or (s.kind == "conv" and s.groups == 1):
        oc = np.repeat(np.array([b - a for a, b in pc])[:, None], q.split[0], axis=1)
    else:
        oc = _overlap(pc, q.intervals(0))
    dims = []
    for d in (1, 2):
        p_iv = scale_iv(p.intervals(d), p.shape[d], s.in_shape[d])
        q_win = [s.window(a, b, d - 1, q.shape[d]) for a, b in q.intervals(d)]
        dims.append(_overlap(p_iv, q_win))
    return [oc, *dims]


def _consumers(units: dict[str, Unit]) -> dict[str, list[tuple[Unit, Syn, int]]]:
    out: dict[str, list] = {n: [] for n in units}
    for q in units.values():
        for s in q.syns:
            for src, off in s.sources:
                if src is not None:
                    out[src].append((q, s, off))
    return out


def fan_out_max(p: Unit, consumers: list[tuple[Unit, Syn, int]]) -> int:
    """The largest (neuron, destination core) route count of any block of ``p`` (axons)."""
    if not consumers:
        return 0
    total = None
    for q, s, off in consumers:
        rows = [m.sum(axis=1) for m in _pair_overlaps(p, q, s, off)]
        per_block = np.einsum("i,j,k->ijk", *rows).reshape(-1)
        total = per_block if total is None else total + per_block
    return int(total.max())


def map_graph(g: DeployGraph, system: System, budget: CoreBudget = LOIHI2_DERIVED_CORE,
              conv_weights_shared: bool = True, scale: tuple[float, float] = (1.0, 1.0)) -> Mapping:
    """Map the chip part of ``g`` (partitioned) onto ``system`` (see the module docstring).

    ``scale``: the same network on an image (fy, fx) times the exported one (spatial dims scale;
    used to search image sizes without exporting again).

    Raises:
        MappingError: a layer whose one-neuron block exceeds a core (names layer and resource).
    """
    units = chip_units(g)
    if scale != (1.0, 1.0):
        units = _scaled(units, *scale)
    weight_bits = int(LOIHI2.weight_mant_bits)
    for u in units.values():
        split_unit(u, budget, conv_weights_shared, weight_bits)
    consumers = _consumers(units)
    limit = int(budget.fan_out_axons)
    for u in units.values():
        while limit and fan_out_max(u, consumers[u.name]) > limit:
            c, h, w = u.tile
            if max(h, w) > 1:
                split_unit(u, budget, conv_weights_shared, weight_bits, max_side=max(1, max(h, w) // 2))
            elif c > 1:
                u.tile = (-(-c // 2), h, w)
                u.split = (-(-u.shape[0] // u.tile[0]), u.split[1], u.split[2])
            else:
                raise MappingError(u.name, "fan_out_axons", fan_out_max(u, consumers[u.name]), limit, budget.name)
            if "fan_out_axons" not in u.exceeded:
                u.exceeded.append("fan_out_axons")
    base = 0
    for u in units.values():
        u.core_base = base
        base += u.blocks
    return Mapping(system, budget, units, conv_weights_shared, weight_bits, tuple(scale))


def traffic(m: Mapping, rates: dict[str, float], graded_bits: int | None = None, t_steps: int = 1) -> dict[str, Any]:
    """Messages and bits per time step between cores, between chips, and across the chip/host cut.

    ``rates``: spikes per neuron per step of each binary unit (a run's counts; a missing unit
    counts as silent only if binary -- graded units send every value at every step). ``t_steps``:
    T, by which the image a hold receives once per image (residency gates) is shared out per step.
    Returns per link kind ``messages_per_step`` and ``bits_per_step``, and the busiest chip's
    outgoing chip-to-chip bits (``busiest_chip_out_bits_per_step``).
    """
    from scipy import sparse

    payload = int(graded_bits if graded_bits is not None else LOIHI2.graded_payload_bits)
    aer = int(AER_ADDRESS_BITS)
    kinds = {k: {"messages_per_step": 0.0, "bits_per_step": 0.0} for k in
             ("within_core", "core_to_core", "chip_to_chip", "host_to_chip", "chip_to_host")}
    chip_out = np.zeros(max(m.chips, 1))
    consumers = _consumers(m.units)
    for p in m.units.values():
        rate = 1.0 if p.graded else float(rates.get(p.name, 0.0))
        bits = aer + (payload if p.graded else 0)
        for q, s, off in consumers[p.name]:
            oc, oy, ox = (sparse.csr_matrix(a) for a in _pair_overlaps(p, q, s, off))
            pairs = sparse.kron(oc, sparse.kron(oy, ox, format="csr"), format="coo")
            pc = m.chip_of(p.core_base + pairs.row)
            qc = m.chip_of(q.core_base + pairs.col)
            same = pc == qc
            msgs_same = rate * float(pairs.data[same].sum())
            msgs_cross = rate * float(pairs.data[~same].sum())
            kinds["core_to_core"]["messages_per_step"] += msgs_same
            kinds["chip_to_chip"]["messages_per_step"] += msgs_cross
            kinds["core_to_core"]["bits_per_step"] += msgs_same * bits
            kinds["chip_to_chip"]["bits_per_step"] += msgs_cross * bits
            np.add.at(chip_out, pc[~same], rate * pairs.data[~same] * bits)
    # the cut: every host value a core reads is sent to that core (fan-in of host-fed synapses)
    for q in m.units.values():
        for s in q.syns:
            host_share = sum(1 for src, _ in s.sources if src is None) / max(len(s.sources), 1)
            if not host_share:
                continue
            values = 0
            for c, y, x in q.block_regions():
                ry, rx = s.window(*y, 0, q.shape[1]), s.window(*x, 1, q.shape[2])
                values += s.channels_read(c[1] - c[0], q.shape[0]) * (ry[1] - ry[0]) * (rx[1] - rx[0])
            share = host_share / (t_steps if q.kind == "encode" else 1)  # a hold: the image once per image
            kinds["host_to_chip"]["messages_per_step"] += values * share
            kinds["host_to_chip"]["bits_per_step"] += values * share * (aer + payload)
    return {"kinds": kinds, "busiest_chip_out_bits_per_step": float(chip_out.max()) if chip_out.size else 0.0,
            "bits_per_message": {"binary": aer, "graded": aer + payload},
            "note": "within_core is 0: one block per core and no recurrent layers, so every spike leaves its core"}


def chip_to_host(g: DeployGraph, m: Mapping, rates: dict[str, float], graded_bits: int | None = None
                 ) -> dict[str, float]:
    """Values per step leaving the chip for the host (cut edges chip->host), messages and bits."""
    payload = int(graded_bits if graded_bits is not None else LOIHI2.graded_payload_bits)
    aer = int(AER_ADDRESS_BITS)
    msgs = bits = 0.0
    fy, fx = m.scale
    unit_set = set(m.units)
    for src, dst in g.edges:
        if g.side(src) == "chip" and g.side(dst) != "chip" and not isinstance(g.node(dst), nir.Input):
            c, h, w = _shape3(g.shape(src))
            n = c * (max(1, round(h * fy)) if h > 1 else h) * (max(1, round(w * fx)) if w > 1 else w)
            if g.domain(src) == "image":  # a readout: read once per image
                n /= g.t_steps
            binary = g.edge_kind(src, dst) == "binary"
            owners = [u for u, _ in _sources(g, src, unit_set) if u is not None]
            rate = float(np.mean([rates.get(u, 0.0) for u in owners])) if binary and owners else 1.0
            msgs += n * rate
            bits += n * rate * (aer + (0 if binary else payload))
    return {"messages_per_step": msgs, "bits_per_step": bits}


def dense_ops_per_step(u: Unit) -> dict[str, float]:
    """Synaptic operations per step arriving at ``u`` when every input is active, by source (None: host)."""
    out: dict[str, float] = {}
    for s in u.syns:
        ops = s.dense_ops(u.neurons) / max(len(s.sources), 1)
        for src, _ in s.sources:
            out[src or "host"] = out.get(src or "host", 0.0) + ops
    return out
