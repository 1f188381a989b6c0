"""Instantiate a :class:`LoweredNetwork` as Lava processes, run it, and read it back.

One :class:`LavaNetwork` streams a batch of images (or a sequence graph's samples) back to
back, one every ``window`` Lava steps (T for images; ``T + sample_gap`` for sequences, whose
NIR Delays hold logical time): each neuron layer is a ``LIFReset`` (``RuleLIF`` for a
writer's rules) that resets its state at the first step of each of its windows (offset = its
latency), so pipelined samples never see each other's state. A sequence graph's constant
neuron inputs come from ``RingBuffer`` sources on each sample's T logical steps; its
non-spiking layers are read by a ``Monitor`` of ``v``.
Each layer's spikes, and the output images of the last host island, are written to files
by the processes themselves at the end of the run (not read back through Lava's ``Var.get``,
which moves values one by one).
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from neurodeploy.errors import HardwareUnavailable, LavaRunError, LoweringError
from neurodeploy.targets.loihi import compat

compat.install()

from lava.magma.core.run_conditions import RunSteps  # noqa: E402
from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.proc.conv.process import Conv  # noqa: E402
from lava.proc.dense.process import Dense  # noqa: E402
from lava.proc.io.source import RingBuffer as SourceBuffer  # noqa: E402
from lava.proc.lif.process import LIFReset  # noqa: E402
from lava.proc.monitor.process import Monitor  # noqa: E402

from neurodeploy.targets.loihi.lower import (GRADED_MESSAGE_BITS, LavaEdge, LavaNode, LoweredNetwork,  # noqa: E402
                                             from_lava, to_lava)
from neurodeploy.targets.loihi.processes import NILIF, DelayLine, LoopGate, Readout, RuleLIF  # noqa: E402
from neurodeploy.targets.loihi.processes.fast import PyConvModelFloatFast  # noqa: E402
from neurodeploy.targets.loihi.processes.functions import (FusedMember, fused_process,  # noqa: E402
                                                           island_process, record_process)

# Kinds that compute within the Lava step they receive in and run as numpy functions: connected
# ones share one fused process (see fused_process).
FUNCTION_KINDS = ("relay", "concat", "upsample", "patch_to_time", "slice", "assemble", "product", "max", "relu")


def function_groups(lowered: LoweredNetwork, fuse: bool = True,
                    kinds: tuple[str, ...] = FUNCTION_KINDS) -> dict[str, list[str]]:
    """Group name -> its function nodes (``kinds``, in the network's topological order): the connected
    components of function nodes joined by edges between them (each node alone without ``fuse``)."""
    parent = {n: n for n, node in lowered.nodes.items() if node.kind in kinds}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    if fuse:
        for e in lowered.edges:
            if e.src in parent and e.dst in parent:
                parent[root(e.src)] = root(e.dst)
    groups: dict[str, list[str]] = {}
    for n in same_step_order(lowered):
        if n in parent:
            groups.setdefault(root(n), []).append(n)
    return {members[0] if len(members) == 1 else f"fused:{members[0]}": members for members in groups.values()}


# Processes that send before they receive within a Lava step (a synapse sends the step before's
# accumulation): an edge out of one is no same-step dependency.
SENDS_FIRST = ("conv", "dense")


def same_step_order(lowered: LoweredNetwork) -> list[str]:
    """The processes in an order where every process comes after those whose same-step output it
    waits for (every edge except those out of a synapse, :data:`SENDS_FIRST`; ties in the lowering's
    order). A fused group runs its members in this order, receiving each member's inputs just before
    it runs: when every group follows one such order, no two groups can wait on each other. (The
    lowering's order is the graph's, which places a host island where its first member is, possibly
    before a chip node feeding a later member: two groups could then wait on each other.)"""
    names = list(lowered.nodes)
    rank = {n: i for i, n in enumerate(names)}
    succ: dict[str, set[str]] = {n: set() for n in names}
    indeg = {n: 0 for n in names}
    for e in lowered.edges:
        if lowered.nodes[e.src].kind in SENDS_FIRST or e.dst in succ[e.src] or e.src == e.dst:
            continue
        succ[e.src].add(e.dst)
        indeg[e.dst] += 1
    import heapq

    ready = [(rank[n], n) for n in names if indeg[n] == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        _, n = heapq.heappop(ready)
        out.append(n)
        for d in succ[n]:
            indeg[d] -= 1
            if indeg[d] == 0:
                heapq.heappush(ready, (rank[d], d))
    return out if len(out) == len(names) else names  # a same-step cycle: a lowering bug the run would show



# kind -> builder(net, name, node) -> (process, ProcessModel or None for Lava's own by tag,
# in_port(i), out_port(i)). The float and the fixed_pt networks differ only in their builders
# (as Lava's Processes differ from their ProcessModels): FLOAT_BUILDERS here,
# fixed_network.FIXED_BUILDERS for the integer lowering.
Builder = Callable[["LavaNetwork", str, LavaNode], tuple]


def sample_data(net: "LavaNetwork", shape: tuple[int, ...], start: int, value, dtype=np.float64) -> np.ndarray:
    """A source's data for the whole run: sample i's ``value(i)`` (``shape + (T,)``) on its T steps,
    from Lava step ``i * window + start``; zeros elsewhere."""
    data = np.zeros(tuple(shape) + (net.steps,), dtype=dtype)
    for i in range(net.n_images):
        begin = i * net.window + start
        data[..., begin:begin + net.t_steps] = value(i)
    return data


def _input(net: "LavaNetwork", name: str, node: LavaNode):
    if net.lowered.takes_sequences:  # (T, N, *shape): one value per step
        x = to_lava(net.images, node.params["nir_shape"])
        data = sample_data(net, node.shape, 0, lambda i: np.moveaxis(x[:, i], 0, -1))
    else:  # an image repeats over its T steps
        data = sample_data(net, node.shape, 0, lambda i: net.images[i].transpose(2, 1, 0)[..., None])
    proc = SourceBuffer(data=data)
    return proc, None, None, lambda i: proc.s_out


def _message_bits(net: "LavaNetwork", name: str, node: LavaNode) -> int:
    """Graded messages unless the synapse only takes binary spikes (the lowering may decide)."""
    if "message_bits" in node.params:
        return int(node.params["message_bits"])
    inputs = net.lowered.inputs_of(name)
    graded = any(e.kind != "binary" for e in inputs) or len(inputs) > 1
    return GRADED_MESSAGE_BITS if graded else 0


# Lava's own Conv models hold kernel size, stride, padding, dilation and groups as int8
# (lava/proc/conv/models.py): larger values wrap and the conv computes something else.
STOCK_CONV_FIELD_MAX = 127


def _conv(net: "LavaNetwork", name: str, node: LavaNode):
    p = node.params
    if not net.fast:
        too_big = {k: v for k, v in (("groups", p["groups"]), ("kernel", max(np.shape(p["weight"])[1:3])))
                   if int(v) > STOCK_CONV_FIELD_MAX}
        if too_big:
            raise LoweringError(f"conv '{name}' has {', '.join(f'{k} {v}' for k, v in too_big.items())}; Lava's own "
                                f"Conv model holds them as int8 (at most {STOCK_CONV_FIELD_MAX}): run it with the "
                                "project's Conv model (lava-fixed, lava-float) instead")
    proc = Conv(weight=p["weight"], input_shape=p["input_shape"], padding=p["padding"], stride=p["stride"],
                dilation=p["dilation"], groups=p["groups"], num_message_bits=_message_bits(net, name, node),
                name=name)
    return proc, (net.fast_conv_model if net.fast else None), lambda i: proc.s_in, lambda i: proc.a_out


def _dense(net: "LavaNetwork", name: str, node: LavaNode):
    p = node.params
    proc = Dense(weights=p["weight"], num_message_bits=_message_bits(net, name, node), name=name,
                 **({"weight_exp": int(p["weight_exp"])} if "weight_exp" in p else {}))
    return proc, None, lambda i: proc.s_in, lambda i: proc.a_out


def _delay(net: "LavaNetwork", name: str, node: LavaNode):
    proc = DelayLine(shape=node.shape, delay=node.params["delay"], name=f"delay:{name}")
    return proc, net.delay_model(None), lambda i: proc.s_in, lambda i: proc.s_out


def _clear(net: "LavaNetwork", node: LavaNode) -> dict[str, int]:
    """A neuron's reset at the first step of each of its windows (``LIFReset``/``RuleLIF``/``NILIF`` arguments)."""
    return {"reset_interval": net.window, "reset_offset": (node.latency + 1) % net.window}


def _lif(net: "LavaNetwork", name: str, node: LavaNode):
    p = node.params
    vth = p["vth"] if np.isfinite(p["vth"]) else np.finfo(np.float64).max  # I/LI/CubaLI never fire
    rules = p.get("rules")
    if rules is not None and not rules.is_nir:  # a writer's rules (neurodeploy.ir.rules) Lava's LIF has not
        proc = RuleLIF(shape=node.shape, du=p["du"], dv=p["dv"], vth=vth, name=name,
                       fire_at_equality=rules.spike == ">=", subtract=rules.reset == "subtract",
                       reset_delay=rules.reset_delay, max_spikes=rules.max_spikes, v_min=p.get("v_min"),
                       **_clear(net, node))
        return proc, net.rule_lif_model, lambda i: proc.a_in, lambda i: proc.s_out
    proc = LIFReset(shape=node.shape, du=p["du"], dv=p["dv"], vth=vth, bias_mant=p["bias"],
                    bias_exp=p.get("bias_exp", 0), name=name, **_clear(net, node))
    return proc, None, lambda i: proc.a_in, lambda i: proc.s_out


def _sigma_delta(net: "LavaNetwork", name: str, node: LavaNode):
    """Lava's own SigmaDelta (ReLU), cleared once per window by our models of it (:mod:`.processes.sigma_delta`):
    float in message units (``vth``), or with netx's integers (``params["fixed"]``: ``vth_mant``, exponents)."""
    from lava.proc.sdn.process import ActivationMode, SigmaDelta

    from neurodeploy.targets.loihi.processes.sigma_delta import PySigmaDeltaResetFixed, PySigmaDeltaResetFloat

    p, fixed = node.params, node.params.get("fixed")
    if fixed is not None:
        proc = SigmaDelta(shape=node.shape, vth=int(fixed["vth_mant"]), spike_exp=int(fixed["spike_exp"]),
                          state_exp=int(fixed["state_exp"]), act_mode=ActivationMode.RELU, name=name, **_clear(net, node))
        return proc, PySigmaDeltaResetFixed, lambda i: proc.a_in, lambda i: proc.s_out
    proc = SigmaDelta(shape=node.shape, vth=float(p["vth"]), act_mode=ActivationMode.RELU, name=name, **_clear(net, node))
    return proc, PySigmaDeltaResetFloat, lambda i: proc.a_in, lambda i: proc.s_out


def _nilif(net: "LavaNetwork", name: str, node: LavaNode):
    p = node.params
    fixed = p.get("fixed", {})
    proc = NILIF(shape=node.shape, positions=p["positions"], levels=p["levels"], beta=p["beta"],
                 thresholds=fixed.get("thresholds"), level_lsbs=fixed.get("level_lsbs", 64), dv=fixed.get("dv", 0),
                 name=name, **_clear(net, node))
    return proc, None, lambda i: proc.a_in, lambda i: proc.s_out


def _readout(net: "LavaNetwork", name: str, node: LavaNode):
    """A readout (or hold) on the chip: cleared with the window of its input (a neuron's reset)."""
    clear = _clear(net, node)
    proc = Readout(shape=node.shape, interval=clear["reset_interval"], offset=clear["reset_offset"],
                   weights=node.params["weights"], name=name)
    return proc, None, lambda i: proc.a_in, lambda i: proc.s_out


def _island(net: "LavaNetwork", name: str, node: LavaNode):
    if net.island_dir is None:
        raise LoweringError(f"host island '{name}' needs its ONNX file; run a bundle (host/*.onnx)")
    in_delays = [0] * len(node.in_shapes)
    if net.islands_hold_delays:
        for e in net.lowered.inputs_of(name):  # held inside the island, no delay-line process
            in_delays[e.dst_port] = e.delay
    proc, model = island_process(name, str(net.island_dir / f"{name}.onnx"), node, net.lowered.t_steps,
                                 net.n_images, str(net.record_dir / f"images-{name}.npy"), in_delays)
    return proc, model, lambda i: getattr(proc, f"in{i}"), lambda i: getattr(proc, f"out{i}")


FLOAT_BUILDERS: dict[str, Builder] = {"input": _input, "conv": _conv, "dense": _dense, "delay": _delay,
                                      "lif": _lif, "nilif": _nilif, "sigma_delta": _sigma_delta, "island": _island,
                                      "readout": _readout}


class LavaNetwork:
    """Lava processes for one lowered network and a batch of images (or sequences).

    Args:
        lowered: the lowered network.
        images: ``(N, C, H, W)`` float images (model units, [0, 1] for derainers); a sequence
            graph's network: ``(T, N, *input_shape)`` values per step.
        island_dir: folder holding ``ISLAND.onnx`` for every host island of the network.
        record_dir: folder the processes write their records to (spikes per layer, output
            images); a temporary one when not given.
        fast: run convs with the project's vectorised Conv models; False keeps Lava's own
            (benchmarks compare the two).
        fuse: run each connected group of routing/relay/interpolation nodes as one process
            (:func:`function_groups`); False gives each its own (benchmarks compare the two).

    Subclasses change :attr:`builders` (one per node kind) and :meth:`delay_model`; the
    float network's function nodes are built by groups (:meth:`_build_groups`).
    """

    builders: dict[str, Builder] = FLOAT_BUILDERS
    fast_conv_model: type = PyConvModelFloatFast  # the Conv model with fast=True
    rule_lif_model: type | None = None  # RuleLIF's model (None: Lava's choice by tag)
    const_model: type | None = None  # the constant-input sources' model
    const_dtype: type = np.float64
    function_kinds: tuple[str, ...] = FUNCTION_KINDS  # built by groups (fused), not by builders
    islands_hold_delays = True  # an island delays its inputs itself (no delay-line process)

    def __init__(self, lowered: LoweredNetwork, images: np.ndarray, island_dir: Path | None = None,
                 record_dir: Path | None = None, fast: bool = True, fuse: bool = True,
                 membranes: tuple[str, ...] = ()):
        self.lowered = lowered
        self.membranes = set(membranes)  # spiking layers whose v a Monitor reads too (raw key "v:LAYER")
        self.images = images
        sequences = lowered.takes_sequences
        self.t_steps = int(images.shape[0]) if sequences else lowered.t_steps
        self.n_images = int(images.shape[1] if sequences else images.shape[0])
        self.window = lowered.window(self.t_steps)
        self.steps = lowered.steps_for(self.n_images, self.t_steps)
        self.island_dir = None if island_dir is None else Path(island_dir)
        self.fast = fast
        self.procs, self.records, self.models = {}, {}, {}
        # a node built as two paths side by side (a synapse's second group, fixed_network): the second path's
        # (in port, out port) functions; the edge loop connects it as the node; twin_procs: its processes
        self.twins: dict[str, tuple] = {}
        self.twin_procs: list = []
        self.monitors: dict[str, Monitor] = {}
        self._tmp = None
        if record_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="neurodeploy-lava-")
            record_dir = Path(self._tmp.name)
        self.record_dir = Path(record_dir)
        grouped = self.function_kinds
        ports: dict[str, tuple] = {}
        for name, node in lowered.nodes.items():
            if node.kind in grouped:
                continue  # built with its group below
            builder = self.builders.get(node.kind)
            if builder is None:
                raise LoweringError(f"process '{name}' ({node.kind}) has no {type(self).__name__} builder; "
                                    "add one to its builders")
            proc, model, in_port, out_port = builder(self, name, node)
            if model is not None:
                self.models[proc] = model
            self.procs[name] = proc
            ports[name] = (in_port, out_port)
            if self.is_neuron(name, node):
                self._record(name, proc, node)
                self._constant_input(name, proc, node)
        self._group_of: dict[str, tuple[str, FusedMember]] = {}
        external = self._build_groups(function_groups(lowered, fuse, grouped))
        self.delay_lines = 0
        self.loop_gates = 0  # LoopGate processes (one per recurrent loop)
        for edge in lowered.edges:
            src, dst = lowered.nodes[edge.src], lowered.nodes[edge.dst]
            if edge.src in self._group_of:
                group, member = self._group_of[edge.src]
                if self._group_of.get(edge.dst, (None,))[0] == group:
                    continue  # inside one fused process
                port = getattr(self.procs[group], f"out{member.out_port}")
            else:
                port = ports[edge.src][1](edge.src_port)
            # every out port the edge leaves from (a twin's sums join its sibling's) and every in port it enters
            sources = [port] + ([self.twins[edge.src][1](edge.src_port)] if edge.src in self.twins else [])
            if edge.reshape is not None:  # a NIR Flatten before a Dense
                sources = [p.reshape(edge.reshape) for p in sources]
            if id(edge) in external:  # into a fused process: its delay is held inside
                group, k = external[id(edge)]
                for p in sources:
                    p.connect(getattr(self.procs[group], f"in{k}"))
                continue
            if edge.delay and not (dst.kind == "island" and self.islands_hold_delays):
                shape = src.out_shapes[edge.src_port] if src.kind == "island" else src.shape
                line = DelayLine(shape=shape, delay=edge.delay, name=f"delay:{edge.src}->{edge.dst}")
                model = self.delay_model(edge)
                if model is not None:
                    self.models[line] = model
                self.delay_lines += 1
                for p in sources:
                    p.connect(line.s_in)
                sources = [line.s_out]
            if edge.gate is not None:  # a recurrent loop: nothing in flight crosses into the next sample
                gate = LoopGate(shape=src.shape, interval=self.window, offset=edge.gate, name=f"gate:{edge.src}")
                self.loop_gates += 1
                for p in sources:
                    p.connect(gate.s_in)
                sources = [gate.s_out]
            targets = [ports[edge.dst][0](edge.dst_port)]
            if edge.dst in self.twins:
                targets.append(self.twins[edge.dst][0](edge.dst_port))
            for p in sources:
                for t in targets:
                    p.connect(t)

    def fused_process(self, group: str, members: list[FusedMember], in_edges: list[LavaEdge],
                      in_shapes: list[tuple[int, ...]], out_shapes: list[tuple[int, ...]]) -> tuple:
        """The process and model of one group of function nodes (``in_edges``: the edge into each input port)."""
        return fused_process(group, members, in_shapes, out_shapes)

    def is_neuron(self, name: str, node: LavaNode) -> bool:
        """Whether the process is a neuron layer (its spikes are recorded)."""
        return node.kind in ("lif", "nilif", "sigma_delta")

    def delay_model(self, edge) -> type | None:
        """The ProcessModel of the delay line on ``edge`` (None: Lava's choice by tag)."""
        return None

    @property
    def process_count(self) -> int:
        """Lava processes of the run (each an OS process): nodes, fused groups, second synapse groups, delay lines,
        loop gates, record sinks."""
        return len(self.procs) + len(self.twin_procs) + self.delay_lines + self.loop_gates + len(self.records)

    def _build_groups(self, groups: dict[str, list[str]]) -> dict[int, tuple[str, int]]:
        """One fused process per group; returns, for each edge entering a group from outside,
        the group and its input port."""
        lowered = self.lowered
        external: dict[int, tuple[str, int]] = {}
        for group, names in groups.items():
            index = {n: i for i, n in enumerate(names)}
            members = [FusedMember(n, lowered.nodes[n].kind, lowered.nodes[n].params,
                                   lowered.nodes[n].in_shapes or [lowered.nodes[n].shape]) for n in names]
            in_shapes: list[tuple[int, ...]] = []
            in_edges: list[LavaEdge] = []
            for m in members:
                self._group_of[m.name] = (group, m)
                for e in lowered.inputs_of(m.name):
                    if e.src in index:
                        m.contributions.append((e.dst_port, ("int", index[e.src]), e.delay))
                    else:
                        src = lowered.nodes[e.src]
                        external[id(e)] = (group, len(in_shapes))
                        m.contributions.append((e.dst_port, ("ext", len(in_shapes)), e.delay))
                        in_shapes.append(src.out_shapes[e.src_port] if src.kind == "island" else src.shape)
                        in_edges.append(e)
            out_shapes = []
            for m in members:
                if any(e.dst not in index for e in lowered.edges if e.src == m.name):
                    m.out_port = len(out_shapes)
                    out_shapes.append(lowered.nodes[m.name].shape)
            proc, model = self.fused_process(group, members, in_edges, in_shapes, out_shapes)
            self.models[proc] = model
            self.procs[group] = proc
        return external

    def _constant_input(self, name: str, proc, node: LavaNode) -> None:
        """A sequence graph neuron's constant input (bias, leak target): a source on ``a_in`` on the
        sample's T logical steps, from the layer's first (see :mod:`.lower`)."""
        const = node.params.get("const")
        if const is None or not np.any(const != 0):
            return
        source = SourceBuffer(data=sample_data(self, node.shape, node.latency,
                                               lambda i: np.asarray(const)[..., None], self.const_dtype))
        if self.const_model is not None:
            self.models[source] = self.const_model
        self.procs[f"const:{name}"] = source
        source.s_out.connect(proc.a_in)

    def _record(self, name: str, proc, node: LavaNode) -> None:
        """A sink writing the neuron layer's spikes at every step to a file (see record_process); a
        layer that does not spike (a sequence graph's I/LI/CubaLI): a Monitor of its ``v``."""
        if not node.params.get("spiking", True):
            self.monitors[name] = Monitor()
            self.monitors[name].probe(target=proc.v, num_steps=self.steps)
            return
        if name in self.membranes:  # Monitors read value by value: asked for on small graphs only
            self.monitors[f"v:{name}"] = Monitor()
            self.monitors[f"v:{name}"].probe(target=proc.v, num_steps=self.steps)
        self.records[name] = self.record_dir / f"spikes-{len(self.records)}.npy"
        sink, model = record_process(f"record:{name}", node.shape, self.steps, str(self.records[name]))
        self.models[sink] = model
        proc.s_out.connect(sink.a_in)

    def run(self, select_tag: str = "floating_pt", timeout_s: float | None = None
            ) -> tuple[dict[str, np.ndarray], np.ndarray | None, float]:
        """Run all steps; return (layer -> raw spikes (X,Y,C,steps), output images (N, C, H, W), seconds).

        A non-spiking layer's raw record is its ``v`` (Lava's units); a sequence graph's
        network has no output images (None): its output is :attr:`LoweredNetwork.output_layer`.

        Every Lava process is stopped on success; on an exception, on Ctrl-C or after
        ``timeout_s`` seconds (default: :func:`run_timeout_s`) every one is killed, and a
        hung run ends in one line (:class:`~neurodeploy.errors.LavaRunError`).
        """
        any_proc = next(iter(self.procs.values()))
        timeout_s = run_timeout_s(self) if timeout_s is None else timeout_s
        start = time.perf_counter()
        models = self.models if select_tag == "floating_pt" else {
            proc: model for proc, model in self.models.items() if model is not PyConvModelFloatFast}
        cfg = Loihi2SimCfg(select_tag=select_tag, exception_proc_model_map=models)
        try:
            any_proc.run(condition=RunSteps(num_steps=self.steps, blocking=False), run_cfg=cfg)
            runtime = any_proc.runtime
            while not all(port.probe() for port in runtime.service_to_runtime):
                if time.perf_counter() - start > timeout_s:
                    raise LavaRunError(f"the Lava run did not finish within {timeout_s:.0f} s ({self.steps} steps, "
                                       f"{len(self.procs)} processes); all its processes were stopped")
                time.sleep(0.005)
            runtime.wait()  # collects the responses; raises if a process model failed
            probed = {}
            for name, mon in self.monitors.items():
                v = next(iter(mon.get_data().values()))["v"]  # (steps, *shape)
                probed[name] = np.moveaxis(np.asarray(v, dtype=np.float64), 0, -1)
        except BaseException as exc:
            kill_run(any_proc)
            if isinstance(exc, RuntimeError) and "Exception(s) occurred" in str(exc):
                raise LavaRunError(f"a Lava process failed during the run ({exc}); all processes were stopped") from None
            raise
        any_proc.stop()
        spikes = {name: np.load(path) for name, path in self.records.items()}
        spikes.update(probed)
        images = self._output_images()
        if self._tmp is not None:
            self._tmp.cleanup()
        return spikes, images, time.perf_counter() - start

    def _output_images(self) -> np.ndarray | None:
        final = next((n for n, node in self.lowered.nodes.items()
                      if node.kind == "island" and any(node.params["image_outputs"])), None)
        return None if final is None else np.load(self.record_dir / f"images-{final}.npy")

    def logical(self, raw: np.ndarray, latency: int, image: int, nir_shape: tuple[int, ...] | None = None
                ) -> np.ndarray:
        """Cut sample ``image``'s T steps out of a raw (Lava layout, steps) record -> (T, C, H, W)
        (``nir_shape``: the layer's NIR per-step shape, for other ranks)."""
        start = image * self.window + latency
        cut = np.moveaxis(raw[..., start:start + self.t_steps], -1, 0)
        return np.ascontiguousarray(from_lava(cut, tuple(nir_shape) if nir_shape is not None else (0, 0, 0)))


def run_timeout_s(net: "LavaNetwork") -> float:
    """Seconds a run may take before it counts as hung: 120 s + 2 s per process per 100 steps
    (the slowest derainer here, vlifnet-tiny at 64x64, ~250 processes and ~150 steps, needs
    a few minutes on a loaded 2-core machine)."""
    return 120.0 + 2.0 * len(net.procs) * net.steps / 100


def kill_run(proc) -> None:
    """Kill every OS process of a Lava run (after an error or a hang, Lava's own stop() waits
    for answers that may never come)."""
    runtime = getattr(proc, "runtime", None)
    infrastructure = getattr(runtime, "_messaging_infrastructure", None)
    for actor in list(getattr(infrastructure, "actors", None) or []):
        try:
            if actor.is_alive():
                actor.kill()
            multiprocessing.Process.join(actor, 5)  # Lava's SystemProcess.join takes no timeout
        except ValueError:  # already joined and closed by Lava after a failed step
            pass
    try:
        infrastructure._smm.shutdown()
    except Exception:  # noqa: BLE001 -- best effort: the run is being torn down
        pass
    if runtime is not None:
        runtime._is_running = runtime._is_started = False


def loihi_hardware_available() -> tuple[bool, str]:
    """Whether Intel's Loihi runtime (lava-loihi / NxSDK) is importable; why not if not."""
    try:
        import lava.magma.compiler.subcompilers.nc  # noqa: F401  (ships with lava-loihi only)
        import nxcore  # noqa: F401
    except ImportError as exc:
        return False, f"Intel's Loihi runtime is not installed ({exc.name} missing; lava-loihi is available to INRC members)"
    # A runtime is there, but the Loihi2HwCfg run path has never been exercised on a chip:
    # say so rather than pretend.
    return False, "Intel's Loihi runtime is installed, but neurodeploy's Loihi2HwCfg run path is not implemented yet"


def require_hardware() -> None:
    ok, why = loihi_hardware_available()
    if not ok:
        raise HardwareUnavailable(f"Loihi hardware run requested, but {why}; use --executor lava-float for the CPU simulator")
