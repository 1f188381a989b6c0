"""The torch reference executor: the trained model itself, with hooks that record spikes."""

from __future__ import annotations

import copy
import time

import nir
import numpy as np
import torch
from torch import nn

from neurodeploy.ir import GraphInfo
from neurodeploy.trace import Trace


class TorchReference:
    """Runs the trained torch module and records every neuron layer of the graph.

    Args:
        model: the trained module (image in, image out).
        graph, info: the exported graph; its neuron nodes name the layers to record
            (``info.modules`` maps node name -> module path).
        dtype: ``torch.float64`` (default) for comparisons against float64 simulators, so
            that round-off does not decide spikes that sit within 1e-7 of the threshold;
            ``torch.float32`` runs the model exactly as trained.
    """

    def __init__(self, model: nn.Module, graph: nir.NIRGraph, info: GraphInfo, dtype: torch.dtype = torch.float64):
        self.model = copy.deepcopy(model).to(dtype).eval()
        self.dtype = dtype
        self.info = info
        self.layers = info.neuron_layers(graph)
        self.name = "torch" if dtype == torch.float32 else f"torch-{str(dtype).replace('torch.', '')}"

    def run(self, images: np.ndarray) -> list[Trace]:
        """``images``: ``(N, C, H, W)`` in model units -> one Trace per image."""
        recorded: dict[str, torch.Tensor] = {}
        handles = []
        for layer in self.layers:
            module = self.model.get_submodule(self.info.modules[layer])
            handles.append(module.register_forward_hook(
                lambda mod, args, out, layer=layer: recorded.__setitem__(layer, out.detach())))
        start = time.perf_counter()
        try:
            with torch.no_grad():
                out = self.model(torch.as_tensor(images, dtype=self.dtype))
        finally:
            for h in handles:
                h.remove()
        seconds = time.perf_counter() - start
        for name, value in recorded.items():
            if value.shape[0] != self.info.t_steps:  # NI-LIF on T·P sub-steps: P channel groups per step
                p = value.shape[0] // self.info.t_steps
                recorded[name] = value.reshape(self.info.t_steps, p, *value.shape[1:]).transpose(1, 2).flatten(2, 3)
        traces = []
        for i in range(images.shape[0]):
            layers = {name: recorded[name][:, i].numpy().astype(np.float64) for name in self.layers}
            traces.append(Trace(self.name, self.info.t_steps, layers, out[i].numpy().astype(np.float64),
                                meta={"run_s": seconds / images.shape[0]}))
        return traces
