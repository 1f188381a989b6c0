"""The architecture registry: architecture name -> how to build it, and its named presets.

A *config* is a plain dict of constructor keyword arguments (JSON-serialisable: it is
stored inside checkpoints). A *preset* is a named config (``tiny``, ``paper``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from neurodeploy.errors import UnknownArchitecture


@dataclass(frozen=True)
class Architecture:
    """One registered architecture.

    Attributes:
        name: registry name, e.g. ``"toy-residual"``.
        factory: builds the torch module from a config (keyword arguments).
        presets: named configs; every preset must build.
        description: one line for listings.
        default_input_size: image (H, W) in pixels used by ``export`` when no size is given.
    """

    name: str
    factory: Callable[..., nn.Module]
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    default_input_size: tuple[int, int] = (64, 64)

    def config(self, preset: str) -> dict[str, Any]:
        if preset not in self.presets:
            raise UnknownArchitecture(
                f"architecture '{self.name}' has no preset '{preset}'; "
                f"choose one of: {', '.join(sorted(self.presets))}"
            )
        return dict(self.presets[preset])

    def build(self, config: dict[str, Any]) -> nn.Module:
        return self.factory(**config)


_REGISTRY: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    if arch.name in _REGISTRY:
        raise ValueError(f"architecture {arch.name!r} registered twice")
    _REGISTRY[arch.name] = arch
    return arch


def get_architecture(name: str) -> Architecture:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownArchitecture(
            f"unknown architecture '{name}'; known architectures: {', '.join(sorted(_REGISTRY))}"
        ) from None


def architectures() -> dict[str, Architecture]:
    return dict(_REGISTRY)
