"""Quantization of the chip graph to Loihi 2 integer formats (in progress).

Today this package holds a view of the Loihi 2 integer formats (:mod:`.formats`) over the
chip limits in :mod:`neurodeploy.limits`, which quantization, resource mapping and tiling
share; post-training quantization, calibration and the integer emulator come with their
issue (see DESIGN.md, "quantize").
"""

from neurodeploy.quantize.formats import LOIHI2, FixedPointFormats

__all__ = ["LOIHI2", "FixedPointFormats"]
