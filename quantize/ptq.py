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
from neurodeploy.limits import LOIHI2, ChipLimits

ACT_BITS = 16  # graded payload of real-valued chip activations fed to convs (Lava's Conv takes 24)
WEIGHT_MAX = 127  # 8-bit signed mantissa, symmetric
RESCALE_BITS = 8  # |M| of a rescale (relay synapse) in [2**7, 2**8 - 1]
ACC_HEADROOM_BITS = 22  # calibrated conv accumulators stay below 2**22 (the accumulator wraps at 2**23)
# a neuron's input per step, largest magnitude: Lava's LIF declares a_in int16 (limits.py, LOIHI2.a_in)
A_IN_MAX = int(LOIHI2.a_in.hi)
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
        elif kind == "patch_to_time":
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


