"""The integer emulator: the quantized chip graph in integer torch arithmetic, host islands in onnxruntime.

Registered as executor ``emulator``. It runs a bundle exported with ``--quantize int``:
``chip.nir`` for the structure, ``info.quant`` (the PTQ pass's annotations) and
``params.npz`` for the integers, ``host/ISLAND.onnx`` through the ``split`` executor's
island handling. Every chip value is an int64 tensor; the arithmetic is Lava 0.10's
``fixed_pt`` process models' (see :mod:`neurodeploy.limits`), in the same order:

- **Conv** (``PyConvModelFixed``): ``a_out = wrap24(sum w_mant · s_in)`` -- the sum wraps
  modulo ``2**24`` into ``[-2**23, 2**23)``; ``weight_exp`` plays no part (Lava ignores it).
  The sum is computed exactly in float32 when ``max|s_in| · max|w| · fan_in < 2**24``,
  else as two float32 sums of the input's high and low bits, else in float64 (exact below
  ``2**53``, checked), then converted to int64 (:func:`conv_int`).
- **LIF** (``PyLifModelBitAcc``), per step::

      u = trunc0(u · (4096 - du - 1) / 4096) + (a_in << 6)      # then Lava's one-step wrap
      v = sat(trunc0(v · (4096 - dv) / 4096) + u + (bias_mant << bias_exp), ±(2**23 - 1))
      s = v > (vth_mant << 6);  v[s] = 0

  ``trunc0`` rounds toward zero (:func:`decay_`: the states are integers held in floats); the wrap subtracts ``2**24`` when ``u > 2**23`` and adds it
  when ``u <= -2**23`` (Lava tests the second bound on the wrapped value but adds to the
  unwrapped one; reproduced).
- **Rescale** (relay synapse, Dense semantics): ``(x · M) >> k`` rounding down
  (arithmetic shift), ``<< -k`` for ``k < 0``.
- **Upsample**: nearest copies; bilinear ×2 computes ``16 · interp(x)`` (exact integers).
- **Host → chip**: ``round_half_even(x / in_scale)``, clipped to the consumer's payload
  (a neuron's ``a_in`` inside ``int16``, ``LOIHI2.a_in``; 16-bit signed into anything else).
- **Chip → host**: ``x_int · scale`` (model units), float64 -> the island's float32.

Latency: the emulator works on logical time steps (like every Trace); Lava's one-step
synaptic delays are a property of the lowering, realigned by it.

Images of any size run whole: the image is padded bottom/right (reflect) to a multiple
of the network's downsampling factor, and the output cropped back (as the models' own
``PadToMultiple`` does). Per-layer parameters broadcast over H, W.
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path

import nir
import numpy as np
import torch
import torch.nn.functional as F

from neurodeploy.errors import BundleError
from neurodeploy.ir.graph import DeployGraph
from neurodeploy.ir import nodes as nd
from neurodeploy.ir.primitives import SEQUENCE_NEURON_KINDS, flatten_dims
from neurodeploy.ir.rules import NeuronRules
from neurodeploy.limits import LOIHI2, ChipLimits
from neurodeploy.passes import synapse_form as sf
from neurodeploy.quantize.ptq import A_IN_MAX, ACT_BITS, CalibrationRanges, input_scale
from neurodeploy.targets import PARAMS  # the bundle's file of integers (re-exported: bundle.py reads it here)
from neurodeploy.targets.nir_primitives import run_with_loops
from neurodeploy.targets.nir_torch import max_over, patch_to_time
from neurodeploy.targets.split import SplitExecutor
from neurodeploy.trace import Trace

_HALF = 1 << (LOIHI2.state_bits - 1)  # 2**23


# ------------------------------------------------------------------ integer kernels (Lava fixed_pt)
def trunc_shift(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``sign(x) · (|x| >> bits)``: a right shift rounding toward zero (Lava's decays).

    Computed as one integer division rounding toward zero (``torch.div(..., rounding_mode="trunc")``
    by ``2**bits``), which is that value for every int64 ``x`` and one pass instead of four."""
    return torch.div(x, 1 << bits, rounding_mode="trunc")


def wrap_signed(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Lava's ``signed_clamp``: ``(x + 2**(bits-1)) mod 2**bits - 2**(bits-1)`` (a wrap, not a clip)."""
    base = 1 << bits
    return torch.remainder(x + base // 2, base) - base // 2


def rescale(x: torch.Tensor, m: int, k: int) -> torch.Tensor:
    """``(x · m) >> k`` (arithmetic shift: rounds down), or ``(x · m) << -k``."""
    y = x * m
    return y >> k if k >= 0 else y << -k


def decay_(x: np.ndarray, keep: int, bits: int) -> np.ndarray:
    """``x = trunc0(x · keep / 2**bits)`` in place on a float state (Lava's decays round toward zero).

    Exact: ``|x| < 2**24`` and ``keep <= 2**bits = 4096``, so ``x · keep / 2**bits`` has at most
    37 significant bits and float64 (53) holds it, and the division by a power of two is exact;
    in float32 (24 bits) when ``keep`` is a power of two (the product is then ``x`` rescaled)."""
    x *= keep * 2.0 ** -bits
    return np.trunc(x, out=x)


def _wrap_current(cur: np.ndarray) -> np.ndarray:
    """Lava's one-step wrap of ``u`` (see the module docstring), on float integers."""
    half = float(_HALF)
    wrapped = np.where(cur > half, cur - 2 * half, cur)
    return np.where(wrapped <= -half, cur + 2 * half, wrapped)


def lif_int(a_in: torch.Tensor, du: int, dv: int, vth_mant: int, bias: torch.Tensor | int = 0,
            chip: ChipLimits = LOIHI2, state: bool = False, counts: dict | None = None,
            spike_dtype: torch.dtype = torch.int64, rules=None):
    """Lava's ``PyLifModelBitAcc`` on a sequence -- the one integer LIF of every emulator.

    Args:
        a_in: ``(T, ...)`` int64 synaptic input per step (integer units, before ``<< 6``).
        du, dv: 12-bit decays; vth_mant: 17-bit threshold mantissa.
        bias: effective bias ``bias_mant << bias_exp`` (int64, broadcast over ``a_in[0]``), ``v`` units.
        state: also return ``u`` and ``v`` after every step.
        counts: when given, adds ``u_wrapped`` and ``v_saturated`` (numbers of values).
        spike_dtype: the spikes' dtype (int64, or float32 for a convolution to take as it is).
        rules: a writer's neuron rules (:class:`neurodeploy.ir.rules.NeuronRules`: ``>=``,
            subtractive or one-step-late reset; the project's fixed_pt ``RuleLIF``); None or
            NIR's rules: Lava's LIF (``v > vth``, reset to 0 at once).
    Returns:
        spikes ``(T, ...)`` 0/1, and with ``state`` the tuple ``(spikes, u, v)`` (u, v int64).

    The states are integers held in float64 (exact below ``2**53``; every value here is below
    ``2**37``), or in float32 where that is exact (see the code), updated in place in numpy:
    a step is a handful of whole-array operations on small arrays, where numpy's per-call cost
    is a fraction of torch's, and int64 division has no fast path on CPU.
    """
    if rules is not None and not rules.is_nir:
        return _lif_int_rules(a_in, du, dv, vth_mant, bias, chip, rules, state, counts, spike_dtype)
    shift, dbits = int(chip.state_shift_bits), int(chip.decay_shift_bits)
    keep_u, keep_v = chip.current_retained(du), chip.voltage_retained(dv)
    vth = float(int(vth_mant) << shift)
    lim = float(_HALF - 1)
    u_all = np.asarray(a_in, dtype=np.int64) << shift
    b = np.asarray(bias, dtype=np.float64)
    dtype = np.float64
    if keep_u == 0:
        # du = 4095 (the derainers' current that passes straight through): u[t] depends on a[t] only,
        # so the current and Lava's wrap are computed for all steps at once (same values, one pass)
        lo, hi = (int(u_all.min()), int(u_all.max())) if u_all.size else (0, 0)
        if hi > _HALF or lo <= -_HALF:  # some current wraps (never with PTQ's int16 a_in)
            cur_all = u_all.astype(np.float64)
            u_all = _wrap_current(cur_all)
            if counts is not None:
                counts["u_wrapped"] = counts.get("u_wrapped", 0) + int((u_all != cur_all).sum())
            lo, hi = (int(u_all.min()), int(u_all.max()))
        if keep_v & (keep_v - 1) == 0 and max(hi, -lo) + float(np.abs(b).max(initial=0)) <= _HALF:
            # float32 holds every value exactly: the decay is a power-of-two scaling and
            # |v decayed| + |u| + |bias| < 2**24 (|v| <= 2**23 - 1 after saturation)
            dtype = np.float32
        # the bias joins the current once for all steps (integers: the sum is the same in any order)
        drive = u_all.astype(dtype) + b.astype(dtype)
    else:
        drive = u_all.astype(dtype)
    u = np.zeros(drive.shape[1:], dtype=dtype)
    v = np.zeros(drive.shape[1:], dtype=dtype)
    quiet = np.empty(drive.shape, dtype=bool)  # v <= vth: no spike, v kept
    us, vs = [], []
    for t in range(drive.shape[0]):
        if keep_u == 0:
            u = u_all[t]
            v = decay_(v, keep_v, dbits)
            v += drive[t]
        else:
            cur = decay_(u, keep_u, dbits) + drive[t]
            u = _wrap_current(cur)
            if counts is not None:
                counts["u_wrapped"] = counts.get("u_wrapped", 0) + int((u != cur).sum())
            v = decay_(v, keep_v, dbits)
            v += u
            v += b
        if v.size and (v.max() > lim or v.min() < -lim):  # saturation is rare: clip and count when it happens
            if counts is not None:
                counts["v_saturated"] = counts.get("v_saturated", 0) + int((np.abs(v) > lim).sum())
            np.clip(v, -lim, lim, out=v)
        np.less_equal(v, vth, out=quiet[t])
        v *= quiet[t]  # the reset to 0
        if state:
            us.append(np.broadcast_to(u, v.shape).astype(np.int64))
            vs.append(v.astype(np.int64))
    out = torch.from_numpy(np.logical_not(quiet)).to(spike_dtype)
    if state:
        return out, torch.from_numpy(np.stack(us)), torch.from_numpy(np.stack(vs))
    return out


def _lif_int_rules(a_in, du: int, dv: int, vth_mant: int, bias, chip: ChipLimits, rules,
                   state: bool, counts: dict | None, spike_dtype: torch.dtype):
    """A writer's neuron rules on Lava's bit-accurate LIF arithmetic (the ``fixed_pt`` model of
    :class:`~neurodeploy.targets.loihi.processes.RuleLIF`), per step::

        u = wrap(trunc0(u · (4096 - du - 1) / 4096) + (a_in << 6));  v = sat(trunc0(v · (4096 - dv) / 4096) + u + bias)
        reset where a spike is pending (reset_delay 1);  s = v > vth << 6  (>= with at_equality)
        reset where s (reset_delay 0), else pending = s;  reset: v = 0, or v = sat(v - (vth << 6))
        several spikes per step (rules.max_spikes > 1): s = min(v // (vth << 6), max_spikes) where v fires
        ((v - 1) // ... on >), the graded count; v = sat(v - s (vth << 6)) (subtract) or 0
        v = max(v, rules.v_min)  (rules.v_min: integer v units, the quantizer's v_min_mant << 6)

    (:func:`lif_int`'s arguments; ``rules``: a :class:`neurodeploy.ir.rules.NeuronRules` whose
    ``max_spikes`` is the quantizer's cap and ``v_min`` in integer ``v`` units). ``counts`` gains
    ``count_clipped``: the neurons-steps whose count the cap cut."""
    at_equality, subtract, reset_delay = rules.spike == ">=", rules.reset == "subtract", int(rules.reset_delay)
    most, low = int(rules.max_spikes), (None if rules.v_min is None else int(rules.v_min))
    vth, lo, hi = chip.effective_vth(vth_mant), 1 - _HALF, _HALF - 1
    b = np.asarray(bias, dtype=np.int64)
    a_in = np.asarray(a_in, dtype=np.int64)
    u, v = np.zeros(a_in.shape[1:], np.int64), np.zeros(a_in.shape[1:], np.int64)
    pending = np.zeros(a_in.shape[1:], bool)
    spikes, us, vs = np.zeros(a_in.shape, np.int64), [], []

    def reset(where: np.ndarray) -> None:
        v[where] = np.maximum(v[where] - vth, lo) if subtract else 0

    for t, a in enumerate(a_in):
        cur = chip.decay_current(u, du) + chip.synaptic_input(a)
        u = _wrap_current(cur).astype(np.int64)
        raw = chip.decay_voltage(v, dv) + u + b
        v = np.clip(raw, lo, hi)
        if counts is not None:
            counts["u_wrapped"] = counts.get("u_wrapped", 0) + int((u != cur).sum())
            counts["v_saturated"] = counts.get("v_saturated", 0) + int((v != raw).sum())
        if most > 1:  # the count of spikes: one graded payload (the project's fixed_pt RuleLIF)
            fired = v >= vth if at_equality else v > vth
            k = np.where(fired, (v if at_equality else v - 1) // vth, 0)
            s = np.where(fired, np.clip(k, 1, most), 0)
            if counts is not None:
                counts["count_clipped"] = counts.get("count_clipped", 0) + int((k > most).sum())
            v = np.maximum(v - s * vth, lo) if subtract else np.where(fired, 0, v)
        else:
            if reset_delay:
                reset(pending)
            s = v >= vth if at_equality else v > vth
            if reset_delay:
                pending = s
            else:
                reset(s)
        if low is not None:  # sinabs' min_v_mem, after the reset
            v = np.maximum(v, low)
        spikes[t] = s
        us.append(u.copy())
        vs.append(v.copy())
    out = torch.from_numpy(spikes).to(spike_dtype)
    return (out, torch.from_numpy(np.stack(us)), torch.from_numpy(np.stack(vs))) if state else out


def fixed_rules(q: dict) -> NeuronRules:
    """The rules of a quantized ``RuleLIF`` layer from its ``info.quant`` entry: ``max_spikes`` the
    quantizer's cap, ``v_min`` in integer ``v`` units (``v_min_mant << 6``); entries of bundles
    written before issue 28 have neither (one spike per step, no clamp)."""
    low = q.get("v_min_mant")
    return NeuronRules(q["spike"], q["reset"], int(q["reset_delay"]), int(q.get("max_spikes", 1)),
                       None if low is None else int(low) << LOIHI2.state_shift_bits)


def lif_layer(a_in: torch.Tensor, q: dict, ints: dict, chip: ChipLimits = LOIHI2, counts: dict | None = None,
              spike_dtype: torch.dtype = torch.int64, with_v: bool = False):
    """A quantized neuron layer, a model's or a sequence graph's, from its ``info.quant`` entry ``q``
    and its integer arrays ``ints``: ``a_in`` (``(T, N, *shape)``, integer units) plus the constant
    input ``const_mant`` where it has one, the bias ``bias_mant << bias_exp`` (per channel) where it
    has one, the writer's rules where the layer runs on ``RuleLIF`` (``q["model"]``). Returns the
    spikes, or ``v`` (integer ``v`` units) for a layer that never fires (I/LI/CubaLI); with
    ``with_v``, the pair (that, ``v`` after each step's reset)."""
    const = ints.get("const_mant")
    if const is not None:
        a_in = a_in + torch.as_tensor(const)
    bias: torch.Tensor | int = 0
    if "bias_mant" in ints:
        b = torch.as_tensor(np.asarray(ints["bias_mant"], dtype=np.int64))
        # per neuron in the layer's shape (a netx file's, q["bias_per_neuron"]), else per channel (a model's conv bias)
        bias = (b if q.get("bias_per_neuron") else b.view(-1, 1, 1)) << int(q["bias_exp"])
    rules = fixed_rules(q) if q.get("model") == "RuleLIF" else None
    if not q.get("spiking", True):
        v = lif_int(a_in, q["du"], q["dv"], q["vth_mant"], bias, chip, state=True, counts=counts)[2]
        return (v, v) if with_v else v
    if with_v:
        spikes, _, v = lif_int(a_in, q["du"], q["dv"], q["vth_mant"], bias, chip, state=True, counts=counts,
                               spike_dtype=spike_dtype, rules=rules)
        return spikes, v
    return lif_int(a_in, q["du"], q["dv"], q["vth_mant"], bias, chip, counts=counts, spike_dtype=spike_dtype,
                   rules=rules)


def sigma_delta_int(a_in: torch.Tensor, vth_mant: int, spike_exp: int, state_exp: int) -> torch.Tensor:
    """Lava's ``SigmaDelta`` in ``fixed_pt`` (``PySigmaDeltaModelFixed``, ReLU, no bias), per step::

        sigma += a_in;  act = relu(sigma)
        delta = act - act_prev + residue
        s = delta if |delta| >= vth_mant << (spike_exp + state_exp) else 0
        residue = delta - s;  act_prev = act
        message = s >> state_exp                      # arithmetic shift: floor; the dropped bits are lost

    Args:
        a_in: ``(T, N, ...)`` int64 synaptic input. Returns ``(T, N, ...)`` int64 messages (0 = none sent).
    """
    vth = int(vth_mant) << (int(spike_exp) + int(state_exp))
    sigma = torch.zeros_like(a_in[0])
    act_prev, residue = torch.zeros_like(sigma), torch.zeros_like(sigma)
    out = torch.zeros_like(a_in)
    for t in range(a_in.shape[0]):
        sigma = sigma + a_in[t]
        act = torch.clamp(sigma, min=0)
        delta = act - act_prev + residue
        s = torch.where(delta.abs() >= vth, delta, torch.zeros_like(delta))
        residue, act_prev = delta - s, act
        out[t] = s >> int(state_exp)
    return out


def nilif_int(a_in: torch.Tensor, thresholds, level_lsbs: int, dv: int, positions: int,
              chip: ChipLimits = LOIHI2, counts: dict | None = None) -> torch.Tensor:
    """NI-LIF in integers (the ``fixed_pt`` model of ``targets/loihi/processes``), per sub-step::

        u = sat(h + (a_in << 6), ±(2**23 - 1))
        K = #{thresholds t_k : u > t_k}                      # level 0..D (graded payload)
        h = trunc0((u - K · level_lsbs) · (4096 - dv) / 4096)

    Args:
        a_in: ``(T, N, P·C, ...)`` int64 input in ``2**-m`` level units (``level_lsbs = 2**(m+6)``).
        thresholds: D int thresholds in ``v`` units; dv: 12-bit decay; positions: P groups
            scanned in order within each step (the residual runs through them).
    Returns:
        ``(T, N, P·C, ...)`` int64 levels ``K``.
    """
    shift, dbits = int(chip.state_shift_bits), int(chip.decay_shift_bits)
    keep, lim = chip.voltage_retained(dv), _HALF - 1
    thr = torch.as_tensor(np.asarray(thresholds, dtype=np.int64))
    t_steps, n, pc = a_in.shape[:3]
    groups = a_in.reshape(t_steps, n, positions, pc // positions, *a_in.shape[3:])
    h = torch.zeros_like(groups[0, :, 0])
    out = torch.empty_like(groups)
    for t in range(t_steps):
        for p in range(positions):
            raw = h + (groups[t, :, p] << shift)
            u = raw.clamp(-lim, lim)
            if counts is not None:
                counts["v_saturated"] = counts.get("v_saturated", 0) + int((u != raw).sum())
            k = (u.unsqueeze(-1) > thr).sum(-1)
            h = trunc_shift((u - k * level_lsbs) * keep, dbits)
            out[t, :, p] = k
    return out.reshape(a_in.shape)


def conv_int(x: torch.Tensor, weight: torch.Tensor, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups: int = 1,
             chip: ChipLimits = LOIHI2, counts: dict | None = None, weight32: torch.Tensor | None = None) -> torch.Tensor:
    """Lava's ``PyConvModelFixed`` (cross-correlation, PyTorch layout): exact integer sum, wrapped at 24 bits.

    ``x``: ``(N, C, H, W)`` int64 (or float32 holding integers, e.g. 0/1 spikes); ``weight``: ``(C_out, C_in/groups, kh, kw)`` int64 mantissas
    (``weight32``: the same as float32, when the caller keeps it between calls).

    The sums run in float32, exact while ``max|x| · max|w| · fan_in < 2**24`` (every partial sum
    is then an integer float32 holds, in whatever order the convolution adds). Larger graded
    inputs are split as ``x = (x >> k) · 2**k + (x & (2**k - 1))`` with both halves under that
    bound: two float32 convolutions are about twice as fast as one in float64. Beyond that,
    float64 (exact below ``2**53``, checked).
    """
    conv = functools.partial(F.conv2d, bias=None, stride=tuple(stride), padding=tuple(padding),
                             dilation=tuple(dilation), groups=int(groups))
    w32 = weight.to(torch.float32) if weight32 is None else weight32
    per_x = int(w32.abs().max()) * weight[0].numel() if weight.numel() else 0
    lo, hi = torch.aminmax(x) if x.numel() else (0, 0)
    top = max(-int(lo), int(hi))
    bound = top * per_x
    exact32 = 1 << 24
    if x.is_floating_point() and bound >= exact32:
        x = x.to(torch.int64)  # float inputs (0/1 spikes) are exact integers; the split below needs ints
    if bound >= 1 << 53:
        raise BundleError(f"a conv sum may reach {bound}, beyond what the emulator computes exactly (2**53); "
                          "re-quantize with smaller activations")
    if bound < exact32:
        acc = conv(x.to(torch.float32), w32).to(torch.int64)
    else:
        k = max((exact32 - 1) // per_x, 1).bit_length() - 1  # 2**k · per_x < 2**24
        if ((top >> k) + 1) * per_x < exact32:
            acc = (conv((x >> k).to(torch.float32), w32).to(torch.int64) << k) \
                + conv((x & ((1 << k) - 1)).to(torch.float32), w32).to(torch.int64)
        else:
            acc = conv(x.to(torch.float64), weight.to(torch.float64)).to(torch.int64)
    half = 1 << (chip.conv_accumulator.bits - 1)
    if bound < half:  # every sum is an exact integer inside the accumulator: nothing wraps
        return acc
    lo, hi = torch.aminmax(acc)
    if lo >= -half and hi < half:
        return acc
    out = wrap_signed(acc, chip.conv_accumulator.bits)
    if counts is not None:
        counts["acc_wrapped"] = counts.get("acc_wrapped", 0) + int((out != acc).sum())
    return out


def _per_step(fn, x: torch.Tensor) -> torch.Tensor:
    t, n = x.shape[:2]
    y = fn(x.flatten(0, 1))
    return y.reshape(t, n, *y.shape[1:])


# ------------------------------------------------------------------ params.npz
def params_arrays(g: DeployGraph) -> dict[str, np.ndarray]:
    """The integer arrays of the quantized chip nodes, as ``params.npz`` stores them (``NODE/NAME``)."""
    out = {}
    for node, entry in g.info.quant.items():
        for name in ("weight_mant", "bias_acc", "bias_mant"):
            if name in g.arrays.get(node, {}):
                out[f"{node}/{name}"] = np.asarray(g.arrays[node][name], dtype=np.int64)
    return out


def load_params(path: Path, chip: nir.NIRGraph, quant: dict) -> dict[str, dict[str, np.ndarray]]:
    """Read ``params.npz`` and check it against the chip graph; one-line BundleError when it does not match."""
    file = path / PARAMS
    if not file.is_file():
        raise BundleError(f"{path} has no {PARAMS}: not a quantized bundle; export with --quantize int --calib DIR")
    try:
        with np.load(file, allow_pickle=False) as data:
            raw = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise BundleError(f"{file} is not readable ({exc}); re-export with --quantize int") from None
    params: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in raw.items():
        node, _, name = key.rpartition("/")
        params.setdefault(node, {})[name] = arr
    for node, entry in quant.items():
        n = chip.nodes.get(node)
        if n is None:
            raise BundleError(f"{file}: quantized node '{node}' is not in chip.nir; re-export the bundle")
        if entry["kind"] == "conv":
            w = params.get(node, {}).get("weight_mant")
            if w is None or w.shape != np.asarray(n.weight).shape:
                got = None if w is None else list(w.shape)
                raise BundleError(f"{file}: '{node}/weight_mant' is {got}, the graph's conv needs "
                                  f"{list(np.asarray(n.weight).shape)}; params.npz does not match the graph, re-export")
        if entry["kind"] == "lif":
            b = params.get(node, {}).get("bias_mant")
            c = np.asarray(n.v_threshold).shape[0] if np.ndim(n.v_threshold) else None
            if b is None or (c is not None and b.shape != (c,)):
                raise BundleError(f"{file}: '{node}/bias_mant' is missing or has the wrong shape; "
                                  "params.npz does not match the graph, re-export")
    extra = sorted(set(params) - set(quant))
    if extra:
        raise BundleError(f"{file}: '{extra[0]}' is not a quantized node of this graph; params.npz does not match, re-export")
    return params


# ------------------------------------------------------------------ the executor
class IntegerEmulator(SplitExecutor):
    """Runs a quantized bundle (see module docstring). ``name = "emulator"``.

    Args:
        path: the bundle folder (``chip.nir`` with ``info.quant``, ``params.npz``, ``host/``).
        partition: the manifest's partition summary.
        progress: optional ``callback(done, total)`` per image in :meth:`run_images`.
    """

    name = "emulator"

    def __init__(self, path: Path, partition: dict, chip: ChipLimits = LOIHI2, record_layers: bool = True):
        super().__init__(Path(path), partition)
        self.record_layers = record_layers  # False: Traces carry the output only (saves memory on large images)
        self.limits = chip
        self.quant = self.chip_info.quant
        if not self.quant:
            raise BundleError(f"{path} is not quantized (no integer parameters in chip.nir); "
                              "export with --quantize int --calib DIR")
        self.params = load_params(Path(path), self.chip, self.quant)
        self._weights = {n: (torch.as_tensor(p["weight_mant"]), torch.as_tensor(p["weight_mant"]).to(torch.float32))
                         for n, p in self.params.items() if "weight_mant" in p}
        shapes = [s for s in self.chip_info.shapes.values() if len(s) == 3]
        _, h, w = self.chip_info.input_shape
        self.multiple = max([1] + [max(h // s[1], w // s[2]) for s in shapes if s[1] and s[2]])
        self.counts: dict[str, dict[str, int]] = {}
        self._host_reads = {n for isl in self.islands for n in isl["inputs"]} | {self.output}
        self._consumers = {n: sum(1 for s, _ in self.chip.edges if s == n) for n in self.chip.nodes}

    # ------------------------------------------------------------- one chip node
    def _input(self, name: str, pred: str, ints: dict, values: dict) -> torch.Tensor:
        q = self.quant[name]
        if pred in self.quant:  # a chip node
            x = ints[pred]
            if x.is_floating_point() and (q["kind"] != "conv" or pred in q["rescale"]
                                          or len(self._preds[name]) > 1):
                x = x.to(torch.int64)  # spikes as float32 0/1 go to a lone conv as they are
            if self.quant[pred]["kind"] == "conv":  # bias_acc exists only where no neuron took the bias
                x = self._with_bias(pred, x)
            if pred in q["rescale"]:
                x = rescale(x, *q["rescale"][pred])
            return x
        lim = A_IN_MAX if q["kind"] in ("lif", "nilif") else (1 << (ACT_BITS - 1)) - 1
        raw = torch.round(torch.as_tensor(values[pred], dtype=torch.float64) / input_scale(q, pred))
        x = raw.clamp(-lim, lim)
        self._count(name, "host_input_clipped", int((x != raw).sum()))
        return x.to(torch.int64)

    def _with_bias(self, conv: str, x: torch.Tensor) -> torch.Tensor:
        b = self.params.get(conv, {}).get("bias_acc")
        return x if b is None else x + torch.as_tensor(b).view(-1, 1, 1)

    def _count(self, node: str, what: str, n: int) -> None:
        if n:
            c = self.counts.setdefault(node, {})
            c[what] = c.get(what, 0) + n

    def _node(self, name: str, preds: list[str], ints: dict, values: dict) -> None:
        q = self.quant[name]
        node = self.chip.nodes[name]
        kind = q["kind"]
        if isinstance(node, nd.Concat):
            x = torch.cat([self._input(name, p, ints, values) for p in node.inputs], dim=2)
        elif isinstance(node, nd.Product):  # a product neuron: (a * b) >> shift, rounding down (int64)
            a, b = (self._input(name, p, ints, values) for p in node.inputs)
            x = (a * b) >> int(q["shift"])
        else:
            xs = [self._input(name, p, ints, values) for p in preds]
            x = xs[0] if len(xs) == 1 else sum(xs[1:], xs[0])  # (sum()'s start 0 would cost a pass)
        counts = self.counts.setdefault(name, {})
        if kind == "conv":
            w, w32 = self._weights[name]
            y = _per_step(lambda z: conv_int(z, w, node.stride, node.padding, node.dilation, node.groups,
                                             self.limits, counts, w32), x)
        elif kind == "lif":
            # float32 0/1 spikes: what a conv and the host read (exact), converted to int64 where summed
            y = lif_layer(x, q, self.params[name], self.limits, counts, spike_dtype=torch.float32)
        elif kind == "nilif":
            y = nilif_int(x, q["thresholds"], q["level_lsbs"], q["dv"], q["positions"], self.limits, counts)
        elif kind == "patch_to_time":
            y = patch_to_time(x, int(node.r))  # routing: the integers re-laid
        elif kind == "upsample":
            if q["multiplier"] == 1:
                y = _per_step(lambda z: F.interpolate(z.to(torch.float64), scale_factor=int(node.scale_factor),
                                                      mode="nearest").to(torch.int64), x)
            else:
                y = _per_step(lambda z: torch.round(16 * F.interpolate(z.to(torch.float64), scale_factor=2,
                                                                       mode="bilinear", align_corners=False)
                                                    ).to(torch.int64), x)
        elif kind == "max":  # a max tree: exact on integers, the scale unchanged
            y = max_over(x, node.over)
        elif kind == "relu":
            y = torch.clamp(x, min=0)
        elif kind == "decode_mean":  # the readout: the per-step integer weights, summed over T (PTQ's scale)
            w = torch.as_tensor(q["weight_mants"], dtype=torch.int64).reshape(-1, *([1] * (x.dim() - 1)))
            y = (x * w).sum(dim=0)
        elif kind == "encode":  # the hold: the image sent once, the same integers on every step
            y = x.unsqueeze(0).expand(self.chip_info.t_steps, *x.shape).contiguous()
        else:  # sum, concat, gain: the integer passes (a gain changes the scale only)
            y = x
        ints[name] = y
        for p in preds:  # free what no chip node reads any more
            self._left[p] -= 1
            if self._left[p] <= 0 and p in ints:
                del ints[p]
        if kind == "lif":
            if name in self._host_reads or (self.record_layers and name in self.layers):
                values[name] = y.numpy()  # float32 0/1: exact, and what the islands take
        elif name in self._host_reads or (kind == "nilif" and self.record_layers and name in self.layers):
            out = self._with_bias(name, y) if kind == "conv" else y
            values[name] = (out.to(torch.float64) * q["scale"]).numpy()

    # ------------------------------------------------------------- batches and images
    def run(self, images: np.ndarray) -> list[Trace]:
        """``images``: ``(N, C, H, W)`` in model units, any H, W -> one Trace per image."""
        images = np.asarray(images, dtype=np.float64)
        h, w = images.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            images = F.pad(torch.as_tensor(images), (0, pw, 0, ph), mode=mode).numpy()
        ints: dict[str, torch.Tensor] = {}
        self.counts = {}
        self._left = dict(self._consumers)
        with torch.no_grad():
            values, seconds = self.interleave(images, lambda n, p, v: self._node(n, p, ints, v))
        out = values[self.output][..., :h, :w]
        counts = {n: {k: v for k, v in c.items() if v} for n, c in self.counts.items()}
        counts = {n: c for n, c in counts.items() if c}
        layers = self.layers if self.record_layers else []
        return [Trace(self.name, self.chip_info.t_steps, {n: values[n][:, i].astype(np.float64) for n in layers}, out[i],
                      meta={"run_s": seconds / len(images), "saturated": counts})
                for i in range(len(images))]


class SequenceEmulator:
    """A quantized sequence graph (another writer's ``.nir`` file) on input sequences: executor
    ``emulator`` of such a bundle, with the integer kernels above.

    The graph runs as read, node by node on logical time steps, in NIR layout, with the
    quantizer's annotations (:func:`neurodeploy.quantize.ptq.quantize_sequence`): the input
    ``clip(round_half_even(x / scale), ±lim)``; a Dense ``(sum weight_mant · x) >> -weight_exp``
    (rounding down; Lava computes ``(sum 2 · weight_mant · x) >> (1 - weight_exp)``, the same
    integer); a Conv or pooling :func:`conv_int` (wrapped at 24 bits; a Conv1d as a Conv2d of
    height 1); a Flatten reshapes, a Scale passes the integers on (it is folded into its
    synapse's weights), a Delay shifts them by its steps; a neuron :func:`lif_layer`. Each sample
    starts from rest. Lava's one-step synaptic latencies are the Lava executor's business
    (:class:`neurodeploy.targets.loihi.executor.LavaSequenceExecutor` realigns them).

    Args:
        g: the DeployGraph the passes annotated (``lowering_flow``); quant, ints: its integers
            (``info.quant`` entries, arrays per node). Traces: spikes 0/1 for spiking layers;
            ``v · v_lsb`` (model units) for I/LI/CubaLI.
    """

    name = "emulator"

    def __init__(self, g: DeployGraph, quant: dict, ints: dict, chip: ChipLimits = LOIHI2):
        self.g, self.quant, self.ints, self.limits = g, quant, ints, chip
        self.dt_s = g.info.dt_s
        self.layers = [n for n in g.order if g.kind(n) in SEQUENCE_NEURON_KINDS]
        self.input = next(n for n in g.order if g.kind(n) == "input")
        self.output = next(n for n in g.order if g.kind(n) == "output")
        self.counts: dict[str, dict[str, int]] = {}  # per process: u_wrapped, v_saturated, acc_wrapped (last run)

    def run_values(self, x: np.ndarray) -> dict[str, torch.Tensor]:
        """``x``: ``(T, N, *input_shape)`` values -> every node's integers ``(T, N, *shape)``
        (neurons: spikes, or ``v`` for non-spiking ones)."""
        g, quant = self.g, self.quant
        t_steps, n = x.shape[:2]
        self.counts = {name: {} for name in quant}
        self.membranes: dict[str, torch.Tensor] = {}  # neuron layer -> integer v (T, N, *shape)
        q_in = quant[self.input]
        vals = {self.input: torch.as_tensor(np.clip(np.round(np.asarray(x, dtype=np.float64) / float(q_in["scale"])),
                                                    -int(q_in["lim"]), int(q_in["lim"])).astype(np.int64))}
        order = [n for n in g.order if g.kind(n) != "output"]
        preds = {n: g.predecessors(n) for n in order}

        def restart(again: set[str]) -> None:  # a recurrent loop's nodes again (run_with_loops): count the last pass
            for name in again & set(self.counts):
                self.counts[name] = {}

        def evaluate(name: str, ins: list[torch.Tensor]) -> torch.Tensor:
            self._node(name, sum(ins[1:], ins[0]), vals, t_steps, n)
            return vals[name]

        # a recurrent edge brings the previous step's integers, as Lava's recurrent Dense does
        return run_with_loops(order, preds, g.loops, evaluate, vals, restart)

    def _node(self, name: str, x_in: torch.Tensor, vals: dict, t_steps: int, n: int) -> None:
        """One node's integers ``(T, N, *shape)`` from its summed input ``x_in`` into ``vals``."""
        g, quant = self.g, self.quant
        node, q = g.node(name), quant.get(name, {})
        if isinstance(node, nir.Flatten):
            start, end = flatten_dims(name, node, tuple(x_in.shape[2:]))
            vals[name] = x_in.flatten(2 + start, 2 + end)
        elif isinstance(node, nir.Scale):  # folded into its synapse's weights
            vals[name] = x_in
        elif isinstance(node, nir.Delay):  # logical time
            d = sf.delay_steps(g, name)
            out = torch.zeros_like(x_in)
            if d < t_steps:
                out[d:] = x_in[:t_steps - d]
            vals[name] = out
        elif isinstance(node, sf.DENSE):
            w = torch.as_tensor(self.ints[name]["weight_mant"])
            vals[name] = rescale(x_in.reshape(t_steps, n, -1) @ w.T, 1, -int(q.get("weight_exp", 0)))
        elif sf.is_synapse(g, name):
            vals[name] = self._conv(name, x_in)
        elif g.kind(name) == "sigma_delta":
            vals[name] = sigma_delta_int(x_in, int(q["vth_mant"]), int(q["spike_exp"]), int(q["state_exp"]))
        else:
            vals[name], self.membranes[name] = lif_layer(x_in, q, self.ints.get(name, {}), self.limits,
                                                         self.counts[name], with_v=True)

    def _conv(self, name: str, x: torch.Tensor) -> torch.Tensor:
        g = self.g
        geo = sf.conv_geometry(name, g.node(name), g.shape(g.predecessors(name)[0]))
        t, n = x.shape[:2]
        z = x.flatten(0, 1).reshape(t * n, *geo["input_shape"])
        y = conv_int(z, torch.as_tensor(self.ints[name]["weight_mant"]), geo["stride"], geo["padding"],
                     geo["dilation"], geo["groups"], self.limits, self.counts[name])
        return y.reshape(t, n, *g.shape(name))

    def run(self, x: np.ndarray) -> list[Trace]:
        """``x``: ``(T, N, *input_shape)`` -> one Trace per sample (layers ``(T, *shape)``, model units)."""
        start = time.perf_counter()
        with torch.no_grad():
            vals = self.run_values(np.asarray(x, dtype=np.float64))
        seconds = time.perf_counter() - start
        t_steps, n = x.shape[:2]
        layers, membranes = {}, {}
        for name in self.layers:
            q = self.quant[name]
            layers[name] = vals[name].numpy().astype(np.float64) * (1.0 if q["spiking"] else float(q["v_lsb"]))
            if name in self.membranes and self.g.kind(name) != "threshold":  # v in model units: v_lsb, v_reset back
                membranes[name] = (self.membranes[name].numpy().astype(np.float64) * float(q["v_lsb"])
                                   + self.g.arrays[name].get("v_reset", 0.0))
        read = self.g.predecessors(self.output)[0]
        return [Trace(self.name, t_steps, {k: v[:, i] for k, v in layers.items()}, layers[read][:, i],
                      {k: v[:, i] for k, v in membranes.items()},
                      meta={"run_s": seconds / n, "dt_s": self.dt_s, "arithmetic": "int64 (Lava fixed_pt)"})
                for i in range(n)]


# ------------------------------------------------------------------ calibration (float graph)
def _magnitude(x: torch.Tensor, percentile: float | None) -> float:
    """max |x|, or its ``percentile``-th percentile (the k-th smallest, k = ceil(q/100 * n))."""
    if not x.numel():
        return 0.0
    a = x.detach().abs().reshape(-1)
    if percentile is None or percentile >= 100:
        return float(a.max())
    k = max(1, math.ceil(percentile / 100.0 * a.numel()))
    return float(torch.kthvalue(a, k).values)


def calibrate(g: DeployGraph, images: np.ndarray, batch: int = 4, percentile: float | None = None) -> CalibrationRanges:
    """Run the float graph (graph.nir with its host blocks, torch float64) on ``images``
    ``(N, C, H, W)`` at the export size and record the ranges PTQ needs (model units).

    ``percentile`` (0 < q <= 100): a range is the largest, over batches of ``batch`` crops, of
    the q-th percentile of ``|x|`` in the batch instead of its maximum, so that rare outliers
    do not widen the scale (the values above it then saturate). None: the maximum."""
    from neurodeploy.targets.nir_torch import eval_node

    blocks = {n: nd.host_module(node, torch.float64) for n, node in g.nodes.items() if isinstance(node, nd.HostBlock)}
    ranges = CalibrationRanges(images=len(images))
    feeds_chip = {s for s, d in g.edges if g.info.side.get(d) == "chip"}

    def peak(table: dict, name: str, x: torch.Tensor) -> None:
        table[name] = max(table.get(name, 0.0), _magnitude(x, percentile))

    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = torch.as_tensor(np.asarray(images[start:start + batch]), dtype=torch.float64)
            values = {n: x for n in g.inputs()}
            for name in g.order:
                if name in values:
                    continue
                values[name] = eval_node(g.nir, g.info, name, values, blocks, torch.float64)
                chip = g.info.side.get(name) == "chip"
                if chip or name in feeds_chip:
                    peak(ranges.out, name, values[name])
                if chip:
                    node = g.node(name)
                    preds = g.predecessors(name)
                    if isinstance(node, nd.Concat):
                        peak(ranges.inp, name, values[name])
                    elif preds:
                        peak(ranges.inp, name, sum(values[p] for p in preds))
                    if isinstance(node, nir.Conv2d):
                        b = torch.as_tensor(np.asarray(node.bias), dtype=torch.float64).view(-1, 1, 1)
                        peak(ranges.acc, name, values[name] - b)
            del values
    return ranges
