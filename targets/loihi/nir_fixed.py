"""A graph from any NIR writer in Loihi 2 integers: the quantizer of a sequence graph's lowering (pure data, no lava).

:func:`quantize_network` takes the float :class:`~.lower.LoweredNetwork` of a sequence graph
(same processes, edges, latencies and delay lines: the timing does not depend on the number
format; :func:`~.fixed.lower_fixed` puts the integers into it for the Lava run) and gives every
process integers, with the formats and rounding of the model bundles' PTQ
(:mod:`neurodeploy.quantize.ptq`: 8-bit weight mantissas, ``du_mant``/``dv_mant``/``vth_mant``)
and of Lava 0.10's ``fixed_pt`` models (:mod:`neurodeploy.limits`). A foreign graph has no
calibration images; its scales come from the weights and thresholds, and only the input's
scale from data (the calibration input: ``--calib FILE.npy``, else validate's default,
seeded random spikes at 10 %).

**Integers on every link** (``scale`` = model units per LSB of a process's output):

- *source*: spikes (every non-zero calibration value has one magnitude ``A``) are payloads
  0/±1 with scale ``A`` (``round_half_even(x / A)`` clipped to ±1); integer-valued input
  keeps scale 1, clipped to twice its calibrated peak; real values become
  :data:`INPUT_BITS`-bit signed payloads covering twice the peak (:data:`~neurodeploy.quantize.ptq.ACT_HEADROOM`);
- *spikes* of a neuron: payload 0/1, scale 1; a *delay line* passes payloads unchanged;
- *synapse feeding a neuron* (Dense/Conv/pooling, gains and Scale folded as in the float
  map): mantissas ``round_half_even(W · s_in / a_scale)`` in ``[-127, 127]`` where
  ``a_scale`` is the neuron's input scale, shared by all its synapses (Lava's InPort sums
  them): the largest ``max|W| · s_in / 127`` of them, raised so that ``vth`` fits 17 bits, so
  that the threshold is a whole number of input LSBs (``vth / a_scale`` an integer, as PTQ
  does for the derainers' convs), and so that the worst-case ``|a_in|`` (every input at its
  payload limit with the sign of its weight, plus the constant input) fits Lava's ``int16``
  ``a_in`` port (``lava/proc/lif/models.py:78``) -- no value can wrap there. Where that
  raises ``a_scale`` above a Dense's own ``max|W| · s_in / 127`` by ``2**k`` or more, the Dense
  keeps its 8 bits with the layer's shared exponent ``weight_exp = -k``: mantissas
  ``round_half_even(W · s_in · 2**k / a_scale)``, sums shifted right by ``k`` (rounding down,
  Lava's Dense); a Conv has no exponent in Lava (lava-nc#803), and a synapse whose every
  weight rounds to 0 is refused;
- *synapse feeding a synapse* (pooling before a Linear, ...): its own scale, ``max|W| / 127``
  (``|W|`` itself when all non-zero weights are equal: SumPool/AvgPool get mantissa 1, exact);
  its sums are the next synapse's graded payload (worst case < 2**23: Lava's conv
  accumulator and graded payload);
- *neuron*: ``du = du_mant(du)``, ``dv = dv_mant(dv)`` (12 bits, 4096 = 1.0; Lava's ``ds_offset``
  makes ``du = 1.0`` 4095), ``vth_mant = vth_mant(vth, a_scale, fires_at_equality=False)``
  (NIR and Lava both fire on ``>``; a writer's ``>=`` on an IF: ``ceil(vth / a_scale) - 1``,
  :func:`on_lavas_lif`), ``2**17`` for I/LI/CubaLI (``2**23`` after the shift: above
  every 24-bit ``v``, never fires); the float map's constant input ``c`` (bias and leak
  target) becomes ``const_mant = round_half_even(c / a_scale)`` on ``a_in`` (``int16``),
  from the layer's first logical step, as in the float map. ``v`` counts ``a_scale / 64``
  model units per LSB (what a non-spiking layer's Trace reports). Not Lava's ``bias_mant <<
  bias_exp``: that integrates at every Lava step, also in the steps between streamed
  samples, where a neuron it drives could fire into a delay line and so into the next
  sample's window; the constant input is there on the sample's T steps only.

Lava's Dense drops the LSB of mixed-sign 8-bit weights (``weightutils.py:236-239``), so the
Dense process gets ``2 · weight_mant`` and ``weight_exp - 1`` (``(2 S) >> (k + 1) = S >> k``:
the same rounding); Conv gets the mantissas.

Refused, one line naming the node (:class:`~neurodeploy.quantize.ptq.QuantizationError`): a
threshold that is not > 0, a worst-case sum beyond Lava's formats, a synapse whose every
weight rounds to 0; any neuron parameter the float map may carry beyond du, dv, vth, the
constant input and the writer's rules.

**A writer's neuron rules** (:mod:`neurodeploy.ir.rules`: ``>=``, subtractive reset, a reset one
step late) run on Lava's own LIF where that is exact (:func:`on_lavas_lif`), else on the project's
``RuleLIF`` with its fixed_pt model: the same integer LIF arithmetic, ``v >= vth_mant << 6``
where the writer fires at equality (``vth_mant = round(vth / a_scale)``, the threshold already a
whole number of input LSBs), a subtractive reset of ``vth_mant << 6`` (saturating), a pending
reset applied after the next step's update.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neurodeploy.limits import LOIHI2
from neurodeploy.quantize.ptq import (ACT_BITS, ACT_HEADROOM, WEIGHT_MAX, QuantizationError, du_mant, dv_mant,
                                      vth_mant)
from neurodeploy.targets.loihi.fixed import apply_conversion
from neurodeploy.ir.rules import NIR_RULES, NeuronRules
from neurodeploy.targets.loihi.lower import LavaNode, LoweredNetwork

INPUT_BITS = 8  # real-valued input: 8-bit signed payloads (keeps the first synapse's sums small)
A_IN_MAX = int(LOIHI2.a_in.hi)  # Lava's LIF a_in port is int16 (limits.py, the one place it is read)
GRADED_MAX = (1 << (LOIHI2.graded_payload_bits - 1)) - 1  # a synapse's sums fed on as a graded payload
DENSE_ACC_MAX = (1 << 31) - 1  # Lava's Dense sums in int32 (dense/models.py:64, never clamped)
MAX_SHIFT = 23  # a Dense's sums shifted right by more would drop every 24-bit value
NEVER_FIRES = 1 << LOIHI2.vth_mant_bits  # vth << 6 = 2**23 > every saturated v
# the neuron parameters the fixed mapping reads (and the layer's facts beside them)
NEURON_RULES = ("du", "dv", "vth", "const", "rules", "spiking", "nir_shape", "bias")
SYNAPSE_KINDS = ("dense", "conv")
QUANT_KIND = {"input": "source"}  # a process kind -> its quant entry's kind (the bundle's name for it)


def _feeds(m: LoweredNetwork, name: str) -> str:
    """The process a synapse's output ends in (through NIR Delay lines)."""
    dst = next(e.dst for e in m.edges if e.src == name)
    return _feeds(m, dst) if m.nodes[dst].kind == "delay" else dst


def _synapse_of(m: LoweredNetwork, name: str) -> str:
    """The synapse behind an edge's source (through NIR Delay lines)."""
    if m.nodes[name].kind == "delay":
        return _synapse_of(m, next(e.src for e in m.edges if e.dst == name))
    return name


def _weights(node: LavaNode) -> np.ndarray:
    """A synapse's float weights in Lava's layout, gains and Scale folded (the lowering's)."""
    return np.asarray(node.params["weight"], dtype=np.float64)


def _input_form(name: str, x: np.ndarray) -> dict[str, Any]:
    """The source's payload: scale (model units per LSB), limit, mode (see module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    mags = np.unique(np.abs(x[x != 0]))
    peak = float(mags[-1]) if mags.size else 1.0
    if mags.size <= 1:
        return {"kind": "source", "mode": "spikes", "scale": peak, "lim": 1}
    if np.all(x == np.round(x)):
        return {"kind": "source", "mode": "integers", "scale": 1.0,
                "lim": int(min(math.ceil(ACT_HEADROOM * peak), (1 << (ACT_BITS - 1)) - 1))}
    lim = (1 << (INPUT_BITS - 1)) - 1
    return {"kind": "source", "mode": "values", "scale": ACT_HEADROOM * peak / lim, "lim": lim}


def _abs_row_sums(proc: LavaNode, mant: np.ndarray) -> np.ndarray:
    """Per output neuron (dense) or channel (conv), the sum of |mantissa| over its inputs."""
    a = np.abs(mant)
    return a.sum(axis=1) if proc.kind == "dense" else a.reshape(a.shape[0], -1).sum(axis=1)


def _mantissas(name: str, w: np.ndarray, ratio: float) -> np.ndarray:
    mant = np.round(w * ratio)
    if np.any(np.abs(mant) > WEIGHT_MAX):  # only a rounding at the edge: 127.5 -> 128
        mant = np.clip(mant, -WEIGHT_MAX, WEIGHT_MAX)
    return mant.astype(np.int64)


def _weight_report(w: np.ndarray, mant: np.ndarray, step: float) -> dict[str, float]:
    err = mant * step - w
    return {"weight_rms_error": float(np.sqrt(np.mean(err ** 2))) if w.size else 0.0,
            "weight_max_error": float(np.max(np.abs(err))) if w.size else 0.0,
            "weight_zeroed": int(np.sum((mant == 0) & (w != 0)))}


def _default(value: Any) -> bool:
    """A parameter left at the float map's default (absent, off, zero, reset to zero)."""
    if isinstance(value, str):
        return value == "zero"
    return value is None or (np.ndim(value) == 0 and not bool(value))


def on_lavas_lif(rules: NeuronRules, du: int, dv: int) -> bool:
    """Whether Lava's own LIF (``v > vth_mant << 6``, reset to 0 at once) runs these rules exactly:
    NIR's; and a writer's ``>=`` with an immediate reset to 0 where ``v`` stays on multiples of 64
    -- no decay of ``u`` (``du`` 4095) or ``v`` (``dv`` 0): an IF, e.g. sinabs' IAF --, as ``v >=
    64 k`` is then ``v > 64 (k - 1)``. Other rules run on the project's fixed_pt ``RuleLIF``."""
    if rules.is_nir:
        return True
    return rules.spike == ">=" and rules.reset == "zero" and not rules.reset_delay and du == LOIHI2.du.hi and dv == 0


def vth_mant_at_equality(vth: float, a_scale: float) -> int:
    """``vth_mant`` for ``v >= vth`` on ``v``'s grid of 64 (see :func:`on_lavas_lif`): the
    smallest grid point at or above ``T = vth / a_scale`` input LSBs fires, ``v > 64 (ceil(T) - 1)``."""
    t = vth / a_scale
    k = round(t) if math.isclose(t, round(t), rel_tol=1e-12) else math.ceil(t)
    return int(np.clip(k - 1, 0, LOIHI2.vth_mant.hi))


def _check_rules(name: str, proc: LavaNode) -> None:
    extra = sorted(k for k, v in proc.params.items() if k not in NEURON_RULES and not _default(v))
    if extra:
        value = proc.params[extra[0]]
        value = value.describe() if hasattr(value, "describe") else repr(value)
        raise QuantizationError(f"neuron '{name}': its rule '{extra[0]}' = {value} has no fixed_pt "
                                "form yet; lava-fixed maps reset to v_reset on v > v_th only (use lava-float)")


def quantize_network(m: LoweredNetwork, calib: np.ndarray
                     ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, np.ndarray]]]:
    """Integers for every process of ``m``; ``calib``: ``(T, N, *input_shape)`` values (only the input's
    scale reads it).

    Returns ``(quant, arrays)``: per process a JSON-able entry (``kind``, ``scale``, formats,
    errors; the manifest's per-layer summary) and its integer arrays (``weight_mant`` in Lava's
    layout, ``const_mant`` in Lava's layout; ``params.npz`` as ``PROC/NAME``).

    Raises:
        QuantizationError: one line naming the node that cannot fit.
    """
    quant: dict[str, dict[str, Any]] = {}
    arrays: dict[str, dict[str, np.ndarray]] = {}
    src_of = {e.dst: e.src for e in m.edges if m.nodes[e.dst].kind != "lif"}
    for name, proc in m.nodes.items():
        if proc.kind == "input":
            quant[name] = _input_form(name, calib)
        elif proc.kind == "delay":
            quant[name] = {"kind": "delay", "source": src_of[name]}
        elif proc.kind in SYNAPSE_KINDS and m.nodes[_feeds(m, name)].kind in SYNAPSE_KINDS:
            _chain_synapse(m, name, quant, arrays, src_of[name])
        elif proc.kind == "lif":
            _check_rules(name, proc)
            _neuron(m, name, quant, arrays, src_of)
    for name, q in quant.items():  # delay lines carry their source's payload
        if q["kind"] == "delay":
            src = _synapse_of(m, name)
            q.update(scale=quant[src]["scale"], lim=quant[src]["lim"])
    return quant, arrays


def _in_form(quant: dict, m: LoweredNetwork, src: str) -> tuple[float, int]:
    """(scale, payload limit) of what ``src`` sends (through delay lines)."""
    q = quant[_synapse_of(m, src)] if m.nodes[src].kind == "delay" else quant[src]
    return float(q["scale"]), int(q["lim"])


def _chain_synapse(m: LoweredNetwork, name: str, quant: dict, arrays: dict, src: str) -> None:
    proc = m.nodes[name]
    s_in, lim_in = _in_form(quant, m, src)
    w = _weights(proc)
    mags = np.unique(np.abs(w[w != 0]))
    w_scale = float(mags[0]) if mags.size == 1 else (float(mags[-1]) / WEIGHT_MAX if mags.size else 1.0)
    mant = _mantissas(name, w, 1.0 / w_scale)
    bound = int(_abs_row_sums(proc, mant).max(initial=0)) * lim_in
    if bound > GRADED_MAX:
        raise QuantizationError(f"synapse '{name}': its sums may reach {bound}, beyond the 24-bit graded payload the "
                                "next synapse takes; put a neuron between the two synapses")
    arrays[name] = {"weight_mant": mant}
    quant[name] = {"kind": proc.kind, "in_scale": s_in, "weight_scale": w_scale, "scale": w_scale * s_in,
                   "lim": bound, "weight_exp": 0, **_weight_report(w, mant, w_scale)}


def _dense_shift(proc: LavaNode, own_scale: float, a_scale: float) -> int:
    """Right shift ``k`` of a Dense's sums (``weight_exp = -k``) that keeps its 8-bit mantissas when the
    neuron's input LSB ``a_scale`` is coarser than the weights' own scale ``own_scale`` (a threshold far
    above the weights); 0 for Conv (Lava's Conv ignores ``weight_exp``, lava-nc#803)."""
    if proc.kind != "dense" or own_scale <= 0 or a_scale <= own_scale:
        return 0
    return min(int(math.floor(math.log2(a_scale / own_scale))), MAX_SHIFT)


def _neuron(m: LoweredNetwork, name: str, quant: dict, arrays: dict, src_of: dict) -> None:
    p = m.nodes[name].params
    syns = [_synapse_of(m, e.src) for e in m.edges if e.dst == name]
    weights = {s: _weights(m.nodes[s]) for s in syns}
    ins = {s: _in_form(quant, m, src_of[s]) for s in syns}
    a_scale = max([float(np.max(np.abs(weights[s]), initial=0.0)) * ins[s][0] / WEIGHT_MAX for s in syns] + [0.0])
    if a_scale <= 0 or not math.isfinite(a_scale):
        a_scale = 1.0
    vth = float(p["vth"])
    spiking = math.isfinite(vth)
    if spiking and vth <= 0:
        raise QuantizationError(f"neuron '{name}': threshold v_th - v_reset = {vth:g} is not > 0; Loihi's vth is "
                                "unsigned")
    const = np.asarray(p["const"], dtype=np.float64)
    own = {s: float(np.max(np.abs(weights[s]), initial=0.0)) * ins[s][0] / WEIGHT_MAX for s in syns}
    for _ in range(64):
        if spiking:
            a_scale = max(a_scale, vth / LOIHI2.vth_mant.hi)
            if vth >= a_scale:  # the threshold a whole number of input LSBs: exact in v's units
                a_scale = vth / math.floor(vth / a_scale)
        shift = {s: _dense_shift(m.nodes[s], own[s], a_scale) for s in syns}
        mants = {s: _mantissas(s, weights[s], ins[s][0] * 2.0 ** shift[s] / a_scale) for s in syns}
        const_mant = np.round(const / a_scale).astype(np.int64)
        sums = {s: int(_abs_row_sums(m.nodes[s], mants[s]).max(initial=0)) * ins[s][1] for s in syns}
        bound = int(sum(-(-sums[s] >> shift[s]) for s in syns) + np.max(np.abs(const_mant), initial=0))
        if bound <= A_IN_MAX:
            break
        a_scale *= bound / A_IN_MAX * (1 + 1e-12)
    else:  # pragma: no cover - each pass scales the bound down by about bound / A_IN_MAX
        raise QuantizationError(f"neuron '{name}': its input cannot fit Lava's 16-bit a_in")
    for s in syns:
        if np.any(weights[s] != 0) and not np.any(mants[s]):
            raise QuantizationError(f"synapse '{s}': every weight rounds to 0 at neuron '{name}''s input LSB "
                                    f"{a_scale:.3g} (its largest |weight| {own[s] * WEIGHT_MAX / ins[s][0]:.3g}; the "
                                    "threshold or the other inputs set that LSB); Lava's Conv has no weight exponent")
        if 2 * sums[s] > DENSE_ACC_MAX:
            raise QuantizationError(f"synapse '{s}': its sums may reach {2 * sums[s]}, beyond Lava's 32-bit Dense "
                                    "accumulator")
        step = a_scale / ins[s][0] / 2.0 ** shift[s]
        arrays[s] = {"weight_mant": mants[s]}
        quant[s] = {"kind": m.nodes[s].kind, "in_scale": ins[s][0], "weight_scale": step, "scale": a_scale,
                    "lim": bound, "weight_exp": -shift[s], **_weight_report(weights[s], mants[s], step)}
    du, dv = du_mant(float(p["du"])), dv_mant(float(p["dv"]))
    rules = p.get("rules", NIR_RULES) if spiking else NIR_RULES
    lavas = on_lavas_lif(rules, du, dv)
    at_equality = rules.spike == ">="
    if not spiking:
        vth_int, offset = NEVER_FIRES, 0
    elif lavas and at_equality:  # Lava's v > 64 (k - 1) is v >= 64 k on v's grid
        vth_int, offset = vth_mant_at_equality(vth, a_scale), 1
    elif at_equality:  # RuleLIF compares v >= vth << 6 itself
        vth_int, offset = int(np.clip(round(vth / a_scale), 0, LOIHI2.vth_mant.hi)), 0
    else:
        vth_int, offset = vth_mant(vth, a_scale, fires_at_equality=False), 0
    entry: dict[str, Any] = {"kind": "lif", "spiking": spiking, "in_scale": a_scale, "scale": 1.0, "lim": 1,
                             "model": "LIFReset" if lavas else "RuleLIF", "du": du, "dv": dv, "vth_mant": vth_int,
                             "spike": rules.spike, "reset": rules.reset, "reset_delay": rules.reset_delay,
                             "a_in_bound": bound, "v_lsb": a_scale / (1 << LOIHI2.state_shift_bits)}
    if spiking:  # the threshold in the float model's units that the integer one implements
        entry["vth_rel_error"] = (vth_int + offset) * a_scale / vth - 1.0
    entry["const_max_error"] = float(np.max(np.abs(const_mant * a_scale - const), initial=0.0))
    quant[name] = entry
    if np.any(const_mant != 0):
        arrays[name] = {"const_mant": const_mant}


def params_arrays(arrays: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``params.npz``'s flat form: ``PROC/NAME`` -> int64 array."""
    return {f"{proc}/{key}": np.asarray(a, dtype=np.int64) for proc, d in arrays.items() for key, a in d.items()}


def check_params(m: LoweredNetwork, quant: dict, arrays: dict[str, dict[str, np.ndarray]], what: str) -> None:
    """Raise QuantizationError (one line) when ``quant``/``arrays`` do not match the network ``m``.

    An older bundle's entries for balancing delay lines (``balance:SRC->DST``, now delays on edges)
    are ignored."""
    for name, proc in m.nodes.items():
        q = quant.get(name)
        if q is None or q.get("kind") != QUANT_KIND.get(proc.kind, proc.kind):
            raise QuantizationError(f"{what}: process '{name}' ({proc.kind}) has no integer parameters; re-export with "
                                    "--quantize int")
        if proc.kind in SYNAPSE_KINDS:
            want = _weights(proc).shape
            got = arrays.get(name, {}).get("weight_mant")
            if got is None or got.shape != want:
                raise QuantizationError(f"{what}: '{name}/weight_mant' is {None if got is None else list(got.shape)}, "
                                        f"the graph needs {list(want)}; re-export with --quantize int")
        if proc.kind == "lif" and "const_mant" in arrays.get(name, {}) and \
                arrays[name]["const_mant"].shape != tuple(proc.shape):
            raise QuantizationError(f"{what}: '{name}/const_mant' does not have the layer's shape {list(proc.shape)}; "
                                    "re-export with --quantize int")
    extra = sorted(set(arrays) - set(m.nodes))
    if extra:
        raise QuantizationError(f"{what}: '{extra[0]}' is not a process of this graph; re-export with --quantize int")


def quantize_input(x: np.ndarray, q: dict[str, Any]) -> np.ndarray:
    """Input values -> the source's integer payloads: ``clip(round_half_even(x / scale), -lim, lim)``
    (the model bundles' host-to-chip conversion)."""
    return apply_conversion(x, ("quantize", float(q["scale"]), int(q["lim"])))
