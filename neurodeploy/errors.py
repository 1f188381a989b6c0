"""Typed errors. Each message says what is wrong and what to do, in one line.

The CLI prints ``error: <message>`` and exits with :attr:`NeurodeployError.exit_code`
(2: bad input or usage; 3: an executor that cannot run on this machine, e.g. no Loihi).
Anything that is not a :class:`NeurodeployError` is a bug.
"""

from __future__ import annotations


class NeurodeployError(Exception):
    """Base class: bad input or usage, reported to the user in one line."""

    exit_code = 2


class CheckpointError(NeurodeployError):
    """A checkpoint file is missing, unreadable, unsafe or inconsistent."""


class UnknownArchitecture(NeurodeployError):
    """An architecture or preset name that the registry does not know."""


class ExportError(NeurodeployError):
    """The torch module uses something the exporter cannot express in NIR."""


class GraphError(NeurodeployError):
    """A NIR graph is malformed (missing node, dangling edge, bad shape, ...)."""


class LoweringError(NeurodeployError):
    """The chip graph cannot be mapped to Lava processes."""


class BundleError(NeurodeployError):
    """A deployment bundle cannot be written, or a folder is not a valid bundle."""


class InputImageError(NeurodeployError):
    """An image cannot be read or does not fit the bundle's input shape."""


class HardwareUnavailable(NeurodeployError):
    """Loihi hardware was asked for, but no runtime or chip is present (exit code 3)."""

    exit_code = 3


#: lava-nc 0.10 and lava-dl 0.6 declare Python < 3.11, so `pip install neurodeploy` cannot pull them in.
LAVA_INSTALL = "-m pip install --no-deps --ignore-requires-python lava-nc==0.10.0 lava-dl==0.6.0"


class LavaMissing(NeurodeployError):
    """Lava is not installed but the command needs it (exit code 3: installable, not bad input)."""

    exit_code = 3

    def __init__(self, python: str):
        super().__init__(f"this needs the Lava simulator, which is not installed (lava-nc 0.10 and lava-dl 0.6 "
                         f"declare Python < 3.11, so pip does not install them with neurodeploy); install them "
                         f"with: {python} {LAVA_INSTALL} (or choose an executor without Lava: --executor split)")


class DataError(NeurodeployError):
    """A data folder is missing, empty, or holds unpaired, unreadable or mismatched images."""


class LavaRunError(NeurodeployError):
    """A Lava simulator run failed or hung; its processes were stopped."""
