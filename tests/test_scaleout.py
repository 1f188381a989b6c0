"""Scale-out (issue 27): units on Ray give the in-process results, a lost node loses no unit and
doubles none, an interrupted run resumes to the same summary; bad options are one line.

The Ray tests start Ray only for themselves: a 2-node ``ray.cluster_utils.Cluster`` (one CPU and a
200 MB object store each) and one ``--workers 1`` CLI run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import neurodeploy as nd
from neurodeploy.errors import NeurodeployError
from neurodeploy.images import read_image, write_image
from neurodeploy.scaleout import UNITS_FILE, Journal

CLI = [sys.executable, "-m", "neurodeploy"]
PAIR = Path(__file__).resolve().parents[1] / "examples" / "images"
N_PAIRS = 8


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    """8 pairs cut from the shipped DDN-SIRR crop (128x192): 112x160 windows at 8 offsets, so that
    each unit is a real rainy/clean pair that takes the emulator a few tenths of a second."""
    rainy, clean = read_image(PAIR / "ddn-sirr-input11-rainy.png"), read_image(PAIR / "ddn-sirr-input11-clean.png")
    folder = tmp_path_factory.mktemp("pairs")
    for side in ("rainy", "clean"):
        (folder / side).mkdir()
    for i in range(N_PAIRS):
        y, x = 2 * i, 4 * i
        for side, image in (("rainy", rainy), ("clean", clean)):
            write_image(folder / side / f"p{i}.png", np.ascontiguousarray(image[:, y:y + 112, x:x + 160]))
    return folder


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("b") / "toyq"
    nd.export("toy-residual", out, size=(32, 32), quantize="int", calib=PAIR / "calib")
    return out


@pytest.fixture(scope="module")
def reference(bundle, pairs) -> dict:
    """The in-process evaluation (no Ray, no units)."""
    return nd.evaluate(bundle, pairs, executor="emulator").data


def _scores(result: dict) -> list[dict]:
    # run_s is a time, the one thing that differs between two runs of the same image
    return [{k: v for k, v in row.items() if k != "run_s"} for row in result["images"]]


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / UNITS_FILE).read_text().splitlines()]


def test_units_in_process_give_the_in_process_result_and_one_line_each(bundle, pairs, reference, tmp_path):
    got = nd.evaluate(bundle, pairs, executor="emulator", out=tmp_path / "o").data
    assert _scores(got) == _scores(reference)
    assert [got[k] for k in ("psnr", "ssim", "count")] == [reference[k] for k in ("psnr", "ssim", "count")]
    assert sorted(e["unit"] for e in _lines(tmp_path / "o")) == [f"p{i}" for i in range(N_PAIRS)]
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["psnr"] == reference["psnr"]
    assert "ray" not in sys.modules or not __import__("ray").is_initialized()  # no Ray without --workers/--cluster


def test_a_torn_last_line_is_run_again_and_the_next_line_starts_clean(tmp_path):
    job = {"command": "evaluate", "units": ["a", "b"]}
    j = Journal(tmp_path, job, resume=False)
    j.add({"unit": "a", "result": {"x": 1}})
    with open(j.path, "ab") as f:
        f.write(b'{"unit": "b", "resu')  # a crash mid-write
    j = Journal(tmp_path, job, resume=True)
    assert list(j.finished()) == ["a"]
    j.add({"unit": "b", "result": {"x": 2}})
    assert j.finished() == {"a": {"unit": "a", "result": {"x": 1}}, "b": {"unit": "b", "result": {"x": 2}}}


@pytest.mark.parametrize("options, words", [
    ({"resume": True}, "--resume needs --out DIR"),
    ({"workers": 0}, "--workers takes a number of workers of at least 1"),
    ({"workers": 2, "cluster": "127.0.0.1:6379"}, "pass one of them"),
    ({"out": "o", "unit_memory_gb": 0}, "--unit-memory takes gigabytes above 0"),
])
def test_bad_scale_out_options_are_refused_in_one_line(options, words):
    from neurodeploy.scaleout import Plan

    with pytest.raises(NeurodeployError, match=words) as caught:
        Plan.from_options(**options)
    assert "\n" not in str(caught.value)


def test_a_bad_option_on_the_command_line_is_one_line_exit_2_and_nothing_written(bundle, pairs, tmp_path):
    r = subprocess.run(CLI + ["evaluate", str(bundle), "--data", str(pairs), "--out", str(tmp_path / "o"),
                              "--unit-memory", "0"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == ["error: --unit-memory takes gigabytes above 0, not 0.0"], r.stderr
    assert not (tmp_path / "o").exists()


def test_resume_refuses_another_job_and_a_rerun_without_resume(bundle, pairs, tmp_path):
    out = tmp_path / "o"
    nd.evaluate(bundle, pairs, executor="emulator", out=out)
    with pytest.raises(NeurodeployError, match="pass --resume"):
        nd.evaluate(bundle, pairs, executor="emulator", out=out)
    with pytest.raises(NeurodeployError, match="different job"):
        nd.evaluate(bundle, pairs, executor="split", out=out, resume=True)


def _below(pid: int) -> set[int]:
    from neurodeploy.cli_signals import descendants

    return set(descendants(pid))


def test_an_interrupted_ray_run_keeps_its_units_and_resume_gives_the_same_summary(bundle, pairs, reference, tmp_path):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) during ``--workers 1``: exit 130,
    one line naming what was kept, every Ray and worker process gone, the finished lines
    readable; ``--resume`` (here in-process) runs only the rest and gives the in-process summary."""
    out = tmp_path / "o"
    proc = subprocess.Popen(CLI + ["evaluate", str(bundle), "--data", str(pairs), "--out", str(out), "--workers", "1",
                                   "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        seen |= _below(proc.pid)
        if (out / UNITS_FILE).is_file() and (out / UNITS_FILE).read_text().strip():
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted: " + proc.stderr.read()
    seen |= _below(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted; "), err
    assert "units kept in" in err and "--resume" in err, err
    time.sleep(0.5)
    alive = [p for p in seen if Path(f"/proc/{p}").exists()
             and not Path(f"/proc/{p}/stat").read_text().split(") ")[1].startswith("Z")]
    assert not alive, f"left running after Ctrl-C: {alive}"
    kept = _lines(out)
    assert 1 <= len(kept) < N_PAIRS and len({e["unit"] for e in kept}) == len(kept)

    resumed = nd.evaluate(bundle, pairs, executor="emulator", out=out, resume=True).data
    assert resumed["scale_out"]["resumed"] == len(kept)
    assert _scores(resumed) == _scores(reference)
    assert resumed["psnr"] == reference["psnr"] and resumed["ssim"] == reference["ssim"]
    units = [e["unit"] for e in _lines(out)]
    assert sorted(units) == [f"p{i}" for i in range(N_PAIRS)]  # each once: none lost, none twice


def _busy(raylet_pid: int) -> bool:
    """Whether a worker of the node whose raylet is ``raylet_pid`` is running a unit now: Ray titles
    a worker process ``ray::TASK`` while it runs TASK (``ray::IDLE`` between tasks)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().split(") ")[1].split()[1])
            title = (proc / "cmdline").read_bytes().split(b"\0")[0]
        except (OSError, IndexError, ValueError):
            continue
        if ppid == raylet_pid and title.startswith(b"ray::_remote_unit"):
            return True
    return False


def test_a_node_killed_mid_run_loses_no_unit_and_doubles_none(bundle, pairs, reference, tmp_path):
    """Ray's own multi-node test cluster on this machine: a head (the driver's node) and a second
    node, one CPU each; the second node is killed (SIGKILL, no goodbye) while its worker runs a
    unit (watched from a thread by the worker's process title). That unit is retried on the head:
    identical results, every unit once."""
    import threading

    import ray
    from ray.cluster_utils import Cluster

    # Ray's default health checks: tighter ones declared live nodes dead on this loaded 2-core machine
    # (the killed node's unit fails at once anyway: its worker's connection breaks)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 200 << 20,
                                                            "include_dashboard": False})
    try:
        nodes = [cluster.add_node(num_cpus=1, object_store_memory=200 << 20)]
        cluster.wait_for_nodes()
        killed, done = [], threading.Event()
        raylet = nodes[0].all_processes["raylet"][0].process.pid
        finished: list = []

        def watch() -> None:
            while not done.is_set():
                if _busy(raylet):  # a unit of the second node is in flight: kill the node now
                    killed.append((nodes[0].node_id, len(finished)))
                    cluster.remove_node(nodes[0], allow_graceful=False)
                    return
                time.sleep(0.01)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        out = tmp_path / "o"
        try:
            got = nd.evaluate(bundle, pairs, executor="emulator", cluster=cluster.address, out=out,
                              unit_memory_gb=0.5, units_progress=lambda stats: finished.append(stats.done)).data
        finally:
            done.set()
            watcher.join()
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert killed, "no node was killed"
    assert got["scale_out"]["retried"] >= 1, got["scale_out"]  # the killed node's unit was sent again
    assert _scores(got) == _scores(reference)
    assert got["psnr"] == reference["psnr"] and got["ssim"] == reference["ssim"]
    lines = _lines(out)
    assert sorted(e["unit"] for e in lines) == [f"p{i}" for i in range(N_PAIRS)]
    dead, done_then = killed[0]
    assert dead not in {e["node"] for e in lines[done_then + 1:]}  # nothing finishes on a dead node


def _most_at_once(lines: list[dict]) -> int:
    """The largest number of units whose [started, ended] wall-clock spans overlap."""
    events = sorted([(e["started"], 1) for e in lines] + [(e["ended"], -1) for e in lines])
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _on_a_node_of_1_5_gb(bundle, pairs, tmp_path, unit_memory_gb: float) -> tuple[dict, list[dict]]:
    """An evaluation on one node of 2 CPUs and 1.5 GB of memory (Ray's ``memory`` resource), each
    unit declaring ``unit_memory_gb``: the result and its journal lines."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "memory": 1_500_000_000,
                                                            "object_store_memory": 200 << 20,
                                                            "include_dashboard": False})
    try:
        got = nd.evaluate(bundle, pairs, executor="emulator", cluster=cluster.address, out=tmp_path / "o",
                          unit_memory_gb=unit_memory_gb).data
    finally:
        ray.shutdown()
        cluster.shutdown()
    return got, _lines(tmp_path / "o")


def test_a_node_runs_no_more_units_than_its_memory_holds(bundle, pairs, reference, tmp_path):
    """Units that declare 1 GB on a node of 1.5 GB run one at a time although a second CPU is free."""
    got, lines = _on_a_node_of_1_5_gb(bundle, pairs, tmp_path, 1.0)
    assert _scores(got) == _scores(reference)
    assert _most_at_once(lines) == 1, lines


@pytest.mark.slow  # a second cluster: ~10 s; shows the check above can see two units at once
def test_units_that_fit_twice_in_a_node_run_two_at_a_time(bundle, pairs, reference, tmp_path):
    got, lines = _on_a_node_of_1_5_gb(bundle, pairs, tmp_path, 0.5)
    assert _scores(got) == _scores(reference)
    assert _most_at_once(lines) == 2, lines


def test_a_percentile_range_is_that_percentile_of_the_magnitudes():
    import torch

    from neurodeploy.targets.emulator import _magnitude

    x = torch.linspace(-1000, 1000, 2001, dtype=torch.float64)  # |x|: 0, then 1..1000 twice
    assert _magnitude(x, None) == 1000.0
    assert _magnitude(x, 100.0) == 1000.0
    # the k-th smallest |x|, k = ceil(q n / 100): numpy's "higher" percentile of the same values
    assert _magnitude(x, 99.0) == float(np.percentile(np.abs(x.numpy()), 99.0, method="inverted_cdf"))
    assert _magnitude(x, 99.0) < 1000.0


@pytest.mark.slow  # five exports: 25-80 s on this 2-core machine
def test_a_sweep_tables_every_setting_against_float_and_keeps_the_best_bundle(tmp_path):
    """toy-residual at 32x32 on two small real pairs, 2 x 2 settings in this process: each row's
    cost is float minus its own score, the best is the lowest cost, its bundle opens."""
    from neurodeploy.bundle import Bundle
    from neurodeploy.scaleout import Plan
    from neurodeploy.sweep import run_sweep

    data = tmp_path / "pairs"
    rainy, clean = read_image(PAIR / "ddn-sirr-input11-rainy.png"), read_image(PAIR / "ddn-sirr-input11-clean.png")
    for side, image in (("rainy", rainy), ("clean", clean)):
        (data / side).mkdir(parents=True)
        for i in range(2):
            write_image(data / side / f"q{i}.png", np.ascontiguousarray(image[:, 60 * i:60 * i + 64, 20:84]))
    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(2):
        write_image(calib / f"c{i}.png", np.ascontiguousarray(rainy[:, 40 * i:40 * i + 64, 120:184]))
    summary = run_sweep("toy-residual", data, calib, [1, 2], ["max", "percentile:90"], tmp_path / "sweep",
                        Plan(out=tmp_path / "sweep"), size=(32, 32))
    rows = summary["settings"]
    assert [r["label"] for r in rows] == ["calib1-max", "calib1-p90", "calib2-max", "calib2-p90"]
    for r in rows:
        assert r["psnr_cost_db"] == summary["float"]["psnr"] - r["psnr"]
        manifest = Bundle.open(r["bundle"]).manifest["quantization"]
        assert manifest["calibration"] == {"images": r["calib_images"], "range": r["range"], "percentile": r["percentile"]}
    best = min(rows, key=lambda r: (r["psnr_cost_db"], r["ssim_cost"]))
    assert summary["best"] == best["label"]
    assert Bundle.open(tmp_path / "sweep" / "best").manifest["quantization"]["calibration"]["images"] == best["calib_images"]
    # a 90th-percentile range clips the largest 10 % of values: it must change the integers
    assert (tmp_path / "sweep/bundles/calib2-p90/params.npz").read_bytes() != \
        (tmp_path / "sweep/bundles/calib2-max/params.npz").read_bytes()


def test_derain_by_units_writes_the_same_files_one_line_each_and_resumes(toy_checkpoint, pairs, tmp_path):
    """derain with --resume (units in this process): each photo as the all-or-nothing path writes
    it, one journal line per photo; a second --resume runs nothing and rewrites nothing."""
    photos = sorted((pairs / "rainy").iterdir())[:3]
    whole = nd.derain(toy_checkpoint, photos, tmp_path / "whole", tile=64)
    units = nd.derain(toy_checkpoint, photos, tmp_path / "units", tile=64, resume=True)
    assert [p.name for p in units.files] == [p.name for p in whole.files]
    for a, b in zip(whole.files, units.files):
        assert a.read_bytes() == b.read_bytes()
    assert sorted(e["unit"] for e in _lines(tmp_path / "units")) == [p.name for p in photos]
    assert all("bytes" not in e["result"] for e in _lines(tmp_path / "units"))  # images are files, not JSON
    before = {p: p.stat().st_mtime_ns for p in units.files}
    seen = []
    nd.derain(toy_checkpoint, photos, tmp_path / "units", tile=64, resume=True, units_progress=seen.append)
    assert seen[-1].resumed == 3 and {p: p.stat().st_mtime_ns for p in units.files} == before


def test_one_large_photo_runs_as_tile_units_blended_as_in_process(toy_checkpoint, pairs, tmp_path):
    """derain of one photo larger than a tile: each tile a unit (here in this process, as on a worker),
    interrupted after two tiles and resumed, gives the in-process photo byte for byte; one journal
    line per tile; the staged tile outputs are gone once the photo is written."""
    photo = sorted((pairs / "rainy").iterdir())[0]
    whole = nd.derain(toy_checkpoint, [photo], tmp_path / "whole", tile=48)

    class Stop(Exception):
        pass

    def stop_after_two(stats) -> None:
        if 2 <= stats.done < stats.total:
            raise Stop

    with pytest.raises(Stop):
        nd.derain(toy_checkpoint, [photo], tmp_path / "units", tile=48, resume=True, units_progress=stop_after_two)
    assert not (tmp_path / "units" / photo.name).exists()  # the photo appears whole or not at all
    seen = []
    units = nd.derain(toy_checkpoint, [photo], tmp_path / "units", tile=48, resume=True, units_progress=seen.append)
    assert seen[-1].resumed == 2 and seen[-1].total > 2
    assert units.files[0].read_bytes() == whole.files[0].read_bytes()
    assert sorted(e["unit"] for e in _lines(tmp_path / "units")) == sorted(
        f"{photo.name}#tile{i}" for i in range(seen[-1].total))
    assert not [p for p in (tmp_path / "units").iterdir() if p.name.startswith(".")]
    seen = []
    nd.derain(toy_checkpoint, [photo], tmp_path / "units", tile=48, resume=True, units_progress=seen.append)
    assert seen[-1].resumed == seen[-1].total  # a finished photo: nothing run again


def test_validate_by_units_gives_the_in_process_verdict(bundle, pairs, tmp_path):
    """Each image compared in its unit, the comparisons combined (through JSON, as they come back
    from a worker): every key of the verdict as the in-process run's, truth scores included."""
    images = sorted((pairs / "rainy").iterdir())[:3]
    truth = sorted((pairs / "clean").iterdir())[:3]
    whole = nd.validate(bundle, executor="emulator", against="split", images=images, truth=truth).data
    units = nd.validate(bundle, executor="emulator", against="split", images=images, truth=truth,
                        out=tmp_path / "o").data
    assert units.pop("scale_out")["units"] == 3
    for key in ("run_s", "validated_utc"):  # times
        whole.pop(key), units.pop(key)
    assert units == whole
    assert whole["truth"]["executor"]["psnr_y_db"] > 0


def test_a_photo_whose_blend_passes_share_statistics_is_one_unit_not_tile_units(toy_checkpoint):
    """Tile units are independent; a 2-pass blend of a model with attention gates is not (its passes share
    the gates' statistics over the whole photo), so such a photo runs as one unit (a worker runs every pass)."""
    from neurodeploy.api import _shares_statistics
    from neurodeploy.checkpoint import resolve

    esdnet = resolve("esdnet-tiny")
    assert _shares_statistics(esdnet, "blend", None) and _shares_statistics(esdnet, "blend", 2)
    assert not _shares_statistics(esdnet, "blend", 1) and not _shares_statistics(esdnet, "cut", None)
    assert not _shares_statistics(Path(toy_checkpoint), "blend", None)  # no global pooling: tiles are independent
