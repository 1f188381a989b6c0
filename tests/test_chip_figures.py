"""Issue 29: every chip and system figure lives in limits.py or systems.py with its source; a literal
copy of one anywhere else in the package fails here."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

from neurodeploy.limits import CORE_BUDGETS, LOIHI1_OPS, LOIHI2, Measure
from neurodeploy.systems import SYSTEMS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = ("neurodeploy", "models", "targets", "quantize")
HOMES = {"neurodeploy/limits.py", "neurodeploy/systems.py"}
# Numbers equal to a chip figure by coincidence, each with why it is not one.
NOT_CHIP_FIGURES = {
    ("neurodeploy/nir_export.py", 1_000_000): "a per-neuron parameter cap of the exporter, not neurons per chip",
    ("neurodeploy/images.py", 1_000_000): "pixels per megapixel",
    ("neurodeploy/energy.py", 1_000_000): "pJ per µJ",
    ("neurodeploy/ir/info.py", 1_000_000): "a cap on T (damaged metadata), not neurons per chip",
}


def _chip_figures() -> set[float]:
    """The figures distinctive enough to spot: every resource, per-op cost and system figure that is
    not a small round number (3.0 or 128 appear everywhere for other reasons)."""
    values = set()
    figs = list(LOIHI2.figures().values()) + list(LOIHI1_OPS.figures().values())
    for b in CORE_BUDGETS.values():
        figs += list(b.figures().values())
    for s in SYSTEMS.values():
        figs += list(s.figures().values())
    for f in figs:
        v = float(f)
        if isinstance(f, Measure) and v != int(v) and v not in (0.5,):
            values.add(round(v, 6))
        elif v >= 1000 and v not in (1024, 4096):  # 1024/4096 are also bytes and Lava's 12-bit decay unit
            values.add(v)
    return values


def _numbers(path: Path):
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type == tokenize.NUMBER:
            try:
                yield tok.start[0], float(eval(tok.string))  # noqa: S307 -- a numeric literal token
            except (SyntaxError, ValueError):
                continue


def test_no_chip_figure_is_spelled_outside_its_home():
    figures = _chip_figures()
    assert {23.6, 3.5, 1_000_000.0, 120_000_000.0, 1152.0} <= figures  # the check has teeth
    hits = []
    for d in PACKAGE_DIRS:
        for path in (ROOT / d).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel in HOMES:
                continue
            for line, value in _numbers(path):
                if round(value, 6) in figures and (rel, int(value) if value == int(value) else value) not in NOT_CHIP_FIGURES:
                    hits.append(f"{rel}:{line}: {value:g}")
    assert not hits, "chip figures outside limits.py/systems.py (import them instead): " + "; ".join(hits)


def test_a_planted_literal_is_caught(tmp_path):
    planted = tmp_path / "x.py"
    planted.write_text("SYNOP_PJ = 23.6\n")
    assert [v for _, v in _numbers(planted) if round(v, 6) in _chip_figures()] == [23.6]


def test_every_system_and_budget_figure_has_a_source():
    for s in SYSTEMS.values():
        for name, f in s.figures().items():
            assert f.source.ref, (s.name, name)
    for b in CORE_BUDGETS.values():
        for name, f in b.figures().items():
            assert f.source.ref and (f.source.derived or f.source.loihi1_only or f.source.assumption
                                     or not f.source.ref.startswith("lava/")), (b.name, name)
    derived = CORE_BUDGETS["loihi2-derived"]
    assert derived.neurons.source.derived and int(derived.neurons) == int(LOIHI2.neurons_per_chip) // 128
