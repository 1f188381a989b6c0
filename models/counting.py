"""Parameter and operation counts: exact, the papers' (thop) convention, MACs and SynOps.

**Papers' convention.** The papers report ``thop.profile`` numbers. thop counts a module
only when its *exact type* is in its table (``nn.Conv2d``, ``nn.BatchNorm2d``, ...); the
authors' SpikingJelly layers (``layer.Conv2d``, ``layer.ThresholdDependentBatchNorm2d``)
are subclasses and count as zero. Our time-distributed :class:`~models.layers.SeqConv2d`
and :class:`~models.layers.SeqBatchNorm2d` stand where the authors used SpikingJelly
layers, and being subclasses themselves they are skipped by the same exact-type rule.
Where the authors wrapped a *plain* torch layer instead (SpikeRain's BatchNorm wrapper),
the model sets ``paper_counted = True`` on our layer. The thop FLOP rules reproduced
here (thop 0.1.1): conv = output elements × C_in/groups × kernel area (bias not counted);
affine BatchNorm = 4 × input elements; adaptive average pooling = output elements ×
(pool window + 1); Linear = output elements × in_features; ReLU, max pooling, sigmoid,
upsampling and functional ops = 0.

**Honest counts.** ``params_exact`` is every trainable parameter. ``macs`` counts every
multiply-accumulate of every conv and linear layer on every time step (the work a dense
accelerator does). ``synops`` and ``effective_macs`` are NeuroBench's effective operations
(:mod:`neurodeploy.ops`, the one definition in the project): non-zero inputs times the
synapses each reaches, exact at borders, measured on one image -- ``synops`` where the
input is binary spikes (accumulates), ``effective_macs`` where it is graded spikes (NI-LIF
levels; multiply-accumulates). ``spikes`` counts non-zero neuron outputs (all steps).
``synops_paper`` is the part of ``synops`` that passes through layers thop sees (the SOP
term of the papers' energy convention, :mod:`neurodeploy.energy`).
"""

from __future__ import annotations

import weakref
from dataclasses import asdict, dataclass

import torch
from torch import nn

from neurodeploy.ops import conv_macs, effective_ops

from .neurons import LIF, NILIF

# Exact types thop 0.1.1 has rules for, with the rules we need.
_THOP_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)
_THOP_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_THOP_AVGPOOL = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
_THOP_ZERO = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.Dropout, nn.Sequential,
    nn.PixelShuffle, nn.PixelUnshuffle, nn.Identity,
)
_THOP_KNOWN = _THOP_CONV + _THOP_BN + _THOP_AVGPOOL + (nn.Linear, nn.Upsample) + _THOP_ZERO


@dataclass
class Counts:
    """Counts of one architecture at one input size (N = 1). Units: parameters, operations."""

    params_exact: int
    params_paper: int
    flops_paper: int
    macs: int
    synops: int
    height: int
    width: int
    t_steps: int
    spikes: int = 0
    effective_macs: int = 0
    synops_paper: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def paper_counted(module: nn.Module) -> bool:
    """Whether thop (the papers' counter) would count ``module`` (exact type, or an override)."""
    override = getattr(module, "paper_counted", None)
    if override is not None:
        return bool(override)
    return type(module) in _THOP_KNOWN


def _is_spiking_source(module: nn.Module) -> bool:
    return isinstance(module, (LIF, NILIF))


def count_params(model: nn.Module) -> tuple[int, int]:
    """``(params_exact, params_paper)``: all trainable parameters, and the thop convention."""
    exact = sum(p.numel() for p in model.parameters() if p.requires_grad)
    paper = 0
    for m in model.modules():
        if paper_counted(m):
            paper += sum(p.numel() for p in m.parameters(recurse=False))
    return exact, paper


def _spike_valued(x: torch.Tensor, max_levels: int = 16) -> bool:
    """Whether every value of ``x`` is a spike: in [0, 1] and a multiple of 1/D for some D <= max_levels."""
    if x.numel() == 0 or float(x.min()) < 0 or float(x.max()) > 1:
        return False
    if bool(((x == 0) | (x == 1)).all()):  # binary: the common case, checked exactly
        return True
    for d in range(2, max_levels + 1):
        if torch.all(torch.isclose(x * d, torch.round(x * d), atol=1e-5)):
            return True
    return False


def _conv_macs(m: nn.Module, out: torch.Tensor) -> int:
    return conv_macs(m.weight.shape, out.shape)


def count(model: nn.Module, height: int, width: int, seed: int = 0) -> Counts:
    """Count ``model`` on one seeded random ``(1, 3, height, width)`` image in [0, 1].

    The model is run once in eval mode (no gradients); its current weights decide
    which inputs are spikes and how many of them are non-zero.
    """
    exact, paper = count_params(model)
    flops_paper = 0
    macs = 0
    synops = 0.0
    effective_macs = 0.0
    synops_paper = 0.0
    spikes = 0
    # id -> weak reference: a freed spike tensor's id can be reused by any later tensor
    spike_tensors: dict[int, weakref.ref] = {}
    hooks = []

    def neuron_hook(m, inp, out):
        nonlocal spikes
        spike_tensors[id(out)] = weakref.ref(out)
        spikes += int(torch.count_nonzero(out))

    def layer_hook(m, inp, out):
        nonlocal flops_paper, macs, synops, effective_macs, synops_paper
        x = inp[0]
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)):
            layer_macs = _conv_macs(m, out) if not isinstance(m, nn.Linear) else out.numel() * m.in_features
            macs += layer_macs
            source = spike_tensors.get(id(x))
            if source is not None and source() is x and _spike_valued(x):
                if isinstance(m, nn.Conv2d):
                    ops = effective_ops(x.reshape(-1, *x.shape[-3:]), m.weight.shape, m.stride, m.padding,
                                        m.dilation, m.groups)
                else:  # Linear (and other convs): non-zero inputs x fan-out, no borders
                    ops = float(torch.count_nonzero(x)) * layer_macs / max(x.numel(), 1)
                if bool(((x == 0) | (x == 1)).all()):
                    synops += ops
                    if paper_counted(m):
                        synops_paper += ops
                else:
                    effective_macs += ops
            if paper_counted(m):
                flops_paper += layer_macs
        elif paper_counted(m):
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                flops_paper += (4 if m.affine else 2) * x.numel()
            elif isinstance(m, _THOP_AVGPOOL):
                window = x.numel() // max(out.numel(), 1)
                flops_paper += out.numel() * (window + 1)

    for m in model.modules():
        if _is_spiking_source(m):
            hooks.append(m.register_forward_hook(neuron_hook))
        elif len(list(m.children())) == 0 or isinstance(m, (nn.Conv2d, nn.BatchNorm2d)):
            hooks.append(m.register_forward_hook(layer_hook))
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, height, width, generator=gen)
    try:
        with torch.no_grad():
            model(image)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return Counts(exact, paper, int(flops_paper), int(macs), int(round(synops)), height, width,
                  getattr(model, "t_steps", 1), int(spikes), int(round(effective_macs)), int(round(synops_paper)))
