"""A small Lava process the stock library lacks: a delay line.

Each follows Lava's split: the Process (here) declares ports and variables; the
ProcessModels (``models.py`` beside it, ``floating_pt`` and ``fixed_pt``) implement it,
chosen by the run config. It receives and sends within the same time step, so it adds
no latency of its own (unlike synapses, which add one step). The processes whose ports
depend on the graph (relays, routing, host islands, record sinks) are in ``functions.py``.

- :class:`DelayLine` delays a stream by ``delay`` time steps (payload kept: binary,
  graded or real). It balances paths of different depth at joins. On Loihi 2 this maps
  to synaptic/axonal delays or relay neurons; here it is a CPU process.
"""

from __future__ import annotations

import numpy as np

from neurodeploy.targets.loihi import compat

compat.install()

from lava.magma.core.process.ports.ports import InPort, OutPort  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402
from lava.magma.core.process.variable import Var  # noqa: E402


class DelayLine(AbstractProcess):
    """Output at step k = input at step k - ``delay`` (zeros for the first ``delay`` steps).

    Args:
        shape: shape of the stream (Lava layout, e.g. (X, Y, C)).
        delay: delay in time steps, >= 1.
    """

    def __init__(self, *, shape: tuple[int, ...], delay: int, name: str | None = None) -> None:
        if delay < 1:
            raise ValueError(f"DelayLine needs delay >= 1, got {delay}")
        super().__init__(shape=shape, delay=delay, name=name)
        self.s_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.buffer = Var(shape=shape + (delay,), init=np.zeros(shape + (delay,)))

