"""Lava executors: the lowered network on Lava's CPU simulator, returning Traces."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import nir
import numpy as np

from neurodeploy.ir import DeployGraph, GraphInfo
from neurodeploy.targets.loihi.lower import LoweredNetwork, lower, lower_graph
from neurodeploy.trace import Trace


def write_island_files(graph: nir.NIRGraph, info: GraphInfo, folder: Path) -> Path:
    """Write ``ISLAND.onnx`` for every host island of a graph that has no bundle (tests,
    foreign graphs); a bundle ships them in ``host/``."""
    from neurodeploy.passes.partition import partition
    from neurodeploy.targets.host_onnx import HostIsland, write_host_onnx

    g = DeployGraph(graph, copy.deepcopy(info))
    for island in partition(g).islands:
        if not island.outputs:  # only the image (the chip holds it): nothing to run
            continue
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
        from neurodeploy.targets.loihi.blocks import assemble_records

        spikes = assemble_records(spikes, self.lowered)  # a layer split into blocks is read back whole
        traces = []
        for i in range(images.shape[0]):
            layers = {name: net.logical(spikes[name], self.lowered.nodes[name].latency, i) for name in self.layers}
            traces.append(Trace(self.name, self.info.t_steps, layers, outputs[i],
                                meta={"run_s": seconds / images.shape[0], "lava_steps": net.steps,
                                      "lava_steps_per_image": self.lowered.steps_for(1),
                                      "select_tag": self.select_tag, "lava_processes": net.process_count}))
        return traces


class LavaSequenceExecutor:
    """A sequence graph's network (a ``.nir`` file from another writer) on ``Loihi2SimCfg``, as Traces.

    The same :class:`~.network.LavaNetwork` (float) or :class:`~.fixed_network.FixedLavaNetwork`
    (``fixed_pt``, the network :func:`~.fixed.lower_fixed` gave integers) a model bundle runs on;
    samples stream back to back, ``T + sample_gap`` Lava steps apart (:mod:`.lower`).

    Args:
        lowered: the lowered network (:func:`~.lower.lower` of the DeployGraph; for fixed_pt, in integers).
        name: the executor's name (lava-float, lava-fixed, lava-fixed-stock).
        dt_s: seconds per step (Trace metadata).
        units: model units per recorded value, per layer (fixed_pt: ``v_lsb`` of a non-spiking layer).
        fast: the project's vectorised Conv models (False: Lava's own).
    """

    def __init__(self, lowered: LoweredNetwork, name: str = "lava-float", dt_s: float | None = None,
                 units: dict[str, float] | None = None, fast: bool = True,
                 membranes: dict[str, tuple[float, np.ndarray]] | None = None):
        self.lowered, self.name, self.dt_s, self.fast = lowered, name, dt_s, fast
        self.layers = list(lowered.layers)
        self.units = units or {}
        # spiking layer -> (model units per Lava v unit, v_reset): its v read by a Monitor, in model units
        self.membranes = membranes or {}
        self.select_tag = "floating_pt" if name == "lava-float" else "fixed_pt"

    def run(self, x: np.ndarray, timeout_s: float | None = None) -> list[Trace]:
        """``x``: ``(T, N, *input_shape)`` -> one Trace per sample (layers ``(T, *shape)``, model units;
        output = the layer the Output reads)."""
        if self.select_tag == "floating_pt":
            from neurodeploy.targets.loihi.network import LavaNetwork as network
        else:
            from neurodeploy.targets.loihi.fixed_network import FixedLavaNetwork as network
        x = np.asarray(x, dtype=np.float64)
        spiking = tuple(n for n in self.membranes if self.lowered.nodes[n].params.get("spiking", True))
        net = network(self.lowered, x, fast=self.fast, membranes=spiking)
        raw, _, seconds = net.run(self.select_tag, timeout_s)
        nodes = self.lowered.nodes
        traces = []
        for i in range(net.n_images):
            layers = {n: net.logical(raw[n], nodes[n].latency, i, nodes[n].params["nir_shape"])
                      * self.units.get(n, 1.0) for n in self.layers}
            membranes = {}
            for n, (unit, v_reset) in self.membranes.items():
                v = raw[f"v:{n}" if n in spiking else n]
                membranes[n] = net.logical(v, nodes[n].latency, i, nodes[n].params["nir_shape"]) * unit + v_reset
            meta = {"run_s": seconds / net.n_images, "lava_steps": net.steps, "lava_steps_per_image": net.window,
                    "dt_s": self.dt_s, "select_tag": self.select_tag, "lava_processes": net.process_count}
            if self.select_tag == "fixed_pt":
                meta["conv_model"] = "PyConvModelFixedFast" if self.fast else "PyConvModelFixed"
            traces.append(Trace(self.name, net.t_steps, layers, layers[self.lowered.output_layer].copy(), membranes,
                                meta=meta))
        return traces


MEMBRANE_NEURONS = 1024  # a sequence graph with at most this many neurons has its membranes read on Lava


def sequence_executor(graph, quant: dict | None = None, arrays: dict | None = None, dt_s: float | None = None,
                      fast: bool = True) -> LavaSequenceExecutor:
    """The Lava executor of a sequence graph (a DeployGraph, or a NIR graph read with ``dt_s``): float,
    or with a quantizer's ``quant``/``arrays`` (:func:`neurodeploy.quantize.ptq.quantize_sequence`) on
    ``fixed_pt``.

    Raises:
        LoweringError: one line naming the node Lava cannot express.
        QuantizationError: the integers do not match the graph (re-export).
    """
    from neurodeploy.ir import as_deploy_graph
    from neurodeploy.passes import annotated

    g = as_deploy_graph(graph, dt_s)
    # a graph the passes have annotated is lowered as they decided (tests switch balancing off)
    g = g if g.info.latency else annotated(g)
    lowered = lower_graph(g)
    # membranes where a Monitor's cost (about 20 us per value and step) stays small
    record = sum(int(np.prod(lowered.nodes[n].shape)) for n in lowered.layers) <= MEMBRANE_NEURONS
    v_layers = [n for n in lowered.layers if record and g.kind(n) not in ("threshold", "sigma_delta")]
    if quant is None:
        return LavaSequenceExecutor(lowered, "lava-float", g.info.dt_s,
                                    membranes={n: (1.0, g.arrays[n]["v_reset"]) for n in v_layers})
    from neurodeploy.quantize.ptq import check_sequence_integers
    from neurodeploy.targets.loihi.fixed import lower_fixed

    check_sequence_integers(g, quant, arrays, "the quantized parameters")
    units = {n: 1.0 if quant[n]["spiking"] else float(quant[n]["v_lsb"]) for n in lowered.layers}
    return LavaSequenceExecutor(lower_fixed(lowered, quant, arrays), "lava-fixed" if fast else "lava-fixed-stock",
                                g.info.dt_s, units, fast,
                                {n: (float(quant[n]["v_lsb"]), g.arrays[n]["v_reset"]) for n in v_layers})
