"""Executors: everything that runs a bundle and returns a :class:`~neurodeploy.trace.Trace`.

One Trace type, many executors, chosen by name (like Lava's ProcessModels by tag). Each
is registered once with :func:`executor` as a factory ``bundle -> object`` whose
``run(inputs) -> list[Trace]`` (one Trace per image or sample) is the whole protocol:
``inputs`` are images ``(N, C, H, W)`` for a model's bundle, sequences ``(T, N, *shape)``
for a ``.nir`` file's (:class:`neurodeploy.bundle.BundleInputs` says which); ``name`` says
which executor made a Trace. An executor states the bundle kinds it runs; the registry is
the only list of executors: the CLI's choices, its help and the "unknown executor" and
"does not run" messages all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from neurodeploy.trace import Trace


MODEL, NIR = "model", "nir"  # bundle kinds (neurodeploy.bundle_format.KIND_*)
PARAMS = "params.npz"  # a quantized bundle's integers, which every integer executor reads
BOTH = (MODEL, NIR)


class Executor(Protocol):
    name: str

    def run(self, inputs: np.ndarray) -> list[Trace]: ...


@dataclass(frozen=True)
class Registered:
    name: str
    factory: Callable[[Any], Executor]
    description: str
    kinds: tuple[str, ...] = (MODEL,)


EXECUTORS: dict[str, Registered] = {}


def executor(name: str, description: str, kinds: tuple[str, ...] = (MODEL,)):
    """Register ``factory(bundle) -> Executor`` under ``name``, for bundles of ``kinds``."""
    def register(factory):
        if name in EXECUTORS:
            raise ValueError(f"executor {name!r} registered twice")
        EXECUTORS[name] = Registered(name, factory, description, tuple(kinds))
        return factory
    return register


def executors_for(kind: str) -> list[str]:
    """Names of the executors that run a bundle of ``kind``, in registry order."""
    return [n for n, r in EXECUTORS.items() if kind in r.kinds]


# Executors that run a bundle whose cut carries sigma-delta messages above threshold 0 (the reference
# models run the trained model, which has no cut).
DELTA_EXECUTORS = ("nir-torch", "torch-float64", "torch")


def make_executor(name: str, bundle) -> Executor:
    """Build the executor ``name`` for an opened bundle (:class:`neurodeploy.bundle.Bundle`)."""
    from neurodeploy.errors import NeurodeployError

    if name not in EXECUTORS:
        raise NeurodeployError(f"unknown executor '{name}'; choose one of: {', '.join(EXECUTORS)}")
    if bundle.kind not in EXECUTORS[name].kinds:
        what = "a bundle of a .nir file" if bundle.kind == NIR else "a model's bundle"
        raise NeurodeployError(f"executor '{name}' does not run {what}; use one of "
                               f"{', '.join(executors_for(bundle.kind))}")
    # the largest threshold of any cut edge: the graph's own, or one per edge (export --delta-relative)
    threshold = (max([bundle.info.delta_threshold or 0.0, *bundle.info.delta_thresholds.values()])
                 if bundle.kind != NIR else None)
    if threshold and name not in DELTA_EXECUTORS:
        raise NeurodeployError(f"the bundle sends sigma-delta messages across the chip/host cut with threshold "
                               f"{threshold} (export --delta-threshold or --delta-relative); only {', '.join(DELTA_EXECUTORS)} run that "
                               "-- re-export with --delta-threshold 0 (exact) for the other executors")
    return EXECUTORS[name].factory(bundle)


def lava_lowered(bundle) -> bool:
    """Whether the bundle's chip part was lowered to Lava at export (a .nir file's always is:
    its export refuses what Lava cannot run)."""
    return bundle.manifest.get("lowering", {}).get("status") != "not lowered"


def most_faithful(bundle) -> str:
    """The executor closest to the chip that this bundle supports: ``lava-float`` where the
    chip part is lowered to Lava (always, for a .nir file's bundle), else ``split`` (the
    bundle's own chip and host files)."""
    return "lava-float" if lava_lowered(bundle) else "split"


def _torch_reference(bundle, dtype: str):
    import torch

    from neurodeploy.targets.torch_reference import TorchReference

    return TorchReference(bundle.model(), bundle.graph, bundle.info, dtype=getattr(torch, dtype))


executor("torch", "the trained model in float32, as trained")(lambda bundle: _torch_reference(bundle, "float32"))
executor("torch-float64", "the trained model in float64 (the reference for float simulators)")(
    lambda bundle: _torch_reference(bundle, "float64"))


def _sequence_executor(graph, name: str):
    """A .nir file's graph in torch (float64; ``name``: nir-torch or split)."""
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    runner = NirSequenceExecutor(graph)
    runner.name = name
    return runner


@executor("nir-torch", "the exported graph.nir itself, executed in torch (float64)", BOTH)
def _nir_torch(bundle):
    if bundle.kind == NIR:
        return _sequence_executor(bundle.deploy_graph, "nir-torch")
    from neurodeploy.targets.nir_torch import NirTorchExecutor

    return NirTorchExecutor(bundle.graph, bundle.info)


@executor("split", "the bundle's chip.nir (nir-torch, float64) and host/*.onnx islands (onnxruntime; a .nir "
                   "file's bundle has none)", BOTH)
def _split(bundle):
    if bundle.kind == NIR:
        from neurodeploy.ir import read_graph

        return _sequence_executor(read_graph(bundle.path / "chip.nir", dt_s=bundle.dt_s), "split")
    from neurodeploy.targets.split import SplitExecutor

    return SplitExecutor(bundle.path, bundle.manifest["partition"])


@executor("emulator", "the quantized chip graph in integer arithmetic (Lava fixed_pt semantics) and "
                      "host/*.onnx islands; a bundle exported with --quantize int; whole images of any size", BOTH)
def _emulator(bundle):
    if bundle.kind == NIR:
        from neurodeploy.passes import annotated
        from neurodeploy.quantize.ptq import check_sequence_integers
        from neurodeploy.targets.emulator import SequenceEmulator

        quant, arrays = bundle.integers()
        g = annotated(bundle.deploy_graph)  # the annotations Bundle.open built (dt, kinds, the writer's rules)
        check_sequence_integers(g, quant, arrays, "params.npz")
        return SequenceEmulator(g, quant, arrays)
    from neurodeploy.targets.emulator import IntegerEmulator

    return IntegerEmulator(bundle.path, bundle.manifest["partition"])


@executor("lava-float", "Lava CPU simulator, Loihi2SimCfg(select_tag='floating_pt')", BOTH)
def _lava_float(bundle):
    from neurodeploy.errors import NeurodeployError

    if bundle.kind == NIR:
        from neurodeploy.targets.loihi.executor import sequence_executor

        return sequence_executor(bundle.deploy_graph)
    if not lava_lowered(bundle):
        raise NeurodeployError(f"{bundle.path}: the chip part is not lowered to Lava yet "
                               f"({bundle.manifest['lowering']['reason']}); use --executor split")
    from neurodeploy.targets.loihi.executor import LavaSimExecutor

    return LavaSimExecutor(bundle.graph, bundle.info, "floating_pt", island_dir=bundle.path / "host")


def _lava_fixed(bundle, fast: bool):
    from neurodeploy.errors import NeurodeployError

    if bundle.kind == NIR:
        from neurodeploy.targets.loihi.executor import sequence_executor

        quant, arrays = bundle.integers()
        return sequence_executor(bundle.deploy_graph, quant, arrays, fast=fast)
    if not lava_lowered(bundle):
        raise NeurodeployError(f"{bundle.path}: the chip part is not lowered to Lava yet "
                               f"({bundle.manifest['lowering']['reason']}); use --executor emulator")
    from neurodeploy.targets.loihi.fixed_network import LavaFixedExecutor

    return LavaFixedExecutor(bundle.path, bundle.graph, bundle.info, fast=fast)


executor("lava-fixed", "Lava CPU simulator, Loihi2SimCfg(select_tag='fixed_pt') on the quantized bundle's integers "
                       "(params.npz), the project's vectorised fixed_pt Conv; a bundle exported with --quantize int",
         BOTH)(lambda bundle: _lava_fixed(bundle, True))
executor("lava-fixed-stock", "as lava-fixed, with Lava's own fixed_pt Conv model (slow; for comparison)", BOTH)(
    lambda bundle: _lava_fixed(bundle, False))


def _netx(bundle, select_tag: str):
    """lava-dl's own netx loader on the bundle's ``chip.net`` (:mod:`.loihi.netx_executor`)."""
    from neurodeploy.errors import NeurodeployError

    facts = bundle.manifest.get("netx") or {}
    if not facts.get("chip_net") or not (bundle.path / facts["chip_net"]).is_file():
        why = facts.get("reason") or "it was exported before chip.net existed; re-export it"
        raise NeurodeployError(f"{bundle.path} has no chip.net for netx ({why})")
    from neurodeploy.targets.loihi.netx_executor import NetxExecutor

    return NetxExecutor(bundle.path / facts["chip_net"], facts["layers"], facts.get("skip_layers", 0),
                        tuple(bundle.manifest["input_shape"]), select_tag, bundle.dt_s,
                        state_layers=tuple(facts.get("state_layers", ())),
                        sigma_delta=bool(facts.get("sigma_delta_layers")))


executor("netx", "lava-dl's own loader, lava.lib.dl.netx.hdf5.Network, on the bundle's chip.net, Lava CPU "
                 "Loihi2SimCfg(select_tag='fixed_pt') (netx's models are fixed_pt only); a cross-check of lava-fixed",
         (NIR,))(lambda bundle: _netx(bundle, "fixed_pt"))
executor("netx-float", "netx's process graph from chip.net on Lava's floating_pt models (its integers translated to "
                       "float units: decays / 4096, Dense weight exponents applied); a cross-check of lava-float",
         (NIR,))(lambda bundle: _netx(bundle, "floating_pt"))


def _library(bundle, library: str):
    from neurodeploy.targets.crosscheck import LibraryExecutor

    return LibraryExecutor(bundle.graph, bundle.info, library)


executor("snntorch", "the bundle's graph imported into snntorch (Input/Conv2d/LIF/Output graphs; a cross-check)")(
    lambda bundle: _library(bundle, "snntorch"))
executor("norse", "the bundle's graph imported into norse (Input/Conv2d/LIF/Output graphs; a cross-check)")(
    lambda bundle: _library(bundle, "norse"))


@executor("loihi", "Loihi 2 hardware (Loihi2HwCfg); refused unless Intel's runtime and a chip are present", BOTH)
def _loihi(bundle):
    from neurodeploy.targets.loihi.network import require_hardware

    require_hardware()  # raises HardwareUnavailable: no silent fall-through
    raise AssertionError("unreachable: require_hardware() refuses until the hardware path exists")
