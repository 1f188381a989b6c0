"""Benchmark: export the paper-preset ESDNet to a full bundle (graph + partition + ONNX).

Target (issue 6): at most 15 s on this 2-core machine. The weights are the preset's
initial weights (seed 0): export time does not depend on their values.

    .venv/bin/python benchmarks/export_esdnet_paper.py --write   # .out.json, and the .md from it
    .venv/bin/python benchmarks/export_esdnet_paper.py --check   # does the .md equal its record?
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path



HERE = Path(__file__).resolve().parent
MD, OUT = HERE / "export_esdnet_paper.md", HERE / "export_esdnet_paper.out.json"


def render(out: dict) -> str:
    """export_esdnet_paper.md from its recorded output file alone."""
    from _record import provenance, table

    files = out["file_bytes"]
    return "\n".join([
        f"# Export of the paper-preset ESDNet (issue 6 target: at most {out['target_s']:.0f} s)", "",
        provenance(out.get("meta"), out), "",
        f"A whole bundle ({', '.join(sorted(files))}; the manifest with the partition) for ESDNet's paper preset "
        f"({out['params']:,} parameters, seeded initial weights) at {out['size'][0]}x{out['size'][1]}, T = 4, through "
        "`neurodeploy.bundle.export_bundle` -- what `neurodeploy export` runs, minus interpreter start; "
        f"torch with {out['torch_threads']} threads.", "",
        *table(["export (s)", "target (s)", "meets target", "chip / host layers", "crossings per step"],
               [[f"{out['export_bundle_s']:.2f}", f"{out['target_s']:.0f}", "yes" if out["meets_target"] else "NO",
                 f"{out['chip_layers']} / {out['host_layers']}", str(out["crossings_per_step"])]], "rrlrr"), "",
        *table(["file", "bytes"], [[k, f"{v:,}"] for k, v in sorted(files.items())], "lr"), ""])


def main() -> None:
    import platform

    import _record

    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, nargs=2, default=[256, 256])
    parser.add_argument("--write", action="store_true", help="write the .out.json and render the .md from it")
    parser.add_argument("--check", action="store_true", help="re-render the .md from the .out.json; exit 1 if it differs")
    args = parser.parse_args()
    if args.check:
        raise SystemExit(_record.check_or_write(MD, OUT, render, write=False))
    import torch

    from neurodeploy.bundle import export_bundle
    from neurodeploy.checkpoint import save_checkpoint
    from neurodeploy.models import get_architecture

    meta = _record.started()
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
    out = {
        "model": "esdnet/paper", "size": args.size, "torch_threads": torch.get_num_threads(),
        "export_bundle_s": round(seconds, 2), "target_s": 15.0, "meets_target": seconds <= 15.0,
        "params": sum(p.numel() for p in model.parameters()),
        "chip_layers": part["chip"]["layers"], "host_layers": part["host"]["layers"],
        "crossings_per_step": part["crossings_per_step"], "file_bytes": sizes,
    }
    print(json.dumps(out, indent=2))
    if args.write:
        out = {"command": meta["command"], "python": platform.python_version(), "meta": _record.finished(meta), **out}
        _record.write_json(OUT, out)
        _record.write_md(MD, render(out))


if __name__ == "__main__":
    main()
