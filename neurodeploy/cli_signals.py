"""Ctrl-C and SIGTERM for the command line: one line, exit 130 (143 for SIGTERM), no process left.

A Lava run is one OS process per Lava process, all forked from the CLI, so a terminal's
Ctrl-C reaches every one of them at once. Left to Python, each prints its own
KeyboardInterrupt traceback (about 1,900 lines for a 64x64 derainer), and an interrupt
while Lava is still spawning leaves children that wait forever for a parent that waits
for them (multiprocessing joins its children at exit): the run hangs.

So, while :func:`handling` is active:

- a forked child ignores it: its parent tears the run down (a shared-memory manager that
  left on its own would leave its memory behind);
- the CLI process raises KeyboardInterrupt once, so that every ``except``/``finally`` on
  the way out runs (Lava's own teardown in :func:`neurodeploy.targets.loihi.network.kill_run`,
  an export's staged folder removed) and the command ends in one line;
- a watchdog ends the CLI process :data:`GRACE_S` seconds after the signal, whatever it is
  waiting for, and a second signal ends it at once; both kill every descendant first.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

#: Seconds the CLI process has to clean up after a signal before the watchdog ends it
#: (kept under the 5 s within which every Lava process must be gone).
GRACE_S = 3.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_main_pid: int | None = None
_received: int | None = None
_redeliver = False
_swallowed = threading.Event()  # an interrupt Python could not raise (see _unraisable)
_previous_unraisable = sys.unraisablehook
_said = threading.Lock()  # the one line is printed once, by whoever ends the process


def exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + signum


def received() -> int | None:
    """The signal that interrupted this command, if any."""
    return _received


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren, ...), from /proc."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:  # not Linux: nothing to walk
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # the command name may hold spaces and brackets
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _is_resource_tracker(pid: int) -> bool:
    # multiprocessing's resource tracker ignores SIGINT/SIGTERM by design, leaves when this process
    # does, and unlinks the shared memory Lava leaked; killing it would leave that memory in /dev/shm
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"resource_tracker" in f.read()
    except OSError:
        return False


def shutdown_managers() -> None:
    """Shut down this process's multiprocessing SharedMemoryManagers (Lava's run has one):
    killed instead, their server would leave its shared memory to the resource tracker,
    which unlinks it with a warning of its own on stderr, and its socket folder in /tmp."""
    import gc
    from multiprocessing.managers import SharedMemoryManager

    for obj in gc.get_objects():
        if issubclass(type(obj), SharedMemoryManager):  # not isinstance: lazy modules warn on __class__
            try:
                obj.shutdown()  # bounded: joins its server 1 s, then terminates it
            except Exception:  # noqa: BLE001 -- not started, or already shut down
                pass


def kill_descendants(pid: int | None = None) -> None:
    """SIGKILL every process below ``pid`` (default: this one, after shutting down its shared-memory
    managers) but multiprocessing's resource tracker, and wait until they are dead, so that none is
    left when this process ends."""
    if pid is None:
        pid = os.getpid()
        shutdown_managers()
    for _ in range(3):  # a child may fork while its siblings are killed
        victims = [p for p in descendants(pid) if not _is_resource_tracker(p)]
        if not victims:
            break
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _wait_dead(victims)


def _wait_dead(pids: list[int], timeout_s: float = 1.0) -> None:
    """Wait until each of ``pids`` is gone or a zombie (dead). Not waitpid(): multiprocessing
    reaps its own children and must find their status."""
    deadline = time.monotonic() + timeout_s
    pending = set(pids)
    while pending and time.monotonic() < deadline:
        pending = {p for p in pending if not _dead(p)}
        if pending:
            time.sleep(0.01)


def _dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2:].startswith("Z")


def say_once(line: str) -> None:
    """``line`` on stderr, once per process whoever asks (the CLI, the watchdog, a second signal)."""
    if _said.acquire(blocking=False):
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


def say_and_exit(line: str, code: int) -> None:
    """Kill the descendants, print ``line`` once and end this process now: no atexit handler
    runs (multiprocessing's waits for children, Lava's for answers)."""
    kill_descendants()
    say_once(line)
    os._exit(code)


_kept: "Callable[[], str | None] | None" = None  # what an interrupted command keeps, if anything


def interrupted_line() -> str:
    """The one line of an interrupt: what was kept (a scaled-out run's finished units), else nothing."""
    kept = _kept() if _kept is not None else None
    return f"interrupted; {kept}" if kept else "interrupted; nothing written"


@contextmanager
def keeping(say: "Callable[[], str | None]") -> Iterator[None]:
    """While the block runs, an interrupt's line says ``say()`` (e.g. "3 of 11 units kept in ...")."""
    global _kept
    _kept = say
    try:
        yield
    except BaseException:
        # the line is printed after the block has been left: keep what it says at this moment
        line = say()
        _kept = lambda: line  # noqa: E731
        raise
    _kept = None


def _handler(signum, frame) -> None:
    global _received, _redeliver
    if os.getpid() != _main_pid:
        return  # a forked child (a Lava process, a shared-memory manager): the parent tears the run down
    if _redeliver:  # our own second try at an interrupt that was swallowed (see _unraisable)
        _redeliver = False
        raise KeyboardInterrupt
    if _received is not None:  # the second Ctrl-C: the user does not want to wait
        say_and_exit(interrupted_line(), exit_code(_received))
    _received = signum
    threading.Thread(target=_watchdog, args=(signum,), daemon=True, name="neurodeploy-interrupt").start()
    raise KeyboardInterrupt


def _unraisable(unraisable) -> None:
    """An interrupt raised where Python cannot pass it on (a fork hook, a ``__del__``) would print
    "Exception ignored" with a traceback and be lost: deliver it again, silently."""
    if _received is not None and isinstance(unraisable.exc_value, KeyboardInterrupt):
        _swallowed.set()  # the watchdog delivers it: from here it would be swallowed again
        return
    _previous_unraisable(unraisable)


def _late(signum, frame) -> None:
    """After the command: its output is complete; leave without Python's shutdown traceback."""
    if os.getpid() != _main_pid:
        return
    say_and_exit("interrupted while exiting (the command had finished)", exit_code(signum))


def _watchdog(signum: int) -> None:
    global _redeliver
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        if _swallowed.wait(0.05):
            _swallowed.clear()
            _redeliver = True
            _thread.interrupt_main(signum)
    say_and_exit(interrupted_line(), exit_code(signum))


@contextmanager
def handling(restore: bool = True) -> Iterator[None]:
    """SIGINT and SIGTERM handled as the module says while the block runs. After it, with
    ``restore`` the previous handlers come back (the CLI runs inside test processes too);
    without, a signal during the interpreter's shutdown ends it quietly."""
    global _main_pid, _received, _redeliver, _previous_unraisable, _said
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    global _kept
    _main_pid, _received, _redeliver, _said, _kept = os.getpid(), None, False, threading.Lock(), None
    _swallowed.clear()
    _previous_unraisable, sys.unraisablehook = sys.unraisablehook, _unraisable
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if restore else _late)
        sys.unraisablehook = _previous_unraisable
