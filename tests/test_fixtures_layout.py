"""Tests and the installed package stand on their own (issue 25): neither imports a benchmark script,
the tests change no import path, and no installed module names the ``benchmarks`` folder; what tests
and benchmarks share lives in ``tests/fixtures/`` (``ndfixtures``), which the benchmarks import."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
INSTALLED = [p for d in ("neurodeploy", "models", "targets", "quantize") for p in sorted((ROOT / d).rglob("*.py"))]
TESTS = sorted((ROOT / "tests").rglob("*.py"))


def _imported(tree: ast.AST) -> set[str]:
    """The top-level names of every absolute import in ``tree``."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def _edits_import_path(tree: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "path" and isinstance(n.value, ast.Name)
               and n.value.id == "sys" for n in ast.walk(tree))


def test_the_check_sees_the_benchmark_scripts_and_the_sources():
    # the scans below would pass vacuously if these globs found nothing
    assert {"interop_writers", "interop_fixed", "fuzz_nir", "fuzz_images"} <= BENCHMARKS
    assert len(INSTALLED) > 50 and ROOT / "tests" / "fixtures" / "writer_cases.py" in TESTS


def test_no_test_or_installed_module_imports_a_benchmark_script():
    offenders = {str(p.relative_to(ROOT)): sorted(_imported(ast.parse(p.read_text())) & BENCHMARKS)
                 for p in TESTS + INSTALLED}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_test_changes_the_import_path():
    assert [str(p.relative_to(ROOT)) for p in TESTS if _edits_import_path(ast.parse(p.read_text()))] == []


def test_no_installed_module_names_the_benchmarks_folder():
    """A path built from ``"benchmarks"`` (as models/cards.py once read quantize_qat.out.json): an
    installed package has no such folder beside it."""
    offenders = [str(p.relative_to(ROOT)) for p in INSTALLED
                 if any(isinstance(n, ast.Constant) and n.value == "benchmarks"
                        for n in ast.walk(ast.parse(p.read_text())))]
    assert offenders == []


def test_the_benchmarks_run_the_tests_fixtures():
    """The scripts the tests share code with are command lines over ``ndfixtures`` (benchmarks/_shared.py)."""
    for name, module in (("interop_writers", "writer_cases"), ("interop_fixed", "fixed_cases"),
                         ("fuzz_nir", "nir_fuzz"), ("fuzz_images", "image_fuzz")):
        tree = ast.parse((ROOT / "benchmarks" / f"{name}.py").read_text())
        assert {"_shared", "ndfixtures"} <= _imported(tree), name
        assert any(isinstance(n, ast.ImportFrom) and n.module == f"ndfixtures.{module}" for n in ast.walk(tree)), name
