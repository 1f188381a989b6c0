"""A small run of the image/checkpoint fuzzer, tests/fixtures/image_fuzz.py (benchmarks/fuzz_images.py runs the
full 2,000 + 500 cases: benchmarks/fuzz_images.md)."""

from ndfixtures import image_fuzz


def test_fuzz_smoke_no_traceback_hang_or_wrong_result():
    counts, failures = image_fuzz.run(images=12, checkpoints=8, seed=5, timeout=30, base_checkpoints=("toy-residual",))
    assert not failures, dict(failures)
    assert sum(counts["image via derain"].values()) == 12 and sum(counts["checkpoint via export"].values()) == 8
    # both kinds of outcome happen: damaged files are refused, unusual valid ones derained
    assert counts["image via derain"]["ok"] > 3 and counts["image via derain"]["refused"] > 1
    assert counts["checkpoint via derain/evaluate"]["refused"] > 1
