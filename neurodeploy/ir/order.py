"""The one topological order of a graph, with a cycle named when there is one."""

from __future__ import annotations

from typing import Callable, Iterable

from neurodeploy.errors import GraphError


def topological_order(nodes: Iterable[str], edges: Iterable[tuple[str, str]],
                      is_neuron: Callable[[str], bool] = lambda name: False) -> list[str]:
    """Node names, every node after all its inputs (Kahn's algorithm, stable: among the
    nodes ready at once, the one inserted first comes first).

    Raises:
        GraphError: an edge names a missing node, or the graph has a cycle -- named, as
            an algebraic loop (no neuron on it) or as recurrence (``is_neuron`` is true
            for a node on it; recurrent graphs are not supported yet).
    """
    nodes = list(nodes)
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    indegree = {n: 0 for n in nodes}
    for src, dst in edges:
        for end in (src, dst):
            if end not in succ:
                raise GraphError(f"edge {src}->{dst} names node '{end}', which the graph does not have")
        succ[src].append(dst)
        indegree[dst] += 1
    ready = [n for n in nodes if indegree[n] == 0]
    order = []
    head = 0
    while head < len(ready):
        n = ready[head]
        head += 1
        order.append(n)
        for d in succ[n]:
            indegree[d] -= 1
            if indegree[d] == 0:
                ready.append(d)
    if len(order) == len(nodes):
        return order
    cycle = _find_cycle(set(nodes) - set(order), succ)
    path = "->".join(_quote(n) for n in (*cycle, cycle[0]))
    if any(is_neuron(n) for n in cycle):
        raise GraphError(f"the graph has a cycle {path} through a neuron; recurrent graphs are not supported yet")
    raise GraphError(f"the graph has a cycle {path} without a neuron (an algebraic loop: no time step breaks it); "
                     "remove one of its edges")


def _quote(name: str) -> str:
    text = str(name)
    return f"'{text}'" if text.isprintable() and "'" not in text and len(text) < 200 else repr(text)[:200]


def _find_cycle(stuck: set[str], succ: dict[str, list[str]]) -> list[str]:
    """One cycle among the nodes Kahn's algorithm could not order (each has a stuck predecessor)."""
    pred: dict[str, list[str]] = {n: [] for n in stuck}
    for s in stuck:
        for d in succ[s]:
            if d in stuck:
                pred[d].append(s)
    # Walking backwards from any stuck node must revisit a node; the revisited stretch is a cycle.
    seen: dict[str, int] = {}
    walk = []
    node = min(stuck)
    while node not in seen:
        seen[node] = len(walk)
        walk.append(node)
        node = min(pred[node])
    return list(reversed(walk[seen[node]:]))
