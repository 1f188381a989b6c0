"""Absurd sizes are refused from shapes, before anything of that size is allocated (issue 26)."""

from __future__ import annotations

import time

import h5py
import nir
import numpy as np
import pytest

from neurodeploy.memory import machine_memory


def test_export_at_an_absurd_size_is_refused_with_the_estimate_and_the_machines_memory(run_cli, tmp_path):
    start = time.perf_counter()
    code, out, err = run_cli("export", "esdnet-tiny", "--out", tmp_path / "b", "--size", "100000", "100000")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error: --size 100000 100000 needs about ") and " TiB to export (estimated from the graph" in line
    assert "this machine has " in line and "available now" in line and "choose a smaller --size" in line
    assert time.perf_counter() - start < 10  # shapes only: no 596 GiB asked of numpy
    assert list(tmp_path.iterdir()) == []  # no bundle, no staged sibling


def test_the_suggested_size_is_one_that_passes_the_check(monkeypatch):
    from neurodeploy import memory
    from neurodeploy.checkpoint import build_model, load_checkpoint
    from neurodeploy.nir_export import export_graph
    from neurodeploy.ir import graph_info
    from neurodeploy.memory import MemoryRefused, check_export

    # one reading of the machine for both checks: on a shared machine the memory available can drop
    # between them (other jobs), which says nothing about whether the suggestion was consistent
    snapshot = memory.machine_memory()
    monkeypatch.setattr(memory, "machine_memory", lambda: snapshot)

    ckpt = load_checkpoint("esdnet-tiny")
    model = build_model(ckpt)

    def check(h, w):
        info = graph_info(export_graph(model, (h, w), architecture=ckpt.architecture, config=ckpt.config))
        check_export(info.shapes, info.t_steps, False, (h, w))

    with pytest.raises(MemoryRefused) as exc:
        check(40000, 40000)
    side = int(str(exc.value).split("at most about ")[1].split(" x ")[0])
    assert 100 < side < 40000
    check(side // 8 * 8, side // 8 * 8)  # the architecture takes multiples of 8


def _nir_with_weight(path, shape):
    """A real NIR file whose Affine declares ``shape``; the data is never written (a chunked,
    compressed dataset of that shape costs a few KB on disk), as a crafted or damaged file."""
    n = 2
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([n])),
                                "fc": nir.Affine(weight=np.ones((n, n), np.float32), bias=np.zeros(n, np.float32)),
                                "output": nir.Output(output_type=np.array([n]))},
                         edges=[("input", "fc"), ("fc", "output")])
    nir.write(str(path), graph)
    with h5py.File(path, "r+") as f:
        del f["node/nodes/fc/weight"]
        f["node/nodes/fc"].create_dataset("weight", shape=shape, dtype="float32", chunks=True, compression="gzip")
    return path


@pytest.mark.parametrize("shape", [(50_000, 50_000), "1 x the machine's memory"])
def test_a_nir_file_declaring_arrays_too_big_for_memory_is_refused_before_reading(run_cli, tmp_path, shape):
    if isinstance(shape, str):  # a 1 x N Affine as large as all of this machine's memory
        shape = (1, machine_memory()[0] // 4)
    path = _nir_with_weight(tmp_path / "huge.nir", shape)
    assert path.stat().st_size < 10_000_000
    start = time.perf_counter()
    code, _, err = run_cli("inspect", path)
    assert code == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: {path} declares arrays of ") and f"shape {shape}" in line
    assert "this machine has" in line and "damaged" not in line
    assert time.perf_counter() - start < 10  # the data (GBs) was never read


def test_a_nir_file_with_big_but_fitting_arrays_is_read_whole(tmp_path):
    """The timeout follows the declared size too: a gzipped array is small on disk, large in memory."""
    from neurodeploy.ir.nirfile import read_timeout_s

    path = _nir_with_weight(tmp_path / "big.nir", (2, 2))
    assert read_timeout_s(path, declared=2_000_000_000) > 100 > read_timeout_s(path)


def test_an_hdf5_file_that_is_not_nir_says_so(run_cli, tmp_path):
    path = tmp_path / "data.nir"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((2, 3))
    code, _, err = run_cli("inspect", path)
    assert code == 2
    assert err.strip() == (f"error: {path}: an HDF5 file, but not a NIR graph (no 'node' group with 'nodes'; it "
                           "holds: images); pass a .nir file written by nir.write or a NIR writer")


def test_the_guarded_reader_does_not_fork_a_process_that_loaded_ray(tmp_path):
    """A child forked from a driver that has run Ray died in Ray's ``_raylet.so`` (segfault; seen in
    benchmarks/scale_out.py after a Ray validation): once Ray's core worker is loaded the reader runs
    in new interpreters, reads and refuses files as before, and leaves multiprocessing's start
    method unset (Lava sets it to fork when it is imported, and fails if it is set already)."""
    import subprocess
    import sys

    good = _nir_with_weight(tmp_path / "ok.nir", (2, 2))
    huge = _nir_with_weight(tmp_path / "huge.nir", (50_000, 50_000))
    script = (
        "import multiprocessing, sys, ray._raylet\n"
        "from neurodeploy.ir.nirfile import _ray_loaded, read_graph\n"
        "from neurodeploy.memory import MemoryRefused\n"
        "assert _ray_loaded()\n"
        "print(len(read_graph(sys.argv[1]).nodes))\n"
        "try:\n    read_graph(sys.argv[2])\nexcept MemoryRefused as exc:\n    print('refused', 'declares arrays' in str(exc))\n"
        "print(multiprocessing.get_start_method(allow_none=True))\n")
    out = subprocess.run([sys.executable, "-c", script, str(good), str(huge)], capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "refused", "True", "None"], out.stdout
