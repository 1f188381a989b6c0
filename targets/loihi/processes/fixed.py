"""fixed_pt ProcessModels neurodeploy adds: a faster model of Lava's ``Conv`` and the integer function processes.

- :class:`PyConvModelFixedFast` implements Lava's ``Conv`` under ``fixed_pt`` with the
  arithmetic of Lava's ``PyConvModelFixed`` (``lava/proc/conv/models.py:71-79``): the sum
  of integer products computed in floating point (Lava: SciPy's ``convolve2d`` in float64,
  ``lava/proc/conv/utils.py:249-296``), cast to ``int32`` (``utils.py:216``,
  ``output.astype(weight.dtype)``), then wrapped to 24 bits by ``signed_clamp``
  (``utils.py:67-86``, ``models.py:78-79``). Products and partial sums are exact integers in
  float64 below 2**53, in float32 below 2**24 (this model uses float32 when
  ``max|s_in| · max|w| · fan_in < 2**24``, else float64), so the result is Lava's bit for bit;
  only the contraction is vectorised (:func:`~.fast.conv_xyc`). Chosen per Conv instance with
  ``exception_proc_model_map``.
- :func:`int_function_process`: a process with one input port per operand and one output,
  applying :func:`neurodeploy.targets.loihi.fixed.fixed_function` (adapters, relays, concat,
  upsample, ``to_host``) within the step (no latency). Integer ports are ``int64`` so that a
  rescale's product ``x · M`` cannot overflow on the way.

numpy only (torch inside a Lava process can hang).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurodeploy.targets.loihi import compat

compat.install()

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort, PyOutPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.process.ports.ports import InPort, OutPort  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402
from lava.proc.conv import utils as conv_utils  # noqa: E402
from lava.proc.conv.process import Conv  # noqa: E402

from neurodeploy.targets.loihi.fixed import fixed_function  # noqa: E402
from neurodeploy.targets.loihi.processes.fast import ConvStep, conv_xyc  # noqa: E402

_EXACT_F32 = 1 << 24


def conv_fixed_xyc(s_in: np.ndarray, weight: np.ndarray, stride, padding, dilation, groups: int) -> np.ndarray:
    """Lava's fixed_pt conv of one step: ``signed_clamp(int32(sum w · s_in), 24)`` in (X, Y, C) layout."""
    w = np.asarray(weight)
    bound = float(np.max(np.abs(s_in))) * float(np.max(np.abs(w))) * w[0].size if s_in.size and w.size else 0.0
    dtype = np.float32 if bound < _EXACT_F32 else np.float64
    out = conv_xyc(s_in.astype(dtype), w.astype(dtype), stride, padding, dilation, groups)
    return conv_utils.signed_clamp(out.astype(np.int32), bits=24)


@implements(proc=Conv, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyConvModelFixedFast(ConvStep):
    """Lava's ``Conv``, fixed point, vectorised; same ports and variables as ``PyConvModelFixed``."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    a_buf: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    weight: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
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
        return conv_fixed_xyc(s_in, self.weight, self.stride, self.padding, self.dilation, int(self.groups[0]))


def int_function_process(kind: str, name: str, in_shapes: list[tuple[int, ...]], out_shape: tuple[int, ...],
                         params: dict[str, Any], float_inputs: list[bool]) -> tuple[AbstractProcess, type]:
    """A fixed_pt function process (``adapter``, ``relay``, ``concat``, ``upsample``, ``to_host``):
    one input port per operand (``float`` where ``float_inputs[i]``: host values, model units;
    else ``int64`` mantissas), one output (``int64``; ``to_host``: float64, model units)."""
    n_in = len(in_shapes)
    out_float = params.get("op") == "to_host"

    def init(self, **kwargs):
        AbstractProcess.__init__(self, **kwargs)
        for i, shape in enumerate(in_shapes):
            setattr(self, f"in{i}", InPort(shape=shape))
        self.s_out = OutPort(shape=out_shape)

    proc_cls = type(f"Int{kind.capitalize()}{n_in}", (AbstractProcess,), {"__init__": init})
    fn = fixed_function(params)

    def run_spk(self) -> None:
        self.s_out.send(fn([getattr(self, f"in{i}").recv() for i in range(n_in)]))

    attrs = {f"in{i}": LavaPyType(PyInPort.VEC_DENSE, float if float_inputs[i] else np.int64) for i in range(n_in)}
    attrs.update(s_out=LavaPyType(PyOutPort.VEC_DENSE, float if out_float else np.int64), run_spk=run_spk)
    proc = proc_cls(name=name)
    model = type(f"Py{proc_cls.__name__}ModelFixed", (PyLoihiProcessModel,), attrs)
    model = implements(proc=proc_cls, protocol=LoihiProtocol)(requires(CPU)(tag("fixed_pt")(model)))
    return proc, model
