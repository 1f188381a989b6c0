"""Pass: neuron form -- each chip neuron as a Loihi neuron, target-neutral, in model units.

Reads: the partition (``info.side``), node kinds, ``nir.LIF`` parameters, ``info.dt_s``,
spike conditions, conv biases. Writes: ``info.neuron_form[node]`` for every chip LIF
(``du``, ``dv``, ``vth``, ``input_gain``, ``fires_at_equality``); ``arrays[node]["bias"]``
(per output channel) for every node that receives synapses and holds state or reads them
out -- chip LIFs and the readout (a decoder fed by chip synapses); and
``info.synapse_gain[conv]``: the factor the conv's weights take (its consumer's input gain).

The Loihi neuron (Lava's LIF, and Loihi 2's default neuron model), per step:
``u = u (1 - du) + a_in``; ``v = v (1 - dv) + u + bias``; spike when ``v`` crosses ``vth``,
then ``v = 0``. The NIR LIF under forward Euler (step ``dt``):
``v = (1 - dt/tau) v + (dt/tau)(v_leak + r I)``. So ``du = 1`` (the current passes straight
through), ``dv = dt/tau``, and the input gain ``dt r / tau`` scales the incoming weights and
biases; a conv's bias moves into the neuron it feeds (Loihi synapses carry no bias). The
spike condition stays as the model's (``>=`` for the papers): a backend maps it to its own
comparison (Lava float: ``vth`` one ulp lower; fixed point: one LSB lower).

Loihi holds ``du``, ``dv`` and ``vth`` once per layer (LOIHI2 limits): a layer whose
neurons differ in them, or whose ``v_leak``/``v_reset`` are not 0, is refused by name.
"""

from __future__ import annotations

import nir
import numpy as np

from neurodeploy.errors import LoweringError
from neurodeploy.ir.graph import DeployGraph

# Nodes that receive synapses and are not neurons: the decoder reads the last conv out.
READOUT_KINDS = ("decode_mean", "output")


def _uniform(name: str, what: str, values) -> float:
    values = np.asarray(values, dtype=np.float64)
    if not np.all(values == values.flat[0]):
        raise LoweringError(f"neuron '{name}': {what} varies across neurons; a Loihi layer takes one value")
    return float(values.flat[0])


def neuron_form(g: DeployGraph) -> dict[str, dict[str, float]]:
    """Write the neuron form of every chip neuron (see module docstring); return it."""
    dt = g.info.dt_s
    forms: dict[str, dict[str, float]] = {}
    gains: dict[str, float] = {}
    for name in g.order:
        if g.kind(name) == "lif" and g.info.side.get(name) == "chip":
            lif = g.node(name)
            tau = _uniform(name, "tau", lif.tau)
            if not np.all(np.asarray(lif.v_leak) == 0) or not np.all(np.asarray(lif.v_reset) == 0):
                raise LoweringError(f"neuron '{name}': v_leak and v_reset must be 0 for a Loihi neuron")
            gain = dt * _uniform(name, "r", lif.r) / tau
            forms[name] = {"du": 1.0, "dv": dt / tau, "vth": _uniform(name, "v_threshold", lif.v_threshold),
                           "input_gain": gain,
                           "fires_at_equality": g.info.spike_condition.get(name, ">") == ">="}
        elif g.kind(name) in READOUT_KINDS and any(g.kind(p) == "conv" and g.info.side.get(p) == "chip"
                                                   for p in g.predecessors(name)):
            gain = 1.0
        else:
            continue
        bias = np.zeros(g.shape(name)[0])
        for src in g.predecessors(name):
            src_node = g.node(src)
            if isinstance(src_node, nir.Conv2d) and g.info.side.get(src) == "chip":
                gains[src] = gain
                bias = bias + np.asarray(src_node.bias, dtype=np.float64) * gain
            elif gain != 1.0:
                raise LoweringError(f"'{src}' feeds neuron '{name}' directly with input gain {gain}; "
                                    "put a synapse between them")
        g.arrays.setdefault(name, {})["bias"] = bias
    g.info.neuron_form = forms
    g.info.synapse_gain = gains
    return forms
