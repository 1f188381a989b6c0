"""The one write path of a benchmark's results (issue 32): every ``.md`` table is rendered from the
script's recorded output file, never typed.

A script records its rows with :func:`started` / :func:`finished` (command, commit, UTC dates and
the load average before and after, so a reader sees what the machine was doing), writes the output
file, and renders its ``.md`` from that file alone with a ``render(record) -> str`` function. The
same script's ``--check`` re-renders the ``.md`` from the recorded file and exits 1 on any
difference: ``tests/test_benchmark_tables.py`` runs each script so, as a subprocess (tests import
no benchmark script).
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"


def _commit() -> str:
    """The worktree's commit, ``+dirty`` when tracked files differ from it (the figures then come from
    that commit plus uncommitted edits, which the record should not hide)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _load() -> list[float]:
    """The 1-, 5- and 15-minute load averages (runnable processes; this machine has 2 cores)."""
    return [round(x, 2) for x in os.getloadavg()]


def started(argv: list[str] | None = None) -> dict:
    """The record's ``meta`` at the start of a run: the command as typed, commit, date, load before."""
    argv = sys.argv if argv is None else argv
    script = Path(argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    return {"command": " ".join([".venv/bin/python", str(script)] + [shlex.quote(a) for a in argv[1:]]),
            "commit": _commit(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "started": _now(), "load_before": _load()}


def finished(meta: dict) -> dict:
    """``meta`` with the end date and the load average after the run."""
    return {**meta, "finished": _now(), "load_after": _load()}


def provenance(meta: dict | None, record: dict | None = None) -> str:
    """The sentence every rendered ``.md`` carries under its title. A record written before this
    module existed has no ``meta``: its command and python are said, and that the rest was not recorded."""
    if meta is None:
        command = f"`{record['command']}`" if "command" in record else "a command that was not recorded"
        return (f"Written by {command} (python {record.get('python', 'not recorded')}); commit, date and load "
                "average were not recorded (a run before issue 32's write path).")
    return (f"Written by `{meta['command']}` at commit {meta['commit']} (python {meta['python']}, "
            f"{meta['cpus']} CPUs shared with other jobs), {meta['started']} to {meta['finished']}; "
            f"load average (1/5/15 min) {_fmt_load(meta['load_before'])} before, {_fmt_load(meta['load_after'])} after.")


def _fmt_load(load: list[float]) -> str:
    return " / ".join(f"{x:.1f}" for x in load)


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    """A Markdown table; ``align`` is one character per column (``l`` or ``r``)."""
    align = align or "l" * len(header)
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|",
            *("| " + " | ".join(r) + " |" for r in rows)]


def write_json(path: Path, record: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)  # a reader never sees half a record


def write_md(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def check(md: Path, rendered: str) -> int:
    """0 when ``md`` is exactly ``rendered``, else 1 with a unified diff on stderr."""
    have = md.read_text() if md.exists() else ""
    if have == rendered:
        return 0
    sys.stderr.writelines(difflib.unified_diff(have.splitlines(True), rendered.splitlines(True),
                                               f"{md.name} (on disk)", f"{md.name} (rendered from its record)"))
    return 1


README = ROOT / "README.md"


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- written by benchmarks/{name}: begin -->", f"<!-- written by benchmarks/{name}: end -->"


def with_block(text: str, name: str, block: str) -> str:
    """``text`` (the README) with the block between ``name``'s markers replaced by ``block``."""
    begin, end = _markers(name)
    if begin not in text or end not in text:
        raise SystemExit(f"README.md has no {begin} ... {end} block to write")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + begin + "\n" + block.rstrip("\n") + "\n" + end + tail


def check_or_write(md: Path, out: Path, render: Callable[[dict], str], write: bool,
                   readme: dict[str, Callable[[dict], str]] | None = None,
                   read: Callable[[Path], object] | None = None) -> int:
    """``--check``: compare ``md`` (and the README blocks ``readme = {name: render}``, the figures the
    README quotes) with their rendering of the recorded ``out``; ``write``: write them from it.
    ``read``: how ``out`` becomes the record ``render`` takes (default: one JSON document)."""
    record = json.loads(out.read_text()) if read is None else read(out)
    text = README.read_text() if readme else ""
    rendered = text
    for name, fn in (readme or {}).items():
        rendered = with_block(rendered, name, fn(record))
    if write:
        write_md(md, render(record))
        if readme:
            write_md(README, rendered)
        return 0
    return check(md, render(record)) | (check(README, rendered) if readme else 0)


def read_runs(path: Path) -> list[dict]:
    """The runs of an append-only ``.jsonl`` record: ``[{"meta": ..., "rows": [...]}, ...]``. Each
    ``{"meta": ...}`` line starts a run; lines before the first one are a run written before the
    record had meta lines (``meta`` None)."""
    runs: list[dict] = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        if "meta" in obj and len(obj) == 1:
            runs.append({"meta": obj["meta"], "rows": []})
        else:
            if not runs:
                runs.append({"meta": None, "rows": []})
            runs[-1]["rows"].append(obj)
    return runs


def append_run(path: Path, meta: dict, rows: list[dict]) -> None:
    """Append one run (its meta line, then its rows) to an append-only ``.jsonl`` record."""
    old = path.read_text() if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(old + "".join(json.dumps(x) + "\n" for x in [{"meta": meta}, *rows]))
    tmp.replace(path)
