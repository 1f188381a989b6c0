"""Pass: post-training quantization (PTQ) of the chip graph to Loihi 2 integers.

Reads: the partition (``info.side``), the neuron form (``info.neuron_form``,
``info.synapse_gain``, ``arrays[lif]["bias"]``), the NIR parameters, and calibration
ranges (:class:`CalibrationRanges`: the largest magnitude each chip node's input and output
and each conv's accumulator reached on calibration images, in model units; the caller runs
the float graph to get them -- :func:`neurodeploy.targets.emulator.calibrate`).
Writes: ``info.quant[node]`` for every chip node and ``arrays[node]`` integer mantissas
(``weight_mant``, ``bias_acc`` for convs, ``bias_mant`` for LIFs). Returns the static part
of the per-layer report (scales, rounding errors); the emulator adds saturation counts and
spike agreement.

**Integers on every chip edge.** Each chip node's output is an integer tensor with a
``scale`` (model units per LSB): spikes 0/1 have scale 1; a conv's accumulator has
``weight_scale * in_scale``; a bilinear ×2 upsample multiplies by 16 (its weights are
multiples of 1/16, so ``16 · interp(x)`` is an integer) and divides the scale by 16; a gain
keeps the integer and multiplies the scale. Where a consumer needs a different scale on an
input (a join of streams, a conv's graded input, a neuron's input), the value crosses a
*rescale* ``x · M >> k`` (``M`` an 8-bit weight mantissa, ``k`` a shift, rounding down as
Lava's Dense does with a negative ``weight_exp``: a relay synapse). Values from the host
are rounded to the consumer's input scale (half to even) and clipped to its payload.

Formats (Lava 0.10 ``fixed_pt``, see :mod:`neurodeploy.limits`):

- Conv weights: 8-bit signed mantissa in ``[-127, 127]``, one scale per layer
  (``max |w · synapse_gain| / 127``). Lava's Conv ignores ``weight_exp`` (lava-nc#803), so
  the scale is folded into what follows (the neuron's threshold, bias and input scale).
- LIF: ``du = 4096 · du_model - 1`` (Lava adds its ``ds_offset`` of 1: ``du = 1.0`` gives
  4095, which clears ``u`` each step), ``dv = 4096 · dv_model``, both 12-bit;
  ``vth_mant`` (17 bits) = the model threshold in ``v`` units (``a_in_scale / 64``) rounded
  so that ``v > vth_mant << 6`` is closest to the model's ``v >= vth``;
  ``bias_mant`` (13 bits, signed) ``<< bias_exp`` (one exponent per layer, 0..7).
- Graded activations on real-valued chip edges: :data:`ACT_BITS`-bit signed payloads
  covering twice the calibrated peak, and for a conv's input also chosen so that its 24-bit
  accumulator keeps a 2× headroom.
- Conv biases: in the neurons (``v`` units, ``bias_mant << bias_exp``) when the conv feeds
  only neurons (the neuron-form pass moved them); else at the accumulator (``bias_acc``,
  accumulator units: on Loihi 2 a graded pass-through neuron with that bias).
- Neuron input: ``a_in`` inside Lava's declared ``int16`` (``LOIHI2.a_in``; ``a_in << 6`` then stays
  inside ``u``'s 24 bits with a 4x margin).

NI-LIF (VLIF-Net's graded neuron, a chip node of its own, :class:`neurodeploy.ir.nodes.NILIF`):

- its input in level units with a power-of-two resolution: ``in_scale = 2**-m`` levels per
  ``a_in`` LSB (the largest ``m`` <= :data:`NILIF_MAX_FRACTION_BITS` that keeps the calibrated
  peak below :data:`A_IN_TARGET`), so one level is ``level_lsbs = 2**(m + 6)`` LSBs of ``v``
  after the ``<< 6`` -- an integer, and the rounding points between levels exact;
- D integer thresholds in ``v`` units, :func:`nilif_thresholds` (``K`` = how many of them
  ``v`` exceeds; ties follow ``torch.round``'s half to even, computed exactly);
- graded spikes with payload = level ``K`` in 0..D (D = 4: 3 message bits), output scale
  ``1/D`` (the model emits ``K / D``);
- a *soft* reset by what was emitted, then the leak: ``h = trunc0((u - K·level_lsbs)·(4096 - dv)/4096)``
  with ``dv = 4096 (1 - beta)`` (0.25 -> 3072, exact) -- the model's ``beta (U - K)``, rounded
  toward zero to one ``v`` LSB (Lava's LIF only resets to 0: a Loihi 2 microcode neuron, here
  :class:`neurodeploy.targets.loihi.processes.NILIF`'s ``fixed_pt`` model).
- Patch-to-time is routing: integers pass unchanged (scale kept).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurodeploy.errors import NeurodeployError
from neurodeploy.ir.graph import DeployGraph
from neurodeploy.ir import nodes as nd
from neurodeploy.ir.primitives import NIR_NEURON_KINDS, SEQUENCE_NEURON_KINDS
from neurodeploy.ir.rules import NIR_RULES
from neurodeploy.limits import LOIHI2, ChipLimits
from neurodeploy.passes import synapse_form as sf

ACT_BITS = 16  # graded payload of real-valued chip activations fed to convs (Lava's Conv takes 24)
WEIGHT_MAX = 127  # 8-bit signed mantissa, symmetric
RESCALE_BITS = 8  # |M| of a rescale (relay synapse) in [2**7, 2**8 - 1]
ACC_HEADROOM_BITS = 22  # calibrated conv accumulators stay below 2**22 (the accumulator wraps at 2**23)
# a neuron's input per step, largest magnitude: Lava's LIF declares a_in int16 (limits.py, LOIHI2.a_in)
A_IN_MAX = int(LOIHI2.a_in.hi)
OPERAND_MAX = (1 << (ACT_BITS - 1)) - 1  # a product neuron's operand payload, largest magnitude
A_IN_TARGET = 1 << 14  # calibrated neuron input maps to 2**14 when a neuron picks its own input scale
NILIF_MAX_FRACTION_BITS = 12  # NI-LIF input resolution at most 2**-12 level: enough, and thresholds stay small


class QuantizationError(NeurodeployError):
    """A layer's range cannot be represented in the Loihi format it needs."""


@dataclass
class CalibrationRanges:
    """Largest magnitudes seen on calibration images, model units.

    Attributes:
        out: node -> max |output| (chip nodes and host nodes that feed the chip).
        inp: node -> max |summed input| (chip nodes).
        acc: conv -> max |conv output without its bias|.
        images: number of calibration images (crops).
    """

    out: dict[str, float] = field(default_factory=dict)
    inp: dict[str, float] = field(default_factory=dict)
    acc: dict[str, float] = field(default_factory=dict)
    images: int = 0


def input_scale(q: dict, pred: str) -> float:
    """The scale (model units per LSB) a chip node's quant entry ``q`` takes input ``pred`` at: its
    ``in_scale``, or the operand's own for a product neuron (``in_scales``)."""
    return float(q.get("in_scales", {}).get(pred, q["in_scale"]))


def rescale_factors(ratio: float, bits: int = RESCALE_BITS) -> tuple[int, int]:
    """``(M, k)`` with ``M / 2**k`` closest to ``ratio`` and ``2**(bits-1) <= |M| < 2**bits``.

    ``k`` may be negative (a left shift). ``ratio == 0`` gives ``(0, 0)``.
    """
    if ratio == 0 or not math.isfinite(ratio):
        return 0, 0
    k = (bits - 1) - math.floor(math.log2(abs(ratio)))
    m = round(ratio * 2.0 ** k)
    if abs(m) >= 1 << bits:  # rounding reached 2**bits: one bit coarser
        k -= 1
        m = round(ratio * 2.0 ** k)
    return int(m), int(k)


def du_mant(du_model: float, chip: ChipLimits = LOIHI2) -> int:
    """Lava's ``du`` for a current decay ``du_model`` (fraction lost per step): ``4096 du - 1``, clipped to 12 bits."""
    return int(np.clip(round(du_model * chip.decay_unit) - chip.du_offset, chip.du.lo, chip.du.hi))


def dv_mant(dv_model: float, chip: ChipLimits = LOIHI2) -> int:
    """Lava's ``dv`` for a voltage decay ``dv_model``: ``4096 dv``, clipped to 12 bits (1.0 becomes 4095)."""
    return int(np.clip(round(dv_model * chip.decay_unit) - chip.dv_offset, chip.dv.lo, chip.dv.hi))


def vth_mant(vth_model: float, a_in_scale: float, fires_at_equality: bool = True, chip: ChipLimits = LOIHI2) -> int:
    """The threshold mantissa for a model threshold ``vth_model`` (model units).

    ``v`` counts ``a_in_scale / 64`` model units per LSB, so the model fires at
    ``v_int >= T`` with ``T = 64 vth / a_in_scale`` (``>=``) or ``v_int > T`` (``>``). Lava fires
    at ``v_int > vth_mant · 64``: the integer condition is ``v_int > ceil(T) - 1`` (resp.
    ``floor(T)``), and ``vth_mant`` is that bound over 64, rounded half to even.
    """
    t = vth_model * (1 << chip.state_shift_bits) / a_in_scale
    bound = math.ceil(t) - 1 if fires_at_equality else math.floor(t)
    return int(np.clip(np.round(bound / (1 << chip.state_shift_bits)), 0, chip.vth_mant.hi))


def bias_mant_exp(bias_v: np.ndarray, chip: ChipLimits = LOIHI2) -> tuple[np.ndarray, int, int]:
    """Bias in ``v`` units -> ``(bias_mant, bias_exp, saturated)``: the smallest exponent 0..7
    whose mantissas fit 13 bits; beyond exponent 7 the mantissas saturate (counted)."""
    bias_v = np.asarray(bias_v, dtype=np.float64)
    peak = float(np.max(np.abs(bias_v))) if bias_v.size else 0.0
    exp = 0
    while exp < chip.bias_exp.hi and peak / (1 << exp) > chip.bias_mant.hi:
        exp += 1
    raw = np.round(bias_v / (1 << exp))
    mant = np.clip(raw, chip.bias_mant.lo, chip.bias_mant.hi).astype(np.int64)
    return mant, exp, int(np.sum(mant != raw))


def _positive(x: float, fallback: float = 1.0) -> float:
    return x if x > 0 and math.isfinite(x) else fallback


ACT_HEADROOM = 2.0  # graded payloads cover twice the calibrated peak (the integer model's values drift from float)


def _act_scale(peak: float, bits: int = ACT_BITS) -> float:
    return ACT_HEADROOM * _positive(peak) / ((1 << (bits - 1)) - 1)


def quantize_graph(g: DeployGraph, ranges: CalibrationRanges, chip: ChipLimits = LOIHI2) -> dict[str, dict[str, Any]]:
    """Quantize every chip node of ``g`` (see module docstring); returns the per-layer report."""
    if not g.info.side:
        raise QuantizationError("quantize after the partition and neuron-form passes")
    q: dict[str, dict[str, Any]] = {}
    gains = g.info.synapse_gain
    shift = 1 << chip.state_shift_bits

    def chip_pred(p: str) -> bool:
        return g.info.side.get(p) == "chip"

    def common_scale(name: str) -> float | None:
        """The scale every input already has, when all come from the chip and agree."""
        preds = g.predecessors(name)
        if preds and all(chip_pred(p) for p in preds):
            scales = {q[p]["scale"] for p in preds}
            if len(scales) == 1:
                return scales.pop()
        return None

    def set_inputs(name: str, in_scale: float) -> None:
        """Rescales from each chip predecessor's scale to ``in_scale``; host inputs round to it."""
        entry = q[name]
        entry["in_scale"] = in_scale
        entry["rescale"] = {p: list(rescale_factors(q[p]["scale"] / in_scale))
                            for p in g.predecessors(name) if chip_pred(p) and q[p]["scale"] != in_scale}
        entry["from_host"] = [p for p in g.predecessors(name) if not chip_pred(p)]

    for name in g.order:
        if not chip_pred(name):
            continue
        kind = g.kind(name)
        node = g.node(name)
        entry: dict[str, Any] = {"kind": kind}
        q[name] = entry
        # every single input must fit too (host values are clipped one by one; a sum may cancel)
        peak_in = max([ranges.inp.get(name, 0.0)] + [ranges.out.get(p, 0.0) for p in g.predecessors(name)])
        if kind == "conv":
            gain = gains.get(name, 1.0)
            if gain != 1.0 and any(g.kind(s) != "lif" for s in g.successors(name)):
                raise QuantizationError(f"conv '{name}' carries a neuron's input gain {gain} but also feeds "
                                        "something other than neurons; give that path its own conv")
            w = np.asarray(node.weight, dtype=np.float64) * gain
            w_scale = _positive(float(np.max(np.abs(w))) / WEIGHT_MAX)
            if w.size > 1 and w.flat[0] != 0 and np.all(w == w.flat[0]):
                # a pooling (every weight equal, e.g. a split MDSA's mean over pixels): mantissa 1, so the
                # 24-bit accumulator's bits go to the input's resolution, not to a 127x weight
                w_scale = abs(float(w.flat[0]))
            binary = all(g.edge_kind(p, name) == "binary" for p in g.predecessors(name))
            vth = _sole_neuron_threshold(g, name) if binary else None
            if vth is not None and vth >= w_scale:
                # the neuron's input LSB is this conv's weight LSB: make the threshold a whole number of them
                w_scale = vth / math.floor(vth / w_scale)
            mant = np.clip(np.round(w / w_scale), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int64)
            if binary:
                in_scale = 1.0
            else:
                acc_peak = ranges.acc.get(name, 0.0) * abs(gain)
                in_scale = max(_act_scale(peak_in), _positive(acc_peak) / (w_scale * (1 << ACC_HEADROOM_BITS)))
            set_inputs(name, in_scale)
            entry.update(weight_scale=w_scale, scale=w_scale * in_scale, graded_input=not binary,
                         weight_rms_error=float(np.sqrt(np.mean((mant * w_scale - w) ** 2))),
                         weight_max_error=float(np.max(np.abs(mant * w_scale - w))),
                         weight_zeroed=int(np.sum((mant == 0) & (w != 0))))
            arrays = g.arrays.setdefault(name, {})
            arrays["weight_mant"] = mant
            bias = np.asarray(node.bias, dtype=np.float64) * gain
            # the neuron-form pass moved the bias into the neurons when they are all this conv feeds
            absorbed = all(g.kind(d) == "lif" and chip_pred(d) for d in g.successors(name))
            entry["bias_at"] = "neuron" if absorbed else "accumulator"
            if not absorbed and np.any(bias != 0):
                arrays["bias_acc"] = np.round(bias / entry["scale"]).astype(np.int64)
        elif kind == "lif":
            form = g.info.neuron_form[name]
            in_scale = common_scale(name)
            peak_a = peak_in * abs(form["input_gain"])
            if in_scale is None or _positive(peak_a) / in_scale > A_IN_MAX \
                    or form["vth"] / in_scale >= chip.vth_mant.hi:
                in_scale = _positive(peak_a) / A_IN_TARGET
            set_inputs(name, in_scale)
            vth = vth_mant(form["vth"], in_scale, bool(form["fires_at_equality"]), chip)
            bias_v = np.asarray(g.arrays.get(name, {}).get("bias", np.zeros(g.shape(name)[0]))) * shift / in_scale
            b_mant, b_exp, b_sat = bias_mant_exp(bias_v, chip)
            g.arrays.setdefault(name, {})["bias_mant"] = b_mant
            eff_vth = (vth * shift + (1 if form["fires_at_equality"] else 0)) * in_scale / shift
            entry.update(scale=1.0, du=du_mant(form["du"], chip), dv=dv_mant(form["dv"], chip), vth_mant=vth,
                         bias_exp=b_exp, bias_saturated=b_sat,
                         vth_model=float(form["vth"]), vth_rel_error=float(eff_vth / form["vth"] - 1) if form["vth"] else 0.0,
                         bias_rms_error=float(np.sqrt(np.mean(((b_mant << b_exp) - bias_v) ** 2))) * in_scale / shift
                         if bias_v.size else 0.0)
        elif kind in ("patch_to_time", "max", "relu"):  # routing, a max tree, a ReLU: the integers keep their scale
            in_scale = common_scale(name) or _act_scale(peak_in)
            set_inputs(name, in_scale)
            entry["scale"] = in_scale
        elif kind == "nilif":
            levels, shift_bits = int(node.levels), int(chip.state_shift_bits)
            m = math.floor(math.log2(A_IN_TARGET / _positive(peak_in)))
            m = max(-shift_bits, min(NILIF_MAX_FRACTION_BITS, m))
            in_scale = 2.0 ** -m
            set_inputs(name, in_scale)
            dv = dv_mant(1.0 - float(node.beta), chip)
            entry.update(scale=1.0 / levels, levels=levels, positions=int(node.positions), beta=float(node.beta),
                         thresholds=[int(t) for t in nilif_thresholds(levels, in_scale, chip)],
                         level_lsbs=1 << (m + shift_bits), dv=dv,
                         beta_effective=chip.voltage_retained(dv) / chip.decay_unit)
        elif kind in ("sum", "concat"):
            scale = common_scale(name) or _act_scale(max(peak_in, ranges.out.get(name, 0.0)))
            set_inputs(name, scale)
            entry["scale"] = scale
        elif kind == "product":
            # Each operand on its own scale, at most ACT_BITS-bit payloads (so the product fits
            # Lava's ProdNeuron int32, 2**30); the product (a*b) >> shift (rounding down) keeps
            # ACT_BITS bits for the calibrated peak with ACT_HEADROOM.
            scales: dict[str, float] = {}
            for p in node.inputs:
                peak = ranges.out.get(p, 0.0)
                own = q[p]["scale"] if chip_pred(p) else None
                scales[p] = own if own is not None and _positive(peak) / own <= OPERAND_MAX else _act_scale(peak)
            entry.update(in_scale=scales[node.inputs[0]], in_scales=scales,
                         rescale={p: list(rescale_factors(q[p]["scale"] / s)) for p, s in scales.items()
                                  if chip_pred(p) and q[p]["scale"] != s},
                         from_host=[p for p in node.inputs if not chip_pred(p)])
            raw = math.prod(scales[p] for p in node.inputs)
            need = ACT_HEADROOM * _positive(ranges.out.get(name, 0.0)) / (raw * OPERAND_MAX)
            shift = max(0, math.ceil(math.log2(need))) if need > 1 else 0
            entry.update(shift=shift, scale=raw * 2.0 ** shift)
        elif kind in ("decode_mean", "encode"):  # a readout / a hold: per-step integer weights, summed over T
            in_scale = common_scale(name) or _act_scale(peak_in)
            set_inputs(name, in_scale)
            mants, weight_scale = readout_mantissas(node, g.t_steps)
            entry.update(weight_mants=mants, scale=in_scale * weight_scale)
        elif kind in ("upsample", "gain"):
            in_scale = common_scale(name) or _act_scale(peak_in)
            set_inputs(name, in_scale)
            if kind == "gain":
                entry["scale"] = in_scale * float(node.factor)
            elif node.mode == "nearest":
                entry.update(scale=in_scale, multiplier=1)
            elif node.mode == "bilinear" and int(node.scale_factor) == 2 and not node.align_corners:
                entry.update(scale=in_scale / 16, multiplier=16)
            else:
                raise QuantizationError(f"upsample '{name}' ({node.mode}, x{node.scale_factor}) has no integer form; "
                                        "only nearest and bilinear x2 (align_corners=False) do")
        else:
            raise QuantizationError(f"chip node '{name}' ({kind}) has no integer form")
    g.info.quant = q
    return {n: {k: v for k, v in e.items() if k not in ("rescale", "from_host", "kind")} | {"kind": e["kind"]}
            for n, e in q.items()}


READOUT_WEIGHT_BITS = 8  # a weighted readout's per-step weights as mantissas of this many bits


def readout_mantissas(node, t_steps: int) -> tuple[list[int], float]:
    """A readout's per-step integer weights (:func:`neurodeploy.ir.nodes.readout_weights`) and the scale
    they put on its sum: a hold (1, 0, ..., 0; scale 1) and a mean (1 each; scale 1/T) are exact with
    mantissa 1; a weighted readout (SpikeRain's temporal fusion) rounds its weights to
    :data:`READOUT_WEIGHT_BITS`-bit mantissas of the largest (scale: that weight / the largest mantissa)."""
    weights = nd.readout_weights(node, t_steps)
    top = max(abs(w) for w in weights) or 1.0
    one_value = isinstance(node, nd.DirectEncode) or not node.step_weights
    lsb = top if one_value else top / ((1 << (READOUT_WEIGHT_BITS - 1)) - 1)
    return [int(round(w / lsb)) for w in weights], lsb


def _sole_neuron_threshold(g: DeployGraph, conv: str) -> float | None:
    """The model threshold of the chip neuron(s) this conv alone feeds (all consumers neurons with
    one threshold, each fed by this conv only), else None. Model units after the input gain."""
    succ = g.successors(conv)
    forms = [g.info.neuron_form.get(s) for s in succ]
    if not succ or any(f is None or g.predecessors(s) != [conv] for s, f in zip(succ, forms)):
        return None
    values = {float(f["vth"]) for f in forms}
    return values.pop() if len(values) == 1 else None


def formats_summary() -> dict[str, Any]:
    """The formats quantization writes, as the manifest records them (model bundles and ``.nir`` bundles)."""
    return {"weight_mant_bits": 8, "weight_range": [-WEIGHT_MAX, WEIGHT_MAX], "graded_activation_bits": ACT_BITS,
            "rescale_mant_bits": RESCALE_BITS, "decay_bits": 12, "vth_mant_bits": 17, "bias_mant_bits": 13,
            "state_bits": 24, "conv_accumulator_bits": 24}


def summary(g: DeployGraph, ranges: CalibrationRanges, report: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the manifest records: formats, calibration, and the per-layer report."""
    convs = [e for e in report.values() if e["kind"] == "conv"]
    lifs = [e for e in report.values() if e["kind"] == "lif"]
    return {
        "status": "int",
        "method": "post-training quantization (per-layer scales from calibration maxima)",
        "chip": LOIHI2.name, "lava": "lava-nc 0.10.0 fixed_pt semantics (neurodeploy.limits)",
        "calibration_images": ranges.images,
        "formats": formats_summary(),
        "layers_quantized": {"conv": len(convs), "lif": len(lifs), "other": len(report) - len(convs) - len(lifs)},
        "worst_weight_rms_error": max((e["weight_rms_error"] for e in convs), default=0.0),
        "worst_vth_rel_error": max((abs(e["vth_rel_error"]) for e in lifs), default=0.0),
        "not_quantized": "host islands (float32, onnxruntime)",
        "layers": report,
    }


def nilif_thresholds(levels: int, level_scale: float, chip: ChipLimits = LOIHI2) -> np.ndarray:
    """NI-LIF's rounding points as integer thresholds in ``v`` units (Lava's ``v``, LSB = ``level_scale / 64``).

    :class:`neurodeploy.models.neurons.NILIF` emits ``K = clip(round(U), 0, D)`` with
    ``round`` half to even: level ``k`` (1..D) is reached when ``U > k - 1/2``, or at
    ``U == k - 1/2`` exactly when ``k - 1`` is odd (the tie goes to the even ``k``). With
    ``U = v_int · level_scale / 64``, threshold ``k`` is the largest integer ``t_k`` such
    that ``v_int > t_k`` is the model's condition: ``t_k = ceil(T) - 1`` if the tie at
    ``T = 64 (k - 1/2) / level_scale`` goes up (``k`` even) and ``floor(T)`` if it goes down.
    Returns ``t_1..t_D`` as int64 (a graded neuron emits the number of thresholds ``v`` exceeds).
    """
    if levels < 1 or level_scale <= 0:
        raise ValueError("levels must be >= 1 and level_scale > 0")
    out = []
    for k in range(1, levels + 1):
        t = (k - 0.5) * (1 << chip.state_shift_bits) / level_scale
        tie_up = k % 2 == 0
        out.append(math.ceil(t) - 1 if tie_up else math.floor(t))
    return np.asarray(out, dtype=np.int64)




# ------------------------------------------------------------------ a sequence graph (another writer's .nir file)
# A graph from any NIR writer has no calibration images: its scales come from the synapse form
# pass's folded weights and the neuron form's thresholds, only the input's scale from data (the
# calibration input: ``--calib FILE.npy``, else validate's default, seeded random spikes at 10 %).
# The same annotations as a model's (``info.quant[node]``, ``arrays[node]`` integer mantissas in
# NIR layout), keyed by the graph's nodes that are chip processes
# (:func:`neurodeploy.passes.synapse_form.port`); the rules, per node kind:
#
# - *input* (kind ``source``): spikes (every non-zero calibration value has one magnitude ``A``)
#   are payloads 0/±1 with scale ``A`` (``round_half_even(x / A)`` clipped to ±1); integer-valued
#   input keeps scale 1, clipped to twice its calibrated peak; real values become
#   :data:`INPUT_BITS`-bit signed payloads covering twice the peak (:data:`ACT_HEADROOM`);
# - *spikes* of a neuron: payload 0/1, scale 1; a *Delay* passes its source's payloads unchanged;
# - *synapse feeding a neuron* (Dense/Conv/pooling, gains and Scale folded): mantissas
#   ``round_half_even(W · s_in / a_scale)`` in ``[-127, 127]`` where ``a_scale`` is the neuron's
#   input scale, shared by all its synapses (Lava's InPort sums them): the largest
#   ``max|W| · s_in / 127`` of them, raised so that ``vth`` fits 17 bits, so that the threshold is
#   a whole number of input LSBs (``vth / a_scale`` an integer, as the model rules do for the
#   derainers' convs), and so that the worst-case ``|a_in|`` (every input at its payload limit
#   with the sign of its weight, plus the constant input) fits Lava's ``int16`` ``a_in`` port
#   (``lava/proc/lif/models.py:78``) -- no value can wrap there. Where that raises ``a_scale``
#   above a Dense's own ``max|W| · s_in / 127`` by ``2**k`` or more, the Dense keeps its 8 bits
#   with the layer's shared exponent ``weight_exp = -k``: mantissas
#   ``round_half_even(W · s_in · 2**k / a_scale)``, sums shifted right by ``k`` (rounding down,
#   Lava's Dense); a Conv has no exponent in Lava (lava-nc#803), and a synapse whose every weight
#   rounds to 0 is refused;
# - *synapse feeding a synapse* (pooling before a Linear, ...): its own scale, ``max|W| / 127``
#   (``|W|`` itself when all non-zero weights are equal: SumPool/AvgPool get mantissa 1, exact);
#   its sums are the next synapse's graded payload (worst case < 2**23: Lava's conv accumulator
#   and graded payload);
# - *neuron*: ``du = du_mant(du)``, ``dv = dv_mant(dv)``, ``vth_mant = vth_mant(vth, a_scale,
#   fires_at_equality=False)`` (NIR and Lava both fire on ``>``; a writer's ``>=`` on an IF:
#   ``ceil(vth / a_scale) - 1``, :func:`on_lavas_lif`), ``2**17`` for I/LI/CubaLI (``2**23`` after
#   the shift: above every 24-bit ``v``, never fires); the constant input ``c`` (bias and leak
#   target) becomes ``const_mant = round_half_even(c / a_scale)`` on ``a_in`` (``int16``) on the
#   sample's T logical steps. ``v`` counts ``a_scale / 64`` model units per LSB (what a
#   non-spiking layer's Trace reports). Not Lava's ``bias_mant << bias_exp``: that integrates at
#   every Lava step, also between streamed samples, where a neuron it drives could fire into a
#   delay line and so into the next sample's window.
#
# A writer's neuron rules (:mod:`neurodeploy.ir.rules`: ``>=``, subtractive reset, a reset one
# step late) run on Lava's own LIF where that is exact (:func:`on_lavas_lif`), else on the
# project's ``RuleLIF`` with its fixed_pt model: the same integer LIF arithmetic, ``v >= vth_mant
# << 6`` where the writer fires at equality (``vth_mant = round(vth / a_scale)``, the threshold a
# whole number of input LSBs), a subtractive reset of ``vth_mant << 6`` (saturating), a pending
# reset applied after the next step's update.
#
# Several spikes per step (``rules.max_spikes`` > 1: sinabs' MultiSpike, rockpool's
# ``max_spikes_per_dt``) run on ``RuleLIF`` too: the count ``k = v // (vth_mant << 6)`` is the
# graded payload, capped at the entry's ``max_spikes`` = the smallest of the rule's cap, the most a
# saturated ``v`` holds (``(2**23 - 1) // (vth_mant << 6)``) and, where the pipeline measured it on
# the calibration input (``peak_counts``, the float graph's largest count per step), that count:
# the cap is the neuron's payload limit (``lim``), which bounds the next synapse's sums in
# ``a_in`` as a binary spike's 1 does, so a loose cap would cost the next layer's weights their
# bits. A count above the cap is clipped (the emulator counts it, ``count_clipped``). ``v_min``
# (a clamp after the reset) becomes ``v_min_mant = round((v_min - v_reset) / a_scale)``, compared
# as ``v_min_mant << 6``.

INPUT_BITS = 8  # real-valued input: 8-bit signed payloads (keeps the first synapse's sums small)
GRADED_MAX = (1 << (LOIHI2.graded_payload_bits - 1)) - 1  # a synapse's sums fed on as a graded payload
DENSE_ACC_MAX = (1 << 31) - 1  # Lava's Dense sums in int32 (dense/models.py:64, never clamped)
MAX_SHIFT = 23  # a Dense's sums shifted right by more would drop every 24-bit value
NEVER_FIRES = 1 << LOIHI2.vth_mant_bits  # vth << 6 = 2**23 > every saturated v
_HALF_V = 1 << (LOIHI2.state_bits - 1)  # 2**23: |v| stays below it (24-bit saturation)


def _processes(g: DeployGraph) -> list[str]:
    """The sequence graph's nodes that are chip processes, in order (the input, synapses, Delays, neurons)."""
    return [n for n in g.order if g.kind(n) != "output" and sf.port(g, n) == n]


def _is_dense(g: DeployGraph, name: str) -> bool:
    return isinstance(g.node(name), sf.DENSE)


def _consumer(g: DeployGraph, name: str) -> str:
    """The synapse or neuron a synapse's output ends in (through Flatten, Scale and Delays)."""
    d = g.successors(name)[0]
    while not (sf.is_synapse(g, d) or g.kind(d) in SEQUENCE_NEURON_KINDS or g.kind(d) == "output"):
        d = g.successors(d)[0]
    return d


def _behind(g: DeployGraph, name: str) -> str:
    """The process whose payloads ``name`` carries: its port, back through Delay lines."""
    name = sf.port(g, name)
    while g.kind(name) == "delay":
        name = sf.input_port(g, name)
    return name


def _input_form(x: np.ndarray) -> dict[str, Any]:
    """The source's payload: scale (model units per LSB), limit, mode (see the rules above)."""
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


def _abs_row_sums(dense: bool, mant: np.ndarray) -> np.ndarray:
    """Per output neuron (dense) or channel (conv), the sum of |mantissa| over its inputs."""
    a = np.abs(mant)
    return a.sum(axis=1) if dense else a.reshape(a.shape[0], -1).sum(axis=1)


def _mantissas(w: np.ndarray, ratio: float, limit: int = WEIGHT_MAX) -> np.ndarray:
    mant = np.round(w * ratio)
    if np.any(np.abs(mant) > limit):  # only a rounding at the edge: 127.5 -> 128
        mant = np.clip(mant, -limit, limit)
    return mant.astype(np.int64)


# Wider weights (``--weight-bits N``, N in 9..15): each weight W = hi * 2**SPLIT_EXP + lo with hi, lo
# 8-bit mantissas, two synapse groups on the chip (twice the synaptic memory) from the same source into
# the same neuron, whose sums meet in its a_in: hi's with weight_exp SPLIT_EXP, lo's with 0 (on Lava two
# Dense, or two Conv with the hi sums shifted by an integer relay: lava-nc#803). Both sums are exact
# integers (a left shift), so W x == (hi x << 7) + lo x bit for bit. |hi|, |lo| <= 127 hold every
# |W| <= 127 * 128 + 127 = 2**14 - 1 (15 bits, signed).
SPLIT_EXP = 7
WIDE_WEIGHT_BITS = 15  # the widest N: |W| <= 2**14 - 1 splits into hi, lo as above
WEIGHT_BITS_CHOICES = range(8, WIDE_WEIGHT_BITS + 1)


def weight_limit(bits: int) -> int:
    """Largest |mantissa| of an N-bit signed weight (symmetric): 127 for Loihi's 8 bits."""
    if bits not in WEIGHT_BITS_CHOICES:
        raise QuantizationError(f"--weight-bits {bits}: choose {WEIGHT_BITS_CHOICES.start}..{WIDE_WEIGHT_BITS} "
                                "(8: one synapse group per synapse, Loihi's mantissa; more: two groups)")
    return (1 << (bits - 1)) - 1


def split_weights(mant: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(hi, lo)`` 8-bit mantissas with ``hi * 2**SPLIT_EXP + lo == mant`` (see :data:`SPLIT_EXP`)."""
    mant = np.asarray(mant, dtype=np.int64)
    hi = np.clip(np.round(mant / (1 << SPLIT_EXP)), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int64)
    lo = mant - (hi << SPLIT_EXP)  # |lo| <= 64, or up to 127 at the ends of 15 bits where hi is clipped
    if np.abs(hi).max(initial=0) > WEIGHT_MAX or np.abs(lo).max(initial=0) > WEIGHT_MAX:
        raise QuantizationError(f"a weight mantissa {int(np.abs(mant).max())} is beyond two 8-bit synapse groups")
    return hi, lo


def _weight_report(w: np.ndarray, mant: np.ndarray, step: float) -> dict[str, float]:
    err = mant * step - w
    return {"weight_rms_error": float(np.sqrt(np.mean(err ** 2))) if w.size else 0.0,
            "weight_max_error": float(np.max(np.abs(err))) if w.size else 0.0,
            "weight_zeroed": int(np.sum((mant == 0) & (w != 0)))}


def count_cap(rules, vth_int: int, peak: int | None = None) -> int:
    """The most spikes a step of a layer with ``rules`` sends in integers (see the rules above):
    1 for one spike per step; else the smallest of ``rules.max_spikes``, ``(2**23 - 1) //
    (vth_int << 6)`` (a saturated ``v``) and ``peak`` (the calibration input's largest count;
    at least 1)."""
    if not rules.multi:
        return 1
    cap = min(int(rules.max_spikes), (_HALF_V - 1) // (max(int(vth_int), 1) << LOIHI2.state_shift_bits))
    if peak is not None:
        cap = min(cap, max(1, int(peak)))
    return max(1, cap)


def on_lavas_lif(rules, du: int, dv: int) -> bool:
    """Whether Lava's own LIF (``v > vth_mant << 6``, reset to 0 at once) runs these rules exactly:
    NIR's; and a writer's ``>=`` with an immediate reset to 0 where ``v`` stays on multiples of 64
    -- no decay of ``u`` (``du`` 4095) or ``v`` (``dv`` 0): an IF, e.g. sinabs' IAF --, as ``v >=
    64 k`` is then ``v > 64 (k - 1)``. Other rules run on the project's fixed_pt ``RuleLIF``."""
    if rules.is_nir:
        return True
    if rules.multi or rules.v_min is not None:  # a graded count or a clamp: RuleLIF
        return False
    return rules.spike == ">=" and rules.reset == "zero" and not rules.reset_delay and du == LOIHI2.du.hi and dv == 0


def vth_mant_at_equality(vth: float, a_scale: float) -> int:
    """``vth_mant`` for ``v >= vth`` on ``v``'s grid of 64 (see :func:`on_lavas_lif`): the
    smallest grid point at or above ``T = vth / a_scale`` input LSBs fires, ``v > 64 (ceil(T) - 1)``."""
    t = vth / a_scale
    k = round(t) if math.isclose(t, round(t), rel_tol=1e-12) else math.ceil(t)
    return int(np.clip(k - 1, 0, LOIHI2.vth_mant.hi))


def quantize_sequence(g: DeployGraph, calib: np.ndarray, peak_counts: dict[str, int] | None = None,
                      weight_bits: int = 8) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, np.ndarray]]]:
    """Integers for every chip process of a sequence graph the passes have annotated (partition,
    neuron form, synapse form); ``calib``: ``(T, N, *input_shape)`` values (only the input's scale
    reads it); ``peak_counts``: per layer with several spikes per step, the largest count one step
    sent on the calibration input in the float graph (:func:`count_cap`; absent: the cap a
    saturated ``v`` allows); ``weight_bits``: a synapse into a neuron may take mantissas of up
    to this many bits (8: Loihi's one synapse group; 9..15: two groups where a layer needs them,
    :data:`SPLIT_EXP`) -- a finer input LSB for neurons whose threshold is few 8-bit LSBs (weights
    large against it), bounded as before by the 16-bit ``a_in``; Dense and Conv alike (a Conv's hi group
    is shifted by an integer relay on Lava, whose Conv drops ``weight_exp``, lava-nc#803).

    Writes ``info.quant`` and ``arrays[node]["weight_mant"|"const_mant"]`` (NIR layout) and
    returns them: per process a JSON-able entry (``kind``, ``scale``, formats, errors; the
    manifest's per-layer summary) and its integer arrays (``params.npz`` as ``NODE/NAME``).

    Raises:
        QuantizationError: one line naming the node that cannot fit.
    """
    wide = weight_limit(weight_bits)
    quant: dict[str, dict[str, Any]] = {}
    ints: dict[str, dict[str, np.ndarray]] = {}
    for name in _processes(g):
        kind = g.kind(name)
        if kind == "input":
            quant[name] = _input_form(calib)
        elif kind == "delay":
            quant[name] = {"kind": "delay", "source": sf.input_port(g, name)}
        elif kind == "sigma_delta":
            raise QuantizationError(f"neuron '{name}': a sigma-delta neuron takes its integers from its netx file; "
                                    "post-training quantization of one is not implemented")
        elif kind in NIR_NEURON_KINDS:
            _sequence_neuron(g, name, quant, ints, (peak_counts or {}).get(name), wide)
        elif g.kind(_consumer(g, name)) not in NIR_NEURON_KINDS:
            _chain_synapse(g, name, quant, ints)
    for name, q in quant.items():  # delay lines carry their source's payload
        if q["kind"] == "delay":
            src = quant[_behind(g, name)]
            q.update(scale=src["scale"], lim=src["lim"])
    return record_integers(g, quant, ints)


def record_integers(g: DeployGraph, quant: dict, ints: dict) -> tuple[dict, dict]:
    """Write a sequence graph's quantization into it: ``info.quant`` and each node's integer
    mantissas (NIR layout) beside its arrays; returns ``(quant, ints)``."""
    g.info.quant = quant
    for name, a in ints.items():
        g.arrays.setdefault(name, {}).update(a)
    return quant, ints


def _in_form(quant: dict, g: DeployGraph, syn: str) -> tuple[float, int]:
    """(scale, payload limit) of what reaches synapse ``syn`` (through Flatten, Scale and Delays).

    A recurrent loop's synapse (``ir.order``) is quantized with the neuron it feeds back into, before
    the neuron it reads has its entry: that neuron's binary spikes are 1 (scale 1, limit 1)."""
    src = _behind(g, g.predecessors(syn)[0])
    if src not in quant and any(s == src and d == syn for s, d in g.loops.delayed):
        if g.info.rules(src).multi:
            raise QuantizationError(f"synapse '{syn}': it feeds neuron '{src}'s counts of spikes (several per step) "
                                    "back on a recurrent loop, which is not quantized yet; pass --rule multi-spike=off")
        return 1.0, 1
    q = quant[src]
    return float(q["scale"]), int(q["lim"])


def _chain_synapse(g: DeployGraph, name: str, quant: dict, ints: dict) -> None:
    s_in, lim_in = _in_form(quant, g, name)
    w = np.asarray(g.arrays[name]["weight"], dtype=np.float64)
    mags = np.unique(np.abs(w[w != 0]))
    w_scale = float(mags[0]) if mags.size == 1 else (float(mags[-1]) / WEIGHT_MAX if mags.size else 1.0)
    mant = _mantissas(w, 1.0 / w_scale)
    bound = int(_abs_row_sums(_is_dense(g, name), mant).max(initial=0)) * lim_in
    if bound > GRADED_MAX:
        raise QuantizationError(f"synapse '{name}': its sums may reach {bound}, beyond the 24-bit graded payload the "
                                "next synapse takes; put a neuron between the two synapses")
    ints[name] = {"weight_mant": mant}
    quant[name] = {"kind": "dense" if _is_dense(g, name) else "conv", "in_scale": s_in, "weight_scale": w_scale,
                   "scale": w_scale * s_in, "lim": bound, "weight_exp": 0, **_weight_report(w, mant, w_scale)}


def _dense_shift(dense: bool, own_scale: float, a_scale: float) -> int:
    """Right shift ``k`` of a Dense's sums (``weight_exp = -k``) that keeps its 8-bit mantissas when the
    neuron's input LSB ``a_scale`` is coarser than the weights' own scale ``own_scale`` (a threshold far
    above the weights); 0 for Conv (Lava's Conv ignores ``weight_exp``, lava-nc#803)."""
    if not dense or own_scale <= 0 or a_scale <= own_scale:
        return 0
    return min(int(math.floor(math.log2(a_scale / own_scale))), MAX_SHIFT)


def _grid_step(contribs: list[np.ndarray], vth: float | None, const: np.ndarray, lims: list[int],
               dense: list[bool]) -> float | None:
    """The input LSB ``q`` (model units) at which a neuron's integers are exact, when there is one:
    every synapse's ``weight x input scale`` an integer multiple of ``q`` within the 8-bit mantissa,
    the threshold and the constant input whole numbers of ``q``, and the worst-case ``a_in`` inside
    16 bits -- a net trained for an 8-bit chip (e.g. sinabs' Speck nets, integer weights and
    thresholds). ``q`` is tried as the smallest nonzero ``|weight x scale|`` divided by 1..64; None
    when no such ``q`` exists (PTQ's scales then round)."""
    mags = np.concatenate([np.abs(c[c != 0]).ravel() for c in contribs] + [np.zeros(0)])
    if not mags.size:
        return None
    values = [*contribs, const] + ([np.asarray([vth])] if vth is not None else [])

    def whole(x: np.ndarray, q: float) -> bool:
        r = x / q
        return bool(np.all(np.abs(r - np.round(r)) <= 1e-9 * np.maximum(1.0, np.abs(r))))

    smallest = float(mags.min())
    for k in range(1, 65):
        q = smallest / k
        if not all(whole(v, q) for v in values):
            continue
        mants = [np.round(c / q).astype(np.int64) for c in contribs]
        if any(np.abs(m).max(initial=0) > WEIGHT_MAX for m in mants):
            return None  # a finer q only makes the mantissas larger
        bound = sum(int(_abs_row_sums(d, m).max(initial=0)) * lim for m, d, lim in zip(mants, dense, lims))
        bound += int(np.max(np.abs(np.round(const / q)), initial=0))
        if bound > A_IN_MAX or (vth is not None and round(vth / q) > LOIHI2.vth_mant.hi):
            return None
        return q
    return None


def _sequence_neuron(g: DeployGraph, name: str, quant: dict, ints: dict, peak: int | None = None,
                     wide: int = WEIGHT_MAX) -> None:
    form = g.info.neuron_form[name]
    if np.any(np.asarray(g.arrays[name].get("v_bias", 0.0)) != 0):
        raise QuantizationError(f"neuron '{name}': a CubaLI(F) whose leak target is not its reset (a bias on v) is not "
                                "quantized yet; Lava float (lava-float) runs it")
    ports = list(dict.fromkeys(sf.port(g, p) for p in g.predecessors(name)))  # one Lava edge per port
    syns = [_behind(g, p) for p in ports]
    weights = {s: np.asarray(g.arrays[s]["weight"], dtype=np.float64) for s in syns}
    dense = {s: _is_dense(g, s) for s in syns}
    ins = {s: _in_form(quant, g, s) for s in syns}
    # ``wide``: the largest mantissa a synapse may take in two groups (--weight-bits; 127: one group)
    a_scale = max([float(np.max(np.abs(weights[s]), initial=0.0)) * ins[s][0] / wide for s in syns] + [0.0])
    if a_scale <= 0 or not math.isfinite(a_scale):
        a_scale = 1.0
    vth = float(form["vth"])
    spiking = math.isfinite(vth)
    if spiking and vth <= 0:
        raise QuantizationError(f"neuron '{name}': threshold v_th - v_reset = {vth:g} is not > 0; Loihi's vth is "
                                "unsigned")
    const = np.asarray(g.arrays[name]["input_const"], dtype=np.float64)
    own = {s: float(np.max(np.abs(weights[s]), initial=0.0)) * ins[s][0] / WEIGHT_MAX for s in syns}
    grid = _grid_step([weights[s] * ins[s][0] for s in syns], vth if spiking else None, const,
                      [ins[s][1] for s in syns], [dense[s] for s in syns])
    for _ in range(64):
        if spiking:
            a_scale = max(a_scale, vth / LOIHI2.vth_mant.hi)
            if vth >= a_scale:  # the threshold a whole number of input LSBs: exact in v's units
                a_scale = vth / math.floor(vth / a_scale)
        # a shift only where 8 bits already hold the weights at this LSB: two groups' sums shifted right
        # apart would not round as their total does
        shift = {s: _dense_shift(dense[s], own[s], a_scale) for s in syns}
        mants = {s: _mantissas(weights[s], ins[s][0] * 2.0 ** shift[s] / a_scale, WEIGHT_MAX if shift[s] else wide)
                 for s in syns}
        const_mant = np.round(const / a_scale).astype(np.int64)
        sums = {s: int(_abs_row_sums(dense[s], mants[s]).max(initial=0)) * ins[s][1] for s in syns}
        bound = int(sum(-(-sums[s] >> shift[s]) for s in syns) + np.max(np.abs(const_mant), initial=0))
        if bound <= A_IN_MAX:
            break
        a_scale *= bound / A_IN_MAX * (1 + 1e-12)
    else:  # pragma: no cover - each pass scales the bound down by about bound / A_IN_MAX
        raise QuantizationError(f"neuron '{name}': its input cannot fit Lava's 16-bit a_in")
    # exact: every mantissa the weight itself and no shift of the sums (a shift rounds them down)
    exact = all(shift[s] == 0 and np.array_equal(mants[s] * a_scale / ins[s][0], weights[s]) for s in syns) and \
        (not spiking or math.isclose(vth / a_scale, round(vth / a_scale), rel_tol=1e-12))
    if grid is not None and not exact:  # the net lies on a grid the scale above missed: take the grid's (exact)
        a_scale, shift = grid, {s: 0 for s in syns}
        mants = {s: np.round(weights[s] * ins[s][0] / a_scale).astype(np.int64) for s in syns}
        const_mant = np.round(const / a_scale).astype(np.int64)
        sums = {s: int(_abs_row_sums(dense[s], mants[s]).max(initial=0)) * ins[s][1] for s in syns}
        bound = int(sum(sums.values()) + np.max(np.abs(const_mant), initial=0))
        # Halve the LSB while everything stays exact and in range (mantissas -- up to --weight-bits --,
        # the threshold, a_in): a leaky membrane is rounded every step at v's LSB, so a finer LSB drifts less
        # from the float neuron.
        while (all(2 * int(np.max(np.abs(m), initial=0)) <= wide for m in mants.values())
               and 2 * bound <= A_IN_MAX and (not spiking or 2 * vth / a_scale <= LOIHI2.vth_mant.hi)):
            a_scale /= 2
            mants = {s: 2 * m for s, m in mants.items()}
            const_mant = 2 * const_mant
            sums = {s: 2 * v for s, v in sums.items()}
            bound = 2 * bound
    for s in syns:
        if np.any(weights[s] != 0) and not np.any(mants[s]):
            raise QuantizationError(f"synapse '{s}': every weight rounds to 0 at neuron '{name}''s input LSB "
                                    f"{a_scale:.3g} (its largest |weight| {own[s] * WEIGHT_MAX / ins[s][0]:.3g}; the "
                                    "threshold or the other inputs set that LSB); Lava's Conv has no weight exponent")
        if 2 * sums[s] > DENSE_ACC_MAX:
            raise QuantizationError(f"synapse '{s}': its sums may reach {2 * sums[s]}, beyond Lava's 32-bit Dense "
                                    "accumulator")
        step = a_scale / ins[s][0] / 2.0 ** shift[s]
        ints[s] = {"weight_mant": mants[s]}
        quant[s] = {"kind": "dense" if dense[s] else "conv", "in_scale": ins[s][0], "weight_scale": step,
                    "scale": a_scale, "lim": bound, "weight_exp": -shift[s],
                    **_weight_report(weights[s], mants[s], step)}
        if np.abs(mants[s]).max(initial=0) > WEIGHT_MAX:  # keys only where used: two synapse groups
            quant[s].update(synapse_groups=2, split_exp=SPLIT_EXP,
                            weight_bits=int(np.abs(mants[s]).max()).bit_length() + 1)
    du, dv = du_mant(float(form["du"])), dv_mant(float(form["dv"]))
    rules = g.info.rules(name) if spiking else NIR_RULES
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
    if rules.multi and vth_int < 1:
        raise QuantizationError(f"neuron '{name}': its threshold rounds to 0 input LSBs, so a count of spikes has no "
                                "integer form; pass --rule multi-spike=off")
    cap = count_cap(rules, vth_int, peak)
    entry: dict[str, Any] = {"kind": "lif", "spiking": spiking, "in_scale": a_scale, "scale": 1.0, "lim": cap,
                             "model": "LIFReset" if lavas else "RuleLIF", "du": du, "dv": dv, "vth_mant": vth_int,
                             "spike": rules.spike, "reset": rules.reset, "reset_delay": rules.reset_delay,
                             "a_in_bound": bound, "v_lsb": a_scale / (1 << LOIHI2.state_shift_bits)}
    if rules.multi:  # keys added only where used (an older bundle's entries read as one spike, no clamp)
        entry["max_spikes"] = cap
    if rules.v_min is not None:
        v_reset = float(np.asarray(g.arrays[name].get("v_reset", 0.0), dtype=np.float64).reshape(-1)[0])
        entry["v_min_mant"] = int(np.clip(round((rules.v_min - v_reset) / a_scale), -LOIHI2.vth_mant.hi,
                                          LOIHI2.vth_mant.hi))
    if spiking:  # the threshold in the float model's units that the integer one implements
        entry["vth_rel_error"] = (vth_int + offset) * a_scale / vth - 1.0
    entry["const_max_error"] = float(np.max(np.abs(const_mant * a_scale - const), initial=0.0))
    quant[name] = entry
    if np.any(const_mant != 0):
        ints[name] = {"const_mant": const_mant}


def check_sequence_integers(g: DeployGraph, quant: dict, ints: dict[str, dict[str, np.ndarray]], what: str) -> None:
    """Raise QuantizationError (one line) when ``quant``/``ints`` (a bundle's) do not match the sequence graph.

    An older bundle's entries for balancing delay lines (``balance:SRC->DST``, now delays on edges)
    are ignored."""
    for name in _processes(g):
        kind = g.kind(name)
        want_kind = ("source" if kind == "input" else "delay" if kind == "delay" else "sigma_delta"
                     if kind == "sigma_delta" else "lif" if kind in NIR_NEURON_KINDS else "dense" if _is_dense(g, name)
                     else "conv")
        q = quant.get(name)
        if q is None or q.get("kind") != want_kind:
            raise QuantizationError(f"{what}: process '{name}' ({want_kind}) has no integer parameters; re-export "
                                    "with --quantize int")
        if want_kind in ("dense", "conv"):
            want = np.shape(g.arrays[name]["weight"])
            got = ints.get(name, {}).get("weight_mant")
            if got is None or got.shape != want:
                raise QuantizationError(f"{what}: '{name}/weight_mant' is {None if got is None else list(got.shape)}, "
                                        f"the graph needs {list(want)}; re-export with --quantize int")
        if want_kind == "lif" and "const_mant" in ints.get(name, {}) and \
                ints[name]["const_mant"].shape != tuple(g.shape(name)):
            raise QuantizationError(f"{what}: '{name}/const_mant' does not have the layer's shape "
                                    f"{list(g.shape(name))}; re-export with --quantize int")
    extra = sorted(set(ints) - set(_processes(g)))
    if extra:
        raise QuantizationError(f"{what}: '{extra[0]}' is not a process of this graph; re-export with --quantize int")
