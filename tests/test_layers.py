"""The layering contract (``.importlinter``) holds, and it would catch an upward import or a cycle."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("check_layers", Path(__file__).resolve().parents[1] / "tools" / "check_layers.py")
check_layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_layers)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return check_layers.build_tree(tmp_path_factory.mktemp("lint") / "tree")


def _plant(tree: Path, module: str, line: str) -> None:
    path = tree / Path(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_layering_holds(tree):
    result = check_layers.lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.parametrize("module, line, broken", [
    ("neurodeploy.errors", "import neurodeploy.cli", "ground -> models"),  # ground imports the CLI
    ("neurodeploy.ir.info", "import neurodeploy.passes.partition", "ground -> models"),  # IR imports a pass
    ("neurodeploy.ir.order", "import neurodeploy.ir.check", "no import cycles"),  # check imports order: a cycle
    # the folders mapped into the package (optional layers, present in the installed tree)
    ("neurodeploy.models.registry", "import neurodeploy.ir.graph", "ground -> models"),
    ("neurodeploy.targets.split", "import neurodeploy.cli", "ground -> models"),
    ("neurodeploy.quantize.formats", "import neurodeploy.bundle", "ground -> models"),
])
def test_a_planted_upward_import_or_cycle_breaks_the_contract(tmp_path, module, line, broken):
    planted = check_layers.build_tree(tmp_path / "tree")
    _plant(planted, module, line)
    result = check_layers.lint(planted)
    assert result.returncode != 0
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout, result.stdout


def test_plain_lint_imports_in_the_checkout_keeps_both_contracts():
    """What a developer runs by hand: `lint-imports` in the editable checkout (it sees only the
    modules under neurodeploy/, the mapped folders are optional layers there)."""
    import subprocess
    import sys

    code = "import sys; from importlinter.cli import lint_imports_command; sys.argv = ['lint-imports', '--no-cache']; lint_imports_command()"
    result = subprocess.run([sys.executable, "-c", code], cwd=check_layers.ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout
