"""Pass: neuron form -- each chip neuron as a Loihi neuron, target-neutral, in model units.

Reads: the partition (``info.side``), node kinds, ``nir.LIF`` parameters, ``info.dt_s``,
spike conditions, conv biases. Writes: ``info.neuron_form[node]`` for every chip LIF
(``du``, ``dv``, ``vth``, ``input_gain``, ``fires_at_equality``); ``arrays[lif]["bias"]``
(per output channel) -- the biases of the convs that feed only neurons, moved into them;
``arrays[conv]["out_bias"]`` for a conv that also feeds something else (routing, another
synapse, the host), whose output must carry its bias; and ``info.synapse_gain[conv]``: the
factor the conv's weights take (its consumer's input gain).

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

def _uniform(name: str, what: str, values) -> float:
    values = np.asarray(values, dtype=np.float64)
    if not np.all(values == values.flat[0]):
        raise LoweringError(f"neuron '{name}': {what} varies across neurons; a Loihi layer takes one value")
    return float(values.flat[0])


def _absorbs(g: DeployGraph, conv: str) -> bool:
    """A chip conv's bias can move into its consumers when every one is a chip neuron."""
    return all(g.kind(d) == "lif" and g.info.side.get(d) == "chip" for d in g.successors(conv))


def neuron_form(g: DeployGraph) -> dict[str, dict[str, float]]:
    """Write the neuron form of every chip neuron (see module docstring); return it."""
    dt = g.info.dt_s
    forms: dict[str, dict[str, float]] = {}
    gains: dict[str, float] = {}
    for name in g.order:
        if g.kind(name) == "conv" and g.info.side.get(name) == "chip" and not _absorbs(g, name):
            # it feeds routing, another synapse or the host: its output carries its bias
            # (on Loihi 2 a graded pass-through neuron with that bias)
            g.arrays.setdefault(name, {})["out_bias"] = np.asarray(g.node(name).bias, dtype=np.float64)
            gains[name] = 1.0
        if not (g.kind(name) == "lif" and g.info.side.get(name) == "chip"):
            continue
        lif = g.node(name)
        tau = _uniform(name, "tau", lif.tau)
        if not np.all(np.asarray(lif.v_leak) == 0) or not np.all(np.asarray(lif.v_reset) == 0):
            raise LoweringError(f"neuron '{name}': v_leak and v_reset must be 0 for a Loihi neuron")
        gain = dt * _uniform(name, "r", lif.r) / tau
        forms[name] = {"du": 1.0, "dv": dt / tau, "vth": _uniform(name, "v_threshold", lif.v_threshold),
                       "input_gain": gain, "fires_at_equality": g.info.spike_condition.get(name, ">") == ">="}
        bias = np.zeros(g.shape(name)[0])
        for src in g.predecessors(name):
            if isinstance(g.node(src), nir.Conv2d) and g.info.side.get(src) == "chip" and _absorbs(g, src):
                gains[src] = gain
                bias = bias + np.asarray(g.node(src).bias, dtype=np.float64) * gain
            elif gain != 1.0:
                raise LoweringError(f"'{src}' feeds neuron '{name}' with input gain {gain} and no synapse of its "
                                    "own to fold it into; put a synapse between them")
        g.arrays.setdefault(name, {})["bias"] = bias
    g.info.neuron_form = forms
    g.info.synapse_gain = gains
    return forms
