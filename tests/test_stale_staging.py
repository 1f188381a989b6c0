"""An export killed with ``kill -9`` leaves its staged ``.NAME.tmp-*`` folder; the next export to
that folder removes it, and leaves alone one that a live export is writing (issue 26)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from neurodeploy.bundle import export_bundle
from neurodeploy.writable import hold, sweep_staged


def _staged(folder, name):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}.tmp-"))


def test_the_next_export_removes_what_a_killed_export_left(tmp_path, toy_checkpoint):
    out = tmp_path / "bundle"
    proc = subprocess.Popen([sys.executable, "-m", "neurodeploy", "export", str(toy_checkpoint), "--out", str(out),
                             "--size", "12", "10"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _staged(tmp_path, "bundle") and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)  # while it writes into its staged folder
    finally:
        proc.wait()
    left = _staged(tmp_path, "bundle")
    assert left and not out.exists(), "the kill came too late: the export had finished"
    export_bundle(toy_checkpoint, out, size=(12, 10))
    assert _staged(tmp_path, "bundle") == []
    assert (out / "manifest.json").is_file()


def test_a_staged_folder_a_live_export_holds_is_left_alone(tmp_path):
    out = tmp_path / "bundle"
    live, dead = tmp_path / ".bundle.tmp-live", tmp_path / ".bundle.tmp-dead"
    for p in (live, dead):
        p.mkdir()
        (p / "graph.nir").write_bytes(b"half")
    (tmp_path / ".bundle.old-123").mkdir()  # the previous bundle while `out` is missing: kept
    lock = hold(live)
    try:
        assert sweep_staged(out) == [dead]
    finally:
        os.close(lock)
    assert live.is_dir() and (tmp_path / ".bundle.old-123").is_dir()
    out.mkdir()  # once the bundle is back, the swapped-out copy is garbage
    assert sorted(p.name for p in sweep_staged(out)) == [".bundle.old-123", ".bundle.tmp-live"]
