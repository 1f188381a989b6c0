"""Spiking derainers, their neurons and layers, and the architecture registry.

Importing this package registers every architecture.
"""

from . import toy_residual  # noqa: F401  (registers "toy-residual")
from .registry import Architecture, architectures, get_architecture, register

__all__ = ["Architecture", "architectures", "get_architecture", "register"]
from . import esdnet  # noqa: F401,E402  (registers "esdnet")
from . import spikerain  # noqa: F401,E402  (registers "spikerain")
from . import vlifnet  # noqa: F401,E402  (registers "vlifnet")
