"""The bundle folder as files, whatever made it: format, manifest checks, atomic writes.

Shared by every writer of a bundle (a model's export, a ``.nir`` file's) and by
:class:`neurodeploy.bundle.Bundle`, which opens both kinds. Nothing here knows what a
graph means; it knows which files a bundle holds and that none is ever half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from neurodeploy.checkpoint import file_sha256
from neurodeploy.errors import BundleError
from neurodeploy.writable import hold, sweep_staged

MANIFEST = "manifest.json"
FORMAT = "neurodeploy-bundle"
# 2: host islands as host/ISLAND.onnx (format 1 had one host.onnx that nothing ran).
FORMAT_VERSION = 2
TARGETS = ("loihi",)
#: ``manifest["kind"]`` of a bundle of a ``.nir`` file; a model's bundle has no ``kind`` key
#: (the key was added with the second kind; absent means "model", so old manifests still read).
KIND_NIR = "nir"
KIND_MODEL = "model"


def package_version(dist: str) -> str | None:
    """The installed version of distribution ``dist`` (None when it is not installed)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of a bundle folder of this format (any version), or None."""
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == FORMAT else None


def bundle_kind(manifest: dict[str, Any]) -> str:
    """``model`` or ``nir``."""
    return KIND_NIR if manifest.get("kind") == KIND_NIR else KIND_MODEL


def is_bundle(path: Path) -> bool:
    """A folder with a manifest of this format (any version): the only kind --force replaces."""
    return read_manifest(path) is not None


def verify_files(path: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists must exist and have its recorded SHA-256: a file changed
    or damaged after export is refused in one line naming it, before anything reads it."""
    files = manifest.get("files")
    if not isinstance(files, dict) or "graph.nir" not in files:
        raise BundleError(f"{path / MANIFEST} lists no files with their SHA-256; re-export the bundle")
    for name, digest in files.items():
        file = path / name
        if not file.is_file():
            raise BundleError(f"{path}: {name} is missing (the manifest lists it); re-export the bundle")
        if file_sha256(file) != digest:
            raise BundleError(f"{path}: {name} does not match the SHA-256 in the manifest (changed or damaged "
                              "after export); re-export the bundle")


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON next to its final place, then rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    tmp.replace(path)


def write_text_atomic(path: Path, text: str) -> None:
    """As :func:`write_json_atomic`, for text."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def check_destination(out: Path, force: bool) -> Path:
    """The bundle folder to write (absolute); refuses anything that is not a new folder or,
    with ``force``, an existing bundle -- a user's folder of data is never replaced."""
    resolved = out.resolve()
    if resolved == resolved.parent or resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        raise BundleError(f"--out {out} is the current folder or one of its parents; name a new folder, "
                          "e.g. --out build/bundle")
    out = resolved
    if out.exists() and not out.is_dir():
        raise BundleError(f"{out} exists and is not a folder; choose another --out")
    if out.exists() and not force:
        raise BundleError(f"{out} already exists; pass --force to replace it, or choose another --out")
    if out.exists() and not is_bundle(out):
        raise BundleError(f"{out} exists and is not a neurodeploy bundle (no {MANIFEST} of this format); "
                          "--force only replaces bundles, choose another --out")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent)
        os.rmdir(probe)
    except OSError as exc:
        raise BundleError(f"cannot write a bundle in {parent} ({exc.strerror or exc}); choose another --out") from None
    return out


@contextmanager
def staged_dir(out: Path) -> Iterator[Path]:
    """A new sibling folder of ``out`` to write a bundle into (the user's umask, not mkdtemp's
    0700: a bundle is an ordinary folder); it becomes ``out`` when the block ends, and is
    removed if anything fails (``out`` is then untouched). It is locked while written, so that
    the next export to ``out`` removes it if this one was killed (writable.sweep_staged)."""
    sweep_staged(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    lock = hold(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        yield tmp
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(lock)


def _replace_dir(new: Path, out: Path) -> None:
    """Move ``new`` to ``out``; an existing ``out`` is swapped out first and removed last."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    try:
        new.rename(out)
    except BaseException:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
