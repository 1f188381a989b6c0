"""Scale out: evaluate, validate and derain as units of work (one image each), on Ray when asked.

A job is a list of :class:`Unit` s and a :class:`Work` (what every unit runs: the command, its
source -- a bundle folder or a checkpoint file -- and its settings). :func:`run_units` runs them

- in this process, one after another, when neither ``workers`` nor ``address`` is given and
  ``RAY_ADDRESS`` is unset (no Ray is imported; the commands' in-process path without
  ``--out`` does not come here at all);
- on a local Ray started with ``workers`` CPUs, or on the cluster at ``address``: the source's
  files and each unit's input files travel through Ray's object store, so workers need no
  shared file system, only neurodeploy installed.

With an output folder, each finished unit's result is appended to ``units.jsonl`` there as one
JSON line, in one ``write`` followed by ``fsync`` (a torn last line, from a crash mid-write, is
ignored on reading); ``run.json`` keeps what the job was, so that ``resume`` can refuse a
different one. ``resume`` skips the units already in ``units.jsonl``; the summary is built from
all units in the job's order, so it is the same as an uninterrupted run's.

A unit whose worker died (killed, out of memory, its node lost) is sent again, at most
``retries`` times, and counted as retried; its result is written once, when it arrives. A unit
that fails by its own fault (a :class:`~neurodeploy.errors.NeurodeployError` in the worker)
is not retried: the job stops with that error in one line, the finished units kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from neurodeploy.errors import NeurodeployError

UNITS_FILE = "units.jsonl"
RUN_FILE = "run.json"
#: Bytes of memory a unit declares to Ray by executor, so that Ray does not start more units on a
#: node than its memory holds. A Lava run of vlifnet-tiny at 64x64 peaked near 3 GB; the emulator at
#: 512x512 at 4.3 GB (README), small crops far less; torch-side executors stay under 1.5 GB.
UNIT_MEMORY = {"lava-float": 3 << 30, "lava-fixed": 3 << 30, "lava-fixed-stock": 3 << 30, "emulator": 1 << 30}
DEFAULT_UNIT_MEMORY = 1 << 30
#: Object store of a local Ray (--workers): the units' inputs and outputs pass through it one
#: at a time per worker, so a small store suffices and leaves memory to the units.
LOCAL_OBJECT_STORE = 300 << 20
DEFAULT_RETRIES = 3


class ScaleOutError(NeurodeployError):
    """A scale-out option or output folder that cannot be used (one line, exit 2)."""


@dataclass(frozen=True)
class Unit:
    """One unit of work. ``key``: unique within the job and stable across runs (the journal's
    key); ``files``: role -> input file the unit reads (shipped as bytes to a remote worker);
    ``params``: plain JSON-able settings of this unit."""

    key: str
    files: dict[str, Path] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Work:
    """What every unit of a job runs: ``command`` (evaluate, validate, derain, or a registered
    one), ``source`` (a bundle folder or a checkpoint file) and ``settings`` (JSON-able)."""

    command: str
    source: Path
    settings: dict[str, Any]


@dataclass
class Plan:
    """Where and how units run. ``workers``: CPUs of a local Ray; ``address``: a running Ray
    cluster (``ray start --head`` prints it); ``out``: the folder of ``units.jsonl``;
    ``unit_memory_gb``: memory each unit declares (GB; default by executor, :data:`UNIT_MEMORY`)."""

    workers: int | None = None
    address: str | None = None
    out: Path | None = None
    resume: bool = False
    unit_memory_gb: float | None = None
    retries: int = DEFAULT_RETRIES

    @classmethod
    def from_options(cls, workers: int | None = None, cluster: str | None = None, out: "str | Path | None" = None,
                     resume: bool = False, unit_memory_gb: float | None = None) -> "Plan":
        """The command-line options checked; ``RAY_ADDRESS`` stands for ``--cluster`` when neither is given."""
        if workers is not None and workers < 1:
            raise ScaleOutError(f"--workers takes a number of workers of at least 1, not {workers}")
        if workers is not None and cluster:
            raise ScaleOutError("--workers starts a local Ray, --cluster joins a running one; pass one of them")
        if unit_memory_gb is not None and unit_memory_gb <= 0:
            raise ScaleOutError(f"--unit-memory takes gigabytes above 0, not {unit_memory_gb}")
        if resume and out is None:
            raise ScaleOutError("--resume needs --out DIR, the folder of the interrupted run's units.jsonl")
        address = cluster or (None if workers else os.environ.get("RAY_ADDRESS") or None)
        return cls(workers, address, None if out is None else Path(out), resume, unit_memory_gb)

    @property
    def on_ray(self) -> bool:
        return bool(self.workers or self.address)

    @property
    def wanted(self) -> bool:
        """Whether the command goes through units at all (else: its in-process path, unchanged)."""
        return self.on_ray or self.out is not None

    def unit_memory(self, executor: str | None) -> int:
        """Bytes each unit declares to Ray."""
        if self.unit_memory_gb is not None:
            return int(self.unit_memory_gb * 1e9)
        return UNIT_MEMORY.get(executor or "", DEFAULT_UNIT_MEMORY)


@dataclass
class Stats:
    """Progress of a job: units in all, finished (``resumed`` of them from an earlier run), failed
    (by their own fault), retried (sent again after their worker died); nodes that ran units."""

    total: int
    done: int = 0
    resumed: int = 0
    failed: int = 0
    retried: int = 0
    started: float = field(default_factory=time.monotonic)
    unit_s: list[float] = field(default_factory=list)
    nodes: set[str] = field(default_factory=set)
    ray_start_s: float | None = None

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate_per_min(self) -> float | None:
        """Units finished in this run per minute of wall time (None before the first)."""
        ran = self.done - self.resumed
        return None if ran <= 0 else 60.0 * ran / max(self.elapsed_s, 1e-9)

    @property
    def eta_s(self) -> float | None:
        rate = self.rate_per_min
        return None if rate is None else 60.0 * (self.total - self.done) / rate

    def to_dict(self) -> dict[str, Any]:
        return {"units": self.total, "done": self.done, "resumed": self.resumed, "failed": self.failed,
                "retried": self.retried, "wall_s": self.elapsed_s, "ray_start_s": self.ray_start_s,
                "unit_s_mean": (sum(self.unit_s) / len(self.unit_s)) if self.unit_s else None,
                "nodes": len(self.nodes)}


Progress = Callable[[Stats], None]


# ---------------------------------------------------------------------------------------- journal
class Journal:
    """``units.jsonl`` and ``run.json`` in an output folder: one line per finished unit."""

    def __init__(self, folder: Path, job: dict[str, Any], resume: bool):
        self.folder, self.path = folder, folder / UNITS_FILE
        if folder.exists() and not folder.is_dir():
            raise ScaleOutError(f"--out {folder} is a file; pass a folder (it is created if missing)")
        run_file = folder / RUN_FILE
        kept = self.path.is_file() and self.path.stat().st_size > 0
        if kept and not resume:
            raise ScaleOutError(f"{self.path} holds units of an earlier run; pass --resume to continue it, "
                                "or choose another --out")
        if resume and run_file.is_file():
            try:
                before = json.loads(run_file.read_text())
            except ValueError:
                before = None
            if before != job:
                raise ScaleOutError(f"--resume: {folder} is the output of a different job (other source, data or "
                                    "settings); resume it with its own command, or choose another --out")
        folder.mkdir(parents=True, exist_ok=True)
        from neurodeploy.bundle_format import write_json_atomic

        write_json_atomic(run_file, job)

    def finished(self) -> dict[str, dict[str, Any]]:
        """unit key -> its line, for every complete line (the first line of a key wins)."""
        out: dict[str, dict[str, Any]] = {}
        if not self.path.is_file():
            return out
        for line in self.path.read_bytes().split(b"\n"):
            try:
                entry = json.loads(line)
            except ValueError:  # a line torn by a crash mid-write: its unit runs again
                continue
            if isinstance(entry, dict) and "unit" in entry and "result" in entry:
                out.setdefault(entry["unit"], entry)
        return out

    def add(self, entry: dict[str, Any]) -> None:
        """Append one line in one write and make it durable before the unit counts as done."""
        data = (json.dumps(entry, default=str, allow_nan=False) + "\n").encode()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            if os.path.getsize(self.path) and not _ends_with_newline(fd):
                data = b"\n" + data  # after a torn line: start a line of our own
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


def _ends_with_newline(fd: int) -> bool:
    return os.pread(fd, 1, os.fstat(fd).st_size - 1) == b"\n"


# ---------------------------------------------------------------------------------------- units
def _runner(command: str):
    """``factory(work, source_path) -> run(unit) -> result`` of ``command`` (built once per worker
    process and job, kept for the job's units): :data:`neurodeploy.scaleout_units.RUNNERS`."""
    from neurodeploy.scaleout_units import RUNNERS

    if command not in RUNNERS:
        raise ScaleOutError(f"no unit runner for {command!r}")
    return RUNNERS[command]


def _job_record(work: Work, units: list[Unit]) -> dict[str, Any]:
    """What identifies a job for --resume: command, source (its files' SHA-256), settings, units."""
    return {"command": work.command, "source": str(work.source), "source_sha256": _source_digest(work.source),
            "settings": work.settings, "units": [u.key for u in units]}


def _source_files(source: Path) -> dict[str, Path]:
    """A source's files by relative name: a bundle's manifest and the files it lists; a checkpoint's file."""
    if source.is_dir():
        manifest = json.loads((source / "manifest.json").read_text())
        names = ["manifest.json", *manifest.get("files", {})]
        return {n: source / n for n in names}
    return {source.name: source}


def _source_digest(source: Path) -> str:
    h = hashlib.sha256()
    for name, path in sorted(_source_files(source).items()):
        h.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def run_units(work: Work, units: list[Unit], plan: Plan, progress: Progress | None = None,
              executor: str | None = None,
              keep: Callable[[Unit, dict[str, Any]], dict[str, Any]] | None = None) -> tuple[dict[str, dict[str, Any]], Stats]:
    """Run every unit (skipping those ``plan.resume`` finds finished); unit key -> result, and the stats.

    ``executor`` decides the memory each unit declares to Ray (:meth:`Plan.unit_memory`).
    ``keep(unit, result)``: called in this process as each unit arrives, before its line is
    written (derain writes the image there); returns what the line and the summary keep.
    """
    make_runner = _runner(work.command)
    keys = [u.key for u in units]
    if len(set(keys)) != len(keys):
        raise ScaleOutError("two units share a name (e.g. the same image given twice); pass each input once")
    journal = Journal(plan.out, _job_record(work, units), plan.resume) if plan.out is not None else None
    results: dict[str, dict[str, Any]] = {}
    if journal is not None:
        results = {k: e["result"] for k, e in journal.finished().items() if k in set(keys)}
    stats = Stats(len(units), done=len(results), resumed=len(results))
    todo = [u for u in units if u.key not in results]
    if progress:
        progress(stats)

    def finished(unit: Unit, result: dict[str, Any], seconds: float, node: str, span: tuple[float, float]) -> None:
        if keep is not None:
            result = keep(unit, result)
        if journal is not None:
            # started/ended: wall clock (Unix seconds) where the unit ran, so a reader can see how many ran at once
            journal.add({"unit": unit.key, "result": result, "seconds": seconds, "node": node,
                         "started": span[0], "ended": span[1]})
        results[unit.key] = result
        stats.done += 1
        stats.unit_s.append(seconds)
        stats.nodes.add(node)
        if progress:
            progress(stats)

    if todo:
        if plan.on_ray:
            _run_on_ray(work, todo, plan, stats, finished, progress, executor)
        else:
            run = make_runner(work, work.source)
            for unit in todo:
                t0, wall0 = time.monotonic(), time.time()
                result = run(unit)
                finished(unit, result, time.monotonic() - t0, "local", (wall0, time.time()))
    return {k: results[k] for k in keys}, stats


# ---------------------------------------------------------------------------------------- Ray
#: Errors of the system, not of the unit: the unit is sent again (by name, so that this module
#: imports Ray only when it is asked for).
_LOST = ("WorkerCrashedError", "NodeDiedError", "ObjectLostError", "OwnerDiedError", "LocalRayletDiedError",
         "RaySystemError", "OutOfMemoryError", "ObjectFetchTimedOutError", "ActorDiedError", "TaskCancelledError")


def start_ray(plan: Plan) -> tuple[bool, float]:
    """Connect to Ray as ``plan`` says (reusing a connection this process already has):
    whether this call started the connection, and the seconds it took."""
    import logging

    import ray

    if ray.is_initialized():
        return False, 0.0
    t0 = time.monotonic()
    quiet = dict(logging_level=logging.ERROR, log_to_driver=False, include_dashboard=False)
    if plan.workers:
        # "local": a new Ray on this machine even when RAY_ADDRESS names another cluster
        ray.init(address="local", num_cpus=plan.workers, object_store_memory=LOCAL_OBJECT_STORE, **quiet)
    else:
        try:
            ray.init(address=plan.address, **{k: v for k, v in quiet.items() if k != "include_dashboard"})
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ScaleOutError(f"cannot join the Ray cluster at {plan.address} ({str(exc).splitlines()[0]}); "
                                "start one with `ray start --head`, or pass --workers N for a local one") from None
    return True, time.monotonic() - t0


def _run_on_ray(work: Work, todo: list[Unit], plan: Plan, stats: Stats, finished, progress, executor) -> None:
    import ray

    started, stats.ray_start_s = start_ray(plan)
    try:
        source = {name: path.read_bytes() for name, path in _source_files(work.source).items()}
        source_ref = ray.put((_source_digest(work.source), source))
        task = ray.remote(_remote_unit).options(num_cpus=1, memory=plan.unit_memory(executor), max_retries=0)
        pending: dict[Any, tuple[Unit, int]] = {}

        def submit(unit: Unit, attempt: int) -> None:
            shipped = {role: (p.name, p.read_bytes()) for role, p in unit.files.items()}
            pending[task.remote(source_ref, work.command, work.source.name, work.settings, unit.key, shipped,
                                unit.params)] = (unit, attempt)

        for unit in todo:
            submit(unit, 0)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                unit, attempt = pending.pop(ref)
                try:
                    result, seconds, node, span = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 -- sorted below by what Ray says it is
                    cause = _own_error(exc)
                    if cause is not None:
                        stats.failed += 1
                        if progress:
                            progress(stats)
                        raise cause from None
                    if type(exc).__name__ not in _LOST and not _lost_worker(exc):
                        raise
                    if attempt >= plan.retries:
                        stats.failed += 1
                        raise ScaleOutError(f"unit {unit.key} lost its worker {attempt + 1} times "
                                            f"({type(exc).__name__}); the finished units are kept: rerun with "
                                            "--resume") from None
                    stats.retried += 1
                    if progress:
                        progress(stats)
                    submit(unit, attempt + 1)
                    continue
                finished(unit, result, seconds, node, span)
    finally:
        if started:
            ray.shutdown()


def _own_error(exc: BaseException) -> NeurodeployError | None:
    """The NeurodeployError a unit raised in its worker (a fault of the input, not of the cluster)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, NeurodeployError) else None


def _lost_worker(exc: BaseException) -> bool:
    return any(type(c).__name__ in _LOST for c in type(exc).__mro__) or type(getattr(exc, "cause", None)).__name__ in _LOST


_WORKER: dict[str, Any] = {}  # in a Ray worker: source digest -> its folder; (digest, command, settings) -> runner


def _remote_unit(source_ref, command: str, source_name: str, settings: dict, key: str,
                 shipped: dict[str, tuple[str, bytes]], params: dict) -> tuple[dict[str, Any], float, str, tuple[float, float]]:
    """A unit in a Ray worker: the source and inputs written to this worker's temporary folder
    (once per source), the command's runner built once per job, the unit run."""
    import ray
    import torch

    torch.set_num_threads(1)  # one CPU per unit (Ray's num_cpus=1): threads would fight the other units
    t0, wall0 = time.monotonic(), time.time()
    digest, files = source_ref if isinstance(source_ref, tuple) else ray.get(source_ref)
    if digest not in _WORKER:
        folder = Path(tempfile.mkdtemp(prefix="neurodeploy-source-"))
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        _WORKER[digest] = folder
    folder = _WORKER[digest]
    source = folder if (folder / "manifest.json").is_file() else folder / source_name
    job = (digest, command, json.dumps(settings, sort_keys=True))
    if job not in _WORKER:
        _WORKER[job] = _runner(command)(Work(command, source, settings), source)
    inputs = Path(tempfile.mkdtemp(prefix="neurodeploy-unit-"))
    try:
        paths = {}
        for role, (name, data) in shipped.items():
            # roles "FOLDER:i" share FOLDER (a calibration set, a paired folder's rainy/ and clean/)
            folder = inputs / role.rsplit(":", 1)[0]
            folder.mkdir(parents=True, exist_ok=True)
            paths[role] = folder / name
            paths[role].write_bytes(data)
        result = _WORKER[job](Unit(key, paths, params))
    finally:
        import shutil

        shutil.rmtree(inputs, ignore_errors=True)
    return result, time.monotonic() - t0, ray.get_runtime_context().get_node_id(), (wall0, time.time())
