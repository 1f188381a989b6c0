"""The host part of a partitioned graph as a torch module, and as ``host.onnx``.

:class:`HostGraph` computes every host node of the graph from the values that cross
the boundary into the host: the graph's input image, then one input per chip node that
feeds the host (its whole sequence ``(T, N, C, H, W)``). Its outputs are the values the
host sends to the chip (one per host node that feeds a chip node) and the graph output.
Exported with torch's TorchScript-based ONNX exporter (``dynamo=False``: it needs no
onnxscript and traces the unrolled Python as it runs), float32, opset 17.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import nir
import numpy as np
import torch

from neurodeploy import nodes as nd
from neurodeploy.errors import ExportError
from neurodeploy.graph import GraphInfo, topological_order
from neurodeploy.partition import Partition
from neurodeploy.targets.nir_torch import eval_node, host_block_module

ONNX_OPSET = 17


class HostGraph(torch.nn.Module):
    """The host nodes of ``graph`` as one module (see module docstring for its signature).

    Attributes:
        input_names: graph input first, then the chip nodes whose values the host receives.
        output_names: host nodes whose values go to the chip, then the graph output.
    """

    def __init__(self, graph: nir.NIRGraph, info: GraphInfo, part: Partition, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.graph, self.info, self.dtype = graph, info, dtype
        host = set(part.host)
        self.order = [n for n in topological_order(graph) if n in host]
        graph_input = next(n for n in self.order if isinstance(graph.nodes[n], nir.Input))
        graph_output = next(n for n in self.order if isinstance(graph.nodes[n], nir.Output))
        from_chip = sorted({c.src for c in part.cut if c.direction == "chip->host"}, key=self._position)
        to_chip = sorted({c.src for c in part.cut if c.direction == "host->chip"}, key=self._position)
        self.input_names = [graph_input, *from_chip]
        self.output_names = [*to_chip, graph_output]
        self.blocks = torch.nn.ModuleList()
        self._block_index: dict[str, int] = {}
        for n in self.order:
            if isinstance(graph.nodes[n], nd.HostBlock):
                self._block_index[n] = len(self.blocks)
                self.blocks.append(host_block_module(graph.nodes[n], dtype))

    def _position(self, name: str) -> int:
        return list(self.graph.nodes).index(name)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values = dict(zip(self.input_names, inputs))
        blocks = {n: self.blocks[i] for n, i in self._block_index.items()}
        for name in self.order:
            if name not in values:
                values[name] = eval_node(self.graph, self.info, name, values, blocks, self.dtype)
        return tuple(values[n] for n in self.output_names)

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        """Zero tensors of the right shapes: the image ``(N, C, H, W)``, sequences ``(T, N, C, H, W)``."""
        from neurodeploy.partition import node_shape

        shapes = [(batch, *self.info.input_shape)]
        shapes += [(self.info.t_steps, batch, *node_shape(self.graph, n)) for n in self.input_names[1:]]
        return tuple(torch.zeros(s, dtype=self.dtype) for s in shapes)


def onnx_name(node: str) -> str:
    return node.replace(".", "/")


def write_host_onnx(path: str | Path, host: HostGraph) -> None:
    """Export ``host`` to ONNX (batch size 1) and check it with ``onnx.checker``."""
    import onnx

    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated upstream but is what torch 2.14 (pinned)
            # runs without onnxscript; the deprecation notice is expected.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(host, host.example_inputs(), str(path), dynamo=False, opset_version=ONNX_OPSET,
                              input_names=[onnx_name(n) for n in host.input_names],
                              output_names=[onnx_name(n) for n in host.output_names])
    except Exception as exc:  # the exporter raises many types for unsupported ops
        raise ExportError(f"the host part does not export to ONNX: {exc}") from None
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def run_host_onnx(path: str | Path, host: HostGraph, inputs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Run ``host.onnx`` with onnxruntime on the CPU; inputs in ``host.input_names`` order."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {onnx_name(n): np.asarray(x, dtype=np.float32) for n, x in zip(host.input_names, inputs)}
    return session.run([onnx_name(n) for n in host.output_names], feed)
