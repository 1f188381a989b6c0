"""Deploy your own trained SNN from Python: train -> checkpoint -> bundle -> Lava simulator -> report.

    python examples/deploy_your_own.py [--out build/my-snn] [--size 16 16] [--steps 20]

A toy-residual (conv -> LIF units with a residual join, the smallest network with
everything that makes deployment hard) is trained for a few Adam steps on the shipped
rainy/clean pair, saved as a neurodeploy checkpoint, exported to a bundle, run on the
Lava float simulator and compared with torch layer by layer, and reported. Nothing but
``import neurodeploy`` is needed from this project (:mod:`neurodeploy.api`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import neurodeploy

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("build/my-snn"))
    p.add_argument("--size", type=int, nargs=2, default=[16, 16], metavar=("H", "W"))
    p.add_argument("--steps", type=int, default=20, help="Adam steps of training")
    args = p.parse_args(argv)
    size = tuple(args.size)

    # 1. your network, trained your way (here: the shipped toy-residual, a few steps of L1 on one crop)
    torch.manual_seed(0)
    model, shipped = neurodeploy.load_model("toy-residual")
    model.train()
    crop = args.out / "crop.png"
    args.out.mkdir(parents=True, exist_ok=True)
    rainy = _centre(HERE / "images/ddn-sirr-input11-rainy.png", size, save_as=crop)
    clean = _centre(HERE / "images/ddn-sirr-input11-clean.png", size)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(args.steps):
        opt.zero_grad()
        loss = (model(rainy) - clean).abs().mean()
        loss.backward()
        opt.step()
    model.eval()

    # 2. deploy: checkpoint -> bundle -> validate on the Lava simulator -> report
    ckpt = neurodeploy.save_checkpoint(args.out / "model.pt", model, shipped.architecture, shipped.config,
                                       {"preset": "mine"})
    bundle = neurodeploy.export(ckpt, args.out / "bundle", size=size, force=True).path
    verdict = neurodeploy.validate(bundle, images=[crop], executor="lava-float")
    report = neurodeploy.report(bundle, images=[crop], executor="lava-float")

    print(f"trained {args.steps} steps, L1 {loss.item():.4f}; Lava float vs torch: "
          f"{'PASSED' if verdict.passed else 'FAILED'} ({min(verdict.layers.values()):.2f} % lowest layer)")
    print(f"{report.totals['spikes']:.0f} spikes, {report.totals['synops']:.0f} synops, "
          f"{report.energy_uj['loihi']:.3g} µJ/image on Loihi (Loihi 1 figures); open {bundle / 'report.html'}")
    return {"verdict": verdict.data, "report": report.data}


def _centre(path: Path, size: tuple[int, int], save_as: Path | None = None) -> torch.Tensor:
    """The centre ``size`` = (H, W) crop of an 8-bit RGB image as ``(1, 3, H, W)`` in [0, 1] (what a
    bundle does to a larger image); ``save_as``: also written as a PNG."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    top, left = (h - size[0]) // 2, (w - size[1]) // 2
    img = img.crop((left, top, left + size[1], top + size[0]))
    if save_as is not None:
        img.save(save_as)
    return torch.as_tensor(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


if __name__ == "__main__":
    main()
