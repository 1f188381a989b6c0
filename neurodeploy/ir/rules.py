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
  (``MembraneReset``: zero; ``MembraneSubtract``, its default: ``v -= th`` right after the
  spike) is not written: "zero" unless ``--reset subtract``.
"""

from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np

from neurodeploy.errors import GraphError

SPIKE_KEY = "neurodeploy.spike_condition"
RESET_KEY = "neurodeploy.reset"
DELAY_KEY = "neurodeploy.reset_delay"
SPIKE_CONDITIONS = (">", ">=")
RESETS = ("zero", "subtract")
SPIKING = (nir.IF, nir.LIF, nir.CubaLIF)


@dataclass(frozen=True)
class NeuronRules:
    """How a spiking neuron fires and resets (module table); the defaults are NIR's."""

    spike: str = ">"
    reset: str = "zero"
    reset_delay: int = 0

    @property
    def is_nir(self) -> bool:
        return self == NIR_RULES

    def metadata(self) -> dict[str, object]:
        return {SPIKE_KEY: self.spike, RESET_KEY: self.reset, DELAY_KEY: int(self.reset_delay)}

    def describe(self) -> str:
        """One phrase, e.g. ``v >= th, subtract`` or ``v > th, zero one step late``."""
        late = " one step late" if self.reset_delay else ""
        return f"v {self.spike} th, {self.reset}{late}"


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
    if not any(k in meta for k in (SPIKE_KEY, RESET_KEY, DELAY_KEY)):
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
    return NeuronRules(spike, reset, int(delay))


def set_rules(node: nir.NIRNode, rules: NeuronRules) -> None:
    """Record ``rules`` on ``node`` (NIR's rules: nothing recorded, nothing removed)."""
    if rules.is_nir:
        return
    meta = node.metadata if isinstance(getattr(node, "metadata", None), dict) else {}
    meta.update(rules.metadata())
    node.metadata = meta


__all__ = ["NeuronRules", "NIR_RULES", "rules_of", "set_rules", "SPIKE_KEY", "RESET_KEY", "DELAY_KEY", "RESETS"]
