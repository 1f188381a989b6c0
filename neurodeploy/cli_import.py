"""CLI command ``neurodeploy import``: the authors' ESDNet / SpikeRain checkpoints to neurodeploy's.

``register(app)`` is called by :mod:`neurodeploy.cli`.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console()


def import_cmd(
    architecture: str = typer.Argument(..., help="Architecture of the file: esdnet or spikerain."),
    source: Path = typer.Argument(..., help="The authors' checkpoint (.pth): model_best.pth, model_last.pth, "
                                            "model_epoch_N.pth or published weights such as Rain200H.pth."),
    out: Path = typer.Option(..., "--out", help="neurodeploy checkpoint to write (.pt); a model card NAME.md goes beside it."),
    preset: Optional[str] = typer.Option(
        None, "--preset", help="Size to build (esdnet: paper; spikerain: S, M = paper, L); default: inferred from the tensor shapes."
    ),
    card: bool = typer.Option(True, "--card/--no-card", help="Write the model card NAME.md beside --out."),
    as_json: bool = typer.Option(False, "--json", help="Print the import record as JSON."),
) -> None:
    """Import a checkpoint trained with the authors' code (strict: every tensor must fit)."""
    from neurodeploy.api import import_checkpoint

    command = "neurodeploy " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = import_checkpoint(architecture, source, out, preset=preset, command=command, card=card).data
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    console.print(
        f"wrote {result['out']} ({result['architecture']}, preset {result['preset']} {result['preset_choice']}; "
        f"{result['tensors']} tensors from {source.name}, {result['source_form']}, "
        f"sha256 {result['source_sha256'][:12]}…)" + (f"; card {result['card']}" if result["card"] else ""),
        highlight=False, soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add ``import`` to the main CLI app."""
    app.command("import")(import_cmd)
