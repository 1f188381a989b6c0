"""Fuzz the NIR loader: malformed graphs must come out as one clear GraphError, never a crash.

Usage::

    .venv/bin/python benchmarks/fuzz_nir.py --cases 10000 --seed 0

Each case mutates a valid graph -- the toy-residual (8x8), two graphs of NIR 1.0's other
primitives as another writer writes them (:func:`foreign_graphs`, issue 16) and, unless
``--no-derainers``, the tiny ESDNet and SpikeRain (16x16, with Concat, Sum, Upsample and
HostBlock nodes) -- with one to three seeded mutations: delete nodes, add/rename/duplicate
/delete edges, close cycles (with and without a neuron), corrupt shapes, inject NaN/inf,
swap in unsupported or wrong node types, put wrongly typed values into fields, rewrite
the neurodeploy metadata JSON; or damages the written file itself: truncation, flipped
bytes, HDF5 datasets deleted, replaced or added. In-memory graphs go through
``check_graph``; every graph through ``write_graph`` -> ``read_graph``.

Outcomes per case:

- ``graph_error``: rejected with a one-line GraphError (expected);
- ``accepted_ran``: the mutation was harmless; the graph then ran through
  ``NirTorchExecutor`` and ``partition`` without an exception;
- failures (the run exits 1 if any): ``uncaught`` (any other exception from checking or
  reading), ``fallback`` (a GraphError produced by check_graph's safety net around an
  unexpected exception: a checker bug), ``multiline`` (a message of several lines),
  ``accepted_crash`` (accepted, then the executor or the partition raised), ``hung``
  (``read_graph`` of a file with flipped bytes did not return in 10 s: libhdf5 looping
  on a damaged global heap; such reads run in a forked child so the run goes on).
"""

from __future__ import annotations

import argparse
import copy
import faulthandler
import json
import random
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path

import h5py
import nir
import numpy as np

from neurodeploy.ir import nodes as nd
from neurodeploy.errors import GraphError, NeurodeployError
from neurodeploy.ir import METADATA_KEY, graph_info, read_graph, write_graph
from neurodeploy.ir.check import check_graph

FAILURES = ("uncaught", "fallback", "multiline", "accepted_crash", "hung")
HANG_S = 10.0  # a read of these small files takes < 0.5 s; 10 s is a hang


def base_graphs(derainers: bool = True) -> list[nir.NIRGraph]:
    """The valid graphs every mutation starts from."""
    import torch

    from neurodeploy.nir_export import export_graph
    from neurodeploy.models import get_architecture
    from neurodeploy.models.toy_residual import ToyResidual

    torch.manual_seed(0)
    graphs = [export_graph(ToyResidual(channels=2), (8, 8))]
    graphs += foreign_graphs()
    if derainers:
        for name in ("esdnet", "spikerain"):
            arch = get_architecture(name)
            cfg = arch.config("tiny")
            graphs.append(export_graph(arch.build(cfg).eval(), (16, 16), architecture=name, config=cfg))
    return graphs


def foreign_graphs() -> list[nir.NIRGraph]:
    """Two graphs of NIR 1.0 primitives as another writer would write them (no neurodeploy
    metadata; issue 16): conv / IF / SumPool2d / grouped Conv2d / LIF / AvgPool2d / Flatten
    / Affine / CubaLIF, and Conv1d / Threshold / Flatten / Linear / Scale / Delay / I /
    Affine / LI / Affine / CubaLI, the CubaLIF inside a nested NIRGraph."""
    rng = np.random.default_rng(0)
    sub = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([5])}),
                              "cuba": nir.CubaLIF(tau_syn=np.full(5, 1e-3), tau_mem=np.full(5, 2e-3), r=np.ones(5),
                                                  v_leak=np.zeros(5), v_threshold=np.ones(5)),
                              "output": nir.Output(output_type={"output": np.array([5])})},
                       edges=[("input", "cuba"), ("cuba", "output")], type_check=False)
    conv = {
        "input": nir.Input(input_type={"input": np.array([2, 9, 9])}),
        "conv1": nir.Conv2d(input_shape=(9, 9), weight=rng.normal(size=(4, 2, 3, 3)), stride=1, padding=1,
                            dilation=1, groups=1, bias=rng.normal(size=4)),
        "if1": nir.IF(r=np.full((4, 9, 9), 5e3), v_threshold=np.ones((4, 9, 9))),
        "pool1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([1, 1])),
        "conv2": nir.Conv2d(input_shape=(5, 5), weight=rng.normal(size=(6, 2, 3, 3)), stride=(1, 2), padding=(2, 1),
                            dilation=(2, 1), groups=2, bias=np.zeros(6)),
        "lif2": nir.LIF(tau=np.full((6, 5, 3), 2e-3), r=np.ones((6, 5, 3)), v_leak=np.zeros((6, 5, 3)),
                        v_threshold=np.ones((6, 5, 3))),
        "pool2": nir.AvgPool2d(kernel_size=np.array([2, 1]), stride=np.array([2, 1]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([6, 2, 3])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=rng.normal(size=(5, 36)), bias=rng.normal(size=5)),
        "sub": sub,
        "output": nir.Output(output_type={"output": np.array([5])}),
    }
    dense = {
        "input": nir.Input(input_type={"input": np.array([3, 4])}),
        "c1d": nir.Conv1d(input_shape=4, weight=rng.normal(size=(2, 3, 2)), stride=1, padding=1, dilation=1,
                          groups=1, bias=np.zeros(2)),
        "thr": nir.Threshold(threshold=np.full((2, 5), 0.1)),
        "flat": nir.Flatten(input_type={"input": np.array([2, 5])}, start_dim=0, end_dim=1),
        "lin": nir.Linear(weight=rng.normal(size=(4, 10))),
        "scale": nir.Scale(scale=np.array([1.0, 2.0, 0.5, -1.0])),
        "delay": nir.Delay(delay=np.full(4, 3e-4)),
        "integ": nir.I(r=np.ones(4)),
        "fc": nir.Affine(weight=rng.normal(size=(3, 4)), bias=np.zeros(3)),
        "li": nir.LI(tau=np.full(3, 5e-4), r=np.ones(3), v_leak=np.zeros(3)),
        "fc2": nir.Affine(weight=rng.normal(size=(2, 3)), bias=np.zeros(2)),
        "cubali": nir.CubaLI(tau_syn=np.full(2, 1e-3), tau_mem=np.full(2, 1e-3), r=np.ones(2), v_leak=np.zeros(2)),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    out = []
    for nodes in (conv, dense):
        names = list(nodes)
        out.append(nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False))
    return out


# ---------------------------------------------------------------- in-memory mutations

def _array_fields(node) -> list[tuple[str, str | None]]:
    """(field, dict key or None) of every numeric array a node carries."""
    out = []
    for f in fields(node):
        value = getattr(node, f.name, None)
        if isinstance(value, np.ndarray) and f.name not in ("input_type", "output_type"):
            out.append((f.name, None))
        elif f.name == "params" and isinstance(value, dict):
            out.extend((f.name, k) for k in value)
    return out


def _set_array(node, fname: str, key: str | None, value) -> None:
    if key is None:
        setattr(node, fname, value)
    else:
        getattr(node, fname)[key] = value


def _get_array(node, fname: str, key: str | None):
    return getattr(node, fname) if key is None else getattr(node, fname)[key]


def _rebuild(node):
    """Re-run a node's constructor from its fields (so derived types follow a mutation),
    falling back to the mutated object when the constructor refuses."""
    try:
        if isinstance(node, nd.NeurodeployNode):
            return type(node)(**{f.name: getattr(node, f.name) for f in fields(node) if f.init})
        return nir.dict2NIRNode(copy.deepcopy(node.to_dict()))
    except Exception:
        return node


WEIRD_VALUES = [None, "abc", "", 1.5, -3, 0, True, [1, 2], {"a": 1}, np.array(["x", "y"]), np.array([]),
                np.zeros((2, 2, 2, 2, 2)), np.array([np.nan]), float("inf"), 10**12, b"\xff\xfe", object()]


def m_delete_node(g, rng):
    name = rng.choice(list(g.nodes))
    del g.nodes[name]
    if rng.random() < 0.5:  # also its edges: leaves dangling neighbours instead of missing nodes
        g.edges = [e for e in g.edges if name not in e]


def m_add_edge(g, rng):
    names = list(g.nodes)
    g.edges.append((rng.choice(names), rng.choice(names)))


def m_rename_edge(g, rng):
    i = rng.randrange(len(g.edges))
    src, dst = g.edges[i]
    new = rng.choice(list(g.nodes) + ["ghost", "", "a\nb", "conv->x"])
    g.edges[i] = (new, dst) if rng.random() < 0.5 else (src, new)


def m_delete_edge(g, rng):
    del g.edges[rng.randrange(len(g.edges))]


def m_duplicate_edge(g, rng):
    g.edges.append(rng.choice(g.edges))


def m_cycle(g, rng):
    """An edge from a later node back to an earlier one (through neurons or not)."""
    from neurodeploy.ir import topological_order

    order = topological_order(g)
    i, j = sorted(rng.sample(range(1, len(order) - 1), 2))
    g.edges.append((order[j], order[i]))


def m_rename_node(g, rng):
    old = rng.choice(list(g.nodes))
    new = rng.choice(["renamed", "", "x y", old + "_", "\u00e9\u00e8", "input"])
    node = g.nodes.pop(old)
    g.nodes[new] = node
    if rng.random() < 0.5:
        g.edges = [tuple(new if e == old else e for e in edge) for edge in g.edges]


def m_corrupt_shape(g, rng):
    name = rng.choice(list(g.nodes))
    node = g.nodes[name]
    if isinstance(node, nir.Conv2d):
        choice = rng.randrange(4)
        if choice == 0:
            node.weight = node.weight[:, : max(1, node.weight.shape[1] - 1)]
        elif choice == 1:
            node.weight = np.concatenate([node.weight, node.weight[:1]])
        elif choice == 2:
            node.input_shape = tuple(int(v) + rng.choice([-1, 1, 3]) for v in node.input_shape)
        else:
            node.bias = node.bias[:-1]
        if rng.random() < 0.5:
            g.nodes[name] = _rebuild(node)
    elif isinstance(node, nir.LIF):
        key = rng.choice(["tau", "r", "v_leak", "v_threshold", "v_reset"])
        arr = getattr(node, key)
        setattr(node, key, arr[:-1] if rng.random() < 0.5 else arr.reshape(-1))
        if rng.random() < 0.3:  # all parameters: a consistent but wrong layer shape
            for k in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
                setattr(node, k, np.ones((1, 2, 3)))
            g.nodes[name] = _rebuild(node)
    elif isinstance(node, nd.NeurodeployNode):
        shape = np.array(node.shape)
        shape[rng.randrange(len(shape))] += rng.choice([-1, 1, 5])
        node.shape = shape
        if rng.random() < 0.5:
            node.shape = shape[:2]
        g.nodes[name] = _rebuild(node)
    elif isinstance(node, nir.Input):
        g.nodes[name] = nir.Input(input_type={"input": np.array(rng.choice([[3, 8, 9], [1, 3, 8, 8], [3, 8], [0, 8, 8]]))})
    elif isinstance(node, nir.Output):
        g.nodes[name] = nir.Output(output_type={"output": np.array(rng.choice([[2, 8, 8], [3, 4, 4], [3, -1, 8]]))})
    if isinstance(node, nd.HostBlock) and node.params and rng.random() < 0.5:
        key = rng.choice(list(node.params))
        node.params[key] = np.ones(np.asarray(node.params[key]).size + 1)


def m_nonfinite(g, rng):
    candidates = [(n, f, k) for n, node in g.nodes.items() for f, k in _array_fields(node)
                  if np.asarray(_get_array(node, f, k)).dtype.kind == "f" and np.asarray(_get_array(node, f, k)).size]
    if not candidates:
        return
    name, fname, key = rng.choice(candidates)
    arr = np.array(_get_array(g.nodes[name], fname, key), dtype=np.float64)
    arr.reshape(-1)[rng.randrange(arr.size)] = rng.choice([np.nan, np.inf, -np.inf])
    _set_array(g.nodes[name], fname, key, arr)


def m_change_type(g, rng):
    name = rng.choice(list(g.nodes))
    old = g.nodes[name]
    shape = np.array([2, 8, 8])
    pool = [
        lambda: nir.Linear(weight=np.ones((4, 4))),
        lambda: nir.Affine(weight=np.ones((4, 4)), bias=np.zeros(4)),
        lambda: nir.CubaLIF(tau_syn=np.ones(shape), tau_mem=np.ones(shape), r=np.ones(shape),
                            v_leak=np.zeros(shape), v_threshold=np.ones(shape)),
        lambda: nir.Flatten(input_type={"input": shape}),
        lambda: nir.Delay(delay=np.ones(3)),
        lambda: nir.Threshold(threshold=np.ones(shape)),
        lambda: nir.NIRGraph(nodes={}, edges=[], type_check=False),
        # NIR 1.0's other primitives, read since issue 16, with good and bad parameters
        lambda: nir.IF(r=np.ones(shape), v_threshold=np.ones(shape)),
        lambda: nir.LI(tau=np.full(shape, rng.choice([1e-3, -1e-3, 1e-6])), r=np.ones(shape), v_leak=np.zeros(shape)),
        lambda: nir.I(r=np.ones(shape)),
        lambda: nir.CubaLI(tau_syn=np.ones(shape), tau_mem=np.ones(shape), r=np.ones(shape), v_leak=np.zeros(shape)),
        lambda: nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        lambda: nir.AvgPool2d(kernel_size=np.array(rng.choice([[2, 2], [0, 2], [99, 1]])), stride=np.array([1, 1]),
                              padding=np.array([0, 0])),
        lambda: nir.Scale(scale=np.ones(shape)),
        lambda: nir.Delay(delay=np.full(shape, rng.choice([1e-4, 2.5e-4, -1e-4]))),
        lambda: nir.Conv1d(input_shape=8, weight=np.ones((2, 2, 3)), stride=1, padding=1, dilation=1, groups=1,
                           bias=np.zeros(2)),
        lambda: nir.Flatten(input_type={"input": np.array([1, *shape])}, start_dim=rng.choice([0, 1, -1]),
                            end_dim=-1),
        lambda: nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": shape}),
                                    "s": nir.Scale(scale=np.ones(shape)),
                                    "output": nir.Output(output_type={"output": shape})},
                             edges=rng.choice([[("input", "s"), ("s", "output")], [("input", "s")]]), type_check=False),
        lambda: nd.Sum(shape),
        lambda: nd.TemporalMean(getattr(old, "shape", shape)),
        lambda: nd.Concat(shape, order=json.dumps(["conv2"])),
        lambda: nd.Upsample(shape, scale_factor=2),
        lambda: nir.LIF(tau=np.ones(shape), r=np.ones(shape), v_leak=np.zeros(shape),
                        v_threshold=np.ones(shape), v_reset=np.zeros(shape)),
        lambda: rng.choice(list(g.nodes.values())),  # another node's object under this name
    ]
    g.nodes[name] = rng.choice(pool)()


def m_wrong_field(g, rng):
    name = rng.choice(list(g.nodes))
    node = g.nodes[name]
    names = [f.name for f in fields(node)]
    if not names:
        return
    fname = rng.choice(names)
    value = rng.choice(WEIRD_VALUES)
    try:
        setattr(node, fname, copy.copy(value))
    except Exception:
        return
    if rng.random() < 0.3:
        g.nodes[name] = _rebuild(node)


def _random_json(rng, depth=0):
    r = rng.random()
    if depth > 2 or r < 0.3:
        return rng.choice([None, True, 0, -1, 2.5, 1e309, "x", "seq", "lif", ">=", [], {}])
    if r < 0.6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["t_steps", "dt_s", "input_shape", "node_kinds", "edge_kinds", "domains", "spike_condition", "zz"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def m_metadata(g, rng):
    raw = g.metadata.get(METADATA_KEY, "{}")
    choice = rng.randrange(7)
    if choice == 0:
        g.metadata[METADATA_KEY] = json.dumps(_random_json(rng))
    elif choice == 1:
        g.metadata[METADATA_KEY] = raw[: rng.randrange(len(raw))]
    elif choice == 2:
        del g.metadata[METADATA_KEY]
    elif choice == 3:
        g.metadata[METADATA_KEY] = rng.choice([b"\xff\xfe", 17, ["a"], None, "null", "[]", "NaN"])
    else:  # one field of the real metadata replaced by random JSON, or one table entry
        data = json.loads(raw)
        key = rng.choice(list(data))
        if isinstance(data[key], dict) and data[key] and rng.random() < 0.7:
            sub = rng.choice(list(data[key]))
            if rng.random() < 0.5:
                del data[key][sub]
            else:
                data[key][sub] = _random_json(rng) if rng.random() < 0.5 else rng.choice(
                    ["seq", "image", "lif", "conv", "binary", "graded", ">", "bogus"])
        else:
            data[key] = _random_json(rng)
        g.metadata[METADATA_KEY] = json.dumps(data)


MUTATIONS = {
    "delete_node": m_delete_node, "add_edge": m_add_edge, "rename_edge": m_rename_edge,
    "delete_edge": m_delete_edge, "duplicate_edge": m_duplicate_edge, "cycle": m_cycle,
    "rename_node": m_rename_node, "corrupt_shape": m_corrupt_shape, "nonfinite": m_nonfinite,
    "change_type": m_change_type, "wrong_field": m_wrong_field, "metadata": m_metadata,
}


# ---------------------------------------------------------------- file mutations

def _h5_items(f: h5py.File) -> list[str]:
    out = []
    f.visit(out.append)
    return out


def f_truncate(path: Path, rng) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: rng.randrange(len(data))])


def f_flip_bytes(path: Path, rng) -> None:
    data = bytearray(path.read_bytes())
    for _ in range(rng.choice([1, 4, 64])):
        data[rng.randrange(len(data))] = rng.randrange(256)
    path.write_bytes(bytes(data))


def f_h5_edit(path: Path, rng) -> None:
    """Delete, replace or add an HDF5 dataset/group (e.g. a conv without ``weight``)."""
    with h5py.File(path, "r+") as f:
        items = [i for i in _h5_items(f) if i.startswith("node/")]
        item = rng.choice(items)
        choice = rng.randrange(4)
        if choice == 0:
            del f[item]
        elif choice == 1 and isinstance(f[item], h5py.Dataset):
            del f[item]
            f[item] = rng.choice([np.array("text"), np.array([1.5, np.nan]), np.zeros((2, 3)), np.int64(-1),
                                  np.array(b"neurodeploy.Bogus"), np.array([b"a", b"b"])])
        elif choice == 2:
            parent = item.rsplit("/", 1)[0] if isinstance(f[item], h5py.Dataset) else item
            f[parent + "/unexpected_field"] = np.ones(2)
        else:
            f["node/nodes/extra/type"] = np.array(rng.choice([b"LIF", b"Conv2d", b"Bogus", b"neurodeploy.Sum"]))


FILE_MUTATIONS = {"truncate": f_truncate, "flip_bytes": f_flip_bytes, "h5_edit": f_h5_edit}


# ---------------------------------------------------------------- running

@dataclass
class Result:
    cases: int = 0
    outcomes: Counter = field(default_factory=Counter)
    by_mutation: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)  # (case, mutation, traceback text)
    messages: Counter = field(default_factory=Counter)  # sample of GraphError messages
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(self.outcomes[k] for k in FAILURES)


def _exercise(graph: nir.NIRGraph) -> None:
    """What an accepted graph must survive: the torch executor and the partition."""
    from neurodeploy.ir import DeployGraph
    from neurodeploy.passes.partition import partition
    from neurodeploy.targets.nir_torch import NirTorchExecutor

    try:
        info = graph_info(graph)
    except NeurodeployError:
        # no neurodeploy metadata: another writer's graph (issue 16): the sequence executor
        # and the Lava mapping (which may refuse in one line) must take it
        from neurodeploy.ir.nirread import read_foreign
        from neurodeploy.targets.loihi.nir_map import build_map
        from neurodeploy.targets.nir_primitives import NirSequenceExecutor

        flat, shapes, dt = read_foreign(graph)
        ex = NirSequenceExecutor(flat, dt)
        ex.run(np.zeros((3, 1, *shapes[ex.input])))
        try:
            build_map(flat, dt)
        except NeurodeployError:
            pass
        return
    partition(DeployGraph(graph, info))
    NirTorchExecutor(graph, info).run(np.zeros((1, *info.input_shape)))


def _classify(fn, result: Result, mutation: str, case: int) -> str:
    """Run ``fn`` (a check or a read); return the outcome name, recording failures."""
    try:
        graph = fn()
    except GraphError as exc:
        msg = str(exc)
        if "\n" in msg or "\r" in msg:
            outcome = "multiline"
        elif exc.__cause__ is not None and not isinstance(exc.__cause__, GraphError):
            outcome = "fallback"
        else:
            result.messages[msg.split(": ", 1)[-1][:120] if msg.startswith("/") else msg[:120]] += 1
            return "graph_error"
        result.failures.append((case, mutation, "".join(traceback.format_exception(exc))))
        return outcome
    except Exception as exc:  # noqa: BLE001 -- counting them is the point
        result.failures.append((case, mutation, "".join(traceback.format_exception(exc))))
        return "uncaught"
    try:
        _exercise(graph)
    except NeurodeployError as exc:  # a clear refusal by a later stage still counts as handled
        result.messages["(executor) " + str(exc)[:110]] += 1
        return "rejected_later"
    except Exception as exc:  # noqa: BLE001
        result.failures.append((case, mutation, "".join(traceback.format_exception(exc))))
        return "accepted_crash"
    return "accepted_ran"


def _hangs(fn, timeout: float) -> bool:
    """True when ``fn()`` does not return within ``timeout`` s (run in a forked child).

    A flipped byte in an HDF5 global heap can make libhdf5 loop forever inside h5py
    while reading a string dataset (found by this fuzzer; no Python exception, no
    timeout of its own). The child absorbs such a hang; the parent then reads the file
    itself only when the child finished.
    """
    import multiprocessing

    def child():
        try:
            fn()
        except BaseException:  # noqa: BLE001 -- the parent classifies exceptions itself
            pass

    proc = multiprocessing.get_context("fork").Process(target=child)
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return True
    return False


def _record(result: Result, mutation: str, outcome: str) -> None:
    result.outcomes[outcome] += 1
    result.by_mutation.setdefault(mutation, Counter())[outcome] += 1


def run(cases: int = 10_000, seed: int = 0, derainers: bool = True, bases: list | None = None,
        progress: bool = False, roundtrip: float = 1.0, case_timeout: float | None = None,
        trace: bool = False) -> Result:
    """Generate ``cases`` malformed graphs and count the outcomes (see module docstring).

    ``roundtrip``: the share of in-memory mutations that are also written and read back
    (1.0 in the benchmark; less in the fast test, where h5py writes dominate the time).
    ``case_timeout``: seconds after which a case counts as hung: the process dumps the
    Python stack (faulthandler) and exits, so a hang cannot pass as a slow run.
    ``trace``: print every case's number and mutation to stderr before running it.
    """
    rng = random.Random(seed)
    default_bases = bases is None
    bases = bases if bases is not None else base_graphs(derainers)
    # The derainer graphs are ~10x slower to write and read (h5py time grows with their
    # HostBlock parameters): nine cases in ten start from the toy.
    weights = [9.0] + [1.0 / max(1, len(bases) - 1)] * (len(bases) - 1)
    if default_bases:  # toy 60 %, the two foreign graphs (issue 16) 15 % each, the derainers 10 %
        weights = [6.0, 1.5, 1.5] + [1.0 / max(1, len(bases) - 3)] * (len(bases) - 3)
    result = Result()
    start = time.perf_counter()
    # numpy warns on the garbage it is fed (NaN casts, zero strides); the outcome is what counts.
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        path = Path(tmp) / "case.nir"
        files = []  # each base written once; file mutations damage a copy of its bytes
        for base in bases:
            write_graph(path, base)
            files.append(path.read_bytes())
        for case in range(cases):
            if case_timeout:
                faulthandler.dump_traceback_later(case_timeout, exit=True)
            index = rng.choices(range(len(bases)), weights)[0]
            base = bases[index]
            if rng.random() < 0.25:  # damage the file itself
                mutation = rng.choice(list(FILE_MUTATIONS))
                if trace:
                    print(f"case {case}: base {index}, {mutation}", file=sys.stderr, flush=True)
                path.write_bytes(files[index])
                try:
                    FILE_MUTATIONS[mutation](path, rng)
                except Exception:  # noqa: BLE001 -- h5py may refuse an edit: then the file stays valid
                    pass
                if mutation == "flip_bytes" and _hangs(lambda: read_graph(path), HANG_S):
                    result.failures.append((case, mutation, f"read_graph did not return within {HANG_S} s"))
                    _record(result, mutation, "hung")
                else:
                    _record(result, mutation, _classify(lambda: read_graph(path), result, mutation, case))
            else:
                graph = copy.deepcopy(base)
                names = [rng.choice(list(MUTATIONS)) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
                mutation = "+".join(names)
                if trace:
                    print(f"case {case}: base {index}, {mutation}", file=sys.stderr, flush=True)
                for name in names:
                    try:
                        MUTATIONS[name](graph, rng)
                    except Exception:  # noqa: BLE001 -- a mutation that does not apply (e.g. no edges left)
                        pass
                key = names[0] if len(names) == 1 else "combined"
                _record(result, key, _classify(lambda: (check_graph(graph), graph)[1], result, mutation, case))
                # Then through the file: the writer may refuse what it cannot store.
                if roundtrip < 1.0 and rng.random() >= roundtrip:
                    pass  # (no draw at 1.0: the benchmark's sequence of cases stays the same)
                else:
                    try:
                        write_graph(path, graph)
                    except Exception:  # noqa: BLE001
                        _record(result, "(file) " + key, "unwritable")
                    else:
                        _record(result, "(file) " + key, _classify(lambda: read_graph(path), result, mutation, case))
            result.cases += 1
            if progress and (case + 1) % 1000 == 0:
                print(f"{case + 1} cases, {time.perf_counter() - start:.0f} s, {dict(result.outcomes)}",
                      file=sys.stderr, flush=True)
    if case_timeout:
        faulthandler.cancel_dump_traceback_later()
    result.seconds = time.perf_counter() - start
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-derainers", action="store_true", help="mutate the toy-residual graph only")
    parser.add_argument("--show", type=int, default=3, help="failures to print in full")
    parser.add_argument("--case-timeout", type=float, default=60.0,
                        help="seconds before a case counts as hung (stack dumped, exit)")
    parser.add_argument("--trace", action="store_true", help="print each case before running it")
    args = parser.parse_args(argv)
    result = run(args.cases, args.seed, not args.no_derainers, progress=True, case_timeout=args.case_timeout,
                 trace=args.trace)
    print(f"cases: {result.cases} (seed {args.seed}) in {result.seconds:.1f} s "
          f"({1000 * result.seconds / max(1, result.cases):.1f} ms/case)")
    print("outcomes (in-memory check and file read counted separately):")
    for outcome, count in result.outcomes.most_common():
        print(f"  {outcome:15s} {count}")
    print("by mutation:")
    for mutation in sorted(result.by_mutation):
        print(f"  {mutation:28s} {dict(result.by_mutation[mutation])}")
    print("most frequent messages:")
    for msg, count in result.messages.most_common(12):
        print(f"  {count:5d}  {msg}")
    for case, mutation, tb in result.failures[: args.show]:
        print(f"--- failure: case {case}, {mutation}\n{tb}")
    print(f"FAILURES: {result.failed}")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
