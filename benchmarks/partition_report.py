"""Per model: what lands on the chip and what on the host (issue 6), as a Markdown table.

    .venv/bin/python benchmarks/partition_report.py > benchmarks/partition_report.md

Tiny presets use the shipped checkpoints when present; paper presets their initial
weights (counts do not depend on weight values). Definitions: see
``neurodeploy.passes.partition.summarize``.
"""

from __future__ import annotations

import time

import torch

from neurodeploy.checkpoint import load_model, zoo
from neurodeploy.nir_export import export_graph
from neurodeploy.ir import graph_info
from neurodeploy.models import get_architecture
from neurodeploy.ir import DeployGraph
from neurodeploy.passes.partition import partition, summarize

CASES = [("toy-residual", "default", 32), ("esdnet", "tiny", 64), ("vlifnet", "tiny", 64), ("spikerain", "tiny", 64),
         ("esdnet", "paper", 256), ("vlifnet", "paper", 256), ("spikerain", "paper", 256)]


def main() -> None:
    shipped = {e.name for e in zoo()}
    print("# Chip/host partition per model\n")
    print("Command: `.venv/bin/python benchmarks/partition_report.py > benchmarks/partition_report.md`.\n")
    print("| model | size | side | layers | neurons | synapses | MACs/image | host-block FLOPs/image | crossings/step | values crossing/step | export s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    hints = {}
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
        part = partition(g)
        s = summarize(g, part)
        for side in ("chip", "host"):
            d = s[side]
            extra = (f"{s['crossings_per_step']} | {s['values_crossing_per_step']:,} | {seconds:.1f}" if side == "chip"
                     else " | | ")
            print(f"| {name}/{preset} ({source}) | {size}² | {side} | {d['layers']} | {d['neurons']:,} | {d['synapses']:,} | "
                  f"{d['macs_per_image']:,} | {d['host_block_flops_per_image']:,} | {extra} |")
        for node, hint in s["host_nodes"].items():
            if hint:
                hints.setdefault(hint, set()).add(f"{name}:{node.split('.')[-1] if '.' in node else node}")
    print("\nDefinitions:", summarize.__doc__.split("Definitions:")[1].strip().replace("\n   ", ""))
    print("\n## Host nodes and whether they could stay on chip\n")
    for hint, where in hints.items():
        kinds = sorted(where)
        print(f"- {hint} ({', '.join(kinds[:6])}{', ...' if len(kinds) > 6 else ''})")


if __name__ == "__main__":
    main()
