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
        # Inference only. (torch.onnx.export restores the training flag it found, recursively:
        # left at nn.Module's default, it would switch the blocks' BatchNorms to batch statistics.)
        self.eval()

    def _position(self, name: str) -> int:
        return list(self.graph.nodes).index(name)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values = dict(zip(self.input_names, inputs))
        blocks = {n: self.blocks[i] for n, i in self._block_index.items()}
        for name in self.order:
            if name not in values:
                values[name] = eval_node(self.graph, self.info, name, values, blocks, self.dtype)
        return tuple(values[n] for n in self.output_names)

    def input_shapes(self, batch: int = 1, shrink: int = 1) -> list[tuple[int, ...]]:
        """The image ``(N, C, H, W)``, then sequences ``(T, N, C, H, W)``; H, W divided by ``shrink``."""
        from neurodeploy.graph import node_shape

        def scaled(shape):
            c, h, w = shape
            return (c, h // shrink, w // shrink)

        shapes = [(batch, *scaled(self.info.input_shape))]
        shapes += [(self.info.t_steps, batch, *scaled(node_shape(self.graph, n, self.info))) for n in self.input_names[1:]]
        return shapes

    def example_inputs(self, batch: int = 1, shrink: int = 1) -> tuple[torch.Tensor, ...]:
        return tuple(torch.zeros(s, dtype=self.dtype) for s in self.input_shapes(batch, shrink))

    def trace_shrink(self, max_pixels: int = 64 * 64) -> int:
        """Largest power of two that divides every spatial size in the graph and brings the
        image to at most ``max_pixels``: tracing computes, so trace small (H, W are dynamic)."""
        sizes = [v for shape in self.info.shapes.values() for v in shape[1:]] or list(self.info.input_shape[1:])
        _, h, w = self.info.input_shape
        f = 1
        while h * w // (f * f) > max_pixels and all(v % (2 * f) == 0 and v // (2 * f) >= 2 for v in sizes):
            f *= 2
        return f


def onnx_name(node: str) -> str:
    return node.replace(".", "/")


def write_host_onnx(path: str | Path, host: HostGraph) -> None:
    """Export ``host`` to ONNX and check it with ``onnx.checker``.

    Batch, height and width are dynamic axes: the export traces a copy shrunk by
    :meth:`HostGraph.trace_shrink` (tracing runs the blocks; at 256x256 that alone took
    ~11 s), and the result runs at the bundle's size (tested against torch there).
    """
    import onnx

    names_in = [onnx_name(n) for n in host.input_names]
    names_out = [onnx_name(n) for n in host.output_names]
    _, img_h, img_w = host.info.input_shape

    def axis(base: str, full: int, size: int) -> str:
        # Feature maps of a U-Net level are the image size over 2**level: one name per ratio,
        # so that onnxruntime knows which inputs share a size.
        return base if size == full else f"{base}/{full // size}"

    dynamic = {}
    for i, (n, shape) in enumerate(zip(names_in, host.input_shapes())):
        h, w = shape[-2:]
        first = 0 if i == 0 else 1
        dynamic[n] = {first: "batch", len(shape) - 2: axis("height", img_h, h), len(shape) - 1: axis("width", img_w, w)}

    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated upstream but is what torch 2.14 (pinned)
            # runs without onnxscript; the deprecation notice is expected.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # parameters become constants: intended
            torch.onnx.export(host, host.example_inputs(shrink=host.trace_shrink()), str(path), dynamo=False,
                              opset_version=ONNX_OPSET, input_names=names_in, output_names=names_out,
                              dynamic_axes=dynamic)
    except Exception as exc:  # the exporter raises many types for unsupported ops
        raise ExportError(f"the host part does not export to ONNX: {exc}") from None
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def run_host_onnx(path: str | Path, host: HostGraph, inputs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Run ``host.onnx`` with onnxruntime on the CPU; inputs in ``host.input_names`` order."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {onnx_name(n): np.asarray(x, dtype=np.float32) for n, x in zip(host.input_names, inputs)}
    return session.run([onnx_name(n) for n in host.output_names], feed)
