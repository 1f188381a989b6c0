"""Progress of the long steps inside a command, for whoever shows it (the CLI: a bar on a terminal).

The pipeline says ``progress.step("calibrating", done, total)`` as it goes; nothing listens
unless the caller asked with :func:`listening`, so the library stays quiet for scripts.
``total`` None: a step whose length is not known (a spinner and the time).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

Listener = Callable[[str, int, "int | None"], None]
_listeners: list[Listener] = []


def step(name: str, done: int = 0, total: int | None = None) -> None:
    """``name`` has reached ``done`` of ``total`` units."""
    for listener in _listeners:
        listener(name, done, total)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
