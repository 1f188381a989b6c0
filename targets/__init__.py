"""Executors: everything that runs a bundle and returns a :class:`~neurodeploy.trace.Trace`.

One Trace type, many executors, chosen by name (like Lava's ProcessModels by tag):

- ``torch`` -- the trained model in float32, as trained;
- ``torch-float64`` -- the same model in float64 (the default reference for float simulators);
- ``nir-torch`` -- the exported NIR graph itself, executed in torch (float64);
- ``lava-float`` -- Lava CPU simulator, ``Loihi2SimCfg(select_tag="floating_pt")``;
- ``loihi`` -- Loihi 2 hardware (``Loihi2HwCfg``): refused with a clear message unless
  Intel's runtime and a chip are present.
"""

from __future__ import annotations

EXECUTORS = ("torch", "torch-float64", "nir-torch", "lava-float", "loihi")


def make_executor(name: str, bundle):
    """Build the executor ``name`` for a loaded bundle (:class:`neurodeploy.bundle.Bundle`)."""
    from neurodeploy.errors import NeurodeployError

    if name in ("torch", "torch-float64"):
        import torch

        from neurodeploy.targets.torch_reference import TorchReference

        dtype = torch.float32 if name == "torch" else torch.float64
        return TorchReference(bundle.model(), bundle.graph, bundle.info, dtype=dtype)
    if name == "nir-torch":
        from neurodeploy.targets.nir_torch import NirTorchExecutor

        return NirTorchExecutor(bundle.graph, bundle.info)
    if name == "lava-float":
        from neurodeploy.targets.loihi.executor import LavaSimExecutor

        if bundle.manifest.get("lowering", {}).get("status") == "not lowered":
            raise NeurodeployError(f"{bundle.path}: the chip part is not lowered to Lava yet "
                                   f"({bundle.manifest['lowering']['reason']}); use --executor nir-torch")
        return LavaSimExecutor(bundle.graph, bundle.info, "floating_pt")
    if name == "loihi":
        from neurodeploy.targets.loihi.network import require_hardware

        require_hardware()
    raise NeurodeployError(f"unknown executor '{name}'; choose one of: {', '.join(EXECUTORS)}")
