"""Pass: neuron form -- each chip neuron as a Loihi neuron, target-neutral, in model units.

Reads: the partition (``info.side``), node kinds, ``nir.LIF`` parameters, ``info.dt_s``,
spike conditions, conv biases. Writes: ``info.neuron_form[node]`` for every chip LIF
(``du``, ``dv``, ``vth``, ``input_gain``, ``fires_at_equality``, and ``vth_float``: the threshold
Lava float's strict ``v > vth`` needs for the model's spike condition); ``arrays[lif]["bias"]``
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
spike condition stays as the model's (``>=`` for the papers) beside the float threshold that
makes Lava float's ``>`` compute it (``vth`` one ulp lower); fixed point takes one LSB lower.

Loihi holds ``du``, ``dv`` and ``vth`` once per layer (LOIHI2 limits): a layer whose
neurons differ in them, or whose ``v_leak``/``v_reset`` are not 0, is refused by name.
"""

from __future__ import annotations

from typing import Any

import nir
import numpy as np

from neurodeploy.errors import LoweringError
from neurodeploy.ir import primitives as pr
from neurodeploy.ir import rules as nr
from neurodeploy.ir.graph import DeployGraph


def uniform(name: str, what: str, values) -> float:
    """The one value a Loihi layer holds for ``what`` (du, dv, vth ...); refused by name when it varies."""
    values = np.asarray(values, dtype=np.float64)
    if not np.all(values == values.flat[0]):
        raise LoweringError(f"neuron '{name}': {what} varies across neurons; a Loihi layer takes one value")
    return float(values.flat[0])


def _absorbs(g: DeployGraph, conv: str) -> bool:
    """A chip conv's bias can move into its consumers when every one is a chip neuron."""
    return all(g.kind(d) == "lif" and g.info.side.get(d) == "chip" for d in g.successors(conv))


def neuron_form(g: DeployGraph) -> dict[str, dict[str, float]]:
    """Write the neuron form of every chip neuron (see module docstring); return it."""
    if g.info.takes_sequences:
        return sequence_neuron_form(g)
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
        tau = uniform(name, "tau", lif.tau)
        if not np.all(np.asarray(lif.v_leak) == 0) or not np.all(np.asarray(lif.v_reset) == 0):
            raise LoweringError(f"neuron '{name}': v_leak and v_reset must be 0 for a Loihi neuron")
        gain = dt * uniform(name, "r", lif.r) / tau
        vth = uniform(name, "v_threshold", lif.v_threshold)
        at_equality = g.info.rules(name).spike == ">="
        # Lava float fires on v > vth: the model's v >= vth is v > (vth one float64 ulp lower),
        # exact for float64 v (the fixed-point form takes one LSB instead, quantize/ptq.py)
        forms[name] = {"du": 1.0, "dv": dt / tau, "vth": vth, "input_gain": gain, "fires_at_equality": at_equality,
                       "vth_float": float(np.nextafter(vth, -np.inf)) if at_equality else vth}
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


# ---------------------------------------------------------------- NIR's neurons (a sequence graph)
#
# A graph read from another writer's file holds NIR's neurons with NIR's semantics
# (neurodeploy.ir.primitives) and the writer's rules (GraphInfo.rules). Each becomes Lava's
# LIF (u = u (1 - du) + a_in; v = v (1 - dv) + u + bias) in the state v' = v - v_reset, with a
# gain g folded into the incoming synapses' weights and a constant input c, by this table
# (targets/loihi/lower.py has the lowering's side of it):
#
# ======== ========== =========== ======================== =================================
# NIR      du         dv          g (on the weights)       vth; constant input c
# ======== ========== =========== ======================== =================================
# LIF      1          dt/tau      dt r / tau               v_th - v_reset; dv (v_leak - v_reset)
# IF       1          0           dt r                     v_th - v_reset; 0
# I        1          0           dt r                     +inf (never fires; state read); 0
# LI       1          dt/tau      dt r / tau               +inf; dv v_leak
# CubaLIF  dt/tau_syn dt/tau_mem  (dt r/tau_mem)           v_th - v_reset; a bias on v (Lava's LIF
#                                 (dt w_in/tau_syn)        bias) dv (v_leak - v_reset): arrays["v_bias"]
# CubaLI   dt/tau_syn dt/tau_mem  as CubaLIF               +inf; bias dv v_leak
# Threshold 1         1           1                        threshold; 0
# ======== ========== =========== ======================== =================================

def nir_neuron_form(name: str, node: nir.NIRNode, shape: tuple[int, ...], dt: float,
                rules: nr.NeuronRules = nr.NIR_RULES) -> dict[str, Any]:
    """``du, dv, vth, gain`` (scalars or per-neuron gain), the constant input ``c`` and the
    writer's ``rules`` (``GraphInfo.rules``; see module doc)."""
    form = _nir_neuron(name, node, shape, dt)
    form["rules"] = rules
    return form


def _nir_neuron(name: str, node: nir.NIRNode, shape: tuple[int, ...], dt: float) -> dict[str, Any]:
    if isinstance(node, nir.LIF):
        node = nir.LIF(**{k: np.asarray(getattr(node, k), dtype=np.float64)
                          for k in ("tau", "r", "v_leak", "v_threshold", "v_reset")})
        p = {k: np.broadcast_to(getattr(node, k), shape) for k in ("tau", "r", "v_leak", "v_threshold", "v_reset")}
    else:
        p = pr.neuron_params(name, node, shape, dt)
    inf = float("inf")
    if isinstance(node, nir.Threshold):
        return {"du": 1.0, "dv": 1.0, "vth": uniform(name, "threshold", p["threshold"]), "gain": np.ones(shape),
                "c": np.zeros(shape), "spiking": True}
    if isinstance(node, (nir.I, nir.IF)):
        spiking = isinstance(node, nir.IF)
        vth = uniform(name, "v_threshold - v_reset", p["v_threshold"] - p["v_reset"]) if spiking else inf
        return {"du": 1.0, "dv": 0.0, "vth": vth, "gain": dt * p["r"], "c": np.zeros(shape), "spiking": spiking}
    if isinstance(node, (nir.LI, nir.LIF)):
        spiking = isinstance(node, nir.LIF)
        dv = uniform(name, "tau", dt / p["tau"])
        v_reset = p["v_reset"] if spiking else 0.0
        vth = uniform(name, "v_threshold - v_reset", p["v_threshold"] - v_reset) if spiking else inf
        return {"du": 1.0, "dv": dv, "vth": vth, "gain": dt * p["r"] / p["tau"], "c": dv * (p["v_leak"] - v_reset),
                "spiking": spiking}
    spiking = isinstance(node, nir.CubaLIF)
    v_reset = p["v_reset"] if spiking else np.zeros(shape)
    du, dv = uniform(name, "tau_syn", dt / p["tau_syn"]), uniform(name, "tau_mem", dt / p["tau_mem"])
    vth = uniform(name, "v_threshold - v_reset", p["v_threshold"] - v_reset) if spiking else inf
    # a leak target other than the reset is a constant on v, not on the current: Lava's LIF bias (v += bias
    # each step), dv (v_leak - v_reset) in the shifted state
    return {"du": du, "dv": dv, "vth": vth, "gain": dt * p["r"] / p["tau_mem"] * du * p["w_in"],
            "c": np.zeros(shape), "spiking": spiking, "v_bias": dv * (p["v_leak"] - v_reset)}


def sequence_neuron_form(g: DeployGraph) -> dict[str, dict[str, Any]]:
    """The neuron form of every NIR neuron of a sequence graph (table above), in the file's units.

    Writes ``info.neuron_form[node]`` -- ``du``, ``dv``, ``vth`` (one value per layer; ``inf``
    for a neuron that never fires), ``spiking``, ``fires_at_equality`` -- and the per-neuron
    arrays ``arrays[node]["gain"]`` (the factor its synapses' weights take),
    ``arrays[node]["const"]`` (its constant input ``c``, NIR layout; the synapse form pass adds
    the synapses' biases) and ``arrays[node]["v_reset"]`` (what Lava's shifted state ``v - v_reset``
    lacks of the membrane, model units; 0 for neurons without a reset).

    Raises:
        LoweringError: one line naming a neuron Loihi cannot hold (a parameter varying across
            the layer, a CubaLIF whose leak target is not its reset).
    """
    forms: dict[str, dict[str, Any]] = {}
    for name in g.order:
        if g.kind(name) == "sigma_delta":
            # the sigma-delta neuron (ir.nodes.SigmaDelta) takes its input / 2**state_exp: that is its synapses' gain
            node, shape = g.node(name), g.shape(name)
            g.arrays.setdefault(name, {}).update(gain=np.full(shape, 2.0 ** -int(node.state_exp)),
                                                 const=np.zeros(shape), v_reset=np.zeros(shape))
            forms[name] = {"du": 1.0, "dv": 0.0, "vth": float(node.vth), "spiking": True, "fires_at_equality": True,
                           "graded": True, "state_exp": int(node.state_exp)}
            continue
        if g.kind(name) not in pr.NIR_NEURON_KINDS:
            continue
        form = nir_neuron_form(name, g.node(name), g.shape(name), g.info.dt_s, g.info.rules(name))
        node = g.node(name)
        # Lava's state is v - v_reset: what a membrane read from Lava adds back (model units)
        raw = getattr(node, "v_reset", None) if isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF)) else None
        v_reset = np.broadcast_to(np.asarray(0.0 if raw is None else raw, dtype=np.float64), g.shape(name)).copy()
        g.arrays.setdefault(name, {}).update(gain=np.asarray(form["gain"], dtype=np.float64),
                                             const=np.asarray(form["c"], dtype=np.float64), v_reset=v_reset,
                                             v_bias=np.broadcast_to(np.asarray(form.get("v_bias", 0.0), dtype=np.float64),
                                                                    g.shape(name)).copy())
        forms[name] = {"du": form["du"], "dv": form["dv"], "vth": form["vth"], "spiking": form["spiking"],
                       "fires_at_equality": form["rules"].spike == ">="}
    g.info.neuron_form = forms
    return forms
