"""Benchmark: export the paper-preset ESDNet to a full bundle (graph + partition + ONNX).

Target (issue 6): at most 15 s on this 2-core machine. The weights are the preset's
initial weights (seed 0): export time does not depend on their values.

    .venv/bin/python benchmarks/export_esdnet_paper.py [--size 256 256]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from neurodeploy.bundle import export_bundle
from neurodeploy.checkpoint import save_checkpoint
from neurodeploy.models import get_architecture


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, nargs=2, default=[256, 256])
    args = parser.parse_args()
    arch = get_architecture("esdnet")
    config = arch.config("paper")
    torch.manual_seed(0)
    model = arch.build(config)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = save_checkpoint(Path(tmp) / "esdnet-paper.pt", model, "esdnet", config, {"preset": "paper"})
        start = time.perf_counter()
        manifest = export_bundle(ckpt, Path(tmp) / "bundle", size=tuple(args.size))
        seconds = time.perf_counter() - start
        sizes = {p.name: p.stat().st_size for p in (Path(tmp) / "bundle").iterdir()}
    part = manifest["partition"]
    print(json.dumps({
        "model": "esdnet/paper", "size": args.size, "torch_threads": torch.get_num_threads(),
        "export_bundle_s": round(seconds, 2), "target_s": 15.0, "meets_target": seconds <= 15.0,
        "params": sum(p.numel() for p in model.parameters()),
        "chip_layers": part["chip"]["layers"], "host_layers": part["host"]["layers"],
        "crossings_per_step": part["crossings_per_step"], "file_bytes": sizes,
    }, indent=2))


if __name__ == "__main__":
    main()
