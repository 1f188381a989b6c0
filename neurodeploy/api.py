"""The public Python API: the CLI's commands as functions that return typed results.

Every function here is what the command of the same name does (the CLI calls these and
prints), for both bundle kinds -- a model's and a ``.nir`` file's -- so a script needs
nothing but ``import neurodeploy``::

    import neurodeploy as nd

    exported = nd.export("esdnet-tiny", "build/bundle", size=(64, 64))
    verdict = nd.validate(exported.path, executor="lava-float")
    assert verdict.passed, verdict.first_divergence

Each result keeps the whole JSON the command writes or prints (``.data``, the public
contract: keys are only ever added) beside the fields most scripts want.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["Exported", "Validation", "Report", "Evaluation", "Derained", "Imported",
           "export", "validate", "report", "evaluate", "derain", "import_checkpoint", "run"]

@dataclass(frozen=True)
class Exported:
    """A bundle written by :func:`export`.

    Attributes:
        path: the bundle folder.
        kind: ``model`` or ``nir``.
        quantized: True when exported with ``quantize="int"`` (Loihi 2 integers in ``params.npz``).
        manifest: ``manifest.json``.
    """

    path: Path
    kind: str
    quantized: bool
    manifest: dict[str, Any] = field(repr=False)

    @property
    def data(self) -> dict[str, Any]:
        return self.manifest


@dataclass(frozen=True)
class Validation:
    """The verdict of :func:`validate` (also written to the bundle's ``validation.json``).

    Attributes:
        passed: every layer reached ``min_agreement_pct`` and the output ``min_psnr_db`` (and SSIM).
        executor, reference: the two executors compared.
        layers: layer -> spike agreement in % of elements (over all steps and samples).
        output_psnr_db: PSNR of the executor's output against the reference's, in dB.
        first_divergence: the first layer, step and neuron where they part (None when they never do).
        data: the whole verdict, as in ``validation.json``.
    """

    passed: bool
    executor: str
    reference: str
    layers: dict[str, float]
    output_psnr_db: float
    first_divergence: dict[str, Any] | None
    data: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Report:
    """What :func:`report` wrote into the bundle (``report.json``, ``report.md``, ``report.html``).

    Attributes:
        executor: the executor that ran.
        totals: per image (a ``.nir`` file's bundle: per sample): neurons, spikes, synops, MACs, cores.
        energy_uj: energy model name -> µJ per image (or sample).
        files: the files written.
        data: ``report.json``.
    """

    executor: str
    totals: dict[str, Any]
    energy_uj: dict[str, float]
    files: list[Path]
    data: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Evaluation:
    """PSNR/SSIM of :func:`evaluate` on a paired folder (Y channel, BT.601; means over images).

    Attributes:
        psnr, ssim: of the output against the clean images (PSNR in dB).
        input_psnr, input_ssim: of the rainy inputs (the baseline).
        count: images scored.
        data: the whole result, per image under ``images``.
    """

    psnr: float
    ssim: float
    input_psnr: float
    input_ssim: float
    count: int
    data: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Derained:
    """The images :func:`derain` wrote (same names as the inputs), and who derained them."""

    files: list[Path]
    executor: str


@dataclass(frozen=True)
class Imported:
    """A checkpoint :func:`import_checkpoint` wrote from the authors' file.

    Attributes:
        path: the neurodeploy checkpoint (``.pt``); card: its model card (None with ``card=False``).
        architecture, preset: what was built.
        data: the import record (also in the checkpoint's ``meta["import"]``).
    """

    path: Path
    card: Path | None
    architecture: str
    preset: str
    data: dict[str, Any] = field(repr=False)


def export(source: "str | Path", out: "str | Path", *, target: str = "loihi", size: tuple[int, int] | None = None,
           force: bool = False, quantize: str = "none", calib: "str | Path | None" = None,
           dt_s: float | None = None, writer: str | None = None, reset: str | None = None,
           warn: Callable[[str], None] | None = None, rules: Sequence[str] | None = None,
           residency: str | None = None, weight_bits: int | None = None) -> Exported:
    """``neurodeploy export``: a checkpoint (file or shipped name), a ``.nir`` file, a lava-dl netx HDF5 file
    (``.net``/``.h5``, recognised by content) or a SLAYER module (``slayer.block`` layers; written through
    slayer's ``export_hdf5``) -> bundle ``out``.

    Args:
        size: a checkpoint's input (H, W) in pixels (default: the architecture's).
        quantize: ``none`` or ``int`` (Loihi 2 integers; ``calib``: a folder of images, or for
            a ``.nir`` file a ``.npy`` input of T time steps).
        dt_s: a ``.nir`` file: seconds per time step; writer: whose quirks to undo; reset: the
            reset of a writer that does not write it (``zero`` or ``subtract``).
        warn: called with each warning line (reading another writer's file).
        rules: a ``.nir`` file: ``NAME=on|off`` items switching the writer's default neuron options
            (``multi-spike``, ``subtract-reset``, ``min-v-mem``, ``lif-step``;
            :data:`neurodeploy.ir.nirread.WRITER_RULES`).
        weight_bits: a ``.nir`` file with ``quantize="int"``: the widest weight mantissa, 8..15 bits
            (above 8: two synapse groups where a neuron needs them; default 8).
    """
    from neurodeploy.bundle import export_bundle
    from neurodeploy.bundle_format import bundle_kind

    manifest = export_bundle(source, out, target=target, size=size, force=force, quantize=quantize, calib=calib,
                             dt_s=dt_s, writer=writer, reset=reset, warn=warn, rules=rules, residency=residency,
                             weight_bits=weight_bits)
    return Exported(Path(out).resolve(), bundle_kind(manifest), manifest["quantization"]["status"] == "int", manifest)


def validate(bundle: "str | Path", *, executor: str | None = None, against: str | None = None,
             images: Sequence["str | Path"] | None = None, input: "str | Path | None" = None,
             truth: Sequence["str | Path"] | None = None, min_agreement_pct: float = 100.0,
             min_psnr_db: float = 60.0, min_ssim: float | None = None,
             progress: Callable[[str, int, int], None] | None = None, workers: int | None = None,
             cluster: str | None = None, out: "str | Path | None" = None, resume: bool = False,
             unit_memory_gb: float | None = None, units_progress: Callable | None = None) -> Validation:
    """``neurodeploy validate``: run ``executor`` and ``against`` on the same inputs; compare layer by layer.

    Args:
        executor: default the most faithful the bundle supports (``lava-float`` where lowered).
        against: the reference (default ``torch-float64``; ``nir-torch`` for a ``.nir`` file's bundle).
        images: a model's bundle: image files or folders (default: a shipped rainy photo).
        input: a ``.nir`` file's bundle: a ``.npy`` of shape (T, ...) or (T, N, ...) (default:
            100 steps of seeded random spikes).
        truth: clean images paired with ``images``, scored by PSNR/SSIM.
        workers, cluster, out, resume, unit_memory_gb, units_progress: one unit per image, as
            :func:`evaluate` says; the verdict is the in-process one.
    """
    from neurodeploy.scaleout import Plan
    from neurodeploy.validation import validate_bundle

    plan = Plan.from_options(workers, cluster, out, resume, unit_memory_gb)
    result = validate_bundle(bundle, images=list(images) if images else None, executor=executor, reference=against,
                             min_agreement_pct=min_agreement_pct, min_psnr_db=min_psnr_db, min_ssim=min_ssim,
                             truth=list(truth) if truth else None, progress=progress,
                             input_file=None if input is None else Path(input), plan=plan,
                             units_progress=units_progress)
    return Validation(bool(result["passed"]), result["executor"], result["reference"], dict(result["layers"]),
                      float(result["output_psnr_db"]), result.get("first_divergence"), result)


def run(bundle: "str | Path", executor: str | None = None, *, images: Sequence["str | Path"] | None = None,
        input: "str | Path | None" = None) -> list:
    """Run one executor on a bundle of either kind: one :class:`~neurodeploy.trace.Trace` per
    image (or sample), layers over logical time steps. Inputs as :func:`validate`."""
    from neurodeploy.bundle import Bundle
    from neurodeploy.targets import make_executor, most_faithful
    from neurodeploy.validation import run_inputs

    opened = Bundle.open(bundle)
    executor = executor or most_faithful(opened)
    runner = make_executor(executor, opened)
    inputs = opened.inputs(list(images) if images else None, None if input is None else Path(input))
    return run_inputs(executor, runner, inputs)


def report(bundle: "str | Path", *, executor: str | None = None, images: Sequence["str | Path"] | None = None,
           input: "str | Path | None" = None, truth: Sequence["str | Path"] | None = None,
           fps: float | None = None, html: bool = True) -> Report:
    """``neurodeploy report``: per-layer spikes, operations, cores and energy, written into the bundle.

    ``fps``: frames (a ``.nir`` file's bundle: samples) per second for the per-second totals.
    Other arguments as :func:`validate`.
    """
    from neurodeploy.errors import NeurodeployError
    from neurodeploy.reporting import report_bundle

    if fps is not None and fps <= 0:
        raise NeurodeployError(f"--fps must be positive, got {fps}")
    data = report_bundle(bundle, images=list(images) if images else None, executor=executor, fps=fps, html=html,
                         truth=list(truth) if truth else None, input_file=None if input is None else Path(input))
    folder = Path(bundle)
    files = [folder / "report.json", folder / "report.md"] + ([folder / "report.html"] if html else [])
    energy = {name: float(m["per_image_uj"]) for name, m in data["energy"]["models"].items()}
    return Report(data["executor"], dict(data["totals"]), energy, files, data)


def usable_cores() -> int:
    """CPU cores this process may use (affinity-aware): torch runs inference on all of them."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def tile_side(tile: int | None) -> int:
    """A tile side checked (at least 16 pixels, or 0 for whole images), or the default side."""
    from neurodeploy.errors import NeurodeployError
    from neurodeploy.models.evaluate import DEFAULT_TILE

    tile = DEFAULT_TILE if tile is None else tile
    if tile < 0 or 0 < tile < 16:
        raise NeurodeployError("--tile takes a side of at least 16 pixels, or 0 for whole images")
    return tile


def tiling_mode(tiling: str | None) -> str:
    """A ``--tiling`` value checked, or the default ("blend")."""
    from neurodeploy.errors import NeurodeployError
    from neurodeploy.models.evaluate import DEFAULT_TILING, TILINGS

    tiling = DEFAULT_TILING if tiling is None else tiling
    if tiling not in TILINGS:
        raise NeurodeployError(f"--tiling takes blend (default), cut or exact, not {tiling!r}")
    return tiling


def pass_count(passes: int | None) -> int | None:
    """A ``--passes`` value checked (None: the default)."""
    from neurodeploy.errors import NeurodeployError
    from neurodeploy.models.evaluate import blend_passes

    try:
        blend_passes(passes)
    except ValueError as exc:
        raise NeurodeployError(str(exc)) from None
    return passes


def _refuse_exact_for_bundles(tiling: str) -> None:
    # a bundle's executor is not a torch module with pooling layers to share across tiles:
    # "exact" would silently pool per tile
    from neurodeploy.errors import NeurodeployError

    if tiling == "exact":
        raise NeurodeployError("--tiling exact runs a checkpoint in torch, not a bundle's executor; "
                               "use --tiling blend, or --tile 0 for whole images")


def derain(source: "str | Path", images: Sequence["str | Path"], out: "str | Path", *, executor: str | None = None,
           tile: int | None = None, progress: Callable[[int, int], None] | None = None,
           note: Callable[[str], None] | None = None, tiling: str | None = None, workers: int | None = None,
           cluster: str | None = None, resume: bool = False, unit_memory_gb: float | None = None,
           units_progress: Callable | None = None, passes: int | None = None) -> Derained:
    """``neurodeploy derain``: rainy images of any size -> ``out`` (same names, bit depth and mode), all or nothing.

    Args:
        source: a checkpoint (file or shipped name) or a model's bundle folder.
        executor: a bundle's executor (default: ``emulator`` for a quantized bundle, else ``torch``).
        tile: tile side in pixels (default 512; 0 = whole images).
        progress: ``progress(tiles done, tiles in all)``; note: called with each note line.
        tiling: "blend" (default: overlapping tiles mixed by a smooth window), "cut" (hard seams) or
            "exact" (every global pooling over the whole image, a checkpoint only; several passes).
        passes: "blend": tiled runs sharing the attention gates' statistics over the whole image
            (default 2; 1 = each tile pools over itself, the fastest).
        workers, cluster, resume, unit_memory_gb, units_progress: one unit per photo, as
            :func:`evaluate` says; then each photo is written into ``out`` as it arrives (not all
            or nothing), with its line in ``out/units.jsonl``.
    """
    import torch

    from neurodeploy.checkpoint import load_model
    from neurodeploy.errors import NeurodeployError
    from neurodeploy.models.evaluate import derain_files
    from neurodeploy.scaleout import Plan

    tile, tiling, passes = tile_side(tile), tiling_mode(tiling), pass_count(passes)
    if Path(source).is_dir():
        _refuse_exact_for_bundles(tiling)
    plan = Plan.from_options(workers, cluster, out if (workers or cluster or resume) else None, resume, unit_memory_gb)
    if plan.on_ray or resume:
        return _derain_units(source, images, out, executor, tile, tiling, passes, plan, units_progress, note)
    if Path(source).is_dir():
        from neurodeploy.bundle import Bundle
        from neurodeploy.scaleout_units import executor_module

        model, executor = executor_module(Bundle.open(source), executor)
    elif executor is not None:
        raise NeurodeployError("--executor needs a bundle folder; export one with `neurodeploy export`")
    else:
        model, _ = load_model(source)
        executor = "torch"
    torch.set_num_threads(usable_cores())
    written = derain_files(model, list(images), out, tile=tile, progress=progress, note=note, tiling=tiling, passes=passes)
    return Derained([Path(p) for p in written], executor)


def _source(source: "str | Path", executor: str | None) -> tuple[Path, str | None]:
    """A derain or evaluate source as a path (a shipped name resolved) and its executor."""
    from neurodeploy.errors import NeurodeployError

    if Path(source).is_dir():
        from neurodeploy.bundle import Bundle
        from neurodeploy.scaleout_units import bundle_executor

        return Path(source), bundle_executor(Bundle.open(source), executor)
    if executor is not None:
        raise NeurodeployError("--executor needs a bundle folder; export one with `neurodeploy export`")
    from neurodeploy.checkpoint import load_checkpoint, resolve

    load_checkpoint(source)  # a bad checkpoint is refused here, in one line, before any unit
    return resolve(source), None


def _derain_units(source, images, out, executor, tile, tiling, passes, plan, units_progress, note) -> Derained:
    """derain with one unit per photo: each written into ``out`` atomically as it arrives. One large
    photo is split into tile units when its tiles are independent: not with ``exact``, nor with a
    ``blend`` of several passes on a model with global poolings (its passes share statistics)."""
    import os

    from neurodeploy.models.evaluate import check_batch
    from neurodeploy.scaleout import Unit, Work, run_units

    path, executor = _source(source, executor)
    checked = check_batch(images, out)
    out = Path(out)
    if len(checked) == 1 and tiling != "exact" and not _shares_statistics(path, tiling, passes):
        from neurodeploy.models.evaluate import default_halo, tile_grid

        (photo, (h, w)), = checked
        if len(tile_grid(h, w, tile, default_halo(tiling))) > 1:  # one large photo: its tiles are the units
            return _derain_tile_units(path, photo, out, executor, tile, tiling, plan, units_progress, note)
    units = [Unit(p.name, {"image": p}) for p, _ in checked]

    def keep(unit, result: dict) -> dict:
        target = out / result["name"]
        tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
        tmp.write_bytes(result.pop("bytes"))
        os.replace(tmp, target)  # a photo appears whole or not at all
        for line in result["notes"]:
            if note:
                note(f"{result['name']}: {line}")
        return result

    work = Work("derain", path, {"executor": executor, "tile": tile, "tiling": tiling, "passes": passes})
    run_units(work, units, plan, units_progress, executor, keep=keep)
    return Derained([out / p.name for p, _ in checked], executor or "torch")


def _shares_statistics(path: Path, tiling: str, passes: int | None) -> bool:
    """True when a ``blend`` of this checkpoint runs several passes that share its global poolings'
    statistics (:func:`neurodeploy.models.evaluate.shared_stats_derain`), so its tiles are not independent."""
    if path.is_dir() or tiling != "blend":
        return False
    from neurodeploy.checkpoint import load_model
    from neurodeploy.models.evaluate import blend_passes, global_pools

    return blend_passes(passes) > 1 and bool(global_pools(load_model(path)[0]))


def _derain_tile_units(path: Path, photo: Path, out: Path, executor, tile: int, tiling: str, plan, units_progress,
                       note) -> Derained:
    """derain of one large photo with one unit per tile: each tile's window is shipped as a
    ``.npy``, its derained window kept in ``out/.PHOTO.tiles/`` as it arrives (so ``--resume``
    skips it), and the photo blended from them exactly as in-process (:class:`TileAssembler`)
    and written into ``out`` atomically when the last tile is in."""
    import io
    import os
    import shutil

    import numpy as np
    import torch

    from neurodeploy.models.data import load_image_info, save_image
    from neurodeploy.models.evaluate import TileAssembler, default_halo
    from neurodeploy.scaleout import Unit, Work, run_units

    image, info = load_image_info(photo)
    for line in info.notes:
        if note:
            note(f"{photo.name}: {line}")
    tiles = TileAssembler(image.shape[1], image.shape[2], tile, default_halo(tiling), tiling)
    out.mkdir(parents=True, exist_ok=True)
    stage = out / f".{photo.name}.tiles"  # the finished tiles, kept for --resume until the photo is written
    # a resumed run whose photo was written: every tile is in the journal, nothing to run or blend
    complete = plan.resume and (out / photo.name).is_file() and not stage.exists()
    units = []
    for i, (_, (wr, wc)) in enumerate(tiles.windows):
        window = stage / "in" / f"{i}.npy"
        if not complete:
            window.parent.mkdir(parents=True, exist_ok=True)
            np.save(window, image[:, wr, wc].numpy(), allow_pickle=False)
        units.append(Unit(f"{photo.name}#tile{i}", {"window": window}, {"tile": i}))
    del image

    def keep(unit, result: dict) -> dict:
        target = stage / f"{result['tile']}.npy"
        tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
        tmp.write_bytes(result.pop("bytes"))
        os.replace(tmp, target)  # a tile's output is whole or absent
        return result

    work = Work("derain_tile", path, {"executor": executor, "photo": photo.name, "tile": tile, "tiling": tiling})
    run_units(work, units, plan, units_progress, executor, keep=keep)
    if complete:
        return Derained([out / photo.name], executor or "torch")
    for i in range(len(tiles.windows)):
        tiles.add(i, torch.from_numpy(np.load(io.BytesIO((stage / f"{i}.npy").read_bytes()), allow_pickle=False)))
    tmp = out / f".{photo.name}.partial-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    try:
        written = save_image(tiles.result(), tmp / photo.name, like=info)
        os.replace(written, out / photo.name)  # the photo appears whole or not at all
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(stage, ignore_errors=True)
    return Derained([out / photo.name], executor or "torch")


def evaluate(source: "str | Path", data: "str | Path", *, executor: str | None = None, tile: int | None = None,
             progress: Callable[[int, int], None] | None = None, tiling: str | None = None,
             workers: int | None = None, cluster: str | None = None, out: "str | Path | None" = None,
             resume: bool = False, unit_memory_gb: float | None = None,
             units_progress: Callable | None = None, passes: int | None = None) -> Evaluation:
    """``neurodeploy evaluate``: PSNR/SSIM (Y channel) of the output and of the rainy input on a
    paired folder (``rainy/``, ``clean/``), whole images.

    Args:
        source: a checkpoint (file or shipped name), or a model's bundle folder (``executor``,
            default the emulator for a quantized bundle, else torch).
        tile: a checkpoint's tile side in pixels (default 512; 0 = whole images).
        progress: ``progress(done, total)`` (images for a bundle, tiles for a checkpoint).
        tiling, passes: a checkpoint's stitching of tiles, as in :func:`derain` (the same tiler).
        workers: run one unit per pair on a local Ray with this many workers (CPUs);
            cluster: on the running Ray cluster at this address (``RAY_ADDRESS`` too). Neither:
            in this process, Ray not started.
        out: a folder for ``units.jsonl`` (one line per finished pair) and ``summary.json``;
            resume: skip the pairs already in ``out/units.jsonl`` (same summary as one run).
        unit_memory_gb: memory each unit declares to Ray, in GB (default by executor).
        units_progress: ``units_progress(stats)`` as units finish (:class:`neurodeploy.scaleout.Stats`).
    """
    import torch

    from neurodeploy.errors import NeurodeployError
    from neurodeploy.scaleout import Plan

    tiling, passes = tiling_mode(tiling), pass_count(passes)
    if Path(source).is_dir():
        _refuse_exact_for_bundles(tiling)
    plan = Plan.from_options(workers, cluster, out, resume, unit_memory_gb)
    if plan.wanted:
        result = _evaluate_units(source, data, executor, tile_side(tile), tiling, passes, plan, units_progress)
    elif Path(source).is_dir():
        from neurodeploy.bundle import Bundle
        from neurodeploy.quantized import evaluate_bundle
        from neurodeploy.scaleout_units import bundle_executor

        torch.set_num_threads(1)
        bundle = Bundle.open(source)
        executor = bundle_executor(bundle, executor)
        result = evaluate_bundle(bundle, executor, data, progress=progress)
    else:
        if executor is not None:
            raise NeurodeployError("--executor needs a bundle folder; export one with `neurodeploy export`")
        from neurodeploy.checkpoint import load_model
        from neurodeploy.models.evaluate import evaluate as evaluate_model

        tile = tile_side(tile)
        model, ckpt = load_model(source)
        torch.set_num_threads(usable_cores())
        result = evaluate_model(model, data, progress=progress, tile=tile, tiling=tiling, passes=passes)
        result["checkpoint"] = str(ckpt.path)
    return _evaluation(result)


def _evaluation(result: dict) -> Evaluation:
    return Evaluation(float(result["psnr"]), float(result["ssim"]), float(result["input_psnr"]),
                      float(result["input_ssim"]), int(result["count"]), result)


def _evaluate_units(source, data, executor, tile, tiling, passes, plan, units_progress) -> dict:
    """evaluate with one unit per pair; the result is the in-process one plus ``scale_out`` stats."""
    from neurodeploy.bundle_format import write_json_atomic
    from neurodeploy.models.data import find_pairs
    from neurodeploy.models.evaluate import summarise_rows
    from neurodeploy.quantized import evaluation_summary
    from neurodeploy.scaleout import Unit, Work, run_units

    path, executor = _source(source, executor)
    pairs = find_pairs(data)
    units = [Unit(p.name, {"rainy": p.rainy, "clean": p.clean}, {"name": p.name}) for p in pairs]
    settings = {"executor": executor} if path.is_dir() else {"tile": tile, "tiling": tiling, "passes": passes}
    results, stats = run_units(Work("evaluate", path, settings), units, plan, units_progress, executor)
    rows = [results[u.key] for u in units]
    if path.is_dir():
        result = evaluation_summary(path, executor, data, rows)
    else:
        result = {"data": str(data), **summarise_rows(rows), "checkpoint": str(path)}
    result["scale_out"] = stats.to_dict()
    if plan.out is not None:
        write_json_atomic(plan.out / "summary.json", result)
    return result


def import_checkpoint(architecture: str, source: "str | Path", out: "str | Path", *, preset: str | None = None,
                      card: bool = True, command: str = "") -> Imported:
    """``neurodeploy import``: the authors' ESDNet / SpikeRain ``.pth`` -> a neurodeploy checkpoint ``out``.

    Strict: every tensor must fit, else nothing is written. ``preset`` overrides the size
    inferred from the tensor shapes; ``card`` writes the model card ``NAME.md`` beside ``out``.
    """
    from neurodeploy.authors import import_checkpoint as _import

    result = _import(architecture, source, out, preset=preset, command=command, card=card)
    return Imported(Path(result["out"]), Path(result["card"]) if result.get("card") else None,
                    result["architecture"], str(result["preset"]), result)
