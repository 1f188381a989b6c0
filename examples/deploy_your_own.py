"""Deploy your own trained SNN from Python: train -> checkpoint -> bundle -> Lava simulator -> report.

    python examples/deploy_your_own.py [--out build/my-snn] [--size 16 16] [--steps 20]

A toy-residual (conv -> LIF units with a residual join, the smallest network with
everything that makes deployment hard) is trained for a few Adam steps on the shipped
rainy/clean pair, saved as a neurodeploy checkpoint, exported to a bundle, run on the
Lava float simulator and compared with torch layer by layer, and reported.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import neurodeploy
from neurodeploy.images import center_crop, read_image
from neurodeploy.models.toy_residual import ToyResidual

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("build/my-snn"))
    p.add_argument("--size", type=int, nargs=2, default=[16, 16], metavar=("H", "W"))
    p.add_argument("--steps", type=int, default=20, help="Adam steps of training")
    args = p.parse_args(argv)
    size = tuple(args.size)

    # 1. your network, trained your way (here: a few steps of L1 on one crop)
    torch.manual_seed(0)
    config = {"channels": 4, "t_steps": 4, "v_threshold": 0.15, "tau": 2.0}
    model = ToyResidual(**config)
    rainy = torch.as_tensor(center_crop(read_image(HERE / "images/ddn-sirr-input11-rainy.png"), size))[None].float()
    clean = torch.as_tensor(center_crop(read_image(HERE / "images/ddn-sirr-input11-clean.png"), size))[None].float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(args.steps):
        opt.zero_grad()
        loss = (model(rainy) - clean).abs().mean()
        loss.backward()
        opt.step()
    model.eval()

    # 2. deploy: checkpoint -> bundle -> validate on the Lava simulator -> report
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = neurodeploy.save_checkpoint(args.out / "model.pt", model, "toy-residual", config, {"preset": "mine"})
    neurodeploy.export_bundle(ckpt, args.out / "bundle", size=size, force=True)
    crop = args.out / "crop.png"
    from neurodeploy.images import write_image

    write_image(crop, rainy[0].numpy())
    verdict = neurodeploy.validate_bundle(args.out / "bundle", images=[crop], executor="lava-float")
    report = neurodeploy.report_bundle(args.out / "bundle", images=[crop], executor="lava-float")

    print(f"trained {args.steps} steps, L1 {loss.item():.4f}; Lava float vs torch: "
          f"{'PASSED' if verdict['passed'] else 'FAILED'} ({min(verdict['layers'].values()):.2f} % lowest layer)")
    print(f"{report['totals']['spikes']:.0f} spikes, {report['totals']['synops']:.0f} synops, "
          f"{report['energy']['models']['loihi']['per_image_uj']:.3g} µJ/image on Loihi (Loihi 1 figures); "
          f"open {args.out / 'bundle' / 'report.html'}")
    return {"verdict": verdict, "report": report}


if __name__ == "__main__":
    main()
