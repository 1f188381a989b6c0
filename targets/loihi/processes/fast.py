"""Faster ProcessModels for Lava's own processes, chosen per process instance by the run config.

Lava's floating-point ``Conv`` model (``lava/proc/conv/models.py``) convolves with SciPy one
(output channel, input channel) pair at a time (its torch path is disabled); on the
derainers that is most of a Lava run. :class:`PyConvModelFloatFast` implements the same
process with the same step semantics -- send the previous step's result, receive, compute
-- and one vectorised contraction per group (numpy only: torch inside a Lava process can
hang). It is selected for each ``Conv`` instance with ``Loihi2SimCfg(exception_proc_model_map
={conv: PyConvModelFloatFast})``; Lava's scan of ``lava.proc.conv`` still finds Lava's own
model for every other run. Summation order differs from SciPy's, so results may differ in
the last bit (tested: at most a few ulp, and identical spikes on the derainers).
"""

from __future__ import annotations

import numpy as np

from neurodeploy.targets.loihi import compat

compat.install()

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort, PyOutPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402
from lava.proc.conv.process import Conv  # noqa: E402


def conv_xyc(x: np.ndarray, weight: np.ndarray, stride, padding, dilation, groups: int) -> np.ndarray:
    """Lava's ``Conv`` (a true convolution in (X, Y, C) layout) of ``x`` (X, Y, C_in) with
    ``weight`` (C_out, kx, ky, C_in/groups) -> (X', Y', C_out): one matrix product per
    kernel tap and group, accumulated."""
    (sx, sy), (px, py), (dx, dy) = (int(v) for v in stride), (int(v) for v in padding), (int(v) for v in dilation)
    k_out, kx, ky, c_grp = weight.shape
    xp = np.pad(x, ((px, px), (py, py), (0, 0)))
    out_x = (xp.shape[0] - dx * (kx - 1) - 1) // sx + 1
    out_y = (xp.shape[1] - dy * (ky - 1) - 1) // sy + 1
    k_grp = k_out // groups
    out = np.zeros((out_x, out_y, k_out))
    for i in range(kx):
        for j in range(ky):
            # true convolution: tap (i, j) of the kernel meets input offset (kx-1-i, ky-1-j)
            patch = xp[(kx - 1 - i) * dx:(kx - 1 - i) * dx + sx * (out_x - 1) + 1:sx,
                       (ky - 1 - j) * dy:(ky - 1 - j) * dy + sy * (out_y - 1) + 1:sy]
            if c_grp == 1 and k_grp == 1:  # depthwise: one product per channel
                out += patch * weight[:, i, j, 0]
                continue
            for g in range(groups):
                out[:, :, g * k_grp:(g + 1) * k_grp] += patch[:, :, g * c_grp:(g + 1) * c_grp] @ \
                    weight[g * k_grp:(g + 1) * k_grp, i, j, :].T
    return out


class ConvStep(PyLoihiProcessModel):
    """Lava's ``Conv`` step order (``lava/proc/conv/models.py:34-51``): send last step's sums
    (one step of latency), receive, compute with :meth:`compute`; a Conv with
    ``num_message_bits = 0`` reads its input as binary spikes, as Lava's models do. The
    float and fixed_pt models differ only in their types and in ``compute``."""

    def compute(self, s_in: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def run_spk(self) -> None:
        self.a_out.send(self.a_buf)
        s_in = self.s_in.recv()
        if self.num_message_bits.item() == 0:
            s_in = s_in.astype(bool)
        self.a_buf = self.compute(s_in)


@implements(proc=Conv, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyConvModelFloatFast(ConvStep):
    """Lava's ``Conv``, floating point, vectorised (see module docstring)."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    a_buf: np.ndarray = LavaPyType(np.ndarray, float)
    weight: np.ndarray = LavaPyType(np.ndarray, float)
    # int32, not Lava's own int8: a split gate's depthwise pooling over 128 channels, or a kernel over a
    # 128-px map, wrapped to -128 there and the conv summed nothing (VLIF-Net's split gates at 16x16)
    kernel_size: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
    stride: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
    padding: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
    dilation: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
    groups: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
    num_message_bits: np.ndarray = LavaPyType(np.ndarray, np.int8, precision=5)
    weight_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    num_weight_bits: np.ndarray = LavaPyType(np.ndarray, np.int8, precision=5)

    def compute(self, s_in: np.ndarray) -> np.ndarray:
        return conv_xyc(s_in.astype(float), self.weight, self.stride, self.padding, self.dilation,
                        int(self.groups[0]))
