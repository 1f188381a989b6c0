"""What export and report show a person (issue 26): a progress bar for export's long steps on a
terminal (and nothing where stderr is a pipe), and report's summary by default."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from neurodeploy.bundle import export_bundle

CALIB = Path(__file__).resolve().parents[1] / "examples" / "images" / "calib"


def _stderr_on_a_terminal(args) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "neurodeploy", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=slave, env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=300), re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))


def test_export_shows_its_steps_on_a_terminal(tmp_path, toy_checkpoint):
    code, err = _stderr_on_a_terminal(["export", toy_checkpoint, "--out", tmp_path / "b", "--size", "12", "10",
                                       "--quantize", "int", "--calib", CALIB])
    assert code == 0, err
    for step in ("exporting the graph", "calibrating on 1 crop(s)", "writing the host islands as ONNX",
                 "measuring the integers against float"):
        assert step in err, err
    assert re.search(r"measuring the integers against float .*0/1", err), err


def test_export_shows_no_bar_when_stderr_is_not_a_terminal(run_cli, tmp_path, toy_checkpoint):
    code, _, err = run_cli("export", toy_checkpoint, "--out", tmp_path / "b", "--size", "12", "10")
    assert code == 0
    assert err == ""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from tests.conftest import TOY_CONFIG, make_toy
    from neurodeploy.checkpoint import save_checkpoint

    folder = tmp_path_factory.mktemp("report")
    ckpt = save_checkpoint(folder / "toy.pt", make_toy(), "toy-residual", TOY_CONFIG, {"preset": "test"})
    return export_bundle(ckpt, folder / "bundle", size=(12, 10)) and folder / "bundle"


def test_report_prints_the_summary_and_where_report_md_is_by_default(run_cli, bundle):
    code, out, err = run_cli("report", bundle, "--executor", "split", "--no-html")
    assert code == 0, err
    assert "quantity" in out and "spikes per image" in out and "# Spike report" not in out
    assert f"wrote {bundle / 'report.json'}, {bundle / 'report.md'} (report.md on the terminal: --markdown)" in out


def test_report_markdown_prints_report_md_unwrapped(run_cli, bundle):
    code, out, err = run_cli("report", bundle, "--executor", "split", "--no-html", "--markdown")
    assert code == 0, err
    md = (bundle / "report.md").read_text()
    assert out.startswith(md)  # byte for byte: its tables are not folded at 80 columns
    header = next(line for line in md.splitlines() if line.startswith("| layer |"))
    assert len(header) > 80 and header in out.splitlines()
