"""Neuron rules NIR cannot carry, set only by ``--writer`` and kept in each node's metadata.

NIR's spiking neurons (IF, LIF, CubaLIF) fire on ``v > v_threshold`` and then set ``v =
v_reset`` at once (:mod:`.primitives`). Some writers' neurons do otherwise, and no NIR
field says so (neuromorphs/NIR#63). A graph read with ``--writer W`` states W's rules on
each spiking node, as plain node metadata that ``graph.nir`` keeps and ``nir.read``
loads (other NIR tools ignore it); a graph read without ``--writer`` has none, and a
node without them runs NIR's rules.

=============================== =============== ==========================================
key (``node.metadata``)          NIR (default)   other value
=============================== =============== ==========================================
``neurodeploy.spike_condition``  ``">"``         ``">="``: fire on ``v >= v_threshold``
``neurodeploy.reset``            ``"zero"``      ``"subtract"``: ``v -= v_threshold - v_reset``
                                 (``v=v_reset``) (``v -= v_threshold`` when ``v_reset`` = 0)
``neurodeploy.reset_delay``      ``0``           ``1``: a spike at step t resets ``v`` at step
                                                 t+1, after that step's update, before its
                                                 spike test
``neurodeploy.max_spikes``        ``1``           ``n`` > 1: several spikes per step, up to ``n``:
                                                 the layer sends the count ``k = floor((v -
                                                 v_reset) / (v_threshold - v_reset))`` (``>=``;
                                                 ``ceil(...) - 1`` with ``>``) as one graded
                                                 spike (Loihi 2's payload carries ``k``), and
                                                 ``"subtract"`` takes ``k`` thresholds off
``neurodeploy.v_min``            none            a number: after the reset, ``v = max(v,
                                                 v_min)`` (model units, the membrane's own
                                                 scale, not shifted by ``v_reset``)
=============================== =============== ==========================================

With ``reset_delay`` = 1, ``"zero"`` holds ``v`` at ``v_reset`` for the step after a spike
(that step's input to ``v`` is lost; the current of a CubaLIF still integrates), and
``"subtract"`` subtracts from the *undecayed* membrane's successor: ``v(t+1) =
update(v(t)) - (v_threshold - v_reset)`` instead of ``update(v(t) - ...)``.

Who needs which (read from snntorch 1.0.0, rockpool 3.1.0, sinabs 3.1.3 sources):

- **snntorch** (spike ``mem > threshold``; ``reset_delay=True``, its default): ``Synaptic``
  computes ``reset = mem(t-1) > threshold`` from the stored membrane, then ``syn = alpha
  syn + x``, ``mem = beta mem + syn``, then "zero": ``mem -= mem * reset``, "subtract":
  ``mem -= reset * threshold`` -- the reset of step t's spike lands on step t+1:
  ``reset_delay`` 1. ``Leaky`` "zero" zeroes ``mem`` *before* the decay (``mem = (1 -
  reset) mem; mem = beta mem + x``): NIR's immediate reset; ``Leaky`` "subtract" is
  ``mem = beta mem + x - reset * threshold``: ``reset_delay`` 1. The reset mechanism is
  not written (NIR#63): "zero" unless ``--reset subtract`` (snntorch's default). Neither is
  ``reset_delay``: these rules are snntorch's default ``reset_delay=True``.
- **rockpool** ``LIFTorch`` (a CubaLIF): ``n = (v >= th) floor(v/th)`` clipped to
  ``max_spikes_per_dt``, ``v -= n th``: ``>=`` and ``"subtract"`` (exact for
  ``max_spikes_per_dt=1``; several spikes per step have no NIR form).
- **sinabs** ``SingleSpike``/``MultiSpike`` fire on ``v - th >= 0``: ``>=``; the reset
  (``MembraneReset``: zero; ``MembraneSubtract``, its default: ``v -= k th`` right after the
  spike) is not written. Its defaults, which ``--writer sinabs`` sets and ``--rule NAME=off``
  switches off one by one (:data:`neurodeploy.ir.nirread.WRITER_RULES`): ``MultiSpike`` (``k = trunc(v / th)`` for
  ``v > 0``, unbounded: capped at :data:`MAX_COUNT`, what a Loihi 2 graded payload holds),
  ``MembraneSubtract``, and, on IF layers only, ``min_v_mem = -v_threshold``: sinabs'
  ``from_nir`` builds ``IAFSqueeze(..., min_v_mem=-node.v_threshold)`` (sinabs/nir.py) and
  ``lif_forward_single`` clamps ``v`` after the reset (layers/functional/lif.py).
- **rockpool** ``LIFTorch``/``LIFNeuronTorch``: ``StepPWL`` sends ``floor(v / th)`` spikes
  for ``v >= th``, clipped to ``max_spikes_per_dt`` (default ``2**16``, lif_torch.py), and
  subtracts them: ``max_spikes`` ``2**16``.
"""

from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np

from neurodeploy.errors import GraphError

SPIKE_KEY = "neurodeploy.spike_condition"
RESET_KEY = "neurodeploy.reset"
DELAY_KEY = "neurodeploy.reset_delay"
MAX_SPIKES_KEY = "neurodeploy.max_spikes"
V_MIN_KEY = "neurodeploy.v_min"
SPIKE_CONDITIONS = (">", ">=")
RESETS = ("zero", "subtract")
SPIKING = (nir.IF, nir.LIF, nir.CubaLIF)
# The largest count one graded spike carries: Loihi 2's graded payload is 24 bits (LOIHI2, Lava's
# num_message_bits = 24), read as signed by the synapses, so a count is at most 2**23 - 1 spikes.
MAX_COUNT = (1 << 23) - 1
_KEYS = (SPIKE_KEY, RESET_KEY, DELAY_KEY, MAX_SPIKES_KEY, V_MIN_KEY)


@dataclass(frozen=True)
class NeuronRules:
    """How a spiking neuron fires and resets (module table); the defaults are NIR's."""

    spike: str = ">"
    reset: str = "zero"
    reset_delay: int = 0
    max_spikes: int = 1  # spikes per time step, sent as one graded count when > 1
    v_min: float | None = None  # lower clamp of v after the reset, model units (None: none)

    @property
    def is_nir(self) -> bool:
        return self == NIR_RULES

    @property
    def multi(self) -> bool:
        """Several spikes per step (a graded count)."""
        return self.max_spikes > 1

    def metadata(self) -> dict[str, object]:
        meta: dict[str, object] = {SPIKE_KEY: self.spike, RESET_KEY: self.reset, DELAY_KEY: int(self.reset_delay)}
        if self.multi:  # keys added only where used: a bundle without them reads as before
            meta[MAX_SPIKES_KEY] = int(self.max_spikes)
        if self.v_min is not None:
            meta[V_MIN_KEY] = float(self.v_min)
        return meta

    def describe(self) -> str:
        """One phrase, e.g. ``v >= th, subtract`` or ``v > th, zero one step late`` (``, up to 8388607
        spikes per step, v >= -1`` for the rules added by issue 28)."""
        late = " one step late" if self.reset_delay else ""
        more = f", up to {self.max_spikes} spikes per step" if self.multi else ""
        clamp = f", v >= {self.v_min:g}" if self.v_min is not None else ""
        return f"v {self.spike} th, {self.reset}{late}{more}{clamp}"


NIR_RULES = NeuronRules()


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    return value if isinstance(value, str) else repr(value)


def rules_of(name: str, node: nir.NIRNode) -> NeuronRules:
    """The rules recorded on ``node`` (NIR's where none are).

    Raises:
        GraphError: one line naming the node, for a value outside the module table or rules
            on a node that does not spike and reset.
    """
    meta = getattr(node, "metadata", None)
    meta = meta if isinstance(meta, dict) else {}
    if not any(k in meta for k in _KEYS):
        return NIR_RULES
    if not isinstance(node, SPIKING):
        raise GraphError(f"node '{name}' ({type(node).__name__}) carries neuron rules ({RESET_KEY} ...), which only "
                         "IF, LIF and CubaLIF take; remove them from its metadata")
    spike, reset = _text(meta.get(SPIKE_KEY, ">")), _text(meta.get(RESET_KEY, "zero"))
    delay = meta.get(DELAY_KEY, 0)
    if spike not in SPIKE_CONDITIONS:
        raise GraphError(f"neuron '{name}': {SPIKE_KEY} {spike[:20]!r} is not one of {', '.join(SPIKE_CONDITIONS)}")
    if reset not in RESETS:
        raise GraphError(f"neuron '{name}': {RESET_KEY} {reset[:20]!r} is not one of {', '.join(RESETS)}")
    if isinstance(delay, (bool, np.bool_)) or not isinstance(delay, (int, np.integer)) or int(delay) not in (0, 1):
        raise GraphError(f"neuron '{name}': {DELAY_KEY} {_text(delay)[:20]} is not 0 or 1 (steps)")
    most = meta.get(MAX_SPIKES_KEY, 1)
    if isinstance(most, np.ndarray) and most.ndim == 0:
        most = most.item()
    if isinstance(most, (bool, np.bool_)) or not isinstance(most, (int, np.integer)) or not 1 <= int(most) <= MAX_COUNT:
        raise GraphError(f"neuron '{name}': {MAX_SPIKES_KEY} {_text(most)[:20]} is not a whole number of spikes in "
                         f"1..{MAX_COUNT} (a Loihi 2 graded payload)")
    if int(most) > 1 and int(delay):
        raise GraphError(f"neuron '{name}': several spikes per step ({MAX_SPIKES_KEY}) with a reset one step late "
                         f"({DELAY_KEY} 1) is no writer's rule; set one of them back")
    low = meta.get(V_MIN_KEY)
    if isinstance(low, np.ndarray) and low.ndim == 0:
        low = low.item()
    if low is not None and (isinstance(low, (bool, np.bool_)) or not isinstance(low, (int, float, np.number))
                            or not np.isfinite(float(low))):
        raise GraphError(f"neuron '{name}': {V_MIN_KEY} {_text(low)[:20]} is not a finite number (model units)")
    return NeuronRules(spike, reset, int(delay), int(most), None if low is None else float(low))


def set_rules(node: nir.NIRNode, rules: NeuronRules) -> None:
    """Record ``rules`` on ``node`` (NIR's rules: nothing recorded, nothing removed)."""
    if rules.is_nir:
        return
    meta = node.metadata if isinstance(getattr(node, "metadata", None), dict) else {}
    meta.update(rules.metadata())
    node.metadata = meta


__all__ = ["NeuronRules", "NIR_RULES", "rules_of", "set_rules", "SPIKE_KEY", "RESET_KEY", "DELAY_KEY", "RESETS",
           "MAX_SPIKES_KEY", "V_MIN_KEY", "MAX_COUNT"]
