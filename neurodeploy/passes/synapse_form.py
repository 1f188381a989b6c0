"""Pass: synapse form -- a sequence graph's synapses with every gain folded in, in NIR layout.

A graph read from another writer's file (``GraphInfo.takes_sequences``) holds NIR's synapses
(Affine, Linear, Conv1d/2d, SumPool2d, AvgPool2d), NIR's routing (Flatten, Scale, Delay) and
NIR's neurons. On Loihi a synapse carries weights only: NIR's ``Scale`` and each neuron's
input gain (the neuron form pass's ``arrays[neuron]["gain"]``) multiply the weights of the
synapse before them, and a synapse's bias is part of the constant input of the neuron it
feeds. This pass decides all of that once, for every stage after it (the lowering re-lays
what it wrote, the quantizer rounds it, the integer emulator runs it):

- ``arrays[synapse]["weight"]``: the folded float weights in NIR layout -- a Dense
  ``(out, in)`` over the NIR-flattened input, a Conv ``(C_out, C_in / groups, kh, kw)`` (a
  Conv1d as a Conv2d of height 1, a pooling as a grouped Conv of fixed weights);
- ``arrays[neuron]["input_const"]``: the neuron form's constant input plus the gain times
  the biases of its synapses (NIR layout of the neuron), in the neuron's input units per step.

Which node's output another node's values are (:func:`port`): a Flatten or a Scale is its
input (reshaped or already folded into the weights), a Delay of 0 steps too; every other
node is a process of its own on the chip (the input, a synapse, a Delay, a neuron).

Refused in one line naming the node (:class:`~neurodeploy.errors.LoweringError`), as Lava
cannot express them: a synapse summing several inputs, a Scale or a neuron gain that cannot
fold into one synapse's weights, a Flatten feeding anything but Affine/Linear, a bias that
would pass through a second synapse, a conv whose gains vary within a channel, a Delay
whose steps differ across neurons or that follows a Flatten, a neuron fed without a synapse,
a non-spiking neuron feeding anything but the Output.
"""

from __future__ import annotations

from typing import Any

import nir
import numpy as np

from neurodeploy.errors import LoweringError
from neurodeploy.ir import primitives as pr
from neurodeploy.ir.graph import DeployGraph

SYNAPSES = (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)
DENSE = (nir.Affine, nir.Linear)


def is_synapse(g: DeployGraph, name: str) -> bool:
    return isinstance(g.node(name), SYNAPSES)


def delay_steps(g: DeployGraph, name: str) -> int:
    """A NIR Delay's steps (one value: Lava's DelayLine takes one per process)."""
    steps = np.unique(pr.delay_steps(name, g.node(name), g.info.dt_s))
    if steps.size != 1:
        raise LoweringError(f"delay '{name}': delays differ across neurons; Lava's DelayLine takes one")
    return int(steps[0])


def port(g: DeployGraph, name: str) -> str:
    """The node whose output ``name``'s values are: through Flatten, Scale and 0-step Delays."""
    node = g.node(name)
    if isinstance(node, (nir.Flatten, nir.Scale)) or (isinstance(node, nir.Delay) and delay_steps(g, name) == 0):
        return port(g, g.predecessors(name)[0])
    return name


def input_port(g: DeployGraph, name: str) -> str:
    """The process whose values feed ``name`` (its first predecessor's :func:`port`)."""
    return port(g, g.predecessors(name)[0])


def flattened(g: DeployGraph, name: str) -> str | None:
    """The Flatten whose port is synapse ``name``'s input (its input reshaped to 1-D), if any."""
    pred = g.predecessors(name)[0]
    while isinstance(g.node(pred), nir.Delay) and delay_steps(g, pred) == 0:
        pred = g.predecessors(pred)[0]
    return pred if isinstance(g.node(pred), nir.Flatten) else None


def reshaped(g: DeployGraph, name: str) -> bool:
    """Whether ``name``'s values are a Flatten's reshaped port (a Flatten, or a 0-step Delay after one)."""
    node = g.node(name)
    if isinstance(node, nir.Flatten):
        return True
    return isinstance(node, nir.Delay) and delay_steps(g, name) == 0 and reshaped(g, g.predecessors(name)[0])


def conv_geometry(name: str, node: nir.NIRNode, in_shape: tuple[int, ...]) -> dict[str, Any]:
    """A conv-like synapse as a Conv2d: ``stride``, ``padding``, ``dilation`` (each ``(h, w)``),
    ``groups`` and ``input_shape`` ``(C, H, W)`` (a Conv1d's ``(C, N)`` as ``(C, 1, N)``)."""
    in_shape = tuple(int(v) for v in in_shape)
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        p = pr.pool_params(name, node)
        return {"stride": tuple(p["stride"]), "padding": tuple(p["padding"]), "dilation": (1, 1),
                "groups": in_shape[0], "input_shape": in_shape}
    p = pr.conv_params(name, node, in_shape)
    if np.ndim(p["weight"]) == 3:
        return {"stride": (1, p["stride"][0]), "padding": (0, p["padding"][0]), "dilation": (1, p["dilation"][0]),
                "groups": int(p["groups"]), "input_shape": (in_shape[0], 1, in_shape[1])}
    return {"stride": tuple(p["stride"]), "padding": tuple(p["padding"]), "dilation": tuple(p["dilation"]),
            "groups": int(p["groups"]), "input_shape": in_shape}


def _raw_weight(name: str, node: nir.NIRNode, in_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The synapse's own float weights (NIR layout, conv-likes 4-D) and bias (per output, or per channel)."""
    if isinstance(node, DENSE):
        return np.asarray(node.weight, dtype=np.float64), np.asarray(getattr(node, "bias", 0.0), dtype=np.float64)
    c_in = int(in_shape[0])
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        kh, kw = pr.pool_params(name, node)["kernel"]
        value = 1.0 if isinstance(node, nir.SumPool2d) else 1.0 / (kh * kw)
        return np.full((c_in, 1, kh, kw), value), np.zeros(c_in)
    p = pr.conv_params(name, node, tuple(in_shape))
    weight = np.asarray(p["weight"], dtype=np.float64)
    if weight.ndim == 3:
        weight = weight[:, :, None, :]
    return weight, np.asarray(p["bias"], dtype=np.float64)


def _per_channel(name: str, scale: np.ndarray, c_out: int) -> np.ndarray:
    """A conv's factor per output channel (its neurons' gains must agree within a channel)."""
    if scale.ndim == 0:
        return np.full(c_out, float(scale))
    per_ch = np.broadcast_to(scale, (c_out, *scale.shape[1:])).reshape(c_out, -1)
    if not np.all(per_ch == per_ch[:, :1]):
        raise LoweringError(f"conv '{name}': its neurons' gains vary within a channel; Lava's Conv has one "
                            "weight set per output channel")
    return per_ch[:, 0]


def synapse_form(g: DeployGraph) -> dict[str, np.ndarray]:
    """Write the folded weights and the neurons' constant inputs (see module docstring); return the weights.
    A graph of a model (images) is left as it is: its convs take ``info.synapse_gain``."""
    if not g.info.takes_sequences:
        return {}
    scale: dict[str, Any] = {}  # synapse -> the factor on its rows (NIR layout of its output)
    bias: dict[str, Any] = {}  # synapse -> its bias as it reaches its neuron (Scales applied)
    owner: dict[str, str] = {}  # a synapse, or a Scale / Delay after one -> that synapse
    for name in g.order:
        node, preds = g.node(name), g.predecessors(name)
        if isinstance(node, nir.Flatten):
            if len(preds) != 1 or not all(isinstance(g.node(d), DENSE) for d in g.successors(name)):
                raise LoweringError(f"flatten '{name}': on Lava a Flatten must feed Affine/Linear layers only "
                                    "(it becomes their reshaped input port)")
        elif isinstance(node, nir.Scale):
            src = owner.get(preds[0]) if len(preds) == 1 else None
            if src is None or len(g.successors(preds[0])) != 1:
                raise LoweringError(f"scale '{name}': on Lava a Scale folds into the one synapse before it; "
                                    f"'{preds[0]}' is not such a synapse")
            s = np.broadcast_to(np.asarray(node.scale, dtype=np.float64), g.shape(name))
            scale[src] = scale.get(src, 1.0) * s
            bias[src] = bias.get(src, 0.0) * s
            owner[name] = src
        elif isinstance(node, nir.Delay):
            if len(preds) != 1:
                raise LoweringError(f"node '{name}' sums {len(preds)} inputs; on Lava a synapse takes one "
                                    "(sum after it)")
            delay_steps(g, name)
            if reshaped(g, preds[0]):
                raise LoweringError(f"delay '{name}' after a Flatten is not mapped; delay before the Flatten")
            if preds[0] in owner:  # a delayed synaptic output: the neuron after it still folds into the synapse
                owner[name] = owner[preds[0]]
        elif isinstance(node, SYNAPSES):
            if len(preds) != 1:
                raise LoweringError(f"node '{name}' sums {len(preds)} inputs; on Lava a synapse takes one "
                                    "(sum after it)")
            if np.any(np.asarray(bias.get(owner.get(preds[0], ""), 0.0)) != 0):
                raise LoweringError(f"node '{name}' follows '{preds[0]}', whose bias would have to pass through it; "
                                    "on Lava a synapse's bias moves into the neuron it feeds directly")
            _, b = _raw_weight(name, node, g.shape(preds[0]))
            bias[name] = b if isinstance(node, DENSE) else b.reshape(-1, *([1] * (len(g.shape(name)) - 1)))
            owner[name] = name
    # the neurons last: a recurrent loop's synapse (ir.order) comes after the neuron it feeds back into
    for name in g.order:
        if g.kind(name) in pr.SEQUENCE_NEURON_KINDS:
            _neuron(g, name, owner, scale, bias)
    weights = {}
    for name in g.order:
        if isinstance(g.node(name), SYNAPSES):
            w, _ = _raw_weight(name, g.node(name), g.shape(g.predecessors(name)[0]))
            s = np.asarray(scale.get(name, 1.0), dtype=np.float64)
            if isinstance(g.node(name), DENSE):
                w = w * np.broadcast_to(s, (w.shape[0],))[:, None]
            else:
                w = w * _per_channel(name, s, w.shape[0])[:, None, None, None]
            weights[name] = w
            g.arrays.setdefault(name, {})["weight"] = w
    return weights


def _neuron(g: DeployGraph, name: str, owner: dict, scale: dict, bias: dict) -> None:
    """Fold the neuron's gain into its synapses and their biases into its constant input."""
    form, gain = g.info.neuron_form[name], g.arrays[name]["gain"]
    shape = g.shape(name)
    const = np.asarray(g.arrays[name]["const"], dtype=np.float64).copy()
    for p in g.predecessors(name):
        syn = owner.get(p)
        if syn is None:
            raise LoweringError(f"neuron '{name}' is fed by '{p}' ({type(g.node(p)).__name__}) without a "
                                "synapse; on Lava every neuron input comes through Affine/Linear/Conv/pooling")
        if len(g.successors(p)) != 1 or len(g.successors(syn)) != 1:
            raise LoweringError(f"'{p}' feeds several nodes; on Lava its weights can take only one neuron's gain")
        scale[syn] = scale.get(syn, 1.0) * gain
        const = const + gain * np.broadcast_to(bias.get(syn, 0.0), shape)
    if not form["spiking"] and any(g.kind(d) != "output" for d in g.successors(name)):
        raise LoweringError(f"neuron '{name}' ({type(g.node(name)).__name__}) does not spike; on Lava it may "
                            "feed only the Output (its state is read by a Monitor)")
    g.arrays[name]["input_const"] = np.broadcast_to(const, shape).copy()
