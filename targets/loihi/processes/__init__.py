"""Lava processes neurodeploy adds (a delay line and a readout), with their models."""

from neurodeploy.targets.loihi.processes.process import DelayLine, Readout

__all__ = ["DelayLine", "Readout"]
