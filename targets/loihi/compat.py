"""Make lava-nc 0.10 importable on Python 3.11, without touching site-packages.

lava-nc 0.10 declares Python < 3.11. The one thing that breaks on 3.11 is
``lava/magma/compiler/var_model.py``: three dataclasses default eight fields to a
``ByteEncoder()`` instance, and Python 3.11 rejects unhashable dataclass defaults
(``ValueError: mutable default ... use default_factory``). Without a fix, most of
Lava's modules fail to import.

:func:`install` puts a finder at the front of ``sys.meta_path`` for that one module.
It reads the module's source, rewrites exactly those eight lines to use
``field(default_factory=ByteEncoder)`` and compiles the result in memory (no ``.pyc``
is written). If the source no longer has exactly eight such lines -- Lava changed --
the import fails loudly instead of running a half-patched module.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import re
import sys

TARGET_MODULE = "lava.magma.compiler.var_model"
EXPECTED_FIXES = 8

_DEFAULT_LINE = re.compile(r"^(?P<head>[ \t]+\w+: ByteEncoder = )ByteEncoder\(\)[ \t]*$", re.M)
_IMPORT_LINE = "from dataclasses import dataclass, InitVar\n"


class LavaCompatError(ImportError):
    """The Lava source no longer looks like the one this shim was written for."""


def patch_source(source: str) -> str:
    """Return ``var_model.py``'s source with the ByteEncoder defaults made 3.11-safe.

    Raises :class:`LavaCompatError` unless exactly :data:`EXPECTED_FIXES` lines match.
    """
    patched, count = _DEFAULT_LINE.subn(r"\g<head>_nd_field(default_factory=ByteEncoder)", source)
    if count != EXPECTED_FIXES or _IMPORT_LINE not in source:
        raise LavaCompatError(
            f"{TARGET_MODULE}: expected {EXPECTED_FIXES} 'x: ByteEncoder = ByteEncoder()' lines "
            f"and the line {_IMPORT_LINE.strip()!r}, found {count}; the installed lava-nc is not "
            "0.10.0 -- reinstall with `make install` or update neurodeploy/targets/loihi/compat.py"
        )
    return patched.replace(_IMPORT_LINE, _IMPORT_LINE + "from dataclasses import field as _nd_field\n", 1)


class _PatchedSourceLoader(importlib.machinery.SourceFileLoader):
    def get_code(self, fullname):  # noqa: D401 - importlib API
        source = self.get_data(self.path).decode("utf-8")
        return compile(patch_source(source), self.path, "exec", dont_inherit=True)


class _VarModelFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != TARGET_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _PatchedSourceLoader(fullname, spec.origin)
        return spec


def install() -> None:
    """Install the finder (idempotent). Must run before anything imports lava."""
    if not any(isinstance(f, _VarModelFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _VarModelFinder())
