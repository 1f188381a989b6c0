"""Check neurodeploy's layering with import-linter (the contracts in ``.importlinter``).

grimp, import-linter's graph builder, walks only the root package's folder. neurodeploy maps
``models/``, ``targets/`` and ``quantize/`` into the package from elsewhere (pyproject's
package-dir), so an editable checkout would hide them: this installs the package, not
editable, into a folder of its own and lints that tree.

    python tools/check_layers.py [--tree DIR]      exit 0: every contract kept

:func:`build_tree` and :func:`lint` are what ``tests/test_layers.py`` calls.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"


def build_tree(tree: Path) -> Path:
    """Install the package (no dependencies, not editable) into ``tree``; return it."""
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(tree), str(ROOT)], check=True, capture_output=True)
    return tree


def lint(tree: Path) -> subprocess.CompletedProcess:
    """Run import-linter on the installed ``tree``; returns the finished process (output in stdout)."""
    # -S: no site processing, so the editable install's import hook cannot redirect
    # `neurodeploy` to the checkout; -P and cwd=tree: the tree is the only neurodeploy found.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), sysconfig.get_paths()["purelib"]]))
    code = ("import sys; from importlinter.cli import lint_imports_command; "
            f"sys.argv = ['lint-imports', {str(CONFIG)!r}, '--no-cache']; lint_imports_command()")
    return subprocess.run([sys.executable, "-S", "-P", "-c", code], cwd=tree, env=env, capture_output=True, text=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", type=Path, default=ROOT / "build" / "lint", help="folder to install the package into")
    args = ap.parse_args()
    result = lint(build_tree(args.tree))
    print(result.stdout[result.stdout.find("Contracts"):] if "Contracts" in result.stdout else result.stdout)
    print(result.stderr, file=sys.stderr, end="")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
