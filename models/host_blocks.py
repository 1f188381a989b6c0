"""Blocks the derainers keep whole on the host, each declaring what the pipeline needs.

A spiking chip has no sigmoid gates, products of activations, global pooling or softmax
over time, so export keeps these blocks whole (a ``neurodeploy.HostBlock`` node carrying
the block's parameters) and the partition places them on the host. What the pipeline
needs to know about a block lives here, beside the models, and nowhere else:

- ``shape``: ``same`` (output shape = input shape), ``to_image`` (T steps in, one image
  out, same (C, H, W)), ``half_channels`` (two statistics per channel in, one value out:
  (2C, H, W) -> (C, H, W)), or ``traced`` (the block changes (C, H, W): export reads its
  output shape from a shape-only run of the model);
- ``window``: ``step`` (each output step depends on the same input step only: the host
  can compute step by step), ``causal`` (output step t depends on input steps up to t --
  a neuron's state carried over time: the host can stream it, keeping state), or
  ``all_steps`` (it pools over time, so all T input steps must arrive before the first
  output step; a block on the decoded image needs all T steps too);
  ``tests/test_host_blocks.py`` checks each declaration against the block;
- ``hint``: whether and how the block could move onto the chip.

:func:`host_block_module` rebuilds a block from its architecture, config and parameters.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from neurodeploy.errors import GraphError

SHAPE_RULES = ("same", "to_image", "traced", "half_channels")
WINDOWS = ("step", "causal", "all_steps")


@dataclass(frozen=True)
class HostBlockSpec:
    """What one block class declares (see module docstring).

    ``module_class``: the class the block's module path names, when the block is a view of
    part of it (``VLIFGate`` is the temporal gate of a ``VLIF``, ``MDSAGates`` the gates of an
    ``MDSA``); ``wrapper``: the name of the class in :mod:`neurodeploy.models.vlifnet` or
    :mod:`neurodeploy.models.spikerain` (or :mod:`neurodeploy.models.attention`) that turns that module into the block.
    """

    block: str
    shape: str
    window: str
    hint: str
    module_class: str = ""
    wrapper: str = ""


_GATES = "no: sigmoid gates computed from the activations multiply the features"
_POOLED = "no: global pooling, sigmoid gates and products of activations"
_VLIF = ("partly: patch-to-time is routing and NI-LIF a graded neuron (chip); the temporal gate is a "
         "sigmoid over time (host)")

HOST_BLOCKS: dict[str, HostBlockSpec] = {s.block: s for s in (
    HostBlockSpec("MultiDimensionalAttention", "same", "all_steps", _GATES),
    HostBlockSpec("MDSA", "same", "all_steps", _GATES),
    # A split MDSA (residency gates): the chip keeps the map, the host computes the gates
    HostBlockSpec("MDSAGates", "same", "all_steps",
                  "no: sigmoid gates from a tiny MLP over the per-step channel means the chip sends (C values "
                  "per step); the chip multiplies them into the map it kept", module_class="MDSA",
                  wrapper="MDSAGates"),
    HostBlockSpec("MDSASpatial", "same", "step",
                  "no: a 3x3 conv and a sigmoid per pixel over the channel mean the chip sends (H x W values "
                  "per step); the chip multiplies the gate into the map", module_class="MDSA",
                  wrapper="MDSASpatial"),
    # A split MDA (residency gates): the chip keeps the map and computes the pooled statistics
    HostBlockSpec("MDAGates", "half_channels", "all_steps",
                  "no: sigmoid gates from two tiny MLPs over the per-step channel means and maxima the chip sends "
                  "(2C values per step); the chip multiplies them into the map it kept",
                  module_class="MultiDimensionalAttention", wrapper="MDAGates"),
    HostBlockSpec("MDASpatial", "half_channels", "all_steps",
                  "no: a 3x3 conv and a sigmoid per pixel over the mean and max over time and channels (the chip "
                  "sends the channel mean and max per step: 2 H x W values); the chip multiplies the gate in",
                  module_class="MultiDimensionalAttention", wrapper="MDASpatial"),
    HostBlockSpec("FeatureRefinementBlock", "same", "all_steps", _POOLED),
    HostBlockSpec("ARFE", "same", "all_steps", _POOLED),
    HostBlockSpec("TemporalFusion", "to_image", "all_steps",
                  "yes: softmax(w) is constant after training, so a readout with fixed per-step weights stays on chip"),
    HostBlockSpec("VLIFGate", "same", "all_steps",
                  "no: a sigmoid gate per sub-step from avg+max pooling over channels and pixels (the rest of "
                  "the VLIF -- patch-to-time, NI-LIF, compression -- runs on the chip)",
                  module_class="VLIF", wrapper="VLIFGate"),
    HostBlockSpec("VLIFGates", "half_channels", "all_steps",
                  "no: a sigmoid gate per sub-step from a tiny MLP over the per-step channel means and maxima the "
                  "chip sends (2 r^2 C values per step); the chip multiplies the gates into the spikes it kept",
                  module_class="VLIF", wrapper="VLIFGates"),
    # Bundles exported before NI-LIF moved onto the chip keep whole VLIF blocks:
    HostBlockSpec("VLIF", "traced", "all_steps", _VLIF),
    HostBlockSpec("VLIFC", "traced", "all_steps", _VLIF + "; the 1x1 compression is a synapse"),
    HostBlockSpec("VLIFT", "traced", "all_steps", _VLIF + "; the (r^2,1,1) compression is a synapse"),
)}

# Host nodes that are not blocks: what keeps them off the chip, by node kind.
HOST_OP_HINTS = {
    "encode": "the image is sent from the host every step (real-valued graded spikes)",
    "decode_mean": "could stay on chip as readout neurons that accumulate over T (the host reads one value per image)",
    "product": "yes: a product of two activations (x_h * x in VLIF-Net's SDEM) runs as a product neuron with "
               "export --residency products (the default); this bundle was exported with residency host",
    "conv@image": "by linearity conv(mean_t f) = mean_t conv(f): run it per step on chip before the decoder",
}


def spec(block: str) -> HostBlockSpec:
    """The declaration of a block class; a GraphError names an undeclared one."""
    try:
        return HOST_BLOCKS[block]
    except KeyError:
        raise GraphError(f"host block type '{block}' is not declared in neurodeploy.models.host_blocks "
                         f"(declared: {', '.join(sorted(HOST_BLOCKS))})") from None


@lru_cache(maxsize=8)
def _architecture_model(architecture: str, config_json: str, device: str = "cpu") -> torch.nn.Module:
    from neurodeploy.models.registry import get_architecture

    with torch.device(device):
        return get_architecture(architecture).build(json.loads(config_json)).eval()


def _block(block: str, architecture: str, config_json: str, module: str, device: str) -> torch.nn.Module:
    model = _architecture_model(architecture, config_json, device)
    try:
        built = model.get_submodule(module)
    except AttributeError:
        raise GraphError(f"host block '{module}': architecture '{architecture}' has no such module") from None
    want = spec(block).module_class or block
    if type(built).__name__ != want:
        raise GraphError(f"host block '{module}': architecture '{architecture}' has a {type(built).__name__} "
                         f"there, not a {want}")
    return built


def check_params(block: str, architecture: str, config_json: str, module: str, params: dict[str, Any]) -> None:
    """Raise GraphError unless ``params`` are exactly the block's state_dict keys, each with
    the block's number of elements. Builds the architecture on the meta device: shapes
    only, nothing allocated or computed."""
    own = _block(block, architecture, config_json, module, "meta").state_dict()
    missing = sorted(set(own) - set(params))
    extra = sorted(set(params) - set(own))
    if missing or extra:
        what = f"missing '{missing[0]}'" if missing else f"unexpected '{extra[0]}'"
        raise GraphError(f"host block '{module}': its parameters do not fit the block ({what})")
    for key, value in params.items():
        if np.asarray(value).size != own[key].numel():
            raise GraphError(f"host block '{module}': parameter '{key}' has {np.asarray(value).size} values, "
                             f"the block needs {own[key].numel()}")


def host_block_module(block: str, architecture: str, config_json: str, module: str,
                      params: dict[str, Any], dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    """Rebuild block ``module`` of ``architecture`` (built with ``config_json``) with ``params``."""
    built = copy.deepcopy(_block(block, architecture, config_json, module, "cpu"))
    own = built.state_dict()
    try:
        state = {k: torch.as_tensor(np.asarray(v)).reshape(own[k].shape) for k, v in params.items()}
    except (KeyError, RuntimeError) as exc:
        raise GraphError(f"host block '{module}': its parameters do not fit the block ({exc})") from None
    built.load_state_dict(state, strict=True)
    wrapper = spec(block).wrapper
    if wrapper:
        from neurodeploy.models import attention, spikerain, vlifnet

        home = next(m for m in (vlifnet, spikerain, attention) if hasattr(m, wrapper))
        built = getattr(home, wrapper)(built)
    return built.to(dtype).eval()
