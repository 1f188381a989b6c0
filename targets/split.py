"""The ``split`` executor: the bundle's own deliverables, run together.

The chip part (``chip.nir``) runs node by node in the NIR torch executor (float64) and
every host island (``host/ISLAND.onnx``) in onnxruntime (float32, as a host would run
it), interleaved in the order their values become available: an island runs once all
the values it reads exist, a chip node once its inputs do. Which island reads and sends
what is in the manifest's partition summary. Nothing else of the bundle is used -- not
``graph.nir``, not the checkpoint -- so a passing validation proves that the files a
deployment ships reproduce the model.
"""

from __future__ import annotations

import time
from pathlib import Path

import nir
import numpy as np
import torch

from neurodeploy.errors import BundleError
from neurodeploy.ir import graph_info, read_graph, topological_order
from neurodeploy.trace import Trace


def whole_map_synapses(graph: nir.NIRGraph) -> list[str]:
    """Convs whose kernel covers their whole input map (a split gate's pooling, residency ``gates``):
    one value per channel at the export size only, so the bundle runs at that size."""
    out = []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.Conv2d):
            kernel = tuple(int(v) for v in np.asarray(node.weight).shape[-2:])
            if kernel != (1, 1) and kernel == tuple(int(v) for v in np.asarray(node.input_shape).reshape(-1)):
                out.append(name)
    return out


class SplitExecutor:
    """Runs ``chip.nir`` + ``host/*.onnx`` of a bundle folder (see module docstring).

    Args:
        path: the bundle folder.
        partition: the manifest's partition summary: ``islands`` (name, nodes, inputs,
            outputs, window) and ``graph_output`` (the node whose value is the output image).
    """

    name = "split"

    def __init__(self, path: Path, partition: dict):
        from neurodeploy.targets.island_files import onnx_name, onnx_session

        self.chip = read_graph(path / "chip.nir")
        self.chip_info = graph_info(self.chip)
        self.size_bound = whole_map_synapses(self.chip)  # a gates bundle runs at its export size only
        self.order = topological_order(self.chip)
        self.layers = self.chip_info.neuron_layers(self.chip)
        self._preds = {n: [s for s, d in self.chip.edges if d == n] for n in self.chip.nodes}
        self.islands = partition["islands"]
        # an island with no outputs holds only the image, which the chip's hold receives (residency gates)
        self._to_run = [isl for isl in self.islands if isl["outputs"]]
        self.output = partition["graph_output"]
        self._onnx_name = onnx_name
        self._sessions = {}
        for isl in self._to_run:
            file = path / "host" / f"{isl['name']}.onnx"
            if not file.is_file():
                raise BundleError(f"{path}: host island file host/{file.name} is missing; re-export the bundle")
            session = onnx_session(file)
            names = [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()]
            want = [onnx_name(n) for n in isl["inputs"]], [onnx_name(n) for n in isl["outputs"]]
            if sorted(names[0]) != sorted(want[0]) or sorted(names[1]) != sorted(want[1]):
                raise BundleError(f"{path}: host/{file.name} reads {names[0]} and writes {names[1]}, but the "
                                  f"manifest's island reads {want[0]} and writes {want[1]}; re-export the bundle")
            self._sessions[isl["name"]] = session

    def _run_island(self, isl: dict, values: dict[str, np.ndarray]) -> None:
        session = self._sessions[isl["name"]]
        feed = {self._onnx_name(n): np.asarray(values[n], dtype=np.float32) for n in isl["inputs"]}
        outs = session.run([self._onnx_name(n) for n in isl["outputs"]], feed)
        values.update({n: o.astype(np.float64) for n, o in zip(isl["outputs"], outs)})

    def interleave(self, images: np.ndarray, run_chip_node) -> tuple[dict[str, np.ndarray], float]:
        """Run islands and chip nodes in the order their values become available.

        ``run_chip_node(name, preds, values)`` computes chip node ``name`` from its
        predecessors (chip nodes it computed before, or boundary values an island sent, in
        ``values``) and stores what the host may read in ``values[name]``. Returns the host
        values and the run time in seconds.
        """
        export_hw = tuple(int(v) for v in self.chip_info.input_shape[1:])
        if self.size_bound and tuple(images.shape[-2:]) != export_hw:
            raise BundleError(f"this bundle's split gates pool over its export size {export_hw[0]}x{export_hw[1]} "
                              f"('{self.size_bound[0]}'), got {images.shape[-2]}x{images.shape[-1]}; run it at that "
                              "size, or export with --residency products for images of any size")
        graph_inputs = {n for isl in self.islands for n in isl["nodes"] if n in isl["inputs"]}
        values: dict[str, np.ndarray] = {n: images for n in graph_inputs}
        boundary = {n for n in self.order if isinstance(self.chip.nodes[n], (nir.Input, nir.Output))}
        pending_chip = [n for n in self.order if n not in boundary]
        pending_islands = list(self._to_run)
        done: set[str] = set()
        start = time.perf_counter()
        while pending_chip or pending_islands:
            progressed = False
            for isl in list(pending_islands):
                if all(n in values for n in isl["inputs"]):
                    self._run_island(isl, values)
                    pending_islands.remove(isl)
                    progressed = True
            for name in list(pending_chip):
                preds = self._preds[name]
                if not all(p in done or p in values for p in preds):
                    # chip.nir cannot order a node after an island it waits for: skip it for now
                    continue
                run_chip_node(name, preds, values)
                done.add(name)
                pending_chip.remove(name)
                progressed = True
            if not progressed:
                stuck = [i["name"] for i in pending_islands] + pending_chip[:1]
                raise BundleError(f"the bundle's chip and host parts wait on each other ({', '.join(stuck)}); "
                                  "re-export the bundle")
        return values, time.perf_counter() - start

    def run(self, images: np.ndarray) -> list[Trace]:
        """``images``: ``(N, C, H, W)`` in model units -> one Trace per image."""
        from neurodeploy.targets.nir_torch import eval_node

        chip_values: dict[str, torch.Tensor] = {}

        def run_chip_node(name: str, preds: list[str], values: dict[str, np.ndarray]) -> None:
            for p in preds:
                if p not in chip_values:  # a boundary Input: the value an island sent
                    chip_values[p] = torch.as_tensor(values[p], dtype=torch.float64)
            chip_values[name] = eval_node(self.chip, self.chip_info, name, chip_values, {}, torch.float64)
            values[name] = chip_values[name].numpy()

        with torch.no_grad():
            values, seconds = self.interleave(np.asarray(images, dtype=np.float64), run_chip_node)
        out = values[self.output]
        return [Trace(self.name, self.chip_info.t_steps, {n: values[n][:, i] for n in self.layers}, out[i],
                      meta={"run_s": seconds / len(images)})
                for i in range(len(images))]
