"""Lava processes whose port count depends on the graph: routing, relays, interpolation, host islands.

Lava declares a ProcessModel's ports as class attributes, so a process with n inputs needs
a model class with n input ports: :func:`fused_process` and :func:`island_process`
build the Process and its ``floating_pt`` ProcessModel for one node, and return them with
the model, which the run config maps to the process instance
(``Loihi2SimCfg(exception_proc_model_map={proc: model})``). Every one receives and sends
within the same Lava step, so it adds no latency of its own -- except a host island, which
buffers an image's T steps before it runs (its latency, T - 1, comes from the latency pass).
The models use numpy (and onnxruntime for islands) only: torch inside a Lava process can
hang (Lava's own ``proc/conv/utils.py`` says so).

- ``relay``: ``factor * sum(inputs) + bias`` -- a sum or gain node, or a conv's bias (Lava's
  Conv holds none); on Loihi 2 a graded pass-through neuron (gains fold into weights).
- ``concat``: its inputs stacked along channels, in order -- routing, no arithmetic.
- ``patch_to_time``: VLIF-Net's patch-to-time as routing, ``(X, Y, C)`` ->
  ``(X/r, Y/r, r²·C)`` with channel ``(i·r + j)·C + c`` = pixel ``(j, i)`` of each r×r
  patch (``x = X·r + j``, ``y = Y·r + i``) -- a fixed permutation of axons on Loihi 2.
- ``upsample``: fixed interpolation (bilinear or nearest, integer factor) -- on Loihi 2 a
  fixed depthwise transposed convolution.
- ``product``: its two operands multiplied elementwise -- a product neuron (on Loihi 2 a
  programmable neuron multiplying its two dendritic inputs; Lava's ``lava.proc.prodneuron`` is
  Intel's fixed-point reference), one input port per operand.
- ``max``: the maximum over the pixels of each channel or the channels of each pixel -- on Loihi 2
  a tree of graded ReLU neurons (``max(a, b) = b + relu(a - b)``); ``relu``: ``max(x, 0)``, a graded
  ReLU neuron (Lava's ``lava.proc.graded.GradedVec`` with threshold 0).
- ``island``: a host island's ONNX file run with onnxruntime (one intra-op thread, session
  created inside the Lava process); it stores the graph's output image, one per image.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from neurodeploy.targets.loihi import compat

compat.install()

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort, PyOutPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.process.ports.ports import InPort, OutPort  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402

from neurodeploy.targets.island_files import onnx_name, onnx_session  # noqa: E402
from neurodeploy.targets.loihi.layout import interp_matrix, max_xyc, patch_to_time_xyc  # noqa: E402


def _function(kind: str, params: dict[str, Any], in_shapes: list[tuple[int, ...]]) -> Callable:
    if kind == "relay":
        factor, bias = float(params["factor"]), np.asarray(params["bias"], dtype=np.float64)
        return lambda xs: factor * sum(xs) + bias
    if kind == "concat":
        return lambda xs: np.concatenate(xs, axis=2)
    if kind == "product":
        return lambda xs: xs[0] * xs[1]
    if kind == "max":
        return lambda xs: max_xyc(sum(xs), params["over"])
    if kind == "relu":
        return lambda xs: np.maximum(sum(xs), 0)
    if kind == "patch_to_time":
        r = int(params["r"])
        return lambda xs: patch_to_time_xyc(sum(xs), r)
    if kind == "upsample":
        x_in, y_in, _ = in_shapes[0]
        mx = interp_matrix(x_in, params["scale"], params["mode"], params["align_corners"])
        my = interp_matrix(y_in, params["scale"], params["mode"], params["align_corners"])
        return lambda xs: np.einsum("ax,by,xyc->abc", mx, my, sum(xs))
    if kind == "slice":  # a block's input window (halo included; zeros outside the map, as padding)
        (x0, x1), (y0, y1), (c0, c1) = params["x"], params["y"], params["c"]

        def cut(xs):
            src = sum(xs)
            out = np.zeros((x1 - x0, y1 - y0, c1 - c0), dtype=np.asarray(src).dtype)
            a0, a1, b0, b1 = max(x0, 0), min(x1, src.shape[0]), max(y0, 0), min(y1, src.shape[1])
            out[a0 - x0:a1 - x0, b0 - y0:b1 - y0] = src[a0:a1, b0:b1, c0:c1]
            return out
        return cut
    if kind == "assemble":  # a split layer's blocks back into one map for its consumers
        regions, shape = params["regions"], tuple(params["shape"])

        def place(xs):
            out = np.zeros(shape, dtype=np.asarray(xs[0]).dtype)
            for x, (x0, x1, y0, y1, c0, c1) in zip(xs, regions):
                out[x0:x1, y0:y1, c0:c1] = x
            return out
        return place
    raise ValueError(kind)


def _model(cls_name: str, proc_cls: type, attrs: dict[str, Any], select_tag: str = "floating_pt") -> type:
    model = type(cls_name, (PyLoihiProcessModel,), attrs)
    return implements(proc=proc_cls, protocol=LoihiProtocol)(requires(CPU)(tag(select_tag)(model)))


class FusedMember:
    """One routing/relay/interpolation node inside a :func:`fused_process`.

    ``contributions``: what each of its input slots sums, as ``(slot, source, delay)`` with
    ``source`` = ``("ext", k)`` (the process's input port k) or ``("int", i)`` (member i,
    earlier in the list); ``delay``: Lava steps of delay on that contribution (a delay line
    held inside the process instead of a process of its own). ``out_port``: the process's
    output port that sends this member's value, or None when only members read it.
    """

    # A plain class: Lava imports this file under another module name when it scans the
    # folder for process models, and a dataclass cannot be built there.
    def __init__(self, name: str, kind: str, params: dict[str, Any], in_shapes: list[tuple[int, ...]]):
        self.name, self.kind, self.params, self.in_shapes = name, kind, params, in_shapes
        self.contributions: list[tuple[int, tuple[str, int], int]] = []
        self.out_port: int | None = None


def fused_process(name: str, members: list[FusedMember], in_shapes: list[tuple[int, ...]],
                  out_shapes: list[tuple[int, ...]], functions: list[Callable] | None = None,
                  in_types: list[type] | None = None, out_types: list[type] | None = None,
                  select_tag: str = "floating_pt") -> tuple[AbstractProcess, type]:
    """Connected routing/relay/interpolation nodes (``relay``, ``concat``, ``upsample``,
    ``patch_to_time``) as one Lava process: one OS process instead of one per node.

    ``functions`` (one per member, ``f(list of slot values) -> value``), the ports' numpy types
    (default float) and ``select_tag`` let the fixed_pt network fuse its integer function nodes
    the same way (:mod:`~neurodeploy.targets.loihi.fixed_network`); by default each member's
    float function comes from its kind and params.

    Each of these computes within the Lava step it receives in, so running them in one
    process in graph order (members in topological order) changes no value and no latency;
    it saves Lava's per-process cost (~0.2 ms per process per step here) and the delay-line
    processes on its inputs. Each member receives its external inputs just before it runs
    and sends right after, so a path that leaves the group and comes back without a synapse
    (e.g. through a neuron) cannot deadlock. Contributions to one slot are summed in edge
    order, as Lava sums the connections into one InPort.
    """
    fns = functions if functions is not None else [_function(m.kind, m.params, m.in_shapes) for m in members]
    n_in, n_out = len(in_shapes), len(out_shapes)
    in_types = in_types or [float] * n_in
    out_types = out_types or [float] * n_out

    def init(self, **kwargs):
        AbstractProcess.__init__(self, **kwargs)
        for i, shape in enumerate(in_shapes):
            setattr(self, f"in{i}", InPort(shape=shape))
        for i, shape in enumerate(out_shapes):
            setattr(self, f"out{i}", OutPort(shape=shape))

    proc_cls = type(f"Fused{len(members)}x{n_in}x{n_out}", (AbstractProcess,), {"__init__": init})

    def run_spk(self) -> None:
        s = self.time_step - 1
        if not hasattr(self, "_lines"):
            self._lines = {}  # (member, contribution index) -> ring buffer of its delay
        values = []
        for i, (m, fn) in enumerate(zip(members, fns)):
            slots: list[Any] = [None] * len(m.in_shapes)
            for j, (slot, (where, k), delay) in enumerate(m.contributions):
                x = getattr(self, f"in{k}").recv() if where == "ext" else values[k]
                if delay:
                    line = self._lines.setdefault((i, j), np.zeros((delay,) + np.shape(x), dtype=np.asarray(x).dtype))
                    x, line[s % delay] = line[s % delay].copy(), x
                slots[slot] = x if slots[slot] is None else slots[slot] + x  # keeps integer inputs integer
            slots = [np.zeros(shape) if x is None else x for x, shape in zip(slots, m.in_shapes)]
            values.append(fn(slots))
            if m.out_port is not None:
                getattr(self, f"out{m.out_port}").send(values[-1])

    attrs = {f"in{i}": LavaPyType(PyInPort.VEC_DENSE, in_types[i]) for i in range(n_in)}
    attrs.update({f"out{i}": LavaPyType(PyOutPort.VEC_DENSE, out_types[i]) for i in range(n_out)})
    attrs.update(run_spk=run_spk)
    proc = proc_cls(name=name)
    return proc, _model(f"Py{proc_cls.__name__}Model", proc_cls, attrs, select_tag)


def island_process(name: str, onnx_path: str, node: Any, t_steps: int, n_images: int,
                   images_path: str, in_delays: list[int] | None = None) -> tuple[AbstractProcess, type]:
    """A host island (a LavaNode of kind ``island``) as a process running its ONNX file.

    Logical step k of image i reaches it at Lava step ``input_latency + i T + k`` (delay
    lines align its inputs); after the image's last step it runs the ONNX file on the T
    steps and sends output step k at ``input_latency + (i + 1) T - 1 + k`` (step 0 in the
    step the image's last input arrives). An island of one-step window (``params["streams"]``)
    instead runs each step as it arrives and sends it in the same Lava step. Image outputs (the
    graph's output) are written to ``images_path`` (``.npy``, ``(n_images, C, H, W)``) after
    the last image (see :func:`record_process` for why not a Var). ``in_delays``: Lava steps of
    delay per input port, held inside instead of as delay-line processes.
    """
    p = node.params
    delays = list(in_delays or [0] * len(node.in_shapes))

    def receive(self, s: int) -> list[np.ndarray]:
        xs = []
        for i, d in enumerate(delays):
            x = getattr(self, f"in{i}").recv()
            if d:
                if not hasattr(self, "_lines"):
                    self._lines = {}
                line = self._lines.setdefault(i, np.zeros((d,) + np.shape(x)))
                x, line[s % d] = line[s % d].copy(), x
            xs.append(x)
        return xs

    in_shapes, out_shapes = list(node.in_shapes), list(node.out_shapes)
    n_in, n_out = len(in_shapes), len(out_shapes)

    def init(self, **kwargs):
        AbstractProcess.__init__(self, **kwargs)
        for i, shape in enumerate(in_shapes):
            setattr(self, f"in{i}", InPort(shape=shape))
        for i, shape in enumerate(out_shapes):
            if not p["image_outputs"][i]:
                setattr(self, f"out{i}", OutPort(shape=shape))

    proc_cls = type(f"HostIsland{n_in}x{n_out}", (AbstractProcess,), {"__init__": init})
    start = int(p["input_latency"])
    names_in, names_out = [onnx_name(n) for n in p["inputs"]], [onnx_name(n) for n in p["outputs"]]
    in_domains, image_outputs = p["in_domains"], p["image_outputs"]

    def stream_step(self) -> None:
        """A one-step-window island: each arriving step runs at once and leaves in the same
        Lava step. The ONNX file takes T steps: the step is repeated T times (each output
        step depends on its own input step only, so any copy gives it)."""
        s = self.time_step - 1
        xs = receive(self, s)
        if not hasattr(self, "_session"):
            self._session = onnx_session(onnx_path)
        k = s - start
        outs = None
        if 0 <= k < n_images * t_steps:
            feed = {}
            for n, x, dom in zip(names_in, xs, in_domains):
                chw = np.asarray(x).transpose(2, 1, 0)[None]  # (1, C, H, W)
                feed[n] = (chw if dom == "image" else np.repeat(chw[None], t_steps, axis=0)).astype(np.float32)
            outs = self._session.run(names_out, feed)
        for i, shape in enumerate(out_shapes):
            value = np.zeros(shape)
            if outs is not None:
                o = np.asarray(outs[i], dtype=np.float64)
                value = (o[0] if o.ndim == 4 else o[0, 0]).transpose(2, 1, 0)
            getattr(self, f"out{i}").send(value)

    def run_spk(self) -> None:
        s = self.time_step - 1
        xs = receive(self, s)
        if not hasattr(self, "_buffers"):
            self._session = onnx_session(onnx_path)  # created in the Lava process, one thread
            self._buffers = [np.zeros((t_steps, *shape)) for shape in in_shapes]
            self._pending: dict[int, list[np.ndarray]] = {}
            self._images: list[np.ndarray] = []
        k = s - start
        if k >= 0 and k // t_steps < n_images:
            image, step = divmod(k, t_steps)
            for buf, x in zip(self._buffers, xs):
                buf[step] = x
            if step == t_steps - 1:
                feed = {}
                for n, buf, dom in zip(names_in, self._buffers, in_domains):
                    chw = buf.transpose(0, 3, 2, 1)[:, None]  # (T, 1, C, H, W)
                    # an image (repeated over the window) or a chip readout (whole after its last step)
                    feed[n] = (chw[-1] if dom == "image" else chw).astype(np.float32)
                outs = self._session.run(names_out, feed)
                self._pending[image] = outs
                for i, out in enumerate(outs):
                    if image_outputs[i]:
                        self._images.append(np.asarray(out, dtype=np.float64)[0])
                        if len(self._images) == n_images:
                            np.save(images_path, np.stack(self._images))
        k_out = s - start - (t_steps - 1)
        image, step = divmod(k_out, t_steps) if k_out >= 0 else (-1, 0)
        outs = self._pending.get(image)
        for i, shape in enumerate(out_shapes):
            if image_outputs[i]:
                continue
            value = np.zeros(shape)
            if outs is not None:
                o = np.asarray(outs[i], dtype=np.float64)
                value = (o[0] if o.ndim == 4 else o[step, 0]).transpose(2, 1, 0)
            getattr(self, f"out{i}").send(value)
        if outs is not None and step == t_steps - 1:
            del self._pending[image]

    attrs = {f"in{i}": LavaPyType(PyInPort.VEC_DENSE, float) for i in range(n_in)}
    attrs.update({f"out{i}": LavaPyType(PyOutPort.VEC_DENSE, float) for i in range(n_out) if not p["image_outputs"][i]})
    if p.get("streams") and any(image_outputs):
        raise ValueError(f"island {name}: a streaming island cannot hold the graph's output image")
    attrs.update(run_spk=stream_step if p.get("streams") else run_spk)
    proc = proc_cls(name=name)
    return proc, _model(f"Py{proc_cls.__name__}Model", proc_cls, attrs)


def record_process(name: str, shape: tuple[int, ...], steps: int, path: str) -> tuple[AbstractProcess, type]:
    """A sink that records its input at every step and writes the whole record, ``shape +
    (steps,)``, to ``path`` (``.npy``) after the last step.

    Why not Lava's ``RingBuffer`` sink: reading its ``data`` Var back costs ~15 µs per
    element (Lava sends values one by one) -- 23 s of a 40 s ESDNet run at 16x16; one file
    write per layer costs milliseconds.
    """
    def init(self, **kwargs):
        AbstractProcess.__init__(self, **kwargs)
        self.a_in = InPort(shape=shape)

    proc_cls = type("RecordSink", (AbstractProcess,), {"__init__": init})

    def run_spk(self) -> None:
        if not hasattr(self, "_record"):
            self._record = np.zeros(shape + (steps,))
        s = self.time_step - 1
        self._record[..., s] = self.a_in.recv()
        if s == steps - 1:
            np.save(path, self._record)

    attrs = {"a_in": LavaPyType(PyInPort.VEC_DENSE, float), "run_spk": run_spk}
    proc = proc_cls(name=name)
    return proc, _model("PyRecordSinkModel", proc_cls, attrs)
