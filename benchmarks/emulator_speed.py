"""Integer emulator vs Lava's stock fixed_pt models on a chain of conv + LIF layers: same spikes? how much faster?

The chain (the LOIHI.md timing case): a graded input image (8-bit payloads) -> 8 × (Conv
3×3, 16 channels, padding 1 -> LIF), 64×64, T = 13 steps, random 8-bit weights (seeded),
du = 4095, dv = 2048, vth_mant = 60. Lava: ``Loihi2SimCfg(select_tag="fixed_pt")`` with
Lava's own ``Conv`` and ``LIF`` (PyConvModelFixed, PyLifModelBitAcc), run for T + 8 steps
(one step per synaptic hop), spikes read from RingBuffer sinks and realigned to logical
steps; build/compile time excluded (the first ``run`` call is timed separately). Emulator:
:func:`neurodeploy.targets.emulator.conv_int` and :func:`lif_int`. Both sides run ``--rounds``
times, alternating, and both report the median (every run is in the .out.json).

Second part (``--derainer``, issue 17's target): a whole quantized ``esdnet-tiny`` at 64×64 (exported
with ``--quantize int --calib examples/images/calib``) on the centre crop of the shipped rainy photo,
same T, ``--rounds`` rounds that each run every executor once on one image (latency) and once
on ``--stream`` images back to back (throughput), the emulator with ``--threads`` torch threads
fixed before anything is measured; the median of the rounds on every side,
against Lava fixed_pt with the project's fastest process models (``lava-fixed``: the vectorised
fixed_pt Conv) and with Lava's stock Conv model (``lava-fixed-stock``); Lava's compile/build and
first step are timed apart and excluded (:meth:`FixedLavaNetwork.run_timed`); every layer's spikes
and the output image must be identical.

Run: ``.venv/bin/python benchmarks/emulator_speed.py --write`` (writes emulator_speed.md/.out.json);
``--derainer`` adds the whole-derainer part (several minutes on a loaded 2-core machine); ``--check``
re-renders the .md from the .out.json and exits 1 if they differ.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

# torch, neurodeploy and Lava are imported where they are used: --check renders from the record
# without them (tests run it as a subprocess)

LAYERS, C, H, W, T = 8, 16, 64, 64, 13
DU, DV, VTH = 4095, 2048, 60


def setup(seed: int = 0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(3, H, W))
    weights = [rng.integers(-127, 128, size=(C, 3 if i == 0 else C, 3, 3)) // (8 if i == 0 else 1) for i in range(LAYERS)]
    return image, weights


def emulate(image, weights):
    import torch

    from neurodeploy.targets.emulator import conv_int, lif_int

    x = torch.as_tensor(image)[None].expand(T, 3, H, W).reshape(T, 1, 3, H, W)
    spikes = []
    start = time.perf_counter()
    for w in weights:
        wt = torch.as_tensor(w)
        a = conv_int(x.flatten(0, 1), wt, padding=(1, 1)).reshape(T, 1, C, H, W)
        x = lif_int(a, DU, DV, VTH)
        spikes.append(x[:, 0].numpy())
    return spikes, time.perf_counter() - start


def lava(image, weights):
    import neurodeploy.targets.loihi  # noqa: F401  (Lava's Python 3.11 shim, before lava)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.conv.process import Conv
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    steps = T + LAYERS
    data = np.zeros((W, H, 3, steps), dtype=np.int32)
    data[..., :T] = image.transpose(2, 1, 0)[..., None]
    src = Source(data=data)
    prev, sinks = src.s_out, []
    for i, w in enumerate(weights):
        conv = Conv(weight=np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)),
                    input_shape=(W, H, w.shape[1]), padding=(1, 1), num_message_bits=24 if i == 0 else 0)
        lif = LIF(shape=(W, H, C), du=DU, dv=DV, vth=VTH)
        sink = Sink(shape=(W, H, C), buffer=steps)
        prev.connect(conv.s_in)
        conv.a_out.connect(lif.a_in)
        lif.s_out.connect(sink.a_in)
        prev = lif.s_out
        sinks.append(sink)
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    try:
        start = time.perf_counter()
        src.run(condition=RunSteps(num_steps=1), run_cfg=cfg)  # compile + build + one step
        first = time.perf_counter() - start
        start = time.perf_counter()
        src.run(condition=RunSteps(num_steps=steps - 1), run_cfg=cfg)
        rest = time.perf_counter() - start
        out = [np.asarray(s.data.get()) for s in sinks]
    finally:
        src.stop()
    # LIF i (1-based) shows logical step t at Lava step t + i (index t + i - 1 + 1 - 1 = t + i)
    spikes = [o.transpose(3, 2, 1, 0)[i + 1:i + 1 + T] for i, o in enumerate(out)]
    return spikes, first, rest * steps / (steps - 1)


def _median(xs: list[float]) -> float:
    return float(np.median(xs))


def derainer(model: str = "esdnet-tiny", size: int = 64, rounds: int = 5, stream: int = 4) -> dict:
    """The whole-derainer comparison (module docstring): seconds per image, one image (latency) and
    ``stream`` images back to back (throughput), and identical spikes. Torch's thread count is the
    caller's, fixed before this runs."""
    import tempfile

    import torch

    from neurodeploy.bundle import Bundle, export_bundle
    from neurodeploy.images import load_inputs
    from neurodeploy.targets import make_executor
    from neurodeploy.targets.loihi.fixed_network import FixedLavaNetwork

    with tempfile.TemporaryDirectory() as tmp:
        export_bundle(model, Path(tmp) / "b", size=(size, size), quantize="int", calib="examples/images/calib")
        bundle = Bundle.open(Path(tmp) / "b")
        one, _ = load_inputs(None, bundle.input_size)
        # the stream: the image and flipped/rolled copies of it, so that no two images are equal
        many = np.concatenate([np.roll(one[:, :, ::1 if i % 2 == 0 else -1], 7 * i, axis=-1) for i in range(stream)])
        runner = make_executor("emulator", bundle)
        runner.run(one)  # warm-up (first-call allocations, onnxruntime sessions)
        # identity is checked against each image run alone: Lava's islands see one image at a time, and
        # onnxruntime's batch-N kernels differ from batch 1 in the last float32 bit (spikes do not)
        alone = [runner.run(many[i:i + 1])[0] for i in range(stream)]
        emu = {"latency_s_all": [], "stream_s_all": []}
        lava: dict[str, dict] = {}
        executors = {name: make_executor(name, bundle) for name in ("lava-fixed", "lava-fixed-stock")}
        for _ in range(rounds):  # rounds interleave every executor, so that a burst of load hits all alike
            start = time.perf_counter()
            ref = runner.run(one)[0]
            emu["latency_s_all"].append(time.perf_counter() - start)
            start = time.perf_counter()
            refs = runner.run(many)
            emu["stream_s_all"].append(time.perf_counter() - start)
            for name, ex in executors.items():
                r = lava.setdefault(name, {"latency_s_all": [], "stream_s_all": [], "build_plus_first_step_s_all": [],
                                           "identical_spikes": True, "identical_output": True})
                for images, refs_, key in ((one, [ref], "latency_s_all"), (many, alone, "stream_s_all")):
                    net = FixedLavaNetwork(ex.lowered, images, bundle.path / "host", fast=name == "lava-fixed")
                    spikes, outs, first, rest = net.run_timed()
                    # the first step is timed with the build; it is counted at the mean step's cost
                    r[key].append(rest * net.steps / (net.steps - 1))
                    if key == "latency_s_all":
                        r["build_plus_first_step_s_all"].append(first)
                        r["lava_steps"], r["processes"] = net.steps, len(net.procs)
                    else:
                        r["lava_steps_stream"] = net.steps
                    for i, tr in enumerate(refs_):
                        r["identical_spikes"] &= all(bool(np.array_equal(
                            net.logical(spikes[n], ex.lowered.nodes[n].latency, i), tr.layers[n])) for n in ex.layers)
                        r["identical_output"] &= bool(np.array_equal(outs[i], tr.output))
                print(name, json.dumps(r), flush=True)
        row = {"model": model, "size": [size, size], "t_steps": bundle.info.t_steps, "rounds": rounds,
               "stream_images": stream, "torch_threads": torch.get_num_threads(), "statistic": "median",
               "emulator": {**emu, "latency_s": _median(emu["latency_s_all"]),
                            "stream_s_per_image": _median(emu["stream_s_all"]) / stream},
               # keys of the earlier record, kept for readers of it
               "emulator_s_per_image": _median(emu["latency_s_all"])}
        for name, r in lava.items():
            r["latency_s"] = _median(r["latency_s_all"])
            r["stream_s_per_image"] = _median(r["stream_s_all"]) / stream
            r["build_plus_first_step_s"] = _median(r["build_plus_first_step_s_all"])
            r["speedup_latency"] = r["latency_s"] / row["emulator"]["latency_s"]
            r["speedup_stream"] = r["stream_s_per_image"] / row["emulator"]["stream_s_per_image"]
            r["run_s_per_image"], r["speedup_emulator"] = r["latency_s"], r["speedup_latency"]
            row[name] = r
        ex = executors["lava-fixed"]
        row["spiking_layers"] = len(ex.layers)
        row["firing_rate_mean"] = float(np.mean([ref.layers[n].mean() for n in ex.layers]))
    return row


def chain(rounds: int) -> dict:
    """The conv + LIF chain: ``rounds`` alternating runs of each side, medians."""
    image, weights = setup()
    emu_all, lava_all, build_all, equal = [], [], [], None
    for _ in range(rounds):
        ours, emu_s = emulate(image, weights)
        theirs, build_s, lava_s = lava(image, weights)
        emu_all.append(emu_s)
        lava_all.append(lava_s)
        build_all.append(build_s)
        same = [bool(np.array_equal(a, b)) for a, b in zip(ours, theirs)]
        equal = same if equal is None else [x and y for x, y in zip(equal, same)]
    rates = [float(a.mean()) for a in ours]
    return {"layers": LAYERS, "channels": C, "size": [H, W], "t_steps": T, "rounds": rounds, "statistic": "median",
            "identical_spikes_per_layer": equal, "firing_rate_per_layer": rates,
            "emulator_s_all": emu_all, "lava_fixed_run_s_all": lava_all, "emulator_s": _median(emu_all),
            "lava_fixed_run_s": _median(lava_all), "lava_build_plus_first_step_s": _median(build_all),
            "speedup": _median(lava_all) / _median(emu_all)}


def render(out: dict) -> str:
    """emulator_speed.md from its recorded output file alone."""
    from _record import provenance, table

    lines = ["# Integer emulator vs Lava fixed_pt on a conv + LIF chain and on a whole derainer", "",
             provenance(out["meta"]), "",
             f"Torch runs with {out['torch_threads']} thread(s), set before anything is measured. Both sides run "
             f"{out['rounds']} times, alternating (so that a burst of load from other jobs hits both), and both "
             "report the median; every run is in the .out.json.", "",
             f"## Chain: {out['layers']} × (Conv 3×3, {out['channels']} channels -> LIF du={DU} dv={DV} "
             f"vth_mant={VTH}), {out['size'][0]}×{out['size'][1]}, T = {out['t_steps']}", "",
             "Graded 8-bit input image, random 8-bit weights (seed 0); Lava's stock fixed_pt models "
             f"(PyConvModelFixed, PyLifModelBitAcc), T + {out['layers']} steps (one per synaptic hop), realigned; "
             "compile/build and the first step timed apart.", ""]
    eq = out["identical_spikes_per_layer"]
    rates = out["firing_rate_per_layer"]
    lines += table(["identical spikes (all layers, steps, runs)", "emulator (s)", "Lava fixed_pt run (s)", "speed-up",
                    "Lava build + first step (s)", "firing rate (first / last layer)"],
                   [["yes" if all(eq) else "NO: " + str(eq), f"{out['emulator_s']:.3f}", f"{out['lava_fixed_run_s']:.2f}",
                     f"{out['speedup']:.0f}×", f"{out['lava_build_plus_first_step_s']:.1f}",
                     f"{rates[0]:.3f} / {rates[-1]:.3f}"]], "lrrrrl")
    if "derainer" in out:
        row = out["derainer"]
        e = row["emulator"]
        lines += ["", f"## Whole derainer: {row['model']} {row['size'][0]}×{row['size'][1]}, T = {row['t_steps']}", "",
                  "Exported with `--quantize int --calib examples/images/calib`; the centre crop of the shipped photo. "
                  "Latency: one image, all its Lava steps (T plus the pipeline's latency). Throughput: "
                  f"{row['stream_images']} different images back to back in one run (the photo flipped and shifted), "
                  "seconds per image. Lava: `Loihi2SimCfg(select_tag='fixed_pt')`, compile/build and the first step "
                  "excluded (the first step counted at the mean step's cost); the emulator after one warm-up run. "
                  "Every layer's spikes and every output image must be identical to the emulator's run of that image "
                  "alone (the emulator's batched host islands differ from batch 1 in the last float32 bit; its "
                  "streamed time is the batched run's).", ""]
        rows = [["emulator", f"{e['latency_s']:.3f}", "1×", f"{e['stream_s_per_image']:.3f}", "1×", "-", "-", "-", "-"]]
        for label, name in (("lava-fixed (vectorised fixed_pt Conv)", "lava-fixed"),
                            ("lava-fixed-stock (Lava's PyConvModelFixed)", "lava-fixed-stock")):
            r = row[name]
            rows.append([label, f"{r['latency_s']:.2f}", f"{r['speedup_latency']:.0f}×", f"{r['stream_s_per_image']:.2f}",
                         f"{r['speedup_stream']:.0f}×",
                         f"{'yes' if r['identical_spikes'] else 'NO'} / {'yes' if r['identical_output'] else 'NO'}",
                         f"{r['lava_steps']} / {r['lava_steps_stream']}", str(r["processes"]),
                         f"{r['build_plus_first_step_s']:.1f}"])
        lines += table(["executor", "latency, s per image", "emulator speed-up", "streamed, s per image",
                        "emulator speed-up, streamed", "identical spikes / output", "Lava steps (one / stream)",
                        "processes", "build + first step (s)"], rows, "lrrrrlrrr")
    return "\n".join(lines + [""])


def readme_block(out: dict) -> str:
    """The README's figures from this benchmark (its "Lava fixed_pt" section), from the record alone."""
    m, row = out["meta"], out["derainer"]
    e, f, st = row["emulator"], row["lava-fixed"], row["lava-fixed-stock"]
    same = all(r["identical_spikes"] and r["identical_output"] for r in (f, st))
    return (f"Measured (`benchmarks/emulator_speed.md`, `{m['command']}` at {m['commit']}, {m['started']}, load average "
            f"{m['load_before'][0]:.1f} before and {m['load_after'][0]:.1f} after; {row['model']} "
            f"{row['size'][0]}×{row['size'][1]}, T = {row['t_steps']}, build excluded, the median of {row['rounds']} "
            f"alternating runs on every side, torch with {row['torch_threads']} threads set before measuring; "
            f"{'identical spikes and outputs' if same else 'SPIKES OR OUTPUTS DIFFER'}): one image (latency) takes the "
            f"emulator {e['latency_s']:.3f} s, `lava-fixed` {f['latency_s']:.1f} s (**{f['speedup_latency']:.0f}×**; "
            f"{f['lava_steps']} Lava steps, {f['processes']} processes) and `lava-fixed-stock` {st['latency_s']:.1f} s "
            f"({st['speedup_latency']:.0f}×); {row['stream_images']} images streamed back to back cost "
            f"{e['stream_s_per_image']:.3f} s per image on the emulator, {f['stream_s_per_image']:.2f} s on `lava-fixed` "
            f"({f['speedup_stream']:.0f}×) and {st['stream_s_per_image']:.2f} s on `lava-fixed-stock` "
            f"({st['speedup_stream']:.0f}×).")


def main() -> None:
    import _record

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--derainer", action="store_true", help="also the whole esdnet-tiny 64x64 comparison")
    ap.add_argument("--rounds", type=int, default=5, help="runs of every side (median reported)")
    ap.add_argument("--stream", type=int, default=4, help="images streamed back to back for the throughput")
    ap.add_argument("--threads", type=int, default=2, help="torch threads, fixed before measuring")
    ap.add_argument("--check", action="store_true", help="re-render the .md from the .out.json; exit 1 if it differs")
    ap.add_argument("--render", action="store_true", help="only write the .md and README block from the .out.json")
    args = ap.parse_args()
    here = Path(__file__).resolve().parent
    md, out_path = here / "emulator_speed.md", here / "emulator_speed.out.json"
    if args.check or args.render:
        raise SystemExit(_record.check_or_write(md, out_path, render, write=args.render,
                                                readme={"emulator_speed.py": readme_block}))
    import torch

    meta = _record.started()
    torch.set_num_threads(args.threads)
    row = chain(args.rounds)
    print(json.dumps(row))
    if args.derainer:
        row["derainer"] = derainer(rounds=args.rounds, stream=args.stream)
    if args.write:
        out = {"command": meta["command"], "python": platform.python_version(), "meta": _record.finished(meta),
               "torch_threads": torch.get_num_threads(), **row}
        _record.write_json(out_path, out)
        _record.check_or_write(md, out_path, render, write=True,
                               readme={"emulator_speed.py": readme_block} if args.derainer else None)


if __name__ == "__main__":
    main()
