"""Lava executors: the lowered network on Lava's CPU simulator, returning Traces."""

from __future__ import annotations

import nir
import numpy as np

from neurodeploy.ir import GraphInfo
from neurodeploy.targets.loihi.lower import LoweredNetwork, lower
from neurodeploy.trace import Trace


class LavaSimExecutor:
    """Runs a graph on ``Loihi2SimCfg`` and realigns Lava steps to logical steps.

    Args:
        graph, info: the exported graph.
        select_tag: ``floating_pt`` (float models) or ``fixed_pt`` (bit-accurate models).
        lowered: a ready lowering to run instead of lowering ``graph`` (tests use this to
            run a deliberately broken lowering).
    """

    def __init__(self, graph: nir.NIRGraph, info: GraphInfo, select_tag: str = "floating_pt",
                 lowered: LoweredNetwork | None = None):
        self.info = info
        self.layers = info.neuron_layers(graph)
        self.lowered = lowered if lowered is not None else lower(graph, info)
        self.select_tag = select_tag
        self.name = "lava-float" if select_tag == "floating_pt" else "lava-fixed"

    def run_batch(self, images: np.ndarray) -> list[Trace]:
        """``images``: ``(N, C, H, W)``; all N stream through one Lava run, T steps apart."""
        from neurodeploy.targets.loihi.network import LavaNetwork

        net = LavaNetwork(self.lowered, np.asarray(images, dtype=np.float64))
        spikes, readout, seconds = net.run(self.select_tag)
        out_latency = self.lowered.output_latency
        traces = []
        for i in range(images.shape[0]):
            layers = {name: net.logical(spikes[name], self.lowered.nodes[name].latency, i) for name in self.layers}
            output = net.logical(readout, out_latency, i).mean(axis=0)  # decode: mean over T
            traces.append(Trace(self.name, self.info.t_steps, layers, output,
                                meta={"run_s": seconds / images.shape[0], "lava_steps": net.steps,
                                      "lava_steps_per_image": self.lowered.steps_for(1),
                                      "select_tag": self.select_tag}))
        return traces
