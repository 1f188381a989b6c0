"""Quantization-aware fine-tuning (QAT): train through the integer model's weight rounding.

``neurodeploy finetune CKPT --qat --data DIR --out CKPT`` fine-tunes a checkpoint with the
papers' loss while every chip convolution computes with the weights PTQ will give it
(:mod:`neurodeploy.quantize.ptq`), rounded the same way:

- the conv's weight with its BatchNorm folded in (``w · γ / sqrt(var + eps)``, per output
  channel, as the exporter folds it) times the synapse gain (the neuron's input gain, from the
  neuron-form pass), is quantized to 8-bit mantissas on one per-layer scale
  ``s = max|w_f| / 127`` -- enlarged to ``vth / floor(vth / s)`` when the conv alone feeds
  one neuron layer on binary spikes, so the threshold is a whole number of weight LSBs (PTQ's
  rule) -- with ``round`` half to even (numpy's and torch's), clipped to ``[-127, 127]``;
- the forward pass uses ``mant · s`` unfolded back to the conv's own weight; the backward
  pass is the straight-through estimator (``w + (w_q - w).detach()``: gradient 1);
- BatchNorm layers run on their running statistics (eval mode), so the fold used at export
  is the fold trained through.

Which convs are on the chip, their BatchNorms, gains and thresholds come from exporting the
model at the crop size and running the passes (the same code as ``export``). VLIF-T's
compression is a ``Conv3d`` with kernel (r², 1, 1) in the model and a 1×1 conv on r² channel
groups on the chip: the same weights permuted, so one per-layer scale and elementwise rounding
fake-quantize it in its own shape. The scales are
recomputed from the current weights at every step (PTQ computes them from the final weights).

Not fake-quantized: graded activations (16-bit payloads at calibrated scales; their rounding
is 2**-15 of the range) and the neurons' integer dynamics (12-bit decays, the threshold
rounded to one LSB of ``v``): the measured PTQ cost is already below 0.1 dB
(``benchmarks/quantize_ptq.md``); the weight grid is the coarsest rounding of the chip.

**QAT state lives outside the model's state_dict**: the plan (:class:`QatPlan`) is plain
data and the fake quantization is an instance-level ``forward`` on each chip conv, removed
after training, so the checkpoint holds ordinary tensors under the model's own keys and loads
everywhere; its meta records ``qat`` (method, layers, steps, data, command).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from neurodeploy.errors import NeurodeployError
from neurodeploy.quantize.ptq import WEIGHT_MAX  # the one 8-bit weight bound (PTQ's)


@dataclass
class QatLayer:
    """One chip conv: its module path, the BatchNorm folded into it (or None), the synapse gain
    (model units), and the threshold of the one neuron layer it alone feeds on binary spikes (or None)."""

    module: str
    bn: str | None
    gain: float
    vth: float | None


@dataclass
class QatPlan:
    layers: list[QatLayer] = field(default_factory=list)
    size: tuple[int, int] = (64, 64)


def plan(model: torch.nn.Module, architecture: str, config: dict, size: tuple[int, int]) -> QatPlan:
    """Export ``model`` at ``size`` and run the passes: which convs PTQ quantizes, and how."""
    import nir

    from neurodeploy.nir_export import export_graph
    from neurodeploy.ir.graph import DeployGraph
    from neurodeploy.passes import FLOW
    from neurodeploy.quantize.ptq import _sole_neuron_threshold

    g = DeployGraph.from_nir(export_graph(model, size, architecture=architecture, config=config))
    for _, run in FLOW:
        run(g)
    layers = []
    for name in g.order:
        if g.info.side.get(name) != "chip" or not isinstance(g.node(name), nir.Conv2d):
            continue
        try:
            model.get_submodule(name)
        except AttributeError:  # a fixed synapse export added (a split gate's pooling): no weights to train
            continue
        binary = all(g.edge_kind(p, name) == "binary" for p in g.predecessors(name))
        layers.append(QatLayer(name, g.info.folded_batchnorm.get(name), float(g.info.synapse_gain.get(name, 1.0)),
                               _sole_neuron_threshold(g, name) if binary else None))
    return QatPlan(layers, tuple(size))


def weight_scale(w_folded: torch.Tensor, vth: float | None) -> float:
    """PTQ's per-layer scale of a folded, gained weight (model units per LSB)."""
    peak = float(w_folded.abs().max())
    s = peak / WEIGHT_MAX if peak > 0 and math.isfinite(peak) else 1.0
    if vth is not None and vth >= s:
        s = vth / math.floor(vth / s)
    return s


def fake_quant_weight(conv: torch.nn.Conv2d | torch.nn.Conv3d, bn: torch.nn.BatchNorm2d | None, layer: QatLayer) -> torch.Tensor:
    """The conv's weight as the integer model uses it, with a straight-through gradient (see module docstring)."""
    w = conv.weight
    with torch.no_grad():
        k = torch.ones(w.shape[0], dtype=torch.float64)
        if bn is not None:
            k = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        k = k.view(-1, *([1] * (w.dim() - 1)))  # per output channel; a Conv3d (VLIF-T's compression) has 5 dims
        wf = w.detach().double() * k * layer.gain
        s = weight_scale(wf, layer.vth)
        mant = torch.clamp(torch.round(wf / s), -WEIGHT_MAX, WEIGHT_MAX)
        wq = (mant * s / layer.gain / k).to(w.dtype)
    return w + (wq - w).detach()


class FakeQuant:
    """Attach/remove the fake quantization of :func:`fake_quant_weight` on a model's chip convs."""

    def __init__(self, model: torch.nn.Module, qplan: QatPlan):
        self.model, self.plan = model, qplan
        self.convs = [model.get_submodule(layer.module) for layer in qplan.layers]
        self.bns = [model.get_submodule(layer.bn) if layer.bn else None for layer in qplan.layers]

    def attach(self) -> "FakeQuant":
        for conv, bn, layer in zip(self.convs, self.bns, self.plan.layers):
            conv.forward = _quantized_forward(conv, bn, layer)  # an instance attribute: not in state_dict
        return self

    def remove(self) -> None:
        for conv in self.convs:
            conv.__dict__.pop("forward", None)

    def __enter__(self) -> "FakeQuant":
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.remove()


def _quantized_forward(conv: torch.nn.Conv2d, bn, layer: QatLayer) -> Callable[[torch.Tensor], torch.Tensor]:
    def forward(x: torch.Tensor) -> torch.Tensor:
        w = fake_quant_weight(conv, bn, layer)
        if isinstance(conv, torch.nn.Conv2d) and x.dim() == 5:  # SeqConv2d: (T, N, C, H, W), each step alike
            t, n = x.shape[:2]
            y = conv._conv_forward(x.flatten(0, 1), w, conv.bias)
            return y.reshape(t, n, *y.shape[1:])
        return conv._conv_forward(x, w, conv.bias)
    return forward


def _freeze_batchnorm(model: torch.nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


@dataclass
class FinetuneConfig:
    """A fine-tuning run (stored in the checkpoint's meta under ``finetune``).

    ``distill`` weighs the loss against the base model's own float output (1.0: only that,
    0.0: only the clean targets): what fake quantization perturbs is the float model's
    function, so the float model is the target that does not pull the weights away from it.
    ``holdout`` is the fraction of the training pairs (every k-th, by path; the same for every
    seed) kept out of training; every ``eval_every`` batches the model, fake-quantized, is scored
    on ``holdout_crops`` fixed crops of them (PSNR against clean, dB), and the best state is kept,
    the unchanged base included (0 disables it: the last state is kept).
    ``schedule`` is ``cosine`` (lr decays to 0 over ``iters``) or ``constant``.
    """

    data: list[str]
    qat: bool = True
    iters: int = 50
    batch_size: int = 8
    crop: int = 64
    lr: float = 2e-5
    seed: int = 0
    threads: int = 1
    distill: float = 1.0
    holdout: float = 0.2
    eval_every: int = 10
    holdout_crops: int = 48
    schedule: str = "cosine"


def split_holdout(pairs: list, fraction: float) -> tuple[list, list]:
    """``(train, held)``: every k-th pair by path (k = round(1 / fraction)) held out; seed-independent."""
    pairs = sorted(pairs, key=lambda p: str(p.rainy))
    if fraction <= 0 or len(pairs) < 2:
        return pairs, []
    k = max(2, round(1 / fraction))
    held = pairs[k - 1::k] or pairs[-1:]
    return [p for p in pairs if p not in held], held


def holdout_psnr(model: torch.nn.Module, rainy: torch.Tensor, clean: torch.Tensor, batch: int = 8) -> float:
    """PSNR (dB, RGB in [0, 1], one MSE over all crops) of ``model`` on the held-out crops."""
    se, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rainy), batch):
            out = model(rainy[i:i + batch]).clamp(0, 1)
            se += float((out - clean[i:i + batch]).pow(2).sum())
            n += out.numel()
    return -10.0 * math.log10(max(se / n, 1e-12))


def finetune(checkpoint: str | Path, cfg: FinetuneConfig, out: str | Path, command: str = "",
             progress: Callable[[int, int, float], None] | None = None) -> dict:
    """Fine-tune ``checkpoint`` (with fake quantization when ``cfg.qat``) and write ``out``; returns its meta.

    Adam at ``cfg.lr`` (``cfg.schedule``), the loss the checkpoint was trained with (1 - SSIM plus its
    ``l1_weight``/``psnr_weight`` terms, from its meta) against ``cfg.distill`` · the base model's
    output + (1 - ``cfg.distill``) · the clean crop, random ``crop`` crops with flips; the state kept
    is the best on the held-out pairs (see :class:`FinetuneConfig`).
    Nothing is written until training has finished (the checkpoint is saved atomically).
    """
    import copy

    from neurodeploy.checkpoint import build_model, load_checkpoint, save_checkpoint
    from neurodeploy.models.data import PairedPatches, expand_data_dirs, find_pairs
    from neurodeploy.models.train import TrainConfig, build_patches, training_loss

    if cfg.iters < 1 or cfg.batch_size < 1 or cfg.crop < 8 or not cfg.lr > 0:
        raise NeurodeployError("finetune needs --iters >= 1, --batch-size >= 1, --crop >= 8 and --lr > 0")
    if not 0.0 <= cfg.distill <= 1.0 or not 0.0 <= cfg.holdout < 1.0 or cfg.eval_every < 1:
        raise NeurodeployError("finetune needs --distill in [0, 1], --holdout in [0, 1) and --eval-every >= 1")
    if cfg.schedule not in ("cosine", "constant"):
        raise NeurodeployError(f"unknown --schedule {cfg.schedule!r}; use cosine or constant")
    torch.set_num_threads(cfg.threads)
    ckpt = load_checkpoint(checkpoint)
    model = build_model(ckpt)
    base = ckpt.meta.get("train", {})  # the loss the checkpoint was trained with (1 - SSIM, + its extra terms)
    tcfg = TrainConfig(architecture=ckpt.architecture, preset=ckpt.meta.get("preset", "tiny"), data=list(cfg.data),
                       epochs=1, iters_per_epoch=cfg.iters, batch_size=cfg.batch_size, crop=cfg.crop, lr=cfg.lr,
                       seed=cfg.seed, threads=cfg.threads, l1_weight=float(base.get("l1_weight", 0.0)),
                       psnr_weight=float(base.get("psnr_weight", 0.0)))
    patches = build_patches(tcfg)  # refuses empty or unpaired folders in one line
    train_pairs, held = split_holdout([p for d in expand_data_dirs(cfg.data) for p in find_pairs(d)], cfg.holdout)
    if held:
        patches = PairedPatches(pairs=train_pairs, size=cfg.crop)
        # fixed crops (generator seed 0, not cfg.seed): every seed is scored on the same pixels
        held_rainy, held_clean = PairedPatches(pairs=held, size=cfg.crop).batch(cfg.holdout_crops,
                                                                                 torch.Generator().manual_seed(0))
    qplan = plan(model.eval(), ckpt.architecture, ckpt.config, (cfg.crop, cfg.crop)) if cfg.qat else QatPlan()
    teacher = copy.deepcopy(model).eval() if cfg.distill > 0 else None
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.iters) if cfg.schedule == "cosine" else None
    losses, history = [], []
    best = (-math.inf, 0, None)  # (held-out PSNR, iteration, state)
    start = time.perf_counter()
    with FakeQuant(model, qplan):
        def score(it: int) -> None:
            nonlocal best
            model.eval()
            psnr = holdout_psnr(model, held_rainy, held_clean)
            history.append({"iter": it, "holdout_psnr_db": round(psnr, 4)})
            if psnr > best[0]:  # strict: a tie keeps the earlier (less fine-tuned) state
                best = (psnr, it, {k: v.detach().clone() for k, v in model.state_dict().items()})
            model.train()
            _freeze_batchnorm(model)  # the fold trained through is the fold exported

        model.train()
        _freeze_batchnorm(model)
        if held:
            score(0)
        for it in range(cfg.iters):
            rainy, clean = patches.batch(cfg.batch_size, gen)
            out_ = model(rainy)
            loss = training_loss(out_, clean, tcfg) if cfg.distill < 1 else 0.0
            if teacher is not None:
                with torch.no_grad():
                    target = teacher(rainy)
                loss = (1 - cfg.distill) * loss + cfg.distill * training_loss(out_, target, tcfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            losses.append(float(loss.detach()))
            if held and ((it + 1) % cfg.eval_every == 0 or it + 1 == cfg.iters):
                score(it + 1)
            if progress:
                progress(it + 1, cfg.iters, losses[-1])
    wall = time.perf_counter() - start
    if held:
        model.load_state_dict(best[2])
    model.eval()
    meta = dict(ckpt.meta)  # keys are added, never dropped
    meta["finetune"] = {**asdict(cfg), "l1_weight": tcfg.l1_weight, "psnr_weight": tcfg.psnr_weight, "base": str(ckpt.path), "base_sha256": ckpt.sha256, "command": command,
                        "wall_time_s": round(wall, 1), "loss_first": losses[0], "loss_last": losses[-1],
                        "loss_mean_last10": sum(losses[-10:]) / len(losses[-10:]),
                        "train_pairs": len(train_pairs), "holdout_pairs": len(held), "holdout_history": history,
                        "best_iter": best[1] if held else cfg.iters}
    if cfg.qat:
        meta["qat"] = {"method": "fake-quantized chip conv weights (BatchNorm folded, synapse gain, PTQ's per-layer "
                                 "scale and threshold rule, round half to even, 8-bit), straight-through gradients",
                       "layers": len(qplan.layers), "iters": cfg.iters, "data": list(cfg.data), "command": command,
                       "crop": cfg.crop, "distill": cfg.distill, "schedule": cfg.schedule,
                       "best_iter": meta["finetune"]["best_iter"]}
    save_checkpoint(out, model, ckpt.architecture, ckpt.config, meta)
    return meta
