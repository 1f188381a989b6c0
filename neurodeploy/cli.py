"""The ``neurodeploy`` command line: git-style subcommands, ``--help`` on each.

Exit codes: 0 success; 1 a validation that ran and failed; 2 bad input or usage
(one line on stderr saying what is wrong and what to do); 3 something this machine lacks (a
Loihi chip, Lava); 130 Ctrl-C, 143 SIGTERM.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from neurodeploy import __version__, cli_scale
from neurodeploy.cli_args import list_option_caps, size_pair, spread_values
from neurodeploy.errors import LavaMissing, NeurodeployError
from neurodeploy.targets import EXECUTORS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command
    help="Deploy spiking derainers from PyTorch to Intel Loihi (through NIR and the Lava simulator).",
)
console = Console()
err_console = Console(stderr=True)
EXECUTOR_HELP = ("Executor to run: " + ", ".join(EXECUTORS) + ". Default: lava-float where the bundle's chip part "
                 "is lowered to Lava, else split (printed).")
SYSTEM_HELP = "Loihi 2 system: oheo-gulch (1 chip), kapoho-point (8), hala-point (1,152)."
# the names of neurodeploy.ir.nirread.WRITER_RULES (a test checks they agree; not imported: the CLI starts lazily)
RULE_HELP = ("A .nir file: switch one of the --writer's default neuron options off (or on), NAME=off|on, "
             "repeatable: multi-spike (sinabs, rockpool: several spikes per step, sent as one graded spike "
             "carrying the count), subtract-reset (sinabs: a spike subtracts the threshold; off = --reset zero), "
             "min-v-mem (sinabs: IF v clamped at -v_threshold, as its from_nir does), norm-input (sinabs: a LIF's input "
             "scaled by 1 - exp(-1/tau), its module's default; off: unscaled, as its from_nir reads it), lif-step (rockpool: a LIF "
             "steps as LIFNeuronTorch, v = a v + x). One flag takes several, e.g. --rule multi-spike=off min-v-mem=off.")
IMAGE_HELP = "Input images (PNG/JPEG), e.g. --image a.png b.png; default: a shipped rainy photo."


def _print_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def _print_version(value: bool) -> None:
    # an eager callback runs while the options are parsed, before click asks for a command
    if value:
        typer.echo(f"neurodeploy {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    pass


@app.command("models")
def models_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the shipped checkpoints (usable by name wherever a checkpoint path is accepted)."""
    from neurodeploy.checkpoint import build_model, load_checkpoint, zoo

    rows = []
    for entry in zoo():
        ckpt = load_checkpoint(entry.path)
        model = build_model(ckpt)
        rows.append(
            {
                "name": entry.name,
                "architecture": ckpt.architecture,
                "preset": ckpt.meta.get("preset", ""),
                "params": sum(p.numel() for p in model.parameters()),
                "t_steps": ckpt.config.get("t_steps"),
                "size_bytes": entry.path.stat().st_size,
                "path": str(entry.path),
                "card": str(entry.card) if entry.card else None,
            }
        )
    if as_json:
        _print_json(rows)
        return
    table = Table(title="shipped checkpoints")
    for col in ("name", "architecture", "preset", "params", "T", "card"):
        # names keep their full width (they are typed back as arguments); the long card path
        # folds onto more lines instead of losing its end to "…"
        width = max([len(col)] + [len(str(r[col if col != "T" else "t_steps"] or "")) for r in rows]) if col != "card" else None
        table.add_column(col, overflow="fold", min_width=width)
    for r in rows:
        table.add_row(r["name"], r["architecture"], r["preset"], f"{r['params']:,}", str(r["t_steps"]), r["card"] or "-")
    console.print(table)


@app.command("export")
def export_cmd(
    checkpoint: str = typer.Argument(..., help="Checkpoint .pt file, or the name of a shipped checkpoint."),
    target: str = typer.Option("loihi", "--target", help="Deployment target (only 'loihi' today)."),
    out: Path = typer.Option(..., "--out", help="Bundle folder to write."),
    size: Optional[List[int]] = typer.Option(None, "--size", metavar="H W",
                                             help="Input image size in pixels, e.g. --size 64 64 (default: the model's)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing bundle folder."),
    quantize: str = typer.Option("none", "--quantize", help="none (float parameters) or int (Loihi 2 integers, "
                                 "post-training quantization; writes params.npz; needs --calib, optional for a .nir file)."),
    calib: Optional[Path] = typer.Option(None, "--calib", metavar="DIR",
                                         help="Calibration images for --quantize int: a folder of images or a paired "
                                              "folder (its rainy/), each at least the export size (centre crops). "
                                              "A .nir file: a FILE.npy input like validate's --input (default: "
                                              "100 steps of seeded random spikes at 10 %)."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    dt: Optional[float] = typer.Option(None, "--dt", help="A .nir file from another writer: seconds per time step "
                                       "(default 1e-4 s, NIR's; or the --writer's own)."),
    writer: Optional[str] = typer.Option(None, "--writer", help="A .nir file: undo this writer's known quirks "
                                         "(nir, snntorch, norse, sinabs, rockpool). snntorch, norse: the release "
                                         "convention under which the file is plausible is chosen and said; "
                                         "snntorch@0.7.0|1.0.0, norse@1.1.0|master forces one."),
    reset: Optional[str] = typer.Option(None, "--reset", help="A .nir file from snntorch or sinabs, which do not "
                                        "write their reset: zero or subtract (default: zero for snntorch, "
                                        "subtract for sinabs)."),
    rule: Optional[List[str]] = typer.Option(None, "--rule", metavar="NAME=off|on", help=RULE_HELP),
    system: Optional[str] = typer.Option(None, "--system", help=SYSTEM_HELP + " Refuse (exit 2, nothing "
                                         "written) a model whose chip part does not fit it."),
    residency: Optional[str] = typer.Option(None, "--residency", help="A checkpoint: what the chip keeps beyond "
                                            "its synapses, neurons and routing. products (default): products of two "
                                            "activations as product neurons, sums into host blocks and fan-out on "
                                            "the chip; gates: also the attention gates split (SpikeRain's MDSA, "
                                            "ESDNet's/VLIF-Net's MDA, VLIF's temporal gate), the chip keeping the map "
                                            "and the host computing only the gates from pooled statistics (the "
                                            "bundle then runs at its export size); host: as bundles before issue 31 "
                                            "(the most values cross the chip/host cut each step)."),
    delta_threshold: Optional[float] = typer.Option(None, "--delta-threshold", metavar="MODEL_UNITS",
                                                    help="A checkpoint: values cross the chip/host cut as sigma-delta "
                                                         "messages, sent only when they changed by more than this "
                                                         "(0: exact, a repeated image or gate is sent once); above 0 "
                                                         "only nir-torch runs the bundle, and `validate --executor "
                                                         "nir-torch` measures its PSNR cost. Default: every value "
                                                         "every step."),
    delta_relative: Optional[float] = typer.Option(None, "--delta-relative", metavar="FRACTION",
                                                   help="A checkpoint: sigma-delta across the cut with a threshold "
                                                        "per edge, this fraction of the largest value the edge sends "
                                                        "on the calibration crops (or the example image), so a gate "
                                                        "in [0, 1] and a feature map in [0, 40] drop changes of the "
                                                        "same relative size; not with --delta-threshold."),
    weight_bits: Optional[int] = typer.Option(None, "--weight-bits", metavar="N",
                                              help="A .nir file with --quantize int: weight mantissas of up to N "
                                                   "bits (8..15; default 8, Loihi's). Above 8, a Dense or Conv whose "
                                                   "neuron's threshold is few 8-bit steps becomes two synapse groups "
                                                   "(8-bit each, exponents 7 and 0: twice its synaptic memory) and its "
                                                   "neuron a finer input step, within the 16-bit a_in."),
) -> None:
    """Export a trained model (or a .nir file from any NIR writer) to a deployment bundle."""
    from neurodeploy.bundle import describe, export_bundle

    with _step_progress():
        manifest = export_bundle(checkpoint, out, target=target, size=size_pair(size), force=force, quantize=quantize,
                                 calib=calib, dt_s=dt, writer=writer, reset=reset, warn=_warn_line, system=system,
                                 rules=rule, residency=residency, delta_threshold=delta_threshold,
                                 delta_relative=delta_relative, weight_bits=weight_bits)
    if as_json:
        _print_json(manifest)
        return
    for line in describe(manifest, out):
        console.print(line)


@app.command("validate")
def validate_cmd(
    bundle: Path = typer.Argument(..., help="Bundle folder written by `neurodeploy export`."),
    image: Optional[List[Path]] = typer.Option(None, "--image", metavar="IMAGE...", help=IMAGE_HELP),
    executor: Optional[str] = typer.Option(None, "--executor", help=EXECUTOR_HELP),
    min_agreement: float = typer.Option(100.0, "--min-agreement", help="Spike agreement (%) every layer must reach."),
    min_psnr: float = typer.Option(60.0, "--min-psnr", help="Output PSNR (dB) against the reference that must be reached."),
    min_ssim: Optional[float] = typer.Option(None, "--min-ssim", help="Output SSIM (Y channel) that must be reached "
                                                                     "(not checked unless given)."),
    against: Optional[str] = typer.Option(None, "--against", help="The executor to compare against (the reference; "
                                          "default torch-float64, or nir-torch for a bundle of a .nir file)."),
    truth: Optional[List[Path]] = typer.Option(None, "--truth", metavar="CLEAN...",
                                               help="Clean images paired with --image by order (files or folders), e.g. "
                                                    "--truth a_clean.png b_clean.png: PSNR/SSIM of both runs against "
                                                    "ground truth."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
    input_file: Optional[Path] = typer.Option(None, "--input", metavar="FILE.npy",
                                              help="A bundle of a .nir file: its input, shape (T, ...) or (T, N, ...) "
                                                   "(default: seeded random spikes, 100 steps at 10 %, longer and "
                                                   "denser until every spiking layer fires in the reference)."),
    min_activity: Optional[float] = typer.Option(None, "--min-activity", metavar="RATE",
                                                 help="Spikes per neuron per step every spiking layer must reach "
                                                      "in one of the two runs (default: only a run in which every "
                                                      "spiking layer is silent fails)."),
    save_traces: Optional[Path] = typer.Option(None, "--save-traces", metavar="DIR",
                                               help="Write both runs' spikes and membrane potentials per layer as "
                                                    ".npy files in DIR (EXECUTOR/LAYER.spikes.npy, "
                                                    "EXECUTOR/LAYER.v.npy; shape (N, T, ...))."),
    workers: Optional[int] = cli_scale.WORKERS,
    cluster: Optional[str] = cli_scale.CLUSTER,
    out: Optional[Path] = cli_scale.OUT,
    resume: bool = cli_scale.RESUME,
    unit_memory: Optional[float] = cli_scale.UNIT_MEMORY,
) -> None:
    """Run the bundle on one executor and a reference (default torch-float64); compare layer by layer.

    Exit 0 when every layer agrees and the output matches, 1 when not, 2 on bad input,
    3 when an executor cannot run on this machine (e.g. --executor loihi without a chip).
    --image takes files or folders (many images show a progress bar on stderr).
    """
    from neurodeploy.bundle import Bundle
    from neurodeploy.validation import validate_bundle

    unkept: list[str] = []  # validation.json in a read-only or full bundle: said after the verdict
    plan = cli_scale.plan(workers, cluster, out, resume, unit_memory)
    opened = Bundle.open(bundle)  # once: opening checks every file's SHA-256
    run = dict(images=image or None, executor=executor, reference=against, min_agreement_pct=min_agreement,
               min_psnr_db=min_psnr, min_ssim=min_ssim, truth=truth or None, input_file=input_file,
               warn=unkept.append, min_activity=min_activity)
    if plan.wanted:
        if save_traces is not None:
            raise NeurodeployError("--save-traces keeps the traces of one process's run; drop it with "
                                   "--workers/--cluster/--out")
        with cli_scale.units_bar(f"validate {bundle}", out) as bar:
            verdict = validate_bundle(opened, **run, plan=plan, units_progress=bar.update)
        bar.table(verdict["executor"])
    else:
        with _image_progress() as progress:
            verdict = validate_bundle(opened, **run, progress=progress, save_traces=save_traces)
    _say_default_executor(opened, executor)  # after the run: an error stays one line
    _say_how_images_fit(opened, image or None)
    record = verdict.get("input") or {}
    if record.get("never_fired"):
        _warn_line(f"on the default input ({record['t_steps']} steps of random spikes at {record['rate']:.0%}) these "
                   f"layers never fired in {verdict['reference']}: {', '.join(record['never_fired'])}; give --input "
                   "FILE.npy that drives them")
    if as_json:
        _print_json(verdict)
    else:
        _print_verdict(verdict)
    _say_unkept(unkept)
    raise typer.Exit(0 if verdict["passed"] else 1)


def _say_unkept(lines: list[str]) -> None:
    for line in lines:
        _warn_line(line)


class _step_progress:
    """On a terminal, a bar on stderr for the step the pipeline is in (neurodeploy.progress): its
    name, done of total where known, the time; gone when the command ends. Elsewhere nothing."""

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from neurodeploy import progress

        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=err_console, transient=True,
                            disable=not err_console.is_terminal)
        self.task, self.name = None, None
        self.listening = progress.listening(self.update)
        self.bar.__enter__()
        self.listening.__enter__()
        return self

    def update(self, name: str, done: int, total: int | None) -> None:
        if name != self.name:  # a new step: a fresh bar and clock
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task, self.name = self.bar.add_task(name, total=total), name
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc):
        self.listening.__exit__(*exc)
        return self.bar.__exit__(*exc)


class _image_progress:
    """A rich progress bar on stderr, one task per executor, fed by ``progress(executor, done, total)``."""

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=err_console, transient=True, disable=not err_console.is_terminal)
        self.tasks: dict[str, int] = {}
        self.bar.__enter__()
        return self.update

    def update(self, name: str, done: int, total: int) -> None:
        if name not in self.tasks:
            self.tasks[name] = self.bar.add_task(f"{name}: images", total=total)
        self.bar.update(self.tasks[name], completed=done)

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)


def _say_how_images_fit(bundle, images: list[Path] | None) -> None:
    """On stderr (so --json stays parseable): how each image is fitted to the opened bundle's input."""
    for line in bundle.fit_notes(images):
        err_console.print(f"note: {line}", markup=False, highlight=False, soft_wrap=True)


def _say_default_executor(bundle, executor: str | None) -> None:
    """Without --executor, say which one runs on the opened bundle (on stderr, so --json stays parseable)."""
    if executor is not None:
        return
    from neurodeploy.targets import most_faithful

    err_console.print(f"executor: {most_faithful(bundle)} (the most faithful this bundle supports; "
                      "choose with --executor)", markup=False, highlight=False)


def _print_verdict(verdict: dict) -> None:
    table = Table(title=f"{verdict['executor']} vs {verdict['reference']}")
    table.add_column("layer")
    table.add_column("spike agreement %", justify="right")
    counts = verdict.get("spike_counts") or {}
    silent, inactive = set(verdict.get("silent_layers") or ()), set(verdict.get("inactive_layers") or ())
    for col in ("spikes " + verdict["reference"], "spikes " + verdict["executor"], "ratio"):
        table.add_column(col, justify="right")
    for name, pct in verdict["layers"].items():
        style = "" if pct >= verdict["min_agreement_pct"] and name not in inactive else "red"
        c = counts.get(name)
        if c is None:  # a layer of states, not spikes
            cells = ["-", "-", "-"]
        else:
            ratio = "silent" if name in silent else ("-" if c["ratio"] is None else f"{c['ratio']:.4f}")
            cells = [f"{c['reference']:,.0f}", f"{c['executor']:,.0f}", ratio]
        table.add_row(name, f"{pct:.4f}", *cells, style=style)
    console.print(table)
    if silent:
        everything = len(silent) == len(counts)
        console.print(f"[red]silent[/] (neither run spiked; not counted as agreement): {', '.join(sorted(silent))}"
                      + (" -- every spiking layer is silent, so nothing was validated; give an input that drives "
                         "them" if everything else ""))
    if inactive:
        console.print(f"[red]below --min-activity {verdict['min_activity']:g}[/] spikes per neuron per step: "
                      f"{', '.join(sorted(inactive))}")
    for name, err in (verdict.get("membrane_error") or {}).items():
        if err["max_abs"] > 0:
            console.print(f"membrane {name}: max |difference| {err['max_abs']:.3g}, RMS {err['rms']:.3g} (model units)")
    console.print(f"output PSNR: {verdict['output_psnr_db']:.2f} dB (needs >= {verdict['min_psnr_db']} dB)"
                  + (f", SSIM {verdict['output_ssim']:.6f}" if verdict.get("output_ssim") is not None else ""))
    fd = verdict["first_divergence"]
    if fd:
        console.print(f"first divergence: layer [bold]{fd['layer']}[/], step {fd['step']}, neuron {fd['neuron']} "
                      f"(channel, y, x = {tuple(fd['index'])}): {verdict['reference']} {fd['reference_value']:g}, "
                      f"{verdict['executor']} {fd['executor_value']:g}" + (f" (image {fd['image']})" if fd.get("image") else ""))
    truth = verdict.get("truth")
    if truth:
        for who in ("executor", "reference"):
            t = truth[who]
            console.print(f"vs ground truth, {verdict[who]}: PSNR {t['psnr_y_db']:.2f} dB"
                          + (f", SSIM {t['ssim_y']:.4f}" if t["ssim_y"] is not None else "") + " (Y channel)")
    console.print("[green]PASSED[/]" if verdict["passed"] else "[red]FAILED[/]")


@app.command("report")
def report_cmd(
    bundle: Path = typer.Argument(..., help="Bundle folder written by `neurodeploy export`."),
    image: Optional[List[Path]] = typer.Option(None, "--image", metavar="IMAGE...", help=IMAGE_HELP),
    executor: Optional[str] = typer.Option(None, "--executor", help=EXECUTOR_HELP),
    fps: Optional[float] = typer.Option(None, "--fps", help="Frame rate (frames per second) for energy per second "
                                        "of video (default 30; a bundle of a .nir file: samples per second, default "
                                        "1 / (T dt), real time)."),
    truth: Optional[List[Path]] = typer.Option(None, "--truth", metavar="CLEAN...",
                                               help="Clean image for the first --image, e.g. --truth clean.png: "
                                                    "shown in report.html."),
    html: bool = typer.Option(True, "--html/--no-html", help="Also write report.html (charts, images)."),
    summary: bool = typer.Option(False, "--summary", help="Print the short summary table (the default; kept for "
                                 "scripts that pass it)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the whole report.md instead of the summary table."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    input_file: Optional[Path] = typer.Option(None, "--input", metavar="FILE.npy",
                                              help="A bundle of a .nir file: its input, shape (T, ...) or (T, N, ...) "
                                                   "(default: 100 steps of seeded random spikes at 10 %)."),
    system: Optional[str] = typer.Option(None, "--system", help=SYSTEM_HELP + " Default: the smallest that holds "
                                         "the chip part."),
) -> None:
    """Per-layer neurons, spikes, operations, cores and energy: report.json, report.md, report.html."""
    from neurodeploy.bundle import Bundle
    from neurodeploy.reporting import report_bundle

    if fps is not None and fps <= 0:
        raise NeurodeployError(f"--fps must be positive, got {fps}")
    opened = Bundle.open(bundle)  # once: opening checks every file's SHA-256
    _check_report_writable(bundle)
    report = report_bundle(opened, images=image or None, executor=executor, fps=fps, html=html,
                           truth=truth or None, input_file=input_file, system=system)
    _say_default_executor(opened, executor)  # after the run: an error stays one line
    _say_how_images_fit(opened, image or None)
    if as_json:
        _print_json(report)
        return
    if markdown and not summary:
        # plain text, no wrapping: rich would fold the Markdown tables at the terminal's width
        typer.echo((bundle / "report.md").read_text())
    else:
        _print_summary(report, bundle)
    written = ["report.json", "report.md"] + (["report.html"] if html else [])
    console.print("wrote " + ", ".join(str(bundle / w) for w in written)
                  + ("" if markdown else " (report.md on the terminal: --markdown)"), soft_wrap=True, highlight=False)


def _check_report_writable(bundle: Path) -> None:
    """A report is files in the bundle: one that cannot take them is refused before the run."""
    from neurodeploy.writable import why_unwritable

    if not bundle.is_dir():
        return  # the bundle's own check says what it is
    why = why_unwritable(bundle)
    if why:
        raise NeurodeployError(f"cannot write the report into {bundle} ({why}); copy the bundle to a folder you can "
                               f"write, e.g. `cp -r {bundle} /tmp/bundle && neurodeploy report /tmp/bundle`")


def _print_summary(report: dict, bundle: Path) -> None:
    from neurodeploy.reporting import read_validation, read_validations, summary_rows

    table = Table(title=f"{report['architecture']} on {report['executor']}, input {tuple(report['input_shape'])}, "
                        f"T={report['t_steps']}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    earlier = [v for name, v in read_validations(bundle).items() if name != report["executor"]]
    for quantity, value in summary_rows(report, read_validation(bundle, report["executor"]), earlier):
        table.add_row(quantity, value)
    console.print(table)


def _warn_line(line: str) -> None:
    """One warning line on stderr (reading a .nir file from another writer); a line starting
    ``note: `` is a statement, not a warning (e.g. which writer convention was applied and why)."""
    text = line if line.startswith("note: ") else f"warning: {line}"
    err_console.print(text, markup=False, highlight=False, soft_wrap=True)


@app.command("inspect")
def inspect_cmd(
    target: str = typer.Argument(..., help="A checkpoint (.pt or shipped name), a graph .nir file, or a bundle folder."),
    size: Optional[List[int]] = typer.Option(None, "--size", metavar="H W",
                                             help="Image size in pixels a checkpoint is exported at, e.g. --size 64 64 "
                                                  "(default: the model's)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    dt: Optional[float] = typer.Option(None, "--dt", help="Seconds per time step a .nir file from another writer "
                                       "is read with (default 1e-4 s, NIR's; or the --writer's own)."),
    writer: Optional[str] = typer.Option(None, "--writer", help="Undo this writer's known quirks in a .nir file: "
                                         "nir (none), snntorch, norse, sinabs, rockpool. snntorch, norse: the "
                                         "release convention under which the file is plausible is chosen and "
                                         "said; snntorch@0.7.0|1.0.0, norse@1.1.0|master forces one."),
    reset: Optional[str] = typer.Option(None, "--reset", help="A .nir file from snntorch or sinabs, which do not "
                                        "write their reset: zero or subtract (default: zero for snntorch, "
                                        "subtract for sinabs)."),
    rule: Optional[List[str]] = typer.Option(None, "--rule", metavar="NAME=off|on", help=RULE_HELP),
) -> None:
    """Nodes with type, shape, edge kind, chip or host, and parameter count; the partition."""
    from neurodeploy.inspect import inspect_target

    result = inspect_target(target, size=size_pair(size), dt_s=dt, writer=writer, warn=_warn_line, reset=reset,
                            rules=rule)
    if as_json:
        _print_json(result)
        return
    table = Table(title=f"{target} ({result['source']})")
    for col in ("node", "type", "shape", "edge kind", "side", "params"):
        table.add_column(col, justify="right" if col == "params" else "left")
    for r in result["nodes"]:
        table.add_row(r["node"], r["type"], "x".join(map(str, r["shape"])), r["edge_kind"], r["side"], f"{r['params']:,}")
    console.print(table)
    for node, rule in result.get("neuron_rules", {}).items():
        console.print(f"  {node}: fires on {rule} (the writer's rule, neurodeploy/ir/rules.py)")
    part = result.get("partition")
    if part:
        for side in ("chip", "host"):
            s = part[side]
            console.print(f"{side}: {s['layers']} layers, {s['neurons']:,} neurons, {s['synapses']:,} synapses, "
                          f"{s['macs_per_image']:,} MACs/image, {s['host_block_flops_per_image']:,} host-block FLOPs/image"
                          + (f", at least {s['cores_min']:,} cores ({s['cores_basis']})" if "cores_min" in s else ""))
        console.print(f"chip<->host crossings per time step: {part['crossings_per_step']} "
                      f"({part['values_crossing_per_step']:,} values)")
        for island in part.get("islands", []):
            console.print(f"  host {island['name']} ({island['window']}): {', '.join(island['nodes'])}")
        for node, hint in part["host_nodes"].items():
            if hint:
                console.print(f"  host {node}: {hint}")


@app.command("sweep")
def sweep_cmd(
    source: str = typer.Argument(..., help="A model's bundle folder (its model.pt and size), a checkpoint .pt file "
                                           "or a shipped name."),
    data: Path = typer.Option(..., "--data", help="Paired folder (rainy/ + clean/) each setting is evaluated on "
                                                  "(whole images, integer emulator)."),
    calib: Path = typer.Option(..., "--calib", metavar="DIR", help="Calibration images (a folder, or a paired "
                                                                   "folder's rainy/), as export --calib."),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Folder for units.jsonl, summary.json, "
                                                              "bundles/SETTING and best/ (the best setting's bundle)."),
    calib_images: Optional[List[int]] = typer.Option(None, "--calib-images", metavar="N...",
                                                     help="Calibration set sizes to try (the first N images by name), "
                                                          "e.g. --calib-images 4 16 (default: 4 16; 16 is export's)."),
    ranges: Optional[List[str]] = typer.Option(None, "--range", metavar="RANGE...",
                                               help="How a layer's range is taken from the calibration values: max "
                                                    "(export's) or percentile:Q, e.g. --range max percentile:99.99 "
                                                    "(the default)."),
    size: Optional[List[int]] = typer.Option(None, "--size", metavar="H W", help="Export size in pixels, e.g. --size 64 64 (default: "
                                             "the bundle's, or the architecture's)."),
    workers: Optional[int] = cli_scale.WORKERS,
    cluster: Optional[str] = cli_scale.CLUSTER,
    resume: bool = cli_scale.RESUME,
    unit_memory: Optional[float] = cli_scale.UNIT_MEMORY,
    as_json: bool = typer.Option(False, "--json", help="Print summary.json."),
) -> None:
    """Sweep post-training quantization settings: export + emulator evaluation per setting, one
    unit each (on Ray with --workers/--cluster); a table of PSNR/SSIM cost against float, the best
    setting's bundle in OUT/best."""
    from neurodeploy.sweep import run_sweep

    plan = cli_scale.plan(workers, cluster, out, resume, unit_memory)
    with cli_scale.units_bar(f"sweep {source}", out) as units:
        summary = run_sweep(source, data, calib, calib_images or [4, 16], ranges or ["max", "percentile:99.99"], out,
                            plan, size=size_pair(size), units_progress=units.update)
    units.table("emulator")
    if as_json:
        _print_json(summary)
        return
    table = Table(title=f"PTQ sweep of {source} on {data} (float: PSNR {summary['float']['psnr']:.2f} dB, "
                        f"SSIM {summary['float']['ssim']:.4f}; Y channel)")
    for col in ("setting", "calib images", "range", "PSNR dB", "SSIM", "PSNR cost dB", "SSIM cost"):
        table.add_column(col, justify="left" if col in ("setting", "range") else "right")
    for r in summary["settings"]:
        how = "max" if r["range"] == "max" else f"percentile {r['percentile']:g}"
        name = r["label"] + (" (export's default)" if r["default"] else "") + (" best" if r["label"] == summary["best"] else "")
        table.add_row(name, str(r["calib_images"]), how, f"{r['psnr']:.2f}", f"{r['ssim']:.4f}",
                      f"{r['psnr_cost_db']:+.3f}", f"{r['ssim_cost']:+.4f}",
                      style="bold" if r["label"] == summary["best"] else "")
    console.print(table)
    console.print(f"best: {summary['best']} -> {summary['best_bundle']}", soft_wrap=True, highlight=False)


@app.command("fit")
def fit_cmd(
    target: str = typer.Argument(..., help="A checkpoint (.pt or shipped name) or a model bundle folder."),
    system: str = typer.Option("kapoho-point", "--system", help=SYSTEM_HELP),
    size: Optional[List[int]] = typer.Option(None, "--size", metavar="H W",
                                             help="Image size in pixels, e.g. --size 321 481 (default 64 64)."),
    budget: str = typer.Option("loihi2-derived", "--budget", help="Per-core budget: loihi2-derived (Loihi 2 "
                               "per-chip figures / 128 cores) or loihi1 (Loihi 1's published per-core figures)."),
    unshared: bool = typer.Option(False, "--unshared-weights", help="Store conv weights per neuron instead of "
                                  "once per block (the other side of the conv_weights_shared assumption)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Will it fit: cores and chips, the largest image that fits, tiles, time, images/s and energy per image."""
    from neurodeploy.chip_fit import fit_target

    result = fit_target(target, system, [size_pair(size) or (64, 64)], budget=budget, shared=not unshared)
    if as_json:
        _print_json(result)
        return
    largest = result["largest_square_px"]
    console.print(f"{target} on {result['system']['title']} ({result['system']['cores']:,} cores; budget {budget}): "
                  f"largest square image that fits {'x'.join(map(str, largest)) if largest else 'none'}")
    for e in result["sizes"]:
        h, w = e["size"]
        if "error" in e:
            console.print(f"{h}x{w}: {e['error']}")
            continue
        line = (f"{h}x{w}: {'fits' if e['fits'] else 'does not fit'} ({e['cores']:,} cores, {e['chips']:,} chips"
                + ("" if e["fits"] else f"; first short: layer {e['first_misfit']['layer']}") + ")")
        if e.get("time_per_image_s") is not None:
            p, en = e["per_pass"], e["energy_system_uj"]
            line += (f"; {e['tiling']['passes']} chip pass(es) of {'x'.join(map(str, p['size']))} "
                     f"(bound by {p['bottleneck']}): {e['time_per_image_s']:.4g} s per image, "
                     f"{e['images_per_s']:.4g} images/s; energy {en['total']:.4g} µJ (chip {en['chip']:.4g}, "
                     f"host {en['host']:.4g}, I/O {en['io']:.4g})")
        console.print(line, soft_wrap=True, highlight=False)
    console.print(result["rates_note"] + "; host time measured on this CPU", soft_wrap=True, highlight=False)


def _register_extensions() -> None:
    from neurodeploy import cli_derain

    cli_derain.register(app)
    from neurodeploy import cli_import  # the authors' checkpoints (issue 20)

    cli_import.register(app)


_register_extensions()


def command_line(args: list[str]) -> list[str]:
    """``args`` with list options spread for click (see :mod:`neurodeploy.cli_args`)."""
    import typer.main

    name = next((a for a in args if not a.startswith("-")), None)
    command = typer.main.get_command(app).commands.get(name) if name else None
    return spread_values(args, list_option_caps(command.params)) if command is not None else list(args)


def main(restore_signals: bool = True) -> None:
    """Run the command line: a NeurodeployError becomes one line and exit code 2; Ctrl-C and
    SIGTERM one line and exit 130 / 143 (:mod:`neurodeploy.cli_signals`). ``restore_signals``:
    the caller's signal handlers come back afterwards (in-process callers, tests)."""
    from neurodeploy import cli_signals

    try:
        with cli_signals.handling(restore=restore_signals):
            # Without standalone mode click returns a command's exit code instead of exiting.
            code = _run_app(sys.argv[1:])
    except KeyboardInterrupt:  # after every except/finally on the way out has cleaned up
        signum = cli_signals.received() or signal.SIGINT
        cli_signals.kill_descendants()
        cli_signals.say_once(cli_signals.interrupted_line())
        sys.exit(cli_signals.exit_code(signum))
    sys.exit(code if isinstance(code, int) else 0)


def entry() -> None:
    """The ``neurodeploy`` console script and ``python -m neurodeploy``: this process is the
    command's own, so a signal while it shuts down ends it quietly too."""
    main(restore_signals=False)


def _run_app(args: list[str]) -> int | None:
    from neurodeploy import cli_signals

    try:
        code = app(args=command_line(args), standalone_mode=False)
        if cli_signals.received() is not None:  # typer turns a KeyboardInterrupt into a silent 130
            raise KeyboardInterrupt
        return code
    except NeurodeployError as exc:
        if cli_signals.received() is not None:  # e.g. a Lava run that failed because its processes left
            raise KeyboardInterrupt from None
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "lava" or cli_signals.received() is not None:
            raise
        missing = LavaMissing(sys.executable)  # `pip install .` cannot bring Lava (errors.LAVA_INSTALL)
        err_console.print(f"error: {missing}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(missing.exit_code)
    except typer.Abort:
        raise KeyboardInterrupt from None  # click's word for a Ctrl-C at a prompt
    except Exception as exc:
        if cli_signals.received() is not None:  # an error made by the interrupt, not a bug
            raise KeyboardInterrupt from None
        # Usage errors (typer vendors click, so match the click exception by its interface).
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        raise
