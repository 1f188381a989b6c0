"""Bundles that cannot be written: a shared folder, a CI artefact, a read-only mount, a full disk.

Reading such a bundle works as usual. A command whose result is printed (``validate``) still
prints it and only says, in one line, which file it could not keep; a command whose whole
result is files in the bundle (``report``) asks :func:`why_unwritable` first and refuses
before any work.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable


def why_unwritable(folder: Path) -> str | None:
    """Why no file can be written in ``folder`` ("Permission denied", "Read-only file system",
    "No space left on device"), or None when one can: a byte is written and removed, since
    permission bits alone do not tell (root ignores them; a read-only mount ignores them too)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        os.write(fd, b"\0")
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        os.close(fd)
        os.unlink(probe)


def write_json_kept(path: Path, obj: Any, warn: Callable[[str], None] | None = None) -> bool:
    """Write ``obj`` as JSON to ``path`` atomically (a temporary sibling renamed into place,
    removed if anything fails); when the folder cannot take it, say so through ``warn`` (one
    line; default: a Python warning) and return False instead of raising."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
        tmp.replace(path)
        return True
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        line = f"could not write {path} ({exc.strerror or exc}); the result is printed but not kept in the bundle"
        if warn is None:
            warnings.warn(line, stacklevel=2)
        else:
            warn(line)
        return False


def hold(folder: Path) -> int:
    """Lock ``folder`` for as long as the returned descriptor stays open (``os.close`` it): the
    mark of a live writer that :func:`sweep_staged` leaves alone. The kernel drops the lock when
    its process ends, however it ends (``kill -9`` too)."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def sweep_staged(out: Path) -> list[Path]:
    """Remove what killed writes of the bundle ``out`` left beside it: ``.NAME.tmp-*`` folders
    no live process holds (:func:`hold`), and ``.NAME.old-*`` ones once ``out`` is there again
    (while ``out`` is missing, an ``.old-`` folder is the only copy of the previous bundle and is
    kept). Returns what was removed."""
    import fcntl
    import shutil

    removed = []
    if not out.parent.is_dir():
        return removed
    for entry in out.parent.glob(f".{out.name}.*"):
        kind = entry.name[len(out.name) + 2:].split("-", 1)[0]
        if not entry.is_dir() or entry.is_symlink() or kind not in ("tmp", "old") or (kind == "old" and not out.is_dir()):
            continue
        try:
            fd = os.open(entry, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live export is writing it
            os.close(fd)
            continue
        try:
            shutil.rmtree(entry)
            removed.append(entry)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed
