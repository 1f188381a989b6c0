"""Executors: everything that runs a bundle and returns a :class:`~neurodeploy.trace.Trace`.

One Trace type, many executors, chosen by name (like Lava's ProcessModels by tag). Each
is registered with :func:`executor` as a factory ``bundle -> object`` whose
``run_batch(images (N, C, H, W)) -> list[Trace]`` is the whole protocol; ``name`` says
which executor made a Trace. The registry is the only list of executors: the CLI's
choices, its help and the "unknown executor" message all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from neurodeploy.trace import Trace


class Executor(Protocol):
    name: str

    def run_batch(self, images: np.ndarray) -> list[Trace]: ...


@dataclass(frozen=True)
class Registered:
    name: str
    factory: Callable[[Any], Executor]
    description: str


EXECUTORS: dict[str, Registered] = {}


def executor(name: str, description: str):
    """Register ``factory(bundle) -> Executor`` under ``name``."""
    def register(factory):
        if name in EXECUTORS:
            raise ValueError(f"executor {name!r} registered twice")
        EXECUTORS[name] = Registered(name, factory, description)
        return factory
    return register


def make_executor(name: str, bundle) -> Executor:
    """Build the executor ``name`` for an opened bundle (:class:`neurodeploy.bundle.Bundle`)."""
    from neurodeploy.errors import NeurodeployError

    if name not in EXECUTORS:
        raise NeurodeployError(f"unknown executor '{name}'; choose one of: {', '.join(EXECUTORS)}")
    return EXECUTORS[name].factory(bundle)


def lava_lowered(bundle) -> bool:
    """Whether the bundle's chip part was lowered to Lava at export."""
    return bundle.manifest.get("lowering", {}).get("status") != "not lowered"


def most_faithful(bundle) -> str:
    """The executor closest to the chip that this bundle supports: ``lava-float`` where the
    chip part is lowered to Lava, else ``split`` (the bundle's own chip and host files)."""
    return "lava-float" if lava_lowered(bundle) else "split"


def _torch_reference(bundle, dtype: str):
    import torch

    from neurodeploy.targets.torch_reference import TorchReference

    return TorchReference(bundle.model(), bundle.graph, bundle.info, dtype=getattr(torch, dtype))


executor("torch", "the trained model in float32, as trained")(lambda bundle: _torch_reference(bundle, "float32"))
executor("torch-float64", "the trained model in float64 (the reference for float simulators)")(
    lambda bundle: _torch_reference(bundle, "float64"))


@executor("nir-torch", "the exported graph.nir itself, executed in torch (float64)")
def _nir_torch(bundle):
    from neurodeploy.targets.nir_torch import NirTorchExecutor

    return NirTorchExecutor(bundle.graph, bundle.info)


@executor("split", "the bundle's chip.nir (nir-torch, float64) and host/*.onnx islands (onnxruntime)")
def _split(bundle):
    from neurodeploy.targets.split import SplitExecutor

    return SplitExecutor(bundle.path, bundle.manifest["partition"])


@executor("emulator", "the quantized chip graph in integer torch arithmetic (Lava fixed_pt semantics) and "
                      "host/*.onnx islands; a bundle exported with --quantize int; whole images of any size")
def _emulator(bundle):
    from neurodeploy.targets.emulator import IntegerEmulator

    return IntegerEmulator(bundle.path, bundle.manifest["partition"])


@executor("lava-float", "Lava CPU simulator, Loihi2SimCfg(select_tag='floating_pt')")
def _lava_float(bundle):
    from neurodeploy.errors import NeurodeployError

    if not lava_lowered(bundle):
        raise NeurodeployError(f"{bundle.path}: the chip part is not lowered to Lava yet "
                               f"({bundle.manifest['lowering']['reason']}); use --executor split")
    from neurodeploy.targets.loihi.executor import LavaSimExecutor

    return LavaSimExecutor(bundle.graph, bundle.info, "floating_pt", island_dir=bundle.path / "host")


def _lava_fixed(bundle, fast: bool):
    from neurodeploy.errors import NeurodeployError

    if not lava_lowered(bundle):
        raise NeurodeployError(f"{bundle.path}: the chip part is not lowered to Lava yet "
                               f"({bundle.manifest['lowering']['reason']}); use --executor emulator")
    from neurodeploy.targets.loihi.fixed_network import LavaFixedExecutor

    return LavaFixedExecutor(bundle.path, bundle.graph, bundle.info, fast=fast)


executor("lava-fixed", "Lava CPU simulator, Loihi2SimCfg(select_tag='fixed_pt') on the quantized bundle's integers "
                       "(params.npz), the project's vectorised fixed_pt Conv; a bundle exported with --quantize int")(
    lambda bundle: _lava_fixed(bundle, True))
executor("lava-fixed-stock", "as lava-fixed, with Lava's own fixed_pt Conv model (slow; for comparison)")(
    lambda bundle: _lava_fixed(bundle, False))


def _library(bundle, library: str):
    from neurodeploy.targets.crosscheck import LibraryExecutor

    return LibraryExecutor(bundle.graph, bundle.info, library)


executor("snntorch", "the bundle's graph imported into snntorch (Input/Conv2d/LIF/Output graphs; a cross-check)")(
    lambda bundle: _library(bundle, "snntorch"))
executor("norse", "the bundle's graph imported into norse (Input/Conv2d/LIF/Output graphs; a cross-check)")(
    lambda bundle: _library(bundle, "norse"))


@executor("loihi", "Loihi 2 hardware (Loihi2HwCfg); refused unless Intel's runtime and a chip are present")
def _loihi(bundle):
    from neurodeploy.targets.loihi.network import require_hardware

    require_hardware()  # raises HardwareUnavailable: no silent fall-through
    raise AssertionError("unreachable: require_hardware() refuses until the hardware path exists")
