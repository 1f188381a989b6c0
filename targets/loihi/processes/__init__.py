"""Lava processes neurodeploy adds, with their models: the delay line, NI-LIF and RuleLIF (here); the processes
whose ports depend on the graph -- relays, routing, interpolation, host islands, record
sinks (:mod:`.functions`); a faster model of Lava's own Conv (:mod:`.fast`)."""

from neurodeploy.targets.loihi.processes.process import NILIF, DelayLine, LoopGate, Readout, RuleLIF

__all__ = ["DelayLine", "LoopGate", "NILIF", "Readout", "RuleLIF"]
