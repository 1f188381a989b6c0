"""Reading and writing NIR files, neurodeploy's own node types and metadata included."""

from __future__ import annotations

from pathlib import Path

import nir

from neurodeploy.errors import GraphError, NeurodeployError
from neurodeploy.nir_hdf5 import declared_arrays, declared_netx_arrays, is_hdf5, read_hdf5, read_netx_hdf5
from neurodeploy.ir.check import build_nodes, check_graph
from neurodeploy.ir.info import FOREIGN_DT_KEY, METADATA_KEY, graph_info
from neurodeploy.ir.nodes import SEQUENCE_NODE_TYPES, NeurodeployNode
from neurodeploy.ir.nirread import build_nested, read_foreign, upgrade_pre_1_0
from neurodeploy.ir.standins import restore, to_primitives

__all__ = ["FOREIGN_DT_KEY", "import_graph", "read_graph", "read_deploy_graph", "read_netx_file", "write_graph"]


def write_graph(path: str | Path, graph: nir.NIRGraph) -> None:
    """``nir.write``; gzip only for graphs with per-neuron parameters (constant arrays that
    compress 100x). Otherwise the arrays are weights, which gzip barely shrinks (2 %) at
    6 s per 100 MB."""
    try:
        per_channel = graph_info(graph).lif_params == "per_channel"
    except GraphError:
        per_channel = False
    # our encoder/decoder/sum/gain as nir.Scale stand-ins: nir.read loads the graph wherever
    # every other node is a NIR primitive (ir/standins.py); read_graph restores them
    nir.write(str(path), to_primitives(graph), compression=None if per_channel else "gzip")


_read_hdf5 = read_hdf5  # module names the guarded reader is given (tests replace them)
_declared_arrays = declared_arrays


def read_timeout_s(path: Path, declared: int = 0) -> float:
    """Seconds a read may take before the file counts as damaged: 5 s + 1 s per 20 MB of the
    file or of the arrays it declares, whichever is larger (a 100 MB graph reads in about 1 s
    here; a gzipped array of zeros is small on disk and large in memory)."""
    return 5.0 + max(path.stat().st_size, declared) / 20e6


def _guarded_child(sender, path: Path, read, precheck) -> None:
    """The reader's side of :func:`_read_hdf5_guarded`: ``precheck(path)``, then ``read(path)``,
    each result (or the refusal) pickled into the pipe."""
    import pickle

    from neurodeploy.memory import MemoryRefused

    try:
        if precheck is not None:
            sender.send_bytes(pickle.dumps(("declared", precheck(path))))
        sender.send_bytes(pickle.dumps(("ok", read(path)), protocol=pickle.HIGHEST_PROTOCOL))
    except (GraphError, MemoryRefused) as exc:
        sender.send_bytes(pickle.dumps((type(exc).__name__, str(exc))))
    except BaseException as exc:  # noqa: BLE001 -- reported by the parent
        sender.send_bytes(pickle.dumps(("error", f"{type(exc).__name__}: {exc}")))


def _ray_loaded() -> bool:
    """Whether this process has loaded Ray's core worker: a child forked from such a process died in
    ``_raylet.so`` (segfault, seen after Ray validations in one driver, benchmarks/scale_out.py)."""
    import sys

    return "ray._raylet" in sys.modules


_CHILD = """
import pickle, sys
from importlib import import_module
from neurodeploy.errors import GraphError
from neurodeploy.memory import MemoryRefused
path, (read_mod, read_name), pre = sys.argv[1], sys.argv[2].split(":"), sys.argv[3]

def send(message):
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.write(len(data).to_bytes(8, "little") + data)
    sys.stdout.buffer.flush()

try:
    if pre:
        mod, name = pre.split(":")
        send(("declared", getattr(import_module(mod), name)(path)))
    send(("ok", getattr(import_module(read_mod), read_name)(path)))
except (GraphError, MemoryRefused) as exc:
    send((type(exc).__name__, str(exc)))
except BaseException as exc:
    send(("error", f"{type(exc).__name__}: {exc}"))
"""


def _importable(fn) -> bool:
    return fn is None or (getattr(fn, "__name__", "<lambda>") != "<lambda>" and "<locals>" not in fn.__qualname__)


def _read_in_new_interpreter(path: Path, read, precheck) -> tuple[str, object]:
    """:func:`_read_hdf5_guarded`'s protocol with the child a new interpreter (no fork: a process that
    loaded Ray; and no multiprocessing start method set here, which Lava's import would trip on):
    length-prefixed pickles on its stdout, the same timeouts."""
    import os
    import pickle
    import selectors
    import subprocess
    import sys
    import time

    spec = lambda fn: f"{fn.__module__}:{fn.__name__}" if fn is not None else ""  # noqa: E731
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), spec(read), spec(precheck)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    fd = proc.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)

    def take(n: int, deadline: float) -> bytes:
        out = b""
        while len(out) < n:
            if not sel.select(max(deadline - time.monotonic(), 0)):
                raise TimeoutError
            chunk = os.read(fd, n - len(out))
            if not chunk:
                raise EOFError
            out += chunk
        return out

    # + 30 s: the interpreter's start (imports) comes before the read
    timeout = read_timeout_s(path) + 30
    try:
        while True:
            deadline = time.monotonic() + timeout
            status, payload = pickle.loads(take(int.from_bytes(take(8, deadline), "little"), deadline))
            if status != "declared":
                return status, payload
            timeout = read_timeout_s(path, payload) + 30
    except TimeoutError:
        raise GraphError(f"{path}: reading did not finish within {timeout:.0f} s (libhdf5 loops on some "
                         "damaged files); the file is damaged, re-export it") from None
    except EOFError:
        raise GraphError(f"{path}: the reader died on this file; the file is damaged, re-export it") from None
    finally:
        sel.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


def _read_hdf5_guarded(path: Path, read, precheck=None) -> dict:
    """``read(path)`` in a child process with a timeout, its result sent back through a pipe (in a
    process that has loaded Ray: each step in a new interpreter, :func:`_ray_loaded`).

    libhdf5 can loop forever, raising nothing, on a file whose string heap has damaged
    bytes (found by benchmarks/fuzz_nir.py); a hang cannot be caught in-process. ``precheck(path)``
    runs first in the child: it returns the bytes the read will load (which sets the timeout)
    or refuses the file (GraphError, MemoryRefused) before anything large is allocated. Both are
    module-level functions (a new interpreter imports them by name).
    """
    import multiprocessing
    import pickle

    if _ray_loaded() and _importable(read) and _importable(precheck):
        return _outcome(*_read_in_new_interpreter(path, read, precheck))
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_guarded_child, args=(sender, path, read, precheck), daemon=True)
    proc.start()
    sender.close()
    timeout = read_timeout_s(path)
    try:
        status = "declared" if precheck is not None else None
        while True:
            if not receiver.poll(timeout):
                raise GraphError(f"{path}: reading did not finish within {timeout:.0f} s (libhdf5 loops on some "
                                 "damaged files); the file is damaged, re-export it")
            status, payload = pickle.loads(receiver.recv_bytes())
            if status != "declared":
                break
            timeout = read_timeout_s(path, payload)
    except EOFError:
        raise GraphError(f"{path}: the reader died on this file; the file is damaged, re-export it") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        receiver.close()
    return _outcome(status, payload)


def _outcome(status: str, payload):
    """The reader's result, or its refusal raised here."""
    from neurodeploy.memory import MemoryRefused

    if status == "GraphError":
        raise GraphError(payload)
    if status == "MemoryRefused":
        raise MemoryRefused(payload)
    if status != "ok":
        raise ValueError(payload)
    return payload


def read_graph(path: str | Path, dt_s: float | None = None, writer: str | None = None,
               warn=None, reset: str | None = None, rules=None) -> nir.NIRGraph:
    """Read a NIR file, including neurodeploy's own node types, with a clear error.

    ``nir.read`` rejects our node types (by design: they are not NIR's); this reader
    builds them with :func:`neurodeploy.ir.nodes.node_from_dict` and NIR's own with NIR's.
    A file from another writer (no neurodeploy metadata) is read with NIR's semantics
    (:mod:`.primitives`) at ``dt_s`` seconds per step (default 1e-4 s, or the ``writer``'s
    own), its subgraphs flattened and its types re-inferred (:func:`.nirread.read_foreign`;
    ``warn`` gets the one warning line about singleton dimensions). Its dt is kept in
    ``graph.metadata["neurodeploy.dt_s"]``. ``reset``: the reset mechanism of a ``writer``
    that does not write it (snntorch, sinabs; :mod:`.rules`); ``rules``: ``--rule NAME=on|off``
    items switching the writer's default neuron options (:data:`.nirread.WRITER_RULES`).
    """
    path = Path(path)
    if not path.is_file():
        raise GraphError(f"{path}: no such NIR file")
    if path.suffix != ".nir" and is_hdf5(path):  # recognised by content: a lava-dl netx file (.net, .h5, ...)
        return read_netx_file(path, dt_s=dt_s, writer=writer, warn=warn, reset=reset, rules=rules)
    try:
        data = _read_hdf5_guarded(path, _read_hdf5, _declared_arrays)
        raw_nodes = upgrade_pre_1_0(data["nodes"])  # files written with nir 0.0.x (snntorch 0.7.0)
        # names the node whose dict cannot be built; nested NIRGraphs built recursively
        nodes = build_nested(raw_nodes, build_nodes) if isinstance(raw_nodes, dict) else build_nodes(raw_nodes)
        nodes = restore(nodes)  # our stand-ins (nir.Scale + neurodeploy.type) back to our node types
        edges = [tuple(e.decode() if isinstance(e, bytes) else str(e) for e in edge) for edge in data["edges"]]
        metadata = data.get("metadata", {})
        graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)
        ours = (isinstance(metadata, dict) and METADATA_KEY in metadata) or any(
            isinstance(n, NeurodeployNode) and not isinstance(n, SEQUENCE_NODE_TYPES) for n in nodes.values())
        if not ours:  # another writer's file
            graph = _foreign(graph, dt_s, writer, warn, reset, rules)
    except GraphError as exc:
        raise GraphError(f"{path}: {exc}") from None
    except NeurodeployError:  # MemoryRefused: names the file itself
        raise
    except Exception as exc:  # h5py/nir raise many types on a damaged file
        exc = " ".join(str(exc).split())  # one line, whatever h5py says
        raise GraphError(f"{path}: not a readable NIR graph ({exc}); re-export the bundle") from None
    try:
        check_graph(graph)
    except GraphError as exc:
        raise GraphError(f"{path}: {exc}") from exc.__cause__
    return graph


def read_netx_file(path: str | Path, dt_s: float | None = None, writer: str | None = None, warn=None,
                   reset: str | None = None, rules=None) -> nir.NIRGraph:
    """A lava-dl netx HDF5 file (``slayer``'s ``export_hdf5``) as the sequence graph a ``.nir`` file
    becomes (:mod:`.netxread`), read in the guarded child like a ``.nir`` file; ``dt_s``, ``writer``,
    ``reset`` and ``rules`` are refused (a netx file holds Loihi integers, no time step and no other writer's rules)."""
    from neurodeploy.ir.netxread import normalized_netx_graph

    path = Path(path)
    for value, option in ((dt_s, "--dt"), (writer, "--writer"), (reset, "--reset"), (rules or None, "--rule")):
        if value is not None:
            raise GraphError(f"{path}: {option} is for .nir files; a lava-dl netx file is read as the integers "
                             "netx runs (no time step, netx's own neuron rules)")
    try:
        raw = _read_hdf5_guarded(path, read_netx_hdf5, declared_netx_arrays)
        return normalized_netx_graph(raw, warn)
    except GraphError as exc:
        raise GraphError(f"{path}: {exc}") from None
    except NeurodeployError:  # MemoryRefused: names the file itself
        raise
    except Exception as exc:  # h5py raises many types on a damaged file
        exc = " ".join(str(exc).split())
        raise GraphError(f"{path}: not a readable lava-dl netx file ({exc}); re-export it with export_hdf5") from None


def _foreign(graph: nir.NIRGraph, dt_s, writer, warn, reset, rules=None) -> nir.NIRGraph:
    """Another writer's graph, flattened and normalised (:func:`.nirread.read_foreign`), its dt kept."""
    graph, _, dt = read_foreign(graph, dt_s, writer, warn, reset, rules)
    graph.metadata[FOREIGN_DT_KEY] = dt
    return graph


def read_in_memory(graph: nir.NIRGraph, dt_s: float | None = None, writer: str | None = None,
                   warn=None, reset: str | None = None, rules=None) -> nir.NIRGraph:
    """A writer's graph held in memory (its ``to_nir`` output that its own ``nir.write`` cannot
    write) read as :func:`read_graph` reads a file: flattened, normalised, its dt kept, checked."""
    graph = _foreign(graph, dt_s, writer, warn, reset, rules)
    check_graph(graph)
    return graph


def import_graph(graph: nir.NIRGraph, dt_s: float | None = None, writer: str | None = None,
                 warn=None, reset: str | None = None, rules=None):
    """The one import of a graph held in memory (a writer's ``to_nir`` output that its own
    ``nir.write`` cannot write, e.g. snntorch's conv + Leaky): as :func:`read_deploy_graph`
    for a file (arguments alike; the graph is not changed)."""
    from neurodeploy.ir.graph import as_deploy_graph

    if not isinstance(graph, nir.NIRGraph):
        raise GraphError(f"not a NIR graph ({type(graph).__name__}); pass nir.NIRGraph")
    return as_deploy_graph(read_in_memory(graph, dt_s, writer, warn, reset, rules))


def read_deploy_graph(path: str | Path, dt_s: float | None = None, writer: str | None = None,
                      warn=None, reset: str | None = None, rules=None):
    """The pipeline's one import of a ``.nir`` file: :func:`read_graph` (arguments alike), as a
    :class:`~neurodeploy.ir.DeployGraph` -- ours with the annotations the export wrote, another
    writer's with the annotations of a sequence graph (:func:`.nirread.sequence_info`: kinds,
    shapes, dt, the writer's neuron rules)."""
    from neurodeploy.ir.graph import as_deploy_graph

    return as_deploy_graph(read_graph(path, dt_s=dt_s, writer=writer, warn=warn, reset=reset, rules=rules))
