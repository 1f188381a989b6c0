"""CLI commands for the derainers themselves: count, train, derain, evaluate.

``register(app)`` is called by :mod:`neurodeploy.cli`.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from neurodeploy.cli_args import size_pair
from neurodeploy.errors import DataError, NeurodeployError

console = Console()


def _print_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=False,
    )


def count_cmd(
    architecture: str = typer.Argument(..., help="Architecture name (esdnet, vlifnet, spikerain, ...)."),
    preset: str = typer.Option("paper", "--preset", help="Preset of the architecture."),
    size: Optional[List[int]] = typer.Option(None, "--size", metavar="H W",
                                             help="Input size in pixels, e.g. --size 256 256 (the default)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (params_exact, params_paper, synops, macs, ...)."),
) -> None:
    """Count parameters (exact and as the papers count them), MACs and synaptic operations."""
    from neurodeploy.models import get_architecture
    from neurodeploy.models.counting import count

    import torch

    size = size_pair(size, default=(256, 256))
    arch = get_architecture(architecture)
    torch.manual_seed(0)  # an untrained preset's weights decide its spikes: the same numbers on every run
    model = arch.build(arch.config(preset))
    from neurodeploy.energy import OpCounts, PapersConvention

    counts = count(model, size[0], size[1])
    c = counts.as_dict()
    c.update({"architecture": architecture, "preset": preset})
    # The papers' energy convention (DERAINERS.md) from the counted operations, in µJ per image.
    c["energy_paper_uj"] = PapersConvention().energy_uj(
        OpCounts(flops_paper=counts.flops_paper, synops_paper=counts.synops_paper, spikes=counts.spikes))
    if as_json:
        _print_json(c)
        return
    table = Table(title=f"{architecture} ({preset}) at {size[0]}×{size[1]}, T={c['t_steps']}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("parameters, exact", f"{c['params_exact']:,}")
    table.add_row("parameters, papers' convention (thop)", f"{c['params_paper']:,}")
    table.add_row("FLOPs, papers' convention (thop)", f"{c['flops_paper'] / 1e9:.4f} G")
    table.add_row("MACs, all layers and time steps", f"{c['macs'] / 1e9:.4f} G")
    table.add_row("synaptic ops (binary spike inputs, random image)", f"{c['synops'] / 1e9:.4f} G")
    table.add_row("effective MACs (graded spike inputs, random image)", f"{c['effective_macs'] / 1e9:.4f} G")
    table.add_row("spikes (random image)", f"{c['spikes']:,}")
    table.add_row("energy, papers' convention", f"{c['energy_paper_uj']:.4g} µJ")
    console.print(table)


def train_cmd(
    architecture: str = typer.Argument(..., help="Architecture name (esdnet, vlifnet, spikerain)."),
    preset: str = typer.Option("tiny", "--preset", help="Preset of the architecture."),
    data: List[Path] = typer.Option(..., "--data", metavar="DIR...",
                                    help="Paired folders (rainy/ + clean/), or parents of several, e.g. --data DIR1 DIR2."),
    synthetic_rain: bool = typer.Option(False, "--synthetic-rain", help="Ignore rainy/ and synthesise rain on the clean images."),
    synthetic_fraction: float = typer.Option(
        0.0, "--synthetic-fraction", help="Replace this fraction of real crops by synthetic rain on their clean side (0..1)."
    ),
    colour_cast: float = typer.Option(
        0.0, "--colour-cast", help="Give this fraction of crops a random per-channel gain and offset on the rainy side (0..1)."
    ),
    epochs: int = typer.Option(10, "--epochs", help="Epochs (each --iters-per-epoch batches)."),
    out: Path = typer.Option(..., "--out", help="Checkpoint file to write after every epoch."),
    resume: bool = typer.Option(False, "--resume", help="Continue from --out and its .state file."),
    iters_per_epoch: int = typer.Option(100, "--iters-per-epoch", help="Batches per epoch."),
    batch_size: int = typer.Option(12, "--batch-size", help="Crops per batch (papers: 12)."),
    crop: int = typer.Option(64, "--crop", help="Crop size in pixels (papers: 64)."),
    lr: float = typer.Option(1e-3, "--lr", help="Initial learning rate (cosine-annealed to 1e-7)."),
    l1_weight: float = typer.Option(0.0, "--l1-weight", help="Add this × L1 to the 1-SSIM loss (papers: 0)."),
    psnr_weight: float = typer.Option(
        0.0, "--psnr-weight", help="Add this × mean log10(MSE) per crop (= -PSNR/10) to the loss (papers: 0)."
    ),
    identity_start: bool = typer.Option(
        False, "--identity-start", help="Zero the output conv so the untrained network returns its input (papers: no)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of weights, crops and rain."),
    threads: int = typer.Option(1, "--threads", help="CPU threads for torch."),
) -> None:
    """Train a derainer with the papers' loss (1-SSIM) and schedule (Adam, cosine); seeded, resumable."""
    from neurodeploy.models.train import TrainConfig, train

    if epochs < 1 or iters_per_epoch < 1 or batch_size < 1 or crop < 8:
        raise NeurodeployError("--epochs, --iters-per-epoch and --batch-size must be >= 1 and --crop >= 8")
    cfg = TrainConfig(
        architecture=architecture, preset=preset, data=[str(d) for d in data], epochs=epochs,
        synthetic_rain=synthetic_rain, synthetic_fraction=synthetic_fraction, colour_cast=colour_cast, iters_per_epoch=iters_per_epoch, batch_size=batch_size, crop=crop,
        lr=lr, l1_weight=l1_weight, psnr_weight=psnr_weight, identity_start=identity_start, seed=seed, threads=threads,
    )
    command = "neurodeploy " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    # the bar starts at the first iteration, so that bad data or options give one error line
    bar, tasks = _progress(), []

    def on_iter(i: int, total: int, loss: float) -> None:
        if not tasks:
            bar.start()
            tasks.append(bar.add_task(f"train {architecture}/{preset}", total=total, info=""))
        bar.update(tasks[0], completed=i, info=f"loss {loss:.4f}")

    try:
        result = train(cfg, out, resume=resume, command=command, progress=on_iter, log=bar.console.print)
    finally:
        bar.stop()
    console.print(f"wrote {out} ({result.wall_time_s:.0f} s of training)")


def derain_cmd(
    checkpoint: str = typer.Argument(..., help="Checkpoint file or shipped name (e.g. esdnet-tiny)."),
    images: List[Path] = typer.Argument(..., help="Rainy images (PNG/JPEG)."),
    out: Path = typer.Option(..., "--out", help="Folder for the derained images (same file names)."),
) -> None:
    """Derain whole images of any size and write them to --out."""
    import torch

    from neurodeploy.checkpoint import load_model
    from neurodeploy.models.data import load_image, save_image
    from neurodeploy.models.evaluate import derain

    model, _ = load_model(checkpoint)
    names = [p.name for p in images]
    if len(set(names)) != len(names):
        raise DataError("two input images share a file name; they would overwrite each other in --out")
    torch.set_num_threads(1)
    for path in images:
        written = save_image(derain(model, load_image(path)), out / path.name)
        console.print(f"wrote {written}")


def evaluate_cmd(
    checkpoint: str = typer.Argument(..., help="Checkpoint file or shipped name (e.g. esdnet-tiny), or a bundle folder."),
    data: Path = typer.Option(..., "--data", help="Paired folder with rainy/ and clean/."),
    executor: Optional[str] = typer.Option(None, "--executor",
                                           help="For a bundle: the executor to run (emulator: the integer model of a "
                                                "--quantize int bundle; default emulator when quantized, else torch)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (means: psnr, ssim, input_psnr, input_ssim)."),
) -> None:
    """PSNR/SSIM on the Y channel (papers' convention) of the output and of the rainy input; whole images."""
    import torch

    torch.set_num_threads(1)
    if Path(checkpoint).is_dir():
        import json as _json

        from neurodeploy.quantized import evaluate_bundle

        manifest = Path(checkpoint) / "manifest.json"
        quantized = manifest.is_file() and _json.loads(manifest.read_text()).get("quantization", {}).get("status") == "int"
        executor = executor or ("emulator" if quantized else "torch")
        bar, tasks = _progress(), []

        def on_image(i: int, total: int) -> None:
            if not tasks:
                bar.start()
                tasks.append(bar.add_task(f"evaluate ({executor})", total=total, info=""))
            bar.update(tasks[0], completed=i)

        try:
            from neurodeploy.bundle import Bundle

            result = evaluate_bundle(Bundle.open(checkpoint), executor, data, progress=on_image)
        finally:
            bar.stop()
        title = f"{checkpoint} ({executor}) on {data} (Y channel, BT.601)"
    else:
        if executor is not None:
            raise NeurodeployError("--executor needs a bundle folder; export one with `neurodeploy export`")
        from neurodeploy.checkpoint import load_model
        from neurodeploy.models.evaluate import evaluate

        model, ckpt = load_model(checkpoint)
        result = evaluate(model, data)
        result["checkpoint"] = str(ckpt.path)
        title = f"{ckpt.name} on {data} (Y channel, BT.601)"
    if as_json:
        _print_json(result)
        return
    table = Table(title=title)
    for col in ("image", "PSNR", "SSIM", "rainy PSNR", "rainy SSIM"):
        table.add_column(col, justify="right" if col != "image" else "left")
    for r in result["images"]:
        table.add_row(r["name"], f"{r['psnr']:.2f}", f"{r['ssim']:.4f}", f"{r['input_psnr']:.2f}", f"{r['input_ssim']:.4f}")
    table.add_row("mean", f"{result['psnr']:.2f}", f"{result['ssim']:.4f}", f"{result['input_psnr']:.2f}",
                  f"{result['input_ssim']:.4f}", style="bold")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the derainer commands to the main CLI app."""
    app.command("count")(count_cmd)
    app.command("train")(train_cmd)
    app.command("derain")(derain_cmd)
    app.command("evaluate")(evaluate_cmd)
