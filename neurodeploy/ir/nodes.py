"""Graph node types that NIR 1.0 lacks, as plain dataclasses beside NIR's own.

Each is serialised by ``nir.write`` like any NIR node, but with the type name
``neurodeploy.<Class>``. A reader without neurodeploy (``nir.read``, snntorch, norse)
stops with "Unknown unit type" instead of misreading the graph;
:func:`neurodeploy.ir.read_graph` reads them back. Shapes are per time step and
per image, ``(C, H, W)``, like NIR's.

- :class:`DirectEncode` -- image -> T identical steps (the rainy image on every step).
- :class:`TemporalMean` -- T steps -> one image: the mean over time (the decoder).
- :class:`Sum` -- the sum of its inputs as a node (an operand of a Concat must be one node).
- :class:`Gain` -- times a constant; :class:`Product` -- product of two activations (host).
- :class:`Max` -- the maximum over the pixels of each channel, or over the channels of each pixel;
  :class:`ReLU` -- ``max(x, 0)`` (on Loihi 2: trees and single graded ReLU neurons).
- :class:`Concat` -- channel concatenation of named inputs, in the order given
  (on a chip: routing, no arithmetic).
- :class:`Upsample` -- fixed interpolation by an integer factor (bilinear or nearest).
- :class:`PatchToTime` -- VLIF-Net's patch-to-time as routing: each r×r patch's pixels
  become r² channel groups of the same time step (on a chip: routing, no arithmetic).
- :class:`NILIF` -- VLIF-Net's normalised integer LIF (graded spikes 0..D), scanning the
  channel groups of a :class:`PatchToTime` as consecutive sub-steps.
- :class:`SigmaDelta` -- a sigma-delta neuron (graded messages when its value changes), from netx files.
- :class:`HostBlock` -- a block neurodeploy keeps whole because it needs real-valued
  arithmetic a spiking chip lacks (sigmoid gates, products of activations, global
  pooling, softmax over time). It names its torch module (architecture, config and
  module path) and carries that module's parameters, so that executors rebuild exactly
  the trained block.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

import nir
import numpy as np

TYPE_PREFIX = "neurodeploy."


@dataclass(eq=False)
class NeurodeployNode(nir.NIRNode):
    """Base of our node types: ``shape`` is the per-step output shape ``(C, H, W)``."""

    shape: np.ndarray

    def __post_init__(self) -> None:
        self.shape = np.asarray(self.shape, dtype=np.int64)
        self.input_type = {"input": self.shape}
        self.output_type = {"output": self.shape}

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.init and f.name != "metadata"}
        if self.metadata:
            out["metadata"] = self.metadata
        out["type"] = TYPE_PREFIX + type(self).__name__
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NeurodeployNode":
        data = {k: v for k, v in data.items() if k != "type"}
        return cls(**data)


@dataclass(eq=False)
class DirectEncode(NeurodeployNode):
    """Copies the input image to each of ``t_steps`` time steps."""

    t_steps: int = 1


@dataclass(eq=False)
class TemporalMean(NeurodeployNode):
    """Mean over the T time steps of its (summed) input: sequence -> image. ``weights`` (JSON list of T
    numbers; empty: 1/T each) makes it the weighted sum ``sum_t w_t x_t`` -- SpikeRain's temporal
    fusion, whose softmax weights are constant after training, exported this way with residency gates
    so that the chip reads it out."""

    weights: str = "[]"

    @property
    def step_weights(self) -> list[float]:
        return [float(w) for w in json.loads(self.weights)]


def readout_weights(node: "DirectEncode | TemporalMean", t_steps: int) -> list[float]:
    """The per-step input weights of a node the chip runs as a readout (residency gates): a DirectEncode
    holds the first step's image (1, 0, ..., 0); a TemporalMean weighs by its own weights, or 1/T each."""
    if isinstance(node, DirectEncode):
        return [1.0] + [0.0] * (t_steps - 1)
    return node.step_weights or [1.0 / t_steps] * t_steps


@dataclass(eq=False)
class Sum(NeurodeployNode):
    """The sum of its inputs, as a node of its own (where an operand must be one node, e.g.
    of a Concat; elsewhere NIR's rule -- a node sums its inputs -- needs no such node)."""


@dataclass(eq=False)
class Gain(NeurodeployNode):
    """Its (summed) input times a constant ``factor`` (a trained scalar, or -1 for a
    difference). On a chip it folds into the weights of the synapses it feeds."""

    factor: float = 1.0


@dataclass(eq=False)
class _OrderedInputs(NeurodeployNode):
    """A node whose inputs are operands in an order (``order``: JSON list of node names),
    not summed."""

    order: str = "[]"

    @property
    def inputs(self) -> list[str]:
        return json.loads(self.order)


@dataclass(eq=False)
class Product(_OrderedInputs):
    """The elementwise product of its two inputs: a product of two activations, which a
    spiking chip cannot compute."""


MAX_OVER = ("pixels", "channels")


@dataclass(eq=False)
class Max(NeurodeployNode):
    """The maximum of its (summed) input over ``over``: ``pixels`` (per channel, ``(C, H, W)`` ->
    ``(C, 1, 1)``) or ``channels`` (per pixel, ``(C, H, W)`` -> ``(1, H, W)``). ``input_shape`` is
    the input's ``(C, H, W)``. Exact in integers; on Loihi 2 a tree of graded ReLU neurons,
    ``max(a, b) = b + relu(a - b)`` (about as many compartments as inputs, ceil(log2 n) levels).
    """

    over: str = "pixels"
    input_shape: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))

    def __post_init__(self) -> None:
        super().__post_init__()
        self.input_shape = np.asarray(self.input_shape, dtype=np.int64)
        self.input_type = {"input": self.input_shape}


@dataclass(eq=False)
class ReLU(NeurodeployNode):
    """``max(x, 0)`` of its (summed) input: a graded ReLU neuron (Lava's ``GradedVec`` with threshold 0)."""


@dataclass(eq=False)
class Concat(_OrderedInputs):
    """Concatenates its inputs along channels, in ``order``."""


@dataclass(eq=False)
class Upsample(NeurodeployNode):
    """Interpolation by ``scale_factor`` (integer) with ``mode`` 'bilinear' or 'nearest'."""

    scale_factor: int = 2
    mode: str = "bilinear"
    align_corners: int = 0


@dataclass(eq=False)
class PatchToTime(NeurodeployNode):
    """VLIF-Net's patch-to-time, laid out for a chip that keeps T steps: per step
    ``(C, H, W)`` -> ``(r²·C, H/r, W/r)``.

    Output channel ``p·C + c`` (``p = i·r + j``) holds pixel ``(i, j)`` of every r×r patch of
    input channel ``c``: the model's sub-step ``t·r² + p`` (``models.vlifnet.PatchToTime``)
    is channel group ``p`` of step ``t`` here. Pure routing (a fixed permutation of axons).
    ``shape`` is the output's; the input is ``(C, H·r, W·r)`` with ``C = shape[0] / r²``.
    """

    r: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        c, h, w = (int(v) for v in self.shape)
        r = int(self.r)
        self.input_type = {"input": np.array([c // (r * r), h * r, w * r], dtype=np.int64)}


@dataclass(eq=False)
class NILIF(NeurodeployNode):
    """VLIF-Net's NI-LIF (:class:`neurodeploy.models.neurons.NILIF`) over ``positions``
    channel groups scanned as consecutive sub-steps.

    The input's ``positions`` groups of ``C = shape[0] / positions`` channels are the
    sub-steps ``t·P + p`` of the model; the residual ``H`` runs through them in order
    (from group ``P-1`` of step ``t`` to group 0 of step ``t+1``). Per sub-step, in units
    of one level: ``U = H + X``; ``K = clip(round_half_even(U), 0, levels)``;
    ``H = beta·(U - K)``; output ``K / levels`` (graded spikes). ``positions = 1`` is the
    plain NI-LIF on T steps.
    """

    levels: int = 4
    beta: float = 0.25
    positions: int = 1


@dataclass(eq=False)
class SigmaDelta(NeurodeployNode):
    """A sigma-delta neuron (Loihi 2's SDNN neuron; lava-dl's ``SigmaDelta`` with ReLU, as netx builds
    it), in the units of the messages it sends (payload units), per step::

        sigma += x / 2**state_exp          # x: the summed synaptic input; sigma: the decoded value
        act = relu(sigma)
        delta = act - act_prev + residue   # what changed since the last message, and what was not sent
        s = delta if |delta| >= vth else 0
        residue = delta - s;  act_prev = act
        output s                           # a graded message (0 most steps)

    The integer form (Lava's ``fixed_pt`` model) keeps ``sigma`` in input units (``2**state_exp``
    per payload unit), compares with ``vth << state_exp`` and sends ``s >> state_exp`` (floor):
    the float form above is that without the floor. ``state_exp``: netx's 6.
    """

    vth: float = 0.0
    state_exp: int = 6


@dataclass(eq=False)
class HostBlock(NeurodeployNode):
    """A torch block kept whole (see module docstring).

    Attributes:
        block: class name of the block (for reading, e.g. 'MultiDimensionalAttention').
        architecture: registered architecture that defines it; ``config``: its JSON config.
        module: module path of the block inside that architecture.
        params: the block's state_dict as float64 arrays, keyed as in the state_dict.
        domain_in, domain_out: 'seq' (T steps) or 'image' for input and output.
    """

    block: str = ""
    architecture: str = ""
    config: str = "{}"
    module: str = ""
    params: dict[str, np.ndarray] = field(default_factory=dict)
    domain_in: str = "seq"
    domain_out: str = "seq"


NODE_TYPES = {cls.__name__: cls for cls in (DirectEncode, TemporalMean, Sum, Gain, Product, Concat, Upsample, HostBlock,
                                            PatchToTime, NILIF, SigmaDelta, Max, ReLU)}
# our node types that a sequence graph (another writer's or a netx file's) holds beside NIR's: such a
# graph stays a foreign one (no neurodeploy metadata needed) when it has them
SEQUENCE_NODE_TYPES = (SigmaDelta,)


def node_from_dict(data: dict[str, Any]) -> nir.NIRNode:
    """Build any node (ours or NIR's) from the dict ``nir.serialization.hdf2dict`` gives."""
    type_name = data.get("type", "")
    if isinstance(type_name, bytes):
        type_name = type_name.decode()
    if type_name.startswith(TYPE_PREFIX):
        cls = NODE_TYPES.get(type_name[len(TYPE_PREFIX):])
        if cls is None:
            raise ValueError(f"unknown neurodeploy node type '{type_name}'")
        data = dict(data)
        for key, value in list(data.items()):  # h5py hands strings back as bytes or numpy scalars
            if isinstance(value, bytes):
                data[key] = value.decode()
            elif isinstance(value, np.generic):
                data[key] = value.item()
        return cls.from_dict(data)
    return nir.dict2NIRNode(data)


def host_module(node: HostBlock, dtype: Any = None):
    """The torch block a :class:`HostBlock` names, rebuilt with the parameters it carries
    (float64 unless ``dtype``); for executors, never for reading a file."""
    import torch

    from neurodeploy.models.host_blocks import host_block_module

    return host_block_module(node.block, node.architecture, node.config, node.module, node.params,
                             dtype or torch.float64)
