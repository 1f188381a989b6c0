"""A small run of benchmarks/fuzz_images.py (the full 2,000 + 500 cases: benchmarks/fuzz_images.md)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import fuzz_images  # noqa: E402


def test_fuzz_smoke_no_traceback_hang_or_wrong_result():
    counts, failures = fuzz_images.run(images=12, checkpoints=8, seed=5, timeout=30, base_checkpoints=("toy-residual",))
    assert not failures, dict(failures)
    assert sum(counts["image via derain"].values()) == 12 and sum(counts["checkpoint via export"].values()) == 8
    # both kinds of outcome happen: damaged files are refused, unusual valid ones derained
    assert counts["image via derain"]["ok"] > 3 and counts["image via derain"]["refused"] > 1
    assert counts["checkpoint via derain/evaluate"]["refused"] > 1
