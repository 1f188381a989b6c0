"""Training of the derainers with the papers' loss and schedule, resumable and seeded.

Loss: ``1 - SSIM(output, clean)`` (Gaussian 11×11, σ = 1.5, on RGB in [0, 1]), as in the
papers; ``l1_weight > 0`` adds ``l1_weight · |output - clean|`` (some released code does;
off by default); ``psnr_weight > 0`` adds ``psnr_weight · mean_crops(log10 MSE)`` (MSE on
RGB in [0, 1] per crop; that is ``-PSNR/10`` dB up to a constant, so it weighs each crop's
*relative* error as the papers' mean-over-images PSNR does: a light-rain crop damaged from
0.01 to 0.02 RMS costs as much as a heavy one improved from 0.2 to 0.1); see
:func:`training_loss`. ``identity_start`` zeroes the last conv before the global residual,
so the untrained network returns its input (the rainy image's PSNR) instead of starting
below it.
``synthetic_fraction`` replaces that fraction of the real crops by synthetic rain on their
clean side (:class:`models.rain.RainSynthesizer`); ``colour_cast`` gives that fraction of
all crops a random per-channel gain and offset on the rainy side
(:class:`models.rain.ColourCast`). Optimiser: Adam, lr 1e-3, cosine
annealing to 1e-7 over all iterations, batch 12 of random 64×64 crops with flips
(ESDNet's recipe; VLIF-Net follows it).

An *epoch* here is ``iters_per_epoch`` batches drawn at random (our data sets are a few
dozen images, so "one pass over the data" would be a handful of batches). After every
epoch the model is written with :func:`neurodeploy.checkpoint.save_checkpoint` to
``out`` and the optimiser/scheduler/RNG state to ``out`` + ``.state`` so that
``resume=True`` continues bit-for-bit where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from neurodeploy.errors import CheckpointError

from .data import PairedPatches, expand_data_dirs, find_clean_images, find_pairs
from .rain import ColourCast, RainSynthesizer
from .registry import get_architecture


@dataclass
class TrainConfig:
    """Everything that decides a training run (stored in the checkpoint's meta)."""

    architecture: str
    preset: str
    data: list[str]
    epochs: int
    synthetic_rain: bool = False
    synthetic_fraction: float = 0.0
    colour_cast: float = 0.0
    iters_per_epoch: int = 100
    batch_size: int = 12
    crop: int = 64
    lr: float = 1e-3
    lr_min: float = 1e-7
    l1_weight: float = 0.0
    psnr_weight: float = 0.0
    identity_start: bool = False
    seed: int = 0
    threads: int = 1


def ssim_loss(output: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """``1 - SSIM`` (Gaussian 11, σ 1.5, data range 1) averaged over the batch."""
    return 1.0 - structural_similarity_index_measure(
        output, clean, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0
    )


def log_mse_loss(output: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """``mean_crops(log10(MSE))`` over RGB in [0, 1]; equals ``-PSNR/10`` (dB) per crop plus a constant."""
    mse = (output - clean).pow(2).flatten(1).mean(1)
    return torch.log10(mse + 1e-10).mean()


def training_loss(output: torch.Tensor, clean: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """What :func:`train` minimises (dimensionless): ``1 - SSIM`` plus the optional L1 and log-MSE terms."""
    loss = ssim_loss(output, clean)
    if cfg.l1_weight > 0:
        loss = loss + cfg.l1_weight * (output - clean).abs().mean()
    if cfg.psnr_weight > 0:
        loss = loss + cfg.psnr_weight * log_mse_loss(output, clean)
    return loss


def start_at_identity(model: torch.nn.Module) -> None:
    """Zero the output conv (``model.output``) that feeds the global residual ``y = conv(...) + x``.

    The network then computes ``y = x`` until the first update; gradients still reach every
    layer from the second step on (the conv's own gradient is non-zero from the first).
    """
    conv = getattr(model, "output", None)
    if not isinstance(conv, torch.nn.Conv2d):
        raise CheckpointError(f"{type(model).__name__} has no output conv before a global residual; train without --identity-start")
    torch.nn.init.zeros_(conv.weight)
    if conv.bias is not None:
        torch.nn.init.zeros_(conv.bias)


def build_patches(cfg: TrainConfig) -> PairedPatches:
    if cfg.synthetic_rain:
        clean = [p for d in cfg.data for p in find_clean_images(d)]
        return PairedPatches(clean_only=clean, size=cfg.crop, synth=RainSynthesizer())
    pairs = [p for d in expand_data_dirs(cfg.data) for p in find_pairs(d)]
    synth = RainSynthesizer() if cfg.synthetic_fraction > 0 else None
    cast = ColourCast() if cfg.colour_cast > 0 else None
    return PairedPatches(
        pairs=pairs, size=cfg.crop, synth=synth, synthetic_fraction=cfg.synthetic_fraction, cast=cast, cast_fraction=cfg.colour_cast
    )


def _state_path(out: Path) -> Path:
    return out.with_name(out.name + ".state")


@dataclass
class TrainResult:
    model: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    wall_time_s: float = 0.0


def train(
    cfg: TrainConfig,
    out: str | Path,
    resume: bool = False,
    command: str = "",
    progress: Callable[[int, int, float], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train ``cfg.architecture``/``cfg.preset`` and write the checkpoint ``out`` after each epoch.

    ``progress(iteration, total, loss)`` is called after every iteration and ``log(line)``
    after every epoch. Returns the model (train mode) and the per-epoch history.
    """
    from .checkpoint import load_checkpoint, save_checkpoint

    out = Path(out)
    torch.set_num_threads(cfg.threads)
    arch = get_architecture(cfg.architecture)
    config = arch.config(cfg.preset)
    torch.manual_seed(cfg.seed)
    model = arch.build(config)
    if cfg.identity_start:
        start_at_identity(model)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    total = cfg.epochs * cfg.iters_per_epoch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total, 1), eta_min=cfg.lr_min)
    gen = torch.Generator().manual_seed(cfg.seed)
    start_epoch, history, wall = 0, [], 0.0

    if resume:
        if not out.exists() or not _state_path(out).exists():
            raise CheckpointError(f"cannot resume: {out} or its training state {_state_path(out)} is missing; train without --resume")
        ckpt = load_checkpoint(out)
        if ckpt.architecture != cfg.architecture or ckpt.meta.get("preset") != cfg.preset:
            raise CheckpointError(
                f"cannot resume: {out} is {ckpt.architecture}/{ckpt.meta.get('preset')}, not {cfg.architecture}/{cfg.preset}"
            )
        model.load_state_dict(ckpt.state_dict)
        state = torch.load(_state_path(out), map_location="cpu", weights_only=True)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, history, wall = int(state["epoch"]), list(ckpt.meta.get("history", [])), float(state["wall_time_s"])

    patches = build_patches(cfg)
    model.train()
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        losses = []
        for it in range(cfg.iters_per_epoch):
            rainy, clean = patches.batch(cfg.batch_size, gen)
            output = model(rainy)
            loss = training_loss(output, clean, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            if progress:
                progress(epoch * cfg.iters_per_epoch + it + 1, total, losses[-1])
        wall += time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "loss": sum(losses) / len(losses), "lr": sched.get_last_lr()[0], "wall_time_s": round(wall, 1)})
        meta = {
            "preset": cfg.preset,
            "train": asdict(cfg),
            "command": command,
            "epochs_done": epoch + 1,
            "wall_time_s": round(wall, 1),
            "history": history,
        }
        save_checkpoint(out, model, cfg.architecture, config, meta)
        torch.save(
            {
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "generator": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "epoch": epoch + 1,
                "wall_time_s": wall,
            },
            _state_path(out),
        )
        if log:
            h = history[-1]
            log(f"epoch {h['epoch']}/{cfg.epochs} loss {h['loss']:.4f} lr {h['lr']:.2e} wall {h['wall_time_s']:.0f}s")
    return TrainResult(model, history, wall)
