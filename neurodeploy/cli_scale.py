"""The scale-out options of evaluate, validate and derain, their progress bar and their final table.

Without ``--workers``/``--cluster``/``--out``/``--resume`` (and ``RAY_ADDRESS`` unset) a command
takes its in-process path unchanged and nothing here runs.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import typer
from rich.console import Console
from rich.table import Table

err_console = Console(stderr=True)

WORKERS = typer.Option(None, "--workers", metavar="N",
                       help="Run one unit per image on a local Ray with N workers (one CPU each); the "
                            "results are the in-process ones.")
CLUSTER = typer.Option(None, "--cluster", metavar="ADDRESS",
                       help="Run the units on the running Ray cluster at ADDRESS (`ray start --head` prints it; "
                            "RAY_ADDRESS does the same). Every node needs neurodeploy installed, not the files.")
OUT = typer.Option(None, "--out", metavar="DIR",
                   help="Folder for units.jsonl (one JSON line per finished image, written as it finishes) and "
                        "summary.json.")
RESUME = typer.Option(False, "--resume", help="Skip the units already in the --out folder's units.jsonl (an "
                                              "interrupted run); the summary is the uninterrupted run's.")
UNIT_MEMORY = typer.Option(None, "--unit-memory", metavar="GB",
                           help="Memory each unit declares to Ray, in GB (default: 3 for lava-*, 1 otherwise), so "
                                "that a node never runs more units than its memory holds.")


def plan(workers: int | None, cluster: str | None, out: Path | None, resume: bool, unit_memory: float | None):
    """The options as a :class:`neurodeploy.scaleout.Plan` (one line on a bad combination)."""
    from neurodeploy.scaleout import Plan

    return Plan.from_options(workers, cluster, out, resume, unit_memory)


class UnitsBar:
    """A rich bar on stderr (a terminal only): units done / in all, rate, ETA, failed and retried
    units, nodes used; fed by ``update(stats)``. Keeps the last stats for :meth:`table`."""

    def __init__(self, description: str):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err_console,
                            transient=True, disable=not err_console.is_terminal)
        self.description, self.task, self.last = description, None, None

    def update(self, stats) -> None:
        self.last = stats
        rate, eta = stats.rate_per_min, stats.eta_s
        info = (f"{rate:.1f}/min, ETA {_clock(eta)}" if rate is not None else "starting") + (
            f", failed {stats.failed}, retried {stats.retried}, {len(stats.nodes)} node(s)")
        if stats.resumed:
            info += f", {stats.resumed} resumed"
        if self.task is None:
            self.task = self.bar.add_task(self.description, total=stats.total, info=info)
        self.bar.update(self.task, completed=stats.done, info=info)

    def table(self, executor: str | None) -> None:
        """The final table on stderr (stdout stays the command's result, e.g. --json)."""
        s = self.last
        if s is None:
            return
        table = Table(title=f"{self.description}: units")
        for col in ("executor", "units", "resumed", "retried", "failed", "nodes", "wall s", "s/unit", "Ray start s"):
            table.add_column(col, justify="left" if col == "executor" else "right")
        d = s.to_dict()
        table.add_row(executor or "torch", str(d["units"]), str(d["resumed"]), str(d["retried"]), str(d["failed"]),
                      str(d["nodes"]), f"{d['wall_s']:.1f}",
                      "-" if d["unit_s_mean"] is None else f"{d['unit_s_mean']:.2f}",
                      "-" if d["ray_start_s"] is None else f"{d['ray_start_s']:.1f}")
        err_console.print(table)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@contextmanager
def units_bar(description: str, out: Path | None) -> Iterator[UnitsBar]:
    """The bar while units run; an interrupt meanwhile says how many units ``out`` keeps."""
    from neurodeploy import cli_signals

    bar = UnitsBar(description)

    def kept() -> str | None:
        if out is None or bar.last is None:
            return None
        return (f"{bar.last.done} of {bar.last.total} units kept in {Path(out) / 'units.jsonl'}; "
                "rerun the command with --resume to finish")

    with cli_signals.keeping(kept), bar.bar:
        yield bar
