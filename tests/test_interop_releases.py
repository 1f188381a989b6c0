"""The per-release cases of ``benchmarks/interop_writers.md`` (issue 28, item 1; ``tests/fixtures/release_cases.py``):
every writer has at least two releases with a file, and one run of each kind of case holds the issue's bounds on
nir-torch (the script runs them all, on every executor)."""

from __future__ import annotations

import pytest

from ndfixtures import release_cases as rc

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def test_every_writer_has_two_releases_that_write_a_file():
    releases: dict[str, set[str]] = {}
    for case in rc.cases():
        if case.error is None:
            releases.setdefault(case.writer, set()).add(case.release)
    assert set(releases) == {"snntorch", "norse", "sinabs", "rockpool"}
    assert all(len(r) >= 2 for r in releases.values()), releases
    assert "master" in releases["norse"] and "0.7.0" in releases["snntorch"]


@pytest.mark.parametrize("writer, release, net", [("norse", "master", "dense LIFBox"),
                                                  ("sinabs", "2.0.0", "conv_iaf.nir"),  # from_nir, every rule on
                                                  ("snntorch", "0.7.0", "dense_leaky_uniform.nir")])
def test_a_release_file_fires_as_its_writer_on_nir_torch(writer, release, net):
    pytest.importorskip(writer)
    case = next(c for c in rc.cases() if (c.writer, c.release) == (writer, release) and c.net.startswith(net))
    rows = list(rc.run(case, 40, 1, lava=False, quantized=False))
    assert [r["executor"] for r in rows] == ["nir-torch"], rows
    row = rows[0]
    assert row["pass"] and all(v["theirs"] > 0 for v in row["layers"].values()), row
    if writer != "sinabs":
        assert row["read_as"] == release, row
