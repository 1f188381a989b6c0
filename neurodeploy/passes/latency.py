"""Pass: latency and delay balancing, per node kind.

Reads: node kinds, edges, ``info.side``. Writes: ``info.latency[node]`` -- the time steps
between a logical step's input and the node's output for it, on a chip that delays each
synaptic hop by one step -- and ``info.delays["src->dst"]``: the steps of delay a join's
shorter input needs so that every input of a node carries the same logical step.

Latency per node kind is data (:data:`STEPS_ADDED`): on Loihi (and in Lava) a synapse
(``conv``) delivers its output one step after its input; neurons, routing (sums, concat,
gains folded into weights), sources, readouts and delay lines add none. Host nodes add
none here: the host islands inside a chip run add their own latency when they run in the
same clock (issue of the Lava lowering of whole derainers). Without balancing (``balance
=False``) no delays are written: joins then mix logical steps -- kept for tests that show
the verifier catches it.
"""

from __future__ import annotations

from neurodeploy.ir.graph import DeployGraph

# Time steps a node of each kind adds between its input and its output.
STEPS_ADDED = {"conv": 1}


def latency(g: DeployGraph, balance: bool = True) -> dict[str, int]:
    """Write ``info.latency`` and ``info.delays`` (see module docstring); return the latencies."""
    lat: dict[str, int] = {}
    delays: dict[str, int] = {}
    for name in g.order:
        preds = g.predecessors(name)
        arrival = max((lat[p] for p in preds), default=0)
        lat[name] = arrival + STEPS_ADDED.get(g.kind(name), 0)
        for p in preds:
            if balance and arrival > lat[p]:
                delays[f"{p}->{name}"] = arrival - lat[p]
    g.info.latency, g.info.delays = lat, delays
    return lat
