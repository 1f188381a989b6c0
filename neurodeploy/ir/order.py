"""The one topological order of a graph, its recurrent loops, and a cycle named when it is an error.

**Recurrence** (issue 28): a cycle is allowed when it passes through a stateful neuron (NIR's
LIF, IF, LI, CubaLIF, CubaLI, I; neurodeploy's NI-LIF and sigma-delta neurons -- not
``Threshold``, which has no state). The neuron's state is what breaks the loop: **a neuron feeds
its loop the output of the previous time step** (no spikes before step 0), as snntorch's
``RLeaky``/``RSynaptic`` compute ``recurrent(self.spk)`` from the previous step's spikes
(``rleaky.py``/``rsynaptic.py`` 1.0.0, ``_base_state_function``). The edge that leaves the neuron
along the loop is the loop's **delayed edge** (:attr:`Loops.delayed`; ``lif -> w_rec``; every edge by
which that neuron feeds a loop through itself): it carries its source's value one time step later;
every other edge carries the same step. So a recurrent
synapse's bias reaches the neuron from step 0 on (``W · 0 + b``), as in snntorch.

To order the nodes, each loop is cut at the edge a depth-first walk from the graph's inputs (nodes
without inputs, in insertion order; successors in edge order) meets leading back into a node still
on the walk (:attr:`Loops.back`; ``w_rec -> lif``): the order lists every node after its inputs
across the other edges. The delayed edge is the one leaving the last stateful neuron on that
cycle, in the walk's order (for a later layer feeding an earlier one, ``lif2 -> w_back``). A cycle
with no stateful neuron on it has no step to break it (an algebraic loop) and stays an error.

Executors evaluate the loop's nodes with the delayed values (``targets/nir_primitives.py``
``run_with_loops``); on Lava a synapse on the loop delays by one step on its own (a recurrent
``Dense``), see :mod:`neurodeploy.passes.latency`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from neurodeploy.errors import GraphError


@dataclass(frozen=True)
class Loops:
    """A graph's recurrent loops (see the module docstring).

    Attributes:
        back: the edges that cut each loop for the order (a node's input from the previous pass
            of its loop); [] for a graph without cycles.
        delayed: the edges that carry their source's value one time step later (each leaves a
            stateful neuron along a loop).
    """

    back: tuple[tuple[str, str], ...] = ()
    delayed: tuple[tuple[str, str], ...] = ()


def _walk(nodes: list[str], succ: dict[str, list[str]], is_neuron) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """(back edge, delayed edge) of each cycle a depth-first walk closes (module docstring)."""
    has_in = {d for ds in succ.values() for d in ds}
    found = []
    state: dict[str, int] = {}  # 1: on the walk, 2: done
    for root in [n for n in nodes if n not in has_in] + nodes:  # inputs first, then what a cycle hides
        if root in state:
            continue
        # iterative (graphs of a few thousand nodes would overflow Python's recursion)
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        state[root] = 1
        while stack:
            node, i = stack[-1]
            if i < len(succ[node]):
                stack[-1] = (node, i + 1)
                nxt = succ[node][i]
                if state.get(nxt) == 1:
                    cycle = path[path.index(nxt):]
                    neurons = [k for k, n in enumerate(cycle) if is_neuron(n)]
                    if not neurons:
                        loop = "->".join(_quote(n) for n in (*cycle, nxt))
                        raise GraphError(f"the graph has a cycle {loop} without a neuron (an algebraic loop: no time "
                                         "step breaks it); remove one of its edges or put a neuron on it")
                    k = neurons[-1]
                    found.append(((node, nxt), (cycle[k], (cycle + [nxt])[k + 1])))
                elif nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                path.pop()
    return found


def loops(nodes: Iterable[str], edges: Iterable[tuple[str, str]],
          is_neuron: Callable[[str], bool] = lambda name: False) -> Loops:
    """The graph's recurrent loops (:class:`Loops`; empty for a graph without cycles).

    Raises:
        GraphError: an edge names a missing node; a cycle has no stateful neuron on it (an
            algebraic loop, named).
    """
    nodes, edges = list(nodes), list(edges)
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for src, dst in edges:
        for end in (src, dst):
            if end not in succ:
                raise GraphError(f"edge {src}->{dst} names node '{end}', which the graph does not have")
        succ[src].append(dst)
    found = _walk(nodes, succ, is_neuron)
    back = list(dict.fromkeys(b for b, _ in found))  # one walk's back edges: without them, no cycle
    delayed: list[tuple[str, str]] = []
    while found:
        # the loop's neuron delays every edge by which it feeds a loop through itself; cycles the walk
        # did not close through that neuron are found by walking again without the delayed edges
        for _, (n, _) in found:
            for m in succ[n]:
                if (n, m) not in delayed and n in _reach(m, succ):
                    delayed.append((n, m))
        rest = {a: [b for b in bs if (a, b) not in delayed] for a, bs in succ.items()}
        found = _walk(nodes, rest, is_neuron)
    return Loops(tuple(back), tuple(delayed))


def _reach(start: str, succ: dict[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for d in succ[todo.pop()]:
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def recurrent_edges(nodes: Iterable[str], edges: Iterable[tuple[str, str]],
                    is_neuron: Callable[[str], bool] = lambda name: False) -> list[tuple[str, str]]:
    """The edges that cut the graph's loops for its order (:attr:`Loops.back`); [] without cycles."""
    return list(loops(nodes, edges, is_neuron).back)


def topological_order(nodes: Iterable[str], edges: Iterable[tuple[str, str]],
                      is_neuron: Callable[[str], bool] = lambda name: False) -> list[str]:
    """Node names, every node after all its inputs across the edges that are not recurrent
    (:func:`recurrent_edges`; Kahn's algorithm, stable: among the nodes ready at once, the one
    inserted first comes first).

    Raises:
        GraphError: an edge names a missing node, or the graph has a cycle without a stateful
            neuron (``is_neuron``) on it -- an algebraic loop, named.
    """
    nodes, edges = list(nodes), list(edges)
    back = set(recurrent_edges(nodes, edges, is_neuron))
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    indegree = {n: 0 for n in nodes}
    for src, dst in edges:
        if (src, dst) in back:
            continue
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
    # unreachable: removing a depth-first walk's back edges leaves no cycle; named all the same
    cycle = _find_cycle(set(nodes) - set(order), succ)
    path = "->".join(_quote(n) for n in (*cycle, cycle[0]))
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
