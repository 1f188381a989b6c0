"""Write a checkpoint in the authors' key layout, with random weights, for the import benchmark.

    .venv/bin/python benchmarks/make_authors_checkpoint.py esdnet OUT.pth [--form training-module]

The tensors are those of neurodeploy's paper preset at its seeded initial weights (so
spikes fire as after initialisation, not as after training), with BatchNorm statistics
drawn at random, renamed to the authors' keys by *position*: the authors' key list
(``tests/data/<arch>-authors-state-dict.json``, read from models built with the authors'
code) is in the same order as neurodeploy's state_dict, which this script checks shape by
shape. It does not use the importer's key map, so the import is a real test of it.

Forms, as the authors' train.py writes them: ``bare`` (model_best.pth), ``training``
(``{epoch, state_dict, optimizer}``, model_last.pth), each with ``-module`` for the
DataParallel prefix. Default: ``training-module``, a model_last.pth from a 2-GPU run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from neurodeploy.models import get_architecture

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("architecture", choices=["esdnet", "spikerain"])
    ap.add_argument("out", type=Path)
    ap.add_argument("--form", default="training-module", choices=["bare", "bare-module", "training", "training-module"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    keys = json.loads((DATA / f"{args.architecture}-authors-state-dict.json").read_text())["keys"]
    arch = get_architecture(args.architecture)
    torch.manual_seed(args.seed)
    model = arch.build(arch.config("paper"))
    gen = torch.Generator().manual_seed(args.seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=gen) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    ours = list(model.state_dict().values())
    if len(ours) != len(keys) or any(list(t.shape) != shape for t, (_, shape) in zip(ours, keys)):
        raise SystemExit("the authors' key list no longer lines up with neurodeploy's state_dict")
    prefix = "module." if args.form.endswith("module") else ""
    state = {prefix + name: t.clone() for (name, _), t in zip(keys, ours)}
    if args.form.startswith("training"):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        state = {"epoch": 1000, "state_dict": state, "optimizer": opt.state_dict()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)
    print(f"wrote {args.out} ({args.architecture}, {len(keys)} tensors, form {args.form})")


if __name__ == "__main__":
    main()
