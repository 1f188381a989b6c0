"""ProcessModels of :mod:`.process`: ``floating_pt`` and ``fixed_pt`` of the delay line.

Lava finds them by scanning this folder when it compiles a network.
"""

from __future__ import annotations

import numpy as np

from neurodeploy.limits import LOIHI2
from neurodeploy.targets.loihi import compat

compat.install()

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort, PyOutPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402

from neurodeploy.targets.loihi.processes.process import DelayLine  # noqa: E402


class _PyDelayLineModel(PyLoihiProcessModel):
    def run_spk(self) -> None:
        slot = (self.time_step - 1) % self.buffer.shape[-1]
        data = self.s_in.recv()
        out = self.buffer[..., slot].copy()
        self.buffer[..., slot] = data
        self.s_out.send(out)


@implements(proc=DelayLine, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyDelayLineModelFloat(_PyDelayLineModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    buffer: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=DelayLine, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyDelayLineModelFixed(_PyDelayLineModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=LOIHI2.graded_payload_bits)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=LOIHI2.graded_payload_bits)
    buffer: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=LOIHI2.graded_payload_bits)

