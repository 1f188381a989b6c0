"""Quantization of the chip graph to Loihi 2 integer formats (in progress).

Today this package holds the Loihi 2 format limits (:mod:`.formats`) that quantization,
resource mapping and tiling will share; post-training quantization, calibration and the
integer emulator come with their issue (see DESIGN.md, "quantize").
"""

from neurodeploy.quantize.formats import LOIHI2, FixedPointFormats

__all__ = ["LOIHI2", "FixedPointFormats"]
