"""The integers of a graph read from a lava-dl netx file: taken from the file, not computed.

A netx file (:mod:`neurodeploy.ir.netxread`) holds the Loihi integers netx runs; this module
writes them in the form :func:`neurodeploy.quantize.ptq.quantize_sequence` gives a ``.nir``
file's graph (``info.quant`` entries and ``weight_mant`` arrays, NIR layout), so the emulator and
``lava-fixed`` run a netx bundle with no other change. Units: every scale is 1 -- one input LSB
is one float-equivalent unit (the float graph's weights are the file's integers), ``v`` counts
1/64 of it (Lava's ``a_in << 6``).

- the input: integers as they are (scale 1): binary spikes, or a sigma-delta network's graded payloads;
- a sigma-delta neuron: ``vth_mant = vThMant``, ``spike_exp = state_exp = 6`` (netx's; Lava's ``SigmaDelta``
  compares with ``vThMant << 12`` and sends ``sigma >> 6``);
- ``dense``: the file's weights ``w``, written as ``weight_mant = w >> e`` with ``weight_exp = e``,
  the smallest ``e >= 0`` that divides every weight and brings them into [-128, 127] (SLAYER
  writes even weights in [-256, 254]: e = 1). The product is ``w`` exactly, as netx's
  ``optimize_weight_bits`` (``w << s``, ``weight_exp = -s``) also gives it;
- ``conv``: the file's weights as they are (Lava's Conv has no exponent and, like netx, takes
  them unscaled);
- a synaptic delay (a dense layer's ``delay``, read as Linear -> Delay per delay value): the synapse's
  integer sums, d steps later;
- a CUBA neuron: ``du = iDecay - 1`` (Lava adds 1), ``dv = vDecay``, ``vth_mant = vThMant``,
  Lava's own LIF (``v > vth_mant << 6``, reset to 0), ``bias_mant`` = the file's bias per neuron with
  ``bias_exp = 6``, no constant input -- what ``netx.hdf5.Network.get_neuron_params`` builds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurodeploy.ir.graph import DeployGraph
from neurodeploy.ir.netxread import netx_layer
from neurodeploy.ir.primitives import NIR_NEURON_KINDS
from neurodeploy.limits import LOIHI2
from neurodeploy.passes import synapse_form as sf
from neurodeploy.quantize.ptq import A_IN_MAX, QuantizationError, _abs_row_sums, _processes, record_integers


GRADED_LIM = (1 << 23) - 1  # a graded payload: Lava's messages carry 24-bit signed values


def _weight_exponent(name: str, w: np.ndarray) -> int:
    """Smallest ``e`` with every ``w / 2**e`` an integer in [-128, 127] (see module docstring)."""
    for e in range(0, 8):
        if np.all(w % (1 << e) == 0) and np.all((w >> e) <= 127) and np.all((w >> e) >= -128):
            return e
    raise QuantizationError(f"synapse '{name}': weights up to {int(np.abs(w).max())} are not an 8-bit mantissa times a "
                            "power of two; Loihi's Dense cannot hold them (netx would clip them to [-256, 254])")


def netx_integers(g: DeployGraph) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, np.ndarray]]]:
    """``(quant, ints)`` of an annotated DeployGraph read from a netx file (module docstring), in
    :func:`~neurodeploy.quantize.ptq.quantize_sequence`'s form; also written to ``info.quant`` and
    ``arrays``.

    Raises:
        QuantizationError: one line naming a node whose file integers Lava cannot hold.
    """
    quant: dict[str, dict[str, Any]] = {}
    ints: dict[str, dict[str, np.ndarray]] = {}
    for name in _processes(g):
        kind = g.kind(name)
        if kind == "input":
            # binary spikes, or a sigma-delta network's graded payloads (integers, up to Lava's 24-bit messages)
            quant[name] = {"kind": "source", "mode": "integers", "scale": 1.0, "lim": GRADED_LIM}
        elif kind == "delay":  # a synaptic delay (netx's DelayDense): the synapse's sums, later
            src = quant[sf.input_port(g, name)]
            quant[name] = {"kind": "delay", "source": sf.input_port(g, name), "scale": src["scale"], "lim": src["lim"]}
        elif kind == "sigma_delta":
            facts = netx_layer(g.node(name)) or {}
            if "vThMant" not in facts:
                raise QuantizationError(f"neuron '{name}' carries no netx integers; read the network from its netx file")
            quant[name] = {"kind": "sigma_delta", "spiking": True, "graded": True, "in_scale": 1.0, "scale": 1.0,
                           "lim": GRADED_LIM, "vth_mant": int(facts["vThMant"]), "spike_exp": int(facts["spikeExp"]),
                           "state_exp": int(facts["stateExp"]), "message_bits": int(facts["messageBits"]),
                           "source": "netx file"}
        elif kind in NIR_NEURON_KINDS:
            facts = netx_layer(g.node(name)) or {}
            if not all(k in facts for k in ("iDecay", "vDecay", "vThMant")):
                raise QuantizationError(f"neuron '{name}' carries no netx integers; read the network from its netx file")
            # every synapse into it at once (a delayed dense layer's synapses sum at the neuron)
            bound = sum(quant[sf.port(g, p)]["lim"] for p in g.forward_predecessors(name) if sf.port(g, p) in quant)
            spiking = bool(facts.get("spiking", True))  # a state layer (vThMant beyond 17 bits) never fires
            quant[name] = {"kind": "lif", "spiking": spiking, "in_scale": 1.0, "scale": 1.0, "lim": 1,
                           "model": "LIFReset", "du": int(facts["iDecay"]) - 1, "dv": int(facts["vDecay"]),
                           "vth_mant": int(facts["vThMant"]), "spike": ">", "reset": "zero", "reset_delay": 0,
                           "a_in_bound": int(bound), "v_lsb": 1.0 / (1 << LOIHI2.state_shift_bits),
                           "vth_rel_error": 0.0, "const_max_error": 0.0, "source": "netx file"}
            v_bias = np.asarray(g.arrays.get(name, {}).get("v_bias", 0.0), dtype=np.float64)
            if np.any(v_bias != 0):
                # netx: bias_mant = the file's integers, bias_exp = 6 (v counts 1/64 input LSB): v_bias input LSBs
                mant = np.round(v_bias).astype(np.int64)
                if np.any(np.abs(v_bias - mant) > 1e-6 * np.maximum(1.0, np.abs(v_bias))):
                    raise QuantizationError(f"neuron '{name}': its bias is not the file's integers")
                ints[name] = {"bias_mant": np.broadcast_to(mant, g.shape(name)).copy()}
                quant[name].update(bias_exp=6, bias_per_neuron=True)
        elif sf.is_synapse(g, name):
            # the file's integers as the graph holds them (arrays["weight"] has a sigma-delta neuron's 2**-6 folded in)
            w = np.asarray(g.node(name).weight, dtype=np.float64)
            if np.any(w != np.round(w)):
                raise QuantizationError(f"synapse '{name}': its weights are not the file's integers")
            w = w.astype(np.int64)
            dense = isinstance(g.node(name), sf.DENSE)
            e = _weight_exponent(name, w) if dense else 0
            mant = w >> e
            # the largest |sum| one step's binary spikes can give (Lava's a_in is declared int16: A_IN_MAX)
            bound = int(_abs_row_sums(dense, w).max(initial=0))
            ints[name] = {"weight_mant": mant}
            quant[name] = {"kind": "dense" if dense else "conv", "in_scale": 1.0, "weight_scale": float(1 << e),
                           "scale": 1.0, "lim": bound, "weight_exp": e, "weight_rms_error": 0.0,
                           "weight_max_error": 0.0, "weight_zeroed": 0, "source": "netx file",
                           "a_in_int16": bool(bound <= A_IN_MAX)}
        else:
            raise QuantizationError(f"node '{name}' ({kind}) is not a process a netx file holds")
    return record_integers(g, quant, ints)


__all__ = ["netx_integers"]
