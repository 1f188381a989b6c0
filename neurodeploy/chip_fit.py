"""Will it fit, and how fast will it run: the mapping pass combined with a run's activity.

Pipeline layer: it reads the mapping (:mod:`neurodeploy.passes.mapping`), a run's spike counts
(any executor's Traces), the system (:mod:`neurodeploy.systems`) and the per-operation costs
(:data:`neurodeploy.limits.LOIHI1_OPS`), and gives traffic per link kind, time per step (the
busiest core against each link, the bottleneck named), time per image, images per second and
the whole-system energy per image (chip, host, I/O). ``neurodeploy fit`` and ``report`` call it.

Why here and not in the pass: the pass decides blocks from shapes alone; time and energy need a
run (Traces, measured on this CPU for the host part), which only the pipeline has.

Units: time in seconds (``_s``) or nanoseconds (``_ns``), energy in µJ (``_uj``) or pJ (``_pj``),
bandwidth in bit/s, traffic per Loihi time step.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from neurodeploy.energy import PJ_PER_UJ, LoihiPerOp, OpCounts
from neurodeploy.errors import NeurodeployError
from neurodeploy.ir.graph import DeployGraph
from neurodeploy.limits import CORE_BUDGETS, LOIHI1_OPS, LOIHI2_DERIVED_CORE, CoreBudget, describe_figure
from neurodeploy.passes.mapping import Mapping, MappingError, chip_to_host, map_graph, traffic
from neurodeploy.systems import SYSTEMS, System, get_system

#: Pixels of halo each side of a tile when an image is larger than the system holds (the
#: project's `cut` tiling, benchmarks/tiling.md); a named assumption of the chip-pass count.
TILE_HALO_PX = 16
#: Image sizes are searched in steps of this many pixels (the derainers downsample by 4).
SIZE_STEP_PX = 16

_CPU_RATE: dict[str, float] = {}


def cpu_macs_per_s() -> float:
    """Multiply-accumulates per second of a float32 3x3 conv on this CPU (measured once per process)."""
    if "rate" not in _CPU_RATE:
        import torch

        x = torch.randn(1, 32, 64, 64)
        conv = torch.nn.Conv2d(32, 32, 3, padding=1, bias=False)
        with torch.no_grad():
            conv(x)
            start, reps = time.perf_counter(), 5
            for _ in range(reps):
                conv(x)
            seconds = (time.perf_counter() - start) / reps
        _CPU_RATE["rate"] = 32 * 32 * 9 * 64 * 64 / seconds
    return _CPU_RATE["rate"]


def rates_from_traces(traces, mapping: Mapping) -> dict[str, float]:
    """Spikes per neuron per step of every mapped neuron layer, mean over the Traces."""
    out = {}
    for name in mapping.units:
        counts = [float(np.count_nonzero(t.layers[name])) / (t.layers[name].size or 1) for t in traces
                  if name in t.layers]
        if counts:
            out[name] = float(np.mean(counts))
    return out


def performance(g: DeployGraph, m: Mapping, rates: dict[str, float], host_macs_per_image: float,
                steps_per_image: int, t_steps: int) -> dict[str, Any]:
    """Traffic, time and whole-system energy of one image on ``m``'s system (see the module docstring)."""
    ops = LOIHI1_OPS
    sysm = m.system
    tr = traffic(m, rates, t_steps=g.t_steps)
    tr["kinds"]["chip_to_host"] = chip_to_host(g, m, rates)
    # the busiest core: its synaptic operations and neuron updates at the per-operation times
    busiest, busiest_layer, synops_step, spikes_step, neurons = 0.0, None, 0.0, 0.0, 0
    for u in m.units.values():
        u_ops = 0.0
        for s in u.syns:
            per_src = s.dense_ops(u.neurons) / max(len(s.sources), 1)
            for src, _ in s.sources:
                graded = src is None or m.units[src].graded
                u_ops += per_src * (1.0 if graded else rates.get(src, 0.0))
        synops_step += u_ops
        neurons += u.neurons
        spikes_step += u.neurons * (1.0 if u.graded else rates.get(u.name, 0.0))
        block = int(np.prod(u.tile))
        ns = u_ops * block / u.neurons * float(ops.synop_ns) + block * float(ops.neuron_update_ns)
        if ns > busiest:
            busiest, busiest_layer = ns, u.name
    k = tr["kinds"]
    bounds = {
        "busiest_core": busiest * 1e-9,
        "chip_to_chip_link": tr["busiest_chip_out_bits_per_step"] / float(sysm.chip_link_bits_per_s),
        "host_link": (k["host_to_chip"]["bits_per_step"] + k["chip_to_host"]["bits_per_step"])
        / float(sysm.host_link_bits_per_s),
    }
    bottleneck = max(bounds, key=bounds.get)
    step_s = bounds[bottleneck]
    rate = cpu_macs_per_s()
    host_s = host_macs_per_image / rate
    chip_s = steps_per_image * step_s
    per_image = chip_s + host_s
    counts = OpCounts(synops=synops_step * t_steps, spikes=spikes_step * t_steps,
                      neuron_updates=float(neurons * t_steps))
    chip_uj = LoihiPerOp().energy_uj(counts)
    io_bits = (k["host_to_chip"]["bits_per_step"] + k["chip_to_host"]["bits_per_step"]
               + k["chip_to_chip"]["bits_per_step"]) * t_steps
    io_uj = io_bits * float(sysm.io_pj_per_bit) / PJ_PER_UJ
    host_uj = host_macs_per_image * float(sysm.host_pj_per_mac) / PJ_PER_UJ
    return {
        "traffic": {**tr["kinds"], "busiest_chip_out_bits_per_step": tr["busiest_chip_out_bits_per_step"],
                    "bits_per_message": tr["bits_per_message"], "note": tr["note"]},
        "time": {
            "step_bounds_s": bounds, "bottleneck": bottleneck, "busiest_core_layer": busiest_layer,
            "step_s": step_s, "steps_per_image": steps_per_image, "chip_s_per_image": chip_s,
            "host_s_per_image": host_s, "host_cpu_macs_per_s": rate,
            "host_note": "host islands' MACs / this CPU's measured float32 conv rate (measured on this CPU, "
                         "not on the system's host); chip and host run one after the other (not pipelined)",
        },
        "time_per_image_s": per_image,
        "images_per_s": 1.0 / per_image if per_image else None,
        "system_uj": {"chip": chip_uj, "host": host_uj, "io": io_uj, "total": chip_uj + host_uj + io_uj},
        "system_energy_terms": {
            "chip": f"Loihi per-operation model on the mapped activity: {counts.synops:.4g} synops, "
                    f"{counts.neuron_updates:.4g} neuron updates, {counts.spikes:.4g} spikes per image",
            "host": f"{host_macs_per_image:.4g} host MACs x {float(sysm.host_pj_per_mac):g} pJ",
            "io": f"{io_bits:.4g} bits across chip boundaries (host link and chip-to-chip) x "
                  f"{float(sysm.io_pj_per_bit):g} pJ/bit",
        },
        "per_op_figures": {k2: describe_figure(v) for k2, v in ops.figures().items()},
    }


def smallest_fitting(g: DeployGraph, budget: CoreBudget = LOIHI2_DERIVED_CORE, shared: bool = True) -> Mapping:
    """The mapping on the smallest system of :data:`SYSTEMS` that holds the chip part (else the largest)."""
    m = None
    for sysm in SYSTEMS.values():
        m = map_graph(g, sysm, budget, shared)
        if m.fits:
            return m
    return m


def largest_size(g: DeployGraph, base: tuple[int, int], system: System, budget: CoreBudget, shared: bool,
                 aspect: float = 1.0, limit_px: int = 1 << 15) -> tuple[int, int] | None:
    """The largest (H, W), H = aspect x W, in steps of :data:`SIZE_STEP_PX`, whose chip part fits ``system``."""
    def fits(w: int) -> bool:
        h = max(SIZE_STEP_PX, int(round(w * aspect / SIZE_STEP_PX)) * SIZE_STEP_PX)
        try:
            return map_graph(g, system, budget, shared, scale=(h / base[0], w / base[1])).fits
        except MappingError:
            return False

    lo, hi = 0, limit_px // SIZE_STEP_PX
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid * SIZE_STEP_PX) else (lo, mid - 1)
    if lo == 0:
        return None
    w = lo * SIZE_STEP_PX
    return (max(SIZE_STEP_PX, int(round(w * aspect / SIZE_STEP_PX)) * SIZE_STEP_PX), w)


def tile_plan(size: tuple[int, int], tile: tuple[int, int] | None) -> dict[str, Any]:
    """Chip passes for an image of ``size`` (H, W) through square tiles of ``tile`` with a halo each side."""
    h, w = size
    if tile is None:
        return {"fits_whole": False, "tile": None, "passes": None}
    if tile[0] >= h and tile[1] >= w:
        return {"fits_whole": True, "tile": list(tile), "passes": 1}
    core_h, core_w = tile[0] - 2 * TILE_HALO_PX, tile[1] - 2 * TILE_HALO_PX
    if core_h <= 0 or core_w <= 0:
        return {"fits_whole": False, "tile": list(tile), "passes": None, "note": "tile no larger than its halo"}
    return {"fits_whole": False, "tile": list(tile), "halo_px": TILE_HALO_PX,
            "passes": int(-(-h // core_h) * -(-w // core_w))}


def fit(g: DeployGraph, base: tuple[int, int], system: System, rates: dict[str, float], host_macs_base: float,
        steps_per_image: int, t_steps: int, sizes: list[tuple[int, int]], budget_name: str = "loihi2-derived",
        shared: bool = True) -> dict[str, Any]:
    """``neurodeploy fit``'s answer for the graph exported at ``base`` (H, W) on ``system``, at each of ``sizes``."""
    if budget_name not in CORE_BUDGETS:
        raise NeurodeployError(f"unknown core budget '{budget_name}'; choose one of: {', '.join(CORE_BUDGETS)}")
    budget = CORE_BUDGETS[budget_name]
    largest = largest_size(g, base, system, budget, shared)
    out: dict[str, Any] = {"system": system.describe(), "budget": budget_name, "conv_weights_shared": shared,
                           "largest_square_px": list(largest) if largest else None, "sizes": [],
                           "tile_halo_px": TILE_HALO_PX, "rates_measured_at": list(base)}
    for size in sizes:
        scale = (size[0] / base[0], size[1] / base[1])
        try:
            m = map_graph(g, system, budget, shared, scale=scale)
        except MappingError as exc:
            out["sizes"].append({"size": list(size), "fits": False, "error": str(exc)})
            continue
        entry: dict[str, Any] = {"size": list(size), "fits": m.fits, "cores": m.cores, "chips": m.chips,
                                 "first_misfit": m.first_misfit()}
        plan = tile_plan(size, None if m.fits else largest)
        if m.fits:
            plan = {"fits_whole": True, "tile": list(size), "passes": 1}
        entry["tiling"] = plan
        run_size = tuple(size) if m.fits else tuple(largest) if largest else None
        if run_size is not None and plan.get("passes"):
            rm = m if m.fits else map_graph(g, system, budget, shared,
                                            scale=(run_size[0] / base[0], run_size[1] / base[1]))
            area = run_size[0] * run_size[1] / (base[0] * base[1])
            perf = performance(g, rm, rates, host_macs_base * area, steps_per_image, t_steps)
            passes = plan["passes"]
            entry.update(per_pass={"cores": rm.cores, "chips": rm.chips, "size": list(run_size),
                                   "time_s": perf["time_per_image_s"], "bottleneck": perf["time"]["bottleneck"],
                                   "energy_uj": perf["system_uj"]},
                         time_per_image_s=perf["time_per_image_s"] * passes,
                         images_per_s=1.0 / (perf["time_per_image_s"] * passes),
                         energy_system_uj={k: v * passes for k, v in perf["system_uj"].items()})
        out["sizes"].append(entry)
    return out


def load_for_fit(target: str, base: tuple[int, int] = (64, 64)):
    """A checkpoint (path or shipped name) or a model bundle -> (DeployGraph passed, torch model, base size)."""
    from pathlib import Path

    from neurodeploy.checkpoint import build_model, load_checkpoint
    from neurodeploy.nir_export import export_graph
    from neurodeploy.passes import run_passes

    path = Path(target)
    if path.is_dir():
        from neurodeploy.bundle import Bundle

        bundle = Bundle.open(path)
        if bundle.is_nir:
            raise NeurodeployError(f"{path} is a bundle of a .nir file; `fit` takes a model or a model bundle "
                                   "(use `report --system` for a .nir file's bundle)")
        model = bundle.model()
        ckpt = load_checkpoint(path / "model.pt")
    else:
        ckpt = load_checkpoint(target)
        model = build_model(ckpt)
    g = DeployGraph.from_nir(export_graph(model, base, architecture=ckpt.architecture, config=ckpt.config))
    run_passes(g)
    return g, model, base


def host_macs(g: DeployGraph) -> float:
    """MACs of the host part per image (host convs + host-block FLOPs / 2), as the report counts them."""
    from neurodeploy.passes.partition import partition, summarize

    s = summarize(g, partition(g))["host"]
    return float(s["macs_per_image"]) + float(s["host_block_flops_per_image"]) / 2


def fit_target(target: str, system_name: str, sizes: list[tuple[int, int]], budget: str = "loihi2-derived",
               shared: bool = True, base: tuple[int, int] = (64, 64)) -> dict[str, Any]:
    """``neurodeploy fit TARGET --system NAME --size H W``: rates from a torch run at ``base`` on the shipped photo."""
    from neurodeploy.images import load_inputs
    from neurodeploy.targets.torch_reference import TorchReference

    system = get_system(system_name)
    g, model, base = load_for_fit(target, base)
    images, _ = load_inputs(None, base)
    traces = TorchReference(model, g.nir, g.info).run(images)
    m0 = map_graph(g, system, CORE_BUDGETS.get(budget, LOIHI2_DERIVED_CORE), shared)
    rates = rates_from_traces(traces, m0)
    steps = int(g.t_steps + max(g.info.latency.values(), default=0))
    result = fit(g, base, system, rates, host_macs(g), steps, g.t_steps, sizes, budget, shared)
    result.update(target=str(target), t_steps=g.t_steps, steps_per_image=steps,
                  rates_note=f"firing rates of a torch run at {base[0]}x{base[1]} on the shipped photo, assumed "
                             "to hold at every size")
    return result


def report_section(g: DeployGraph, traces, host_macs_per_image: float, system_name: str | None = None,
                   budget: str = "loihi2-derived", shared: bool = True) -> dict[str, Any]:
    """The report's new keys for a run (``traces``) of the graph ``g``: ``mapping``, ``traffic``,
    ``time``, ``time_per_image_s``, ``images_per_s`` and ``system_uj`` (for ``energy``); on
    ``system_name``, or without it the smallest system that holds the chip part. A sequence
    graph's (a ``.nir`` file's) "image" is one sample of the Traces' T steps."""
    core = CORE_BUDGETS[budget]
    m = map_graph(g, get_system(system_name), core, shared) if system_name else smallest_fitting(g, core, shared)
    rates = rates_from_traces(traces, m)
    t_steps = int(traces[0].t_steps)
    steps = traces[0].meta.get("lava_steps_per_image") or int(t_steps + max(g.info.latency.values(), default=0))
    perf = performance(g, m, rates, host_macs_per_image, int(steps), t_steps)
    other = "loihi1" if budget != "loihi1" else "loihi2-derived"
    mapping = m.to_dict()
    mapping["system_chosen"] = "given (--system)" if system_name else "the smallest system that holds the chip part"
    mapping["cores_under_other_budget"] = {other: map_graph(g, m.system, CORE_BUDGETS[other], shared).cores}
    mapping["system_figures"] = m.system.describe()
    return {"mapping": mapping, "traffic": perf["traffic"], "time": perf["time"],
            "time_per_image_s": perf["time_per_image_s"], "images_per_s": perf["images_per_s"],
            "system_uj": perf["system_uj"], "system_energy_terms": perf["system_energy_terms"],
            "per_op_figures": perf["per_op_figures"]}
