"""Pass: latency and delay balancing, per node kind and per host island.

Reads: node kinds, edges, ``info.side``, ``info.island``. Writes: ``info.latency[node]``
-- the time steps between a logical step's input and the node's output for it, on a chip
that delays each synaptic hop by one step -- and ``info.delays["src->dst"]``: the steps of
delay an input of a join (or of a host island) needs so that every input carries the same
logical step when it arrives.

Latency per node kind is data (:data:`STEPS_ADDED`): on Loihi (and in Lava) a synapse
(``conv``) delivers its output one step after its input; neurons, routing (sums, concat,
gains, fixed interpolation) and delay lines add none. A **host island** runs as one unit:
all its inputs arrive aligned (the island's input latency is the latest of them), and its
ONNX file takes the T steps of an image at once: it runs when step T-1 arrives and sends
output step 0 in that same step, so its outputs leave T-1 steps after its inputs arrived
(:func:`island_steps`). An island whose window is ``step`` (every node computes each step
from the same step: products, sums) streams: it sends step k in the step k arrives, no latency. The island that only holds the graph's input and
the encoder adds nothing: it repeats the image, which the chip's source sends from step 0.
Without balancing (``balance=False``) no delays are written: joins then mix logical steps
-- kept for tests that show the verifier catches it.

**Recurrent loops** (:mod:`neurodeploy.ir.order`): a neuron feeds its loop the previous step's
spikes (the loop's ``delayed`` edge, ``lif -> w_rec``), and Lava's synapse on the loop (a recurrent
``Dense`` from the neuron's output back to its input) delays them by exactly that step: the
``Dense`` sends, at Lava step ``s + 1``, what it received at ``s``. So the delayed edge counts one
step *less* (the recurrent synapse's output for logical step t leaves when the neuron's does), the
forward path's balancing ignores the loop's ``back`` edge (``w_rec -> lif``), and the back edge must
then arrive exactly in step: a loop with one synapse does; a loop through more synapses (a later
layer feeding an earlier one) takes one Lava step per synapse where the network takes one, and is
refused in one line (:class:`~neurodeploy.errors.LoweringError`); a back edge that arrives early
gets a delay like any join.
"""

from __future__ import annotations

from neurodeploy.errors import LoweringError
from neurodeploy.ir.graph import DeployGraph

# Time steps a node of each kind adds between its input and its output: every synapse
# (a sequence graph's NIR synapses and pooling too); a NIR Delay is logical time, not latency.
STEPS_ADDED = {"conv": 1, "affine": 1, "linear": 1, "conv1d": 1, "sumpool": 1, "avgpool": 1}
SOURCE_KINDS = ("input", "encode")


def is_source_island(g: DeployGraph, nodes: list[str]) -> bool:
    """An island that holds only the graph's input and the encoder: it repeats the image (or
    sends a sequence graph's input step by step)."""
    return all(g.kind(n) in SOURCE_KINDS and (g.kind(n) != "input" or g.domain(n) == "image"
                                              or g.info.takes_sequences) for n in nodes)


def island_steps(g: DeployGraph, nodes: list[str]) -> int:
    """Steps between an island's inputs arriving and its outputs leaving (its input latency
    is its latency minus these)."""
    return 0 if is_source_island(g, nodes) or streams(g, nodes) else g.t_steps - 1


def streams(g: DeployGraph, nodes: list[str]) -> bool:
    """An island of one-step window: it can compute each step as it arrives."""
    return all(g.info.window.get(n) == "step" for n in nodes)


def latency(g: DeployGraph, balance: bool = True, steps_added: dict[str, int] | None = None) -> dict[str, int]:
    """Write ``info.latency`` and ``info.delays`` (see module docstring); return the latencies.
    ``steps_added``: per-kind latencies instead of :data:`STEPS_ADDED` (``{}``: what the islands'
    waits alone cost, as :func:`island_waits` asks)."""
    added = STEPS_ADDED if steps_added is None else steps_added
    islands = g.islands()
    lat: dict[str, int] = {}
    arrival: dict[str, int] = {}  # per node: when its (aligned) inputs arrive
    pending = list(g.order)
    late = set(g.loops.delayed)

    def sent(src: str, dst: str) -> int:
        """When ``src``'s values for ``dst``'s logical step arrive: a delayed edge brings the step before."""
        return lat[src] - ((src, dst) in late)

    while pending:
        progressed = False
        for name in list(pending):
            if name not in pending:  # an island member, placed with its island
                continue
            island = g.info.island.get(name)
            members = islands[island] if island else [name]
            inside = set(members)
            outside = [(p, m) for m in members for p in g.forward_predecessors(m) if p not in inside]
            if not all(p in lat for p, _ in outside):
                continue  # an island waits for all its inputs
            if island:
                arrive = max((sent(p, m) for p, m in outside), default=0)
                for m in members:
                    arrival[m], lat[m] = arrive, arrive + island_steps(g, members)
                    pending.remove(m)
            else:
                arrival[name] = max((sent(p, m) for p, m in outside), default=0)
                lat[name] = arrival[name] + added.get(g.kind(name), 0)
                pending.remove(name)
            progressed = True
        if not progressed:  # unreachable for a partitioned DAG (islands are acyclic)
            raise RuntimeError(f"latency: islands wait on each other ({pending[:3]})")
    for src, dst in g.loops.delayed:
        if STEPS_ADDED.get(g.kind(dst), 0) != 1:
            raise LoweringError(f"neuron {src!r} feeds its recurrent loop through {dst!r} ({g.kind(dst)}); on Lava the "
                                "loop's one-step delay is its synapse's: put Affine/Linear/Conv right after the neuron")
    for src, dst in g.loops.back:
        if sent(src, dst) > arrival[dst]:
            steps = sent(src, dst) - arrival[dst] + 1
            raise LoweringError(f"the recurrent loop {dst!r} -> ... -> {src!r} -> {dst!r} takes {steps} "
                                "Lava steps (one per synapse on it) where the network takes 1; on Lava a loop may pass "
                                "through one synapse (a layer feeding itself through Dense/Conv)")
    delays: dict[str, int] = {}
    for src, dst in g.edges:
        same_island = g.info.island.get(src) is not None and g.info.island.get(src) == g.info.island.get(dst)
        if balance and not same_island and arrival[dst] > sent(src, dst):
            delays[f"{src}->{dst}"] = arrival[dst] - sent(src, dst)
    g.info.latency, g.info.delays = lat, delays
    return lat


def island_waits(g: DeployGraph) -> int:
    """How many host islands that wait for all T steps lie on the longest path from the input (each adds
    T - 1 Lava steps per image): the latency with every synapse's step left out, over T - 1. Runs the
    pass on ``g`` (it rewrites ``info.latency`` and ``info.delays``; call :func:`latency` again after)."""
    waits = max(latency(g, steps_added={}).values(), default=0)
    return waits // max(g.t_steps - 1, 1)
