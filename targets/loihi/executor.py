"""Lava executors: the lowered network on Lava's CPU simulator, returning Traces."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import nir
import numpy as np

from neurodeploy.ir import DeployGraph, GraphInfo
from neurodeploy.targets.loihi.lower import LoweredNetwork, lower
from neurodeploy.trace import Trace


def write_island_files(graph: nir.NIRGraph, info: GraphInfo, folder: Path) -> Path:
    """Write ``ISLAND.onnx`` for every host island of a graph that has no bundle (tests,
    foreign graphs); a bundle ships them in ``host/``."""
    from neurodeploy.passes.partition import partition
    from neurodeploy.targets.host_onnx import HostIsland, write_host_onnx

    g = DeployGraph(graph, copy.deepcopy(info))
    for island in partition(g).islands:
        write_host_onnx(folder / f"{island.name}.onnx", HostIsland(g, island))
    return folder


class LavaSimExecutor:
    """Runs a graph on ``Loihi2SimCfg`` and realigns Lava steps to logical steps.

    Args:
        graph, info: the exported graph.
        select_tag: ``floating_pt`` (float models) or ``fixed_pt`` (bit-accurate models).
        lowered: a ready lowering to run instead of lowering ``graph`` (tests use this to
            run a deliberately broken lowering).
        island_dir: the folder with the host islands' ONNX files (a bundle's ``host/``);
            without it they are written to a temporary folder.
    """

    def __init__(self, graph: nir.NIRGraph, info: GraphInfo, select_tag: str = "floating_pt",
                 lowered: LoweredNetwork | None = None, island_dir: Path | None = None):
        self.graph, self.info = graph, info
        self.layers = info.neuron_layers(graph)
        self.lowered = lowered if lowered is not None else lower(graph, info)
        self.select_tag = select_tag
        self.island_dir = island_dir
        self.name = "lava-float" if select_tag == "floating_pt" else "lava-fixed"

    def run(self, images: np.ndarray) -> list[Trace]:
        """``images``: ``(N, C, H, W)``; all N stream through one Lava run, T steps apart."""
        from neurodeploy.targets.loihi.network import LavaNetwork

        with tempfile.TemporaryDirectory(prefix="neurodeploy-islands-") as tmp:
            island_dir = self.island_dir or write_island_files(self.graph, self.info, Path(tmp))
            net = LavaNetwork(self.lowered, np.asarray(images, dtype=np.float64), island_dir)
            spikes, outputs, seconds = net.run(self.select_tag)
        traces = []
        for i in range(images.shape[0]):
            layers = {name: net.logical(spikes[name], self.lowered.nodes[name].latency, i) for name in self.layers}
            traces.append(Trace(self.name, self.info.t_steps, layers, outputs[i],
                                meta={"run_s": seconds / images.shape[0], "lava_steps": net.steps,
                                      "lava_steps_per_image": self.lowered.steps_for(1),
                                      "select_tag": self.select_tag, "lava_processes": net.process_count}))
        return traces
