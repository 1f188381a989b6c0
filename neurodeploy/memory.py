"""Will it fit? Memory estimated from a graph's shapes before anything of that size is allocated.

``export --size 100000 100000`` once asked numpy for 596 GiB and died in a MemoryError
traceback; a ``.nir`` file declaring a 50,000 x 50,000 Affine made the reader allocate
gigabytes before it could say anything. Shapes are known before data: the export's
graph is built from shapes alone (symbolically, in a fraction of a second at any size), and
an HDF5 file declares each array's shape and type in its metadata. So the estimate is made
from those, compared with this machine's memory, and a size that cannot fit is refused in one
line (exit 2) naming both numbers.

The bytes per value are measured, with a margin (esdnet-tiny, 64..1024 px, peak RSS of
``neurodeploy export``): about 1 GiB for torch and the code whatever the size, ~4 bytes per
graph value (a node's output, one time step) for the float export (the lowering's per-neuron
float64 arrays), ~12 more per value and time step with ``--quantize int`` (calibration through
the model and the integer emulator).
"""

from __future__ import annotations

import math
from pathlib import Path

from neurodeploy.errors import NeurodeployError

GIB = 1024 ** 3
BASE_BYTES = 1 * GIB
EXPORT_BYTES_PER_VALUE = 6  # measured ~4
QUANTIZE_BYTES_PER_VALUE_STEP = 20  # measured ~12 per time step
#: a .nir file's arrays are read and pickled in the guarded reader (neurodeploy.ir.nirfile), received
#: and unpickled by the CLI, then converted by NIR's node constructors: up to ~6 copies at once
NIR_READ_COPIES = 6


class MemoryRefused(NeurodeployError):
    """What was asked for cannot fit in this machine's memory (bad input: exit 2)."""


def machine_memory() -> tuple[int, int]:
    """(total, available now) bytes of memory, from /proc/meminfo (elsewhere: sysconf, total twice)."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        total = int(fields["MemTotal"].split()[0]) * 1024
        return total, int(fields.get("MemAvailable", fields["MemTotal"]).split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        import os

        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return total, total


def size_text(nbytes: float) -> str:
    for unit, scale in (("TiB", 1024 ** 4), ("GiB", GIB), ("MiB", 1024 ** 2)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes / 1024:.0f} KiB"


def machine_text() -> str:
    total, available = machine_memory()
    return f"this machine has {size_text(total)} ({size_text(available)} available now)"


def export_bytes(shapes: dict[str, list[int]], t_steps: int, quantize: bool) -> tuple[int, int]:
    """(estimated peak bytes of an export, graph values per time step) from the graph's node shapes."""
    values = sum(math.prod(int(v) for v in shape) for shape in shapes.values())
    per_value = EXPORT_BYTES_PER_VALUE + (QUANTIZE_BYTES_PER_VALUE_STEP * t_steps if quantize else 0)
    return BASE_BYTES + values * per_value, values


def check_export(shapes: dict[str, list[int]], t_steps: int, quantize: bool, size: tuple[int, int]) -> None:
    """Refuse an export at ``size`` (H, W) whose estimate exceeds the memory available now."""
    need, values = export_bytes(shapes, t_steps, quantize)
    _, available = machine_memory()
    if need <= available:
        return
    # the values grow with the image's area: the side that would fit, at this aspect ratio
    per_value = (need - BASE_BYTES) / max(values, 1)
    scale = math.sqrt(max(available - BASE_BYTES, 0) / per_value / max(values, 1))
    fits = f"at most about {max(1, int(size[0] * scale))} x {max(1, int(size[1] * scale))}"
    raise MemoryRefused(f"--size {size[0]} {size[1]} needs about {size_text(need)} to export (estimated from the "
                        f"graph: {values:,} values per time step{', quantized' if quantize else ''}); "
                        f"{machine_text()}; choose a smaller --size ({fits} here)")


def check_arrays(path: Path, declared: int, largest: tuple[str, tuple[int, ...], int]) -> None:
    """Refuse reading a file whose arrays (``declared`` bytes in all, as its metadata says) cannot
    fit; ``largest`` = (name, shape, bytes) of the biggest, named in the message."""
    need = declared * NIR_READ_COPIES
    _, available = machine_memory()
    if need <= available:
        return
    name, shape, nbytes = largest
    raise MemoryRefused(f"{path} declares arrays of {size_text(declared)} in all (largest: {name}, shape "
                        f"{tuple(shape)}, {size_text(nbytes)}); reading it needs about {size_text(need)}, "
                        f"{machine_text()}; is this the graph you meant?")
