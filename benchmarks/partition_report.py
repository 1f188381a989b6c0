"""Per model: what lands on the chip and what on the host (issue 6), as a Markdown table.

    .venv/bin/python benchmarks/partition_report.py --write   # partition_report.out.json, then the .md from it
    .venv/bin/python benchmarks/partition_report.py --check   # does the .md equal its record?

Tiny presets use the shipped checkpoints when present; paper presets their initial
weights (counts do not depend on weight values). Definitions: see
``neurodeploy.passes.partition.summarize``.
"""

from __future__ import annotations

import time
from pathlib import Path


CASES = [("toy-residual", "default", 32), ("esdnet", "tiny", 64), ("vlifnet", "tiny", 64), ("spikerain", "tiny", 64),
         ("esdnet", "paper", 256), ("vlifnet", "paper", 256), ("spikerain", "paper", 256)]


HERE = Path(__file__).resolve().parent
MD, OUT = HERE / "partition_report.md", HERE / "partition_report.out.json"


def measure() -> dict:
    import torch

    from neurodeploy.checkpoint import load_model, zoo
    from neurodeploy.ir import DeployGraph, graph_info
    from neurodeploy.models import get_architecture
    from neurodeploy.nir_export import export_graph
    from neurodeploy.passes.partition import partition, summarize

    shipped = {e.name for e in zoo()}
    rows, hints = [], {}
    for name, preset, size in CASES:
        ckpt_name = name if name == "toy-residual" else f"{name}-{preset}"
        arch = get_architecture(name)
        if ckpt_name in shipped:
            model, ckpt = load_model(ckpt_name)
            config, source = ckpt.config, "shipped"
        else:
            torch.manual_seed(0)
            config, source = arch.config(preset), "init"
            model = arch.build(config).eval()
        start = time.perf_counter()
        graph = export_graph(model, (size, size), architecture=name, config=config)
        seconds = time.perf_counter() - start
        info = graph_info(graph)
        g = DeployGraph(graph, info)
        s = summarize(g, partition(g))
        rows.append({"model": name, "preset": preset, "source": source, "size": size, "export_s": round(seconds, 2),
                     "chip": s["chip"], "host": s["host"], "crossings_per_step": s["crossings_per_step"],
                     "values_crossing_per_step": s["values_crossing_per_step"]})
        for node, hint in s["host_nodes"].items():
            if hint:
                hints.setdefault(hint, set()).add(f"{name}:{node.split('.')[-1] if '.' in node else node}")
    return {"rows": rows, "hints": {h: sorted(w) for h, w in hints.items()},
            "definitions": summarize.__doc__.split("Definitions:")[1].strip().replace("\n   ", "")}


def render(out: dict) -> str:
    """partition_report.md from its recorded output file alone."""
    from _record import provenance, table

    lines = ["# Chip/host partition per model", "", provenance(out["meta"]), ""]
    body = []
    for r in out["rows"]:
        for side in ("chip", "host"):
            d = r[side]
            extra = ([str(r["crossings_per_step"]), f"{r['values_crossing_per_step']:,}", f"{r['export_s']:.1f}"]
                     if side == "chip" else ["", "", ""])
            body.append([f"{r['model']}/{r['preset']} ({r['source']})", f"{r['size']}²", side, str(d["layers"]),
                         f"{d['neurons']:,}", f"{d['synapses']:,}", f"{d['macs_per_image']:,}",
                         f"{d['host_block_flops_per_image']:,}", *extra])
    lines += table(["model", "size", "side", "layers", "neurons", "synapses", "MACs/image", "host-block FLOPs/image",
                    "crossings/step", "values crossing/step", "export s"], body, "lllrrrrrrrr")
    lines += ["", "Definitions: " + out["definitions"], "", "## Host nodes and whether they could stay on chip", ""]
    for hint, kinds in out["hints"].items():
        lines.append(f"- {hint} ({', '.join(kinds[:6])}{', ...' if len(kinds) > 6 else ''})")
    return "\n".join(lines + [""])


def main() -> None:
    import argparse
    import platform

    import _record

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write the .out.json and render the .md from it")
    ap.add_argument("--check", action="store_true", help="re-render the .md from the .out.json; exit 1 if it differs")
    args = ap.parse_args()
    if args.check:
        raise SystemExit(_record.check_or_write(MD, OUT, render, write=False))
    meta = _record.started()
    result = measure()
    out = {"command": meta["command"], "python": platform.python_version(), "meta": _record.finished(meta), **result}
    print(render(out))
    if args.write:
        _record.write_json(OUT, out)
        _record.write_md(MD, render(out))


if __name__ == "__main__":
    main()
