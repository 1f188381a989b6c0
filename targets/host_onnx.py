"""Host islands as torch modules, and as ``host/ISLAND.onnx``.

:class:`HostIsland` computes the nodes of one host island (see
:mod:`neurodeploy.passes.partition`) from the values it receives: the graph's input image
when the island holds it, then each node outside the island that feeds it -- a chip
node's whole sequence ``(T, N, C, H, W)``, or another island's value (a sequence, or an
image ``(N, C, H, W)`` for nodes after the decoder). Its outputs are its nodes whose
values leave the island, then the graph output when it holds it. Exported with torch's
TorchScript-based ONNX exporter (``dynamo=False``: it needs no onnxscript and traces the
unrolled Python as it runs), float32, opset 17; inputs and outputs are named after the
nodes (``.`` becomes ``/``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from neurodeploy.errors import ExportError
from neurodeploy.ir import nodes as nd
from neurodeploy.ir.graph import DeployGraph
from neurodeploy.passes.partition import Island
from neurodeploy.targets.island_files import onnx_name, onnx_session
from neurodeploy.targets.nir_torch import eval_node

ONNX_OPSET = 17


class HostIsland(torch.nn.Module):
    """The nodes of one host island as a module (see module docstring for its signature)."""

    def __init__(self, g: DeployGraph, island: Island, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.g, self.island, self.dtype = g, island, dtype
        self.name = island.name
        self.input_names = list(island.inputs)
        self.output_names = list(island.outputs)
        self.order = list(island.nodes)
        self.blocks = torch.nn.ModuleList()
        self._block_index: dict[str, int] = {}
        for n in self.order:
            if isinstance(g.node(n), nd.HostBlock):
                self._block_index[n] = len(self.blocks)
                self.blocks.append(nd.host_module(g.node(n), dtype))
        # Inference only. (torch.onnx.export restores the training flag it found, recursively:
        # left at nn.Module's default, it would switch the blocks' BatchNorms to batch statistics.)
        self.eval()

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values = dict(zip(self.input_names, inputs))
        blocks = {n: self.blocks[i] for n, i in self._block_index.items()}
        for name in self.order:
            if name not in values:
                values[name] = eval_node(self.g.nir, self.g.info, name, values, blocks, self.dtype)
        return tuple(values[n] for n in self.output_names)

    def input_shapes(self, batch: int = 1, shrink: int = 1) -> list[tuple[int, ...]]:
        """Images ``(N, C, H, W)`` and sequences ``(T, N, C, H, W)``; H, W divided by ``shrink``."""
        shapes = []
        for n in self.input_names:
            c, h, w = self.g.shape(n)
            per = (batch, c, h // shrink, w // shrink)
            shapes.append(per if self.g.domain(n) == "image" else (self.g.t_steps, *per))
        return shapes

    def example_inputs(self, batch: int = 1, shrink: int = 1) -> tuple[torch.Tensor, ...]:
        return tuple(torch.zeros(s, dtype=self.dtype) for s in self.input_shapes(batch, shrink))

    def trace_shrink(self, max_pixels: int = 64 * 64) -> int:
        """Largest power of two that divides every spatial size in the graph and brings the
        image to at most ``max_pixels``: tracing computes, so trace small (H, W are dynamic)."""
        info = self.g.info
        sizes = [v for shape in info.shapes.values() for v in shape[1:]] or list(info.input_shape[1:])
        _, h, w = info.input_shape
        f = 1
        while h * w // (f * f) > max_pixels and all(v % (2 * f) == 0 and v // (2 * f) >= 2 for v in sizes):
            f *= 2
        return f


def write_host_onnx(path: str | Path, host: HostIsland) -> None:
    """Export ``host`` to ONNX and check it with ``onnx.checker``.

    Batch, height and width are dynamic axes: the export traces a copy shrunk by
    :meth:`HostGraph.trace_shrink` (tracing runs the blocks; at 256x256 that alone took
    ~11 s), and the result runs at the bundle's size (tested against torch there).
    """
    import onnx

    names_in = [onnx_name(n) for n in host.input_names]
    names_out = [onnx_name(n) for n in host.output_names]
    _, img_h, img_w = host.g.info.input_shape

    def axis(base: str, full: int, size: int) -> str:
        # Feature maps of a U-Net level are the image size over 2**level: one name per ratio,
        # so that onnxruntime knows which inputs share a size.
        return base if size == full else f"{base}/{full // size}"

    dynamic = {}
    for i, (n, shape) in enumerate(zip(names_in, host.input_shapes())):
        h, w = shape[-2:]
        first = len(shape) - 4  # the batch axis: 0 for images, 1 for sequences
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
        raise ExportError(f"host {host.name} does not export to ONNX: {exc}") from None
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def run_host_onnx(path: str | Path, host: HostIsland, inputs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Run an island's ONNX file with onnxruntime on the CPU; inputs in ``host.input_names`` order."""
    session = onnx_session(path)
    feed = {onnx_name(n): np.asarray(x, dtype=np.float32) for n, x in zip(host.input_names, inputs)}
    return session.run([onnx_name(n) for n in host.output_names], feed)
