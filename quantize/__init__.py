"""Quantization of the chip graph to Loihi 2 integer formats.

:mod:`.formats` is a view of the Loihi 2 integer formats over :mod:`neurodeploy.limits`;
:mod:`.ptq` is the post-training quantization pass (per-layer scales from calibration
ranges, integer mantissas as ``info.quant`` and arrays). Calibration runs the float graph
and the integer emulator runs the result; both live in ``targets`` (this layer cannot run
executors).
"""

from neurodeploy.quantize.formats import LOIHI2, FixedPointFormats

__all__ = ["LOIHI2", "FixedPointFormats"]
