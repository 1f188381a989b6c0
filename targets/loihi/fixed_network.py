"""Run a quantized bundle on Lava's ``fixed_pt`` models: the ``lava-fixed`` executors.

:class:`FixedLavaNetwork` instantiates a :class:`~.fixed.FixedNetwork` (the float lowering
rewritten in integers) as Lava processes; :class:`LavaFixedExecutor` runs a bundle exported
with ``--quantize int`` and returns Traces comparable with the integer emulator's
(``validate BUNDLE --executor lava-fixed --against emulator``).

Process models (``Loihi2SimCfg(select_tag="fixed_pt")``, plus per-instance choices in
``exception_proc_model_map``, which Lava 0.10 looks up by process instance in
``lava/magma/compiler/compiler_graphs.py:1031-1033`` and by process class in
``lava/magma/core/run_configs.py:208``):

- ``Conv``: Lava's ``PyConvModelFixed`` (``stock``) or :class:`~.processes.fixed.PyConvModelFixedFast`
  (default; bit-exact, tested);
- ``NILIF``: our ``PyNILIFModelFixed`` (:mod:`.processes.models`), integer thresholds from PTQ;
- ``LIFReset``: Lava's ``PyLifResetModelBitAcc`` (``lava/proc/lif/models.py:386-449``): its reset
  of ``u`` and ``v`` every ``T`` steps at the layer's latency separates streamed images;
- the image sources: Lava's ``RingBuffer`` with its *float* model -- its fixed_pt model
  (``lava/proc/io/source.py:57-61``) holds ``int32`` data and would truncate the pixels;
  the pixels are rounded to float32 first, as the emulator's input island hands them on;
- delay lines: the fixed_pt model (``int32``) on integer edges, the float model on host edges;
  delays into fused groups and islands are held inside them, as in the float network;
- relays, adapters, concat, upsample, patch-to-time, ``to_host``: each connected group one fused
  process (:func:`~.processes.functions.fused_process` with :func:`~.fixed.fixed_function`, fixed_pt
  tag); alone (``fuse=False``), :func:`~.processes.fixed.int_function_process`;
- host islands: the float island process (onnxruntime), fed floats by ``to_host`` adapters;
- spike records: the float record sinks of :mod:`.processes.functions` (0/1 values).

A new neuron kind adds a builder to :data:`~.network.FLOAT_BUILDERS` (or, for an integer-only form, to :data:`FIXED_BUILDERS`) and a :class:`~.fixed.FixedKind`.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from neurodeploy.errors import BundleError
from neurodeploy.targets.loihi import compat

compat.install()

from lava.proc.conv.process import Conv  # noqa: E402
from lava.proc.dense.process import Dense  # noqa: E402
from lava.proc.io.source import PySendModelFixed, PySendModelFloat, RingBuffer  # noqa: E402

from neurodeploy.targets.loihi.fixed import FixedNetwork, apply_conversion, fixed_function, lower_fixed  # noqa: E402
from neurodeploy.targets.loihi.lower import LavaNode, to_lava  # noqa: E402
from neurodeploy.targets.loihi.network import FLOAT_BUILDERS, Builder, LavaNetwork, sample_data  # noqa: E402
from neurodeploy.targets.loihi.processes.fixed import PyConvModelFixedFast, int_function_process  # noqa: E402
from neurodeploy.targets.loihi.processes.functions import fused_process  # noqa: E402
from neurodeploy.targets.loihi.processes.models import (PyDelayLineModelFixed, PyDelayLineModelFloat,  # noqa: E402
                                                        PyRuleLIFModelFixed)
from neurodeploy.trace import Trace  # noqa: E402

def _function(net: "FixedLavaNetwork", name: str, node: LavaNode):
    floats = [(e.src, name) in net.lowered.float_edges for e in sorted(net.lowered.inputs_of(name),
                                                                        key=lambda e: e.dst_port)]
    proc, model = int_function_process(node.kind, name, node.in_shapes or [node.shape], node.shape, node.params,
                                       floats)
    return proc, model, lambda i: getattr(proc, f"in{i}"), lambda i: proc.s_out


def _input(net: "FixedLavaNetwork", name: str, node: LavaNode):
    if "quantize" in node.params:  # a sequence graph's input: its integer payloads (int32 RingBuffer)
        x = apply_conversion(to_lava(net.images, node.params["nir_shape"]), node.params["quantize"])
        proc = RingBuffer(data=sample_data(net, node.shape, 0, lambda i: np.moveaxis(x[:, i], 0, -1), np.int64))
        return proc, PySendModelFixed, None, lambda i: proc.s_out
    proc, _, in_port, out_port = FLOAT_BUILDERS["input"](net, name, node)
    return proc, PySendModelFloat, in_port, out_port


def _dense(net: "FixedLavaNetwork", name: str, node: LavaNode):
    """The node's Dense; a Dense synapse of two groups (``--weight-bits``; ``weight_hi`` in its params,
    :func:`~.fixed.sequence_fixed`) gets its hi group as a second Dense from the same source into the same
    neuron, with the group's ``weight_exp``: Lava adds the two sums at the neuron's input port."""
    proc, model, in_port, out_port = FLOAT_BUILDERS["dense"](net, name, node)
    p = node.params
    if "weight_hi" in p:
        hi = Dense(weights=p["weight_hi"], num_message_bits=proc.proc_params["num_message_bits"],
                   weight_exp=int(p["weight_exp_hi"]), name=f"{name}:hi")
        net.twins[name] = (lambda i: hi.s_in, lambda i: hi.a_out)
        net.twin_procs.append(hi)
    return proc, model, in_port, out_port


def _conv(net: "FixedLavaNetwork", name: str, node: LavaNode):
    """The node's Conv; a conv synapse of two groups gets its hi group as a second Conv whose sums an
    integer relay shifts left by ``hi_shift`` -- the group's weight exponent, which Lava's Conv model drops
    (lava-nc#803) and the chip applies in the synapse -- before they meet the lo group's at the neuron."""
    proc, model, in_port, out_port = FLOAT_BUILDERS["conv"](net, name, node)
    p = node.params
    if "weight_hi" in p:
        hi = Conv(weight=p["weight_hi"], input_shape=p["input_shape"], padding=p["padding"], stride=p["stride"],
                  dilation=p["dilation"], groups=p["groups"], num_message_bits=proc.proc_params["num_message_bits"],
                  name=f"{name}:hi")
        shape = tuple(proc.a_out.shape)
        shift, shift_model = int_function_process("adapter", f"{name}:hi<<", [shape], shape,
                                                  {"op": "sum", "convs": [("rescale", 1, -int(p["hi_shift"]))]},
                                                  [False])
        hi.a_out.connect(shift.in0)
        if model is not None:
            net.models[hi] = model
        net.models[shift] = shift_model
        net.twins[name] = (lambda i: hi.s_in, lambda i: shift.s_out)
        net.twin_procs += [hi, shift]
    return proc, model, in_port, out_port


FIXED_FUNCTION_KINDS = ("relay", "concat", "upsample", "patch_to_time", "adapter", "to_host", "product", "max",
                        "relu")
# conv, lif, nilif, island as the float network builds them (the lowering's params are integers here;
# the Conv model is fast_conv_model); the sources and the integer function processes its own
FIXED_BUILDERS: dict[str, Builder] = {**FLOAT_BUILDERS, "input": _input, "dense": _dense, "conv": _conv,
                                      **{kind: _function for kind in FIXED_FUNCTION_KINDS}}


class FixedLavaNetwork(LavaNetwork):
    """Lava processes for a :class:`FixedNetwork` and a batch of images (``(N, C, H, W)``, model units).

    A :class:`LavaNetwork` with the fixed_pt builders (:data:`FIXED_BUILDERS`); its integer
    function nodes (:data:`FIXED_FUNCTION_KINDS`) fused by connected groups as the float network's
    are (each member's :func:`~.fixed.fixed_function`, int64 ports, float ones for host values),
    or each its own process without ``fuse``. Runs with :meth:`LavaNetwork.run`
    (``select_tag="fixed_pt"``); ``fast=False`` keeps Lava's own Conv model (the benchmark's stock run).
    """

    builders = FIXED_BUILDERS
    function_kinds = FIXED_FUNCTION_KINDS
    fast_conv_model = PyConvModelFixedFast
    rule_lif_model = PyRuleLIFModelFixed
    const_model = PySendModelFixed
    const_dtype = np.int64

    def __init__(self, lowered: FixedNetwork, images: np.ndarray, island_dir: Path | None = None, fast: bool = True,
                 fuse: bool = True, membranes: tuple[str, ...] = ()):
        if not lowered.takes_sequences:
            # the emulator's input island hands the image on as float32 (onnxruntime); so must the sources
            images = np.asarray(images, dtype=np.float32).astype(np.float64)
        super().__init__(lowered, images, island_dir, fast=fast, fuse=fuse, membranes=membranes)

    def fused_process(self, group: str, members: list, in_edges: list, in_shapes: list, out_shapes: list) -> tuple:
        floats = self.lowered.float_edges
        functions = [fixed_function(m.params) for m in members]
        in_types = [float if (e.src, e.dst) in floats else np.int64 for e in in_edges]
        out_types = [float if m.params.get("op") == "to_host" else np.int64 for m in members if m.out_port is not None]
        return fused_process(group, members, in_shapes, out_shapes, functions, in_types, out_types, "fixed_pt")

    def is_neuron(self, name: str, node: LavaNode) -> bool:
        return name in self.lowered.neurons

    def delay_model(self, edge) -> type:
        """Integer edges carry int32 mantissas (the fixed model); host edges floats (``edge`` None: a
        sequence graph's NIR Delay, integers)."""
        floats = edge is not None and (edge.src, edge.dst) in self.lowered.float_edges
        return PyDelayLineModelFloat if floats else PyDelayLineModelFixed

    def run_timed(self) -> tuple[dict[str, np.ndarray], np.ndarray, float, float]:
        """Run in two calls to time the simulation without Lava's compile and build (benchmarks):
        ``(spikes, images, build_plus_first_step_s, remaining_steps_s)``. Blocking; no watchdog."""
        import time

        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg

        any_proc = next(iter(self.procs.values()))
        cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=self.models)
        try:
            start = time.perf_counter()
            any_proc.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
            first = time.perf_counter() - start
            start = time.perf_counter()
            any_proc.run(condition=RunSteps(num_steps=self.steps - 1), run_cfg=cfg)
            rest = time.perf_counter() - start
        finally:
            any_proc.stop()
        spikes = {name: np.load(path) for name, path in self.records.items()}
        final = next(n for n, node in self.lowered.nodes.items()
                     if node.kind == "island" and any(node.params["image_outputs"]))
        images = np.load(self.record_dir / f"images-{final}.npy")
        return spikes, images, first, rest


def fixed_network_for(graph, info, quant: dict, params: dict) -> FixedNetwork:
    """The float lowering of ``graph`` rewritten in integers (:func:`~.fixed.lower_fixed`)."""
    from neurodeploy.targets.loihi.lower import lower

    return lower_fixed(lower(graph, info), quant, params)


class LavaFixedExecutor:
    """A quantized bundle on Lava's fixed_pt models (see module docstring); Traces on logical steps.

    Args:
        path: the bundle folder (``chip.nir`` with ``info.quant``, ``params.npz``, ``host/``).
        graph, info: the bundle's ``graph.nir`` (the lowering's input).
        fast: the project's vectorised fixed_pt Conv (default) or Lava's own (``lava-fixed-stock``).
    """

    def __init__(self, path: Path, graph, info, fast: bool = True):
        from neurodeploy.ir import graph_info, read_graph
        from neurodeploy.targets.emulator import load_params

        path = Path(path)
        chip = read_graph(path / "chip.nir")
        chip_info = graph_info(chip)
        self.quant = chip_info.quant
        if not self.quant:
            raise BundleError(f"{path} is not quantized (no integer parameters in chip.nir); "
                              "export with --quantize int --calib DIR")
        self.params = load_params(path, chip, self.quant)
        self.layers = chip_info.neuron_layers(chip)
        self.t_steps = info.t_steps
        self.input_hw = tuple(info.input_shape[1:])
        self.path = path
        self.fast = fast
        self.name = "lava-fixed" if fast else "lava-fixed-stock"
        self.lowered = fixed_network_for(graph, copy.deepcopy(info), self.quant, self.params)

    def run(self, images: np.ndarray) -> list[Trace]:
        """``images``: ``(N, C, H, W)`` at the bundle's export size; all stream through one Lava run."""
        images = np.asarray(images, dtype=np.float64)
        if tuple(images.shape[-2:]) != self.input_hw:
            raise BundleError(f"Lava runs the bundle at its export size {self.input_hw[0]}x{self.input_hw[1]}, "
                              f"got {images.shape[-2]}x{images.shape[-1]}; use --executor emulator for other sizes")
        net = FixedLavaNetwork(self.lowered, images, self.path / "host", fast=self.fast)
        spikes, outputs, seconds = net.run("fixed_pt")
        traces = []
        for i in range(images.shape[0]):
            # a neuron sends integer payloads (NI-LIF: the level K); its values are K times its scale (1/D)
            layers = {n: net.logical(spikes[n], self.lowered.nodes[n].latency, i).astype(np.float64)
                      * float(self.quant[n].get("scale", 1.0)) for n in self.layers}
            traces.append(Trace(self.name, self.t_steps, layers, outputs[i],
                                meta={"run_s": seconds / images.shape[0], "lava_steps": net.steps,
                                      "lava_steps_per_image": self.lowered.steps_for(1), "select_tag": "fixed_pt",
                                      "conv_model": "PyConvModelFixedFast" if self.fast else "PyConvModelFixed"}))
        return traces
