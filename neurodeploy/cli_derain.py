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

from neurodeploy import cli_scale
from neurodeploy.cli_args import size_pair
from neurodeploy.errors import NeurodeployError, UnknownArchitecture

console = Console()


def _print_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=False,
    )


class _LazyBar:
    """A progress bar that appears at the first update, so that an error found before any
    work (bad data, a bad option) stays one line. ``update(done, total, info=None)``."""

    def __init__(self, description: str, info: str = ""):
        self.bar, self.description, self.info, self._task = _progress(), description, info, None

    def update(self, done: int, total: int, info: str | None = None) -> None:
        if self._task is None:
            self.bar.start()
            self._task = self.bar.add_task(self.description, total=total, info=self.info)
        self.bar.update(self._task, completed=done, **({} if info is None else {"info": info}))

    def print(self, line: str) -> None:
        self.bar.console.print(line)

    def __enter__(self) -> "_LazyBar":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()


def _ops(n: float) -> str:
    """Operations in G, or in M below 0.1 G, so that a small non-zero count never shows as 0.0000 G."""
    return f"{n / 1e9:.4f} G" if n == 0 or n >= 1e8 else f"{n / 1e6:.4f} M"


def count_cmd(
    architecture: str = typer.Argument(
        ..., help="Architecture name (esdnet, vlifnet, spikerain, ...), or a checkpoint file or shipped name (esdnet-tiny)."),
    preset: str = typer.Option(None, "--preset", help="Preset of the architecture (default: 'paper' if it has one, else its first)."),
    size: Optional[List[int]] = typer.Option(None, "--size", metavar="H W",
                                             help="Input size in pixels, e.g. --size 256 256 (the default)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (params_exact, params_paper, synops, macs, ...)."),
) -> None:
    """Count parameters (exact and as the papers count them), MACs and synaptic operations.

    Synaptic operations depend on how often neurons fire, so on the weights: a checkpoint
    gives its trained rates; an architecture name counts untrained (random) weights.
    """
    import torch

    from neurodeploy.models import architectures, get_architecture
    from neurodeploy.models.counting import count

    size = size_pair(size, default=(256, 256))
    if architecture in architectures():
        arch = get_architecture(architecture)
        if preset is None:
            preset = "paper" if "paper" in arch.presets else next(iter(arch.presets))
        torch.manual_seed(0)  # an untrained preset's weights decide its spikes: the same numbers on every run
        model, weights = arch.build(arch.config(preset)), "untrained (random init, seed 0)"
    else:
        from neurodeploy.checkpoint import load_model, zoo

        if not Path(architecture).exists() and architecture not in {e.name for e in zoo()}:
            raise UnknownArchitecture(
                f"unknown architecture or checkpoint '{architecture}'; architectures: {', '.join(sorted(architectures()))}; "
                f"shipped checkpoints: {', '.join(e.name for e in zoo())} (or pass a .pt file)")
        if preset is not None:
            raise NeurodeployError(f"--preset applies to an architecture name; '{architecture}' is a checkpoint, "
                                   "which has its own config")
        model, ckpt = load_model(architecture)  # one line if it is neither (names the known ones)
        architecture, preset, weights = ckpt.architecture, str(ckpt.meta.get("preset", "?")), f"trained ({ckpt.name})"
    from neurodeploy.energy import OpCounts, PapersConvention

    from neurodeploy.api import usable_cores

    torch.set_num_threads(usable_cores())
    with _progress() as bar:
        bar.add_task(f"count {architecture}/{preset} at {size[0]}x{size[1]}", total=None, info="running one image")
        counts = count(model, size[0], size[1])
    c = counts.as_dict()
    c.update({"architecture": architecture, "preset": preset, "weights": weights})
    # The papers' energy convention (DERAINERS.md) from the counted operations, in µJ per image.
    c["energy_paper_uj"] = PapersConvention().energy_uj(
        OpCounts(flops_paper=counts.flops_paper, synops_paper=counts.synops_paper, spikes=counts.spikes))
    if as_json:
        _print_json(c)
        return
    table = Table(title=f"{architecture} ({preset}, {weights}) at {size[0]}×{size[1]}, T={c['t_steps']}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("parameters, exact", f"{c['params_exact']:,}")
    table.add_row("parameters, papers' convention (thop)", f"{c['params_paper']:,}")
    table.add_row("FLOPs, papers' convention (thop)", _ops(c["flops_paper"]))
    table.add_row("MACs, all layers and time steps", _ops(c["macs"]))
    table.add_row("synaptic ops (binary spike inputs)", _ops(c["synops"]))
    table.add_row("effective MACs (graded spike inputs)", _ops(c["effective_macs"]))
    table.add_row("spikes", f"{c['spikes']:,}")
    table.add_row("energy, papers' convention", f"{c['energy_paper_uj']:.4g} µJ")
    console.print(table)
    if c["synops"] == 0 and weights.startswith("untrained"):
        # VLIF-Net at init: the stream dies in the first VLIF-T compression, so no spike reaches a conv
        console.print("0 synaptic ops: with untrained weights no spike reaches a conv layer; "
                      "count a trained checkpoint (e.g. `neurodeploy count vlifnet-tiny`) for real firing rates")


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
    with _LazyBar(f"train {architecture}/{preset}") as bar:
        result = train(cfg, out, resume=resume, command=command, log=bar.print,
                       progress=lambda i, total, loss: bar.update(i, total, f"loss {loss:.4f}"))
    console.print(f"wrote {out} ({result.wall_time_s:.0f} s of training)")


def finetune_cmd(
    checkpoint: str = typer.Argument(..., help="Checkpoint file or shipped name (e.g. esdnet-tiny)."),
    qat: bool = typer.Option(False, "--qat", help="Quantization-aware: chip conv weights fake-quantized as PTQ "
                                                   "rounds them (straight-through gradients)."),
    data: List[Path] = typer.Option(..., "--data", metavar="DIR...",
                                    help="Paired folders (rainy/ + clean/), or parents of several, e.g. --data DIR1 DIR2."),
    out: Path = typer.Option(..., "--out", help="Checkpoint file to write (once, when fine-tuning has finished)."),
    iters: int = typer.Option(50, "--iters", help="Batches of fine-tuning."),
    batch_size: int = typer.Option(8, "--batch-size", help="Crops per batch."),
    crop: int = typer.Option(64, "--crop", help="Crop size in pixels (also the size the chip part is planned at)."),
    lr: float = typer.Option(2e-5, "--lr", help="Learning rate (Adam; see --schedule)."),
    seed: int = typer.Option(0, "--seed", help="Seed of crops and flips."),
    threads: int = typer.Option(1, "--threads", help="CPU threads for torch."),
    distill: float = typer.Option(1.0, "--distill", help="Weight of the base model's own output as the target "
                                                          "(1: distillation only, 0: the clean images only)."),
    holdout: float = typer.Option(0.2, "--holdout", help="Fraction of the pairs held out; the state with the best "
                                                          "held-out PSNR is kept, the unchanged model included (0: the last)."),
    eval_every: int = typer.Option(10, "--eval-every", help="Batches between held-out scores."),
    schedule: str = typer.Option("cosine", "--schedule", help="Learning-rate schedule: cosine (to 0) or constant."),
) -> None:
    """Fine-tune a checkpoint briefly; with --qat through the integer model's weight rounding (QAT)."""
    from neurodeploy.qat import FinetuneConfig, finetune

    if Path(out).resolve() == Path(checkpoint).resolve():
        raise NeurodeployError("--out is the checkpoint being fine-tuned; write a new file")
    cfg = FinetuneConfig(data=[str(d) for d in data], qat=qat, iters=iters, batch_size=batch_size, crop=crop, lr=lr,
                         seed=seed, threads=threads, distill=distill, holdout=holdout, eval_every=eval_every,
                         schedule=schedule)
    command = "neurodeploy " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with _LazyBar(f"finetune{' (QAT)' if qat else ''}") as bar:
        meta = finetune(checkpoint, cfg, out, command=command,
                        progress=lambda i, total, loss: bar.update(i, total, f"loss {loss:.4f}"))
    ft = meta["finetune"]
    console.print(f"wrote {out} ({ft['wall_time_s']:.0f} s; loss {ft['loss_first']:.4f} -> mean of last 10 "
                  f"{ft['loss_mean_last10']:.4f}; kept the state after {ft['best_iter']} batches{'; QAT on ' + str(meta['qat']['layers']) + ' chip convs' if qat else ''})")


_TILE_HELP = ("Tile side in pixels (a halo of context is added around each): bounds memory on large images, "
              "whatever the photo's size (benchmarks/tiling.md: esdnet-tiny in torch up to 24-MP photos); more with "
              "--executor emulator. 0 = whole image at once (exact, but memory grows with the photo).")
_TILING_HELP = ("How tiles are stitched (benchmarks/tiling.md measures each against --tile 0). blend (default): "
                "windows overlap by a 32-px halo on each side and neighbours are mixed by a raised-cosine ramp, so "
                "there are no seams; the attention gates' statistics are shared between tiles over --passes runs. "
                "cut: the old hard seams with a 16-px halo, each tile its own statistics. exact: every global "
                "pooling over the whole image, so the tiles equal the whole image; the tiles run once per pass "
                "until the pooled statistics settle (6 to 9 passes for the tiny derainers), memory bounded by one "
                "window (a 64-px halo) plus the photo. A checkpoint only (not a bundle's executor).")
_PASSES_HELP = ("blend: tiled runs that share the attention gates' statistics (their poolings over the whole image) "
                "between tiles; a downscaled whole-image run seeds them and each pass corrects them further. "
                "Default 2 (about 2.5 times the time of 1); 1 = each tile pools over itself, the fastest and the "
                "furthest from --tile 0 (benchmarks/tiling.md measures 1, 2 and 3). Ignored by cut and exact.")
PASSES = typer.Option(None, "--passes", help=_PASSES_HELP, show_default=False)


def derain_cmd(
    checkpoint: str = typer.Argument(..., help="Checkpoint file or shipped name (e.g. esdnet-tiny), or a bundle folder."),
    images: List[Path] = typer.Argument(..., help="Rainy images (PNG/JPEG/TIFF/BMP/WebP; 8 or 16 bits)."),
    out: Path = typer.Option(..., "--out", help="Folder for the derained images (same file names); written all or nothing."),
    tile: int = typer.Option(None, "--tile", help=_TILE_HELP, show_default=False),
    tiling: str = typer.Option(None, "--tiling", help=_TILING_HELP, show_default=False),
    passes: Optional[int] = PASSES,
    executor: Optional[str] = typer.Option(None, "--executor",
                                           help="For a bundle: the executor that derains (emulator: the integer model "
                                                "of a --quantize int bundle, the default for one; else torch)."),
    workers: Optional[int] = cli_scale.WORKERS,
    cluster: Optional[str] = cli_scale.CLUSTER,
    resume: bool = typer.Option(False, "--resume", help="Skip the photos already in --out's units.jsonl (an "
                                                        "interrupted --workers/--cluster run)."),
    unit_memory: Optional[float] = cli_scale.UNIT_MEMORY,
) -> None:
    """Derain images of any size and write them to --out (same names, bit depth and mode).

    Every input is read in full before anything is written; outputs appear in --out only
    when all are done (other files already in --out are kept, same names are replaced).
    With --workers/--cluster/--resume, one unit per photo: each photo appears in --out (whole,
    by one rename) as it finishes, with its line in --out/units.jsonl.
    """
    from neurodeploy.api import derain, pass_count, tile_side, tiling_mode

    tile_side(tile), tiling_mode(tiling), pass_count(passes)  # checked before the bar starts: an error stays one line
    plan = cli_scale.plan(workers, cluster, out if (workers or cluster or resume) else None, resume, unit_memory)
    if plan.on_ray or resume:
        with cli_scale.units_bar("derain", out) as units:
            done = derain(checkpoint, images, out, executor=executor, tile=tile, tiling=tiling, passes=passes, workers=workers,
                          cluster=cluster, resume=resume, unit_memory_gb=unit_memory, units_progress=units.update,
                          note=lambda line: units.bar.console.print(f"note: {line}"))
        units.table(done.executor)
        for path in done.files:
            console.print(f"wrote {path}")
        return
    bar = _LazyBar("derain", f"{len(images)} image(s), tiles")  # starts after the inputs were checked
    with bar:
        done = derain(checkpoint, images, out, executor=executor, tile=tile, tiling=tiling, passes=passes, progress=bar.update,
                      note=lambda line: bar.print(f"note: {line}"))
    for path in done.files:
        console.print(f"wrote {path}")


def evaluate_cmd(
    checkpoint: str = typer.Argument(..., help="Checkpoint file or shipped name (e.g. esdnet-tiny), or a bundle folder."),
    data: Path = typer.Option(..., "--data", help="Paired folder with rainy/ and clean/."),
    tile: int = typer.Option(None, "--tile", help=_TILE_HELP, show_default=False),
    tiling: str = typer.Option(None, "--tiling", help=_TILING_HELP, show_default=False),
    passes: Optional[int] = PASSES,
    executor: Optional[str] = typer.Option(None, "--executor",
                                           help="For a bundle: the executor to run (emulator: the integer model of a "
                                                "--quantize int bundle; default emulator when quantized, else torch)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (means: psnr, ssim, input_psnr, input_ssim)."),
    workers: Optional[int] = cli_scale.WORKERS,
    cluster: Optional[str] = cli_scale.CLUSTER,
    out: Optional[Path] = cli_scale.OUT,
    resume: bool = cli_scale.RESUME,
    unit_memory: Optional[float] = cli_scale.UNIT_MEMORY,
) -> None:
    """PSNR/SSIM on the Y channel (papers' convention) of the output and of the rainy input; whole images."""
    from neurodeploy.api import evaluate, pass_count, tiling_mode

    tiling_mode(tiling), pass_count(passes)  # before the bar: an error stays one line
    is_bundle = Path(checkpoint).is_dir()
    scale = dict(workers=workers, cluster=cluster, out=out, resume=resume, unit_memory_gb=unit_memory)
    if cli_scale.plan(workers, cluster, out, resume, unit_memory).wanted:
        with cli_scale.units_bar(f"evaluate {checkpoint}", out) as units:
            result = evaluate(checkpoint, data, executor=executor, tile=tile, tiling=tiling, passes=passes, **scale,
                              units_progress=units.update).data
        units.table(result.get("executor"))
    else:
        with _LazyBar(f"evaluate ({executor or 'bundle'})" if is_bundle else f"evaluate {checkpoint}",
                      "" if is_bundle else "tiles") as bar:
            result = evaluate(checkpoint, data, executor=executor, tile=tile, tiling=tiling, passes=passes,
                              progress=bar.update).data
    title = (f"{checkpoint} ({result.get('executor', executor)}) on {data} (Y channel, BT.601)" if is_bundle
             else f"{Path(result['checkpoint']).stem} on {data} (Y channel, BT.601)")
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
    app.command("finetune")(finetune_cmd)
    app.command("derain")(derain_cmd)
    app.command("evaluate")(evaluate_cmd)
