"""Tiled deraining: what the halo costs in PSNR, and time and peak memory against image size.

Usage::

    .venv/bin/python benchmarks/tiling.py halo  --image /work/shared/data/real/real-015.png
    .venv/bin/python benchmarks/tiling.py scale --image /work/shared/data/real/real-016.png --mp 1 6 12 24

``halo``: for each shipped derainer, derain the image whole and in tiles of ``--tile``
(default 512, the CLI default) with halos of 0..64 pixels; print the PSNR (RGB, peak 1)
of the tiled output against the whole-image output, and the time of each. The image must
fit in memory whole (a 1.2-MP photo needs ~6 GB with the tiny derainers).

``blend``: the stitching modes against the whole image on a 1536x1024 photo (a real photo
resized to cover 1536x1024 and centre-cropped, Lanczos, into /tmp). Per model, each run is
its own process (``tiling.py _run``), so that its peak memory (``ru_maxrss``) is its own:
the whole image (``--tile 0``), the old hard cuts (``--tiling cut``, tile 512, halo 16) and
``--tiling blend`` for each ``--blends TILE:HALO``. PSNR (RGB, peak 1) and max abs difference
(8-bit levels) of each tiled float output against the whole-image one; time of the derain
call in the child; load average before and after each run. Records go to
``benchmarks/tiling_blend.out.jsonl``; ``--write`` renders the table into ``tiling.md``
(between its ``tiling.py blend`` markers); ``tiling.py blend-table`` re-renders it from the
recorded file alone.

``exact``: as ``blend``, with the runs ``--tile 0``, ``--tiling exact`` and the default ``blend``
(tile 512, default halos); records in ``benchmarks/tiling_exact.out.jsonl`` (rewritten after every run),
``--write`` renders them into ``tiling.md`` (its ``tiling.py exact`` markers) and the README's bullet.
``--check`` re-renders every generated section of ``tiling.md`` and the README from the records and
exits 1 on a difference.

``scale``: synthesise photos of the given sizes (in megapixels, 3:2) by Lanczos upscaling
of a real photo into /tmp, then run ``neurodeploy derain`` on each as a separate process
(the way a user runs it; default tile and halo, all cores) and record wall time and the
child's peak resident memory (``ru_maxrss`` from ``os.wait4``). One JSON line per run;
``--tiling exact`` measures exact tiling's time and memory the same way.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def halo_study(image: Path, tile: int, halos: list[int], models: list[str]) -> None:
    import torch

    from neurodeploy.checkpoint import load_model
    from neurodeploy.models.data import load_image
    from neurodeploy.models.evaluate import derain, tile_grid

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    x = load_image(image)
    HALO_RECORDS.write_text("")
    for name in models:
        model, _ = load_model(name)
        t0 = time.perf_counter()
        whole = derain(model, x, tile=0)
        t_whole = time.perf_counter() - t0
        for halo in halos:
            t0 = time.perf_counter()
            tiled = derain(model, x, tile=tile, halo=halo, tiling="cut")  # the hard cuts this study measured
            dt = time.perf_counter() - t0
            mse = float(((tiled - whole) ** 2).mean())
            psnr = 10 * math.log10(1.0 / mse) if mse > 0 else float("inf")
            rec = {"model": name, "image": image.name, "size_hw": list(x.shape[1:]), "tile": tile,
                   "halo": halo, "tiles": len(tile_grid(x.shape[1], x.shape[2], tile, halo)),
                   "psnr_tiled_vs_whole_db": round(psnr, 2), "max_abs_diff_8bit": round(float((tiled - whole).abs().max()) * 255, 1),
                   "time_tiled_s": round(dt, 1), "time_whole_s": round(t_whole, 1)}
            print(json.dumps(rec), flush=True)
            with HALO_RECORDS.open("a") as f:
                f.write(json.dumps(rec) + "\n")


HERE = Path(__file__).resolve().parent
BLEND_RECORDS = HERE / "tiling_blend.out.jsonl"
EXACT_RECORDS = HERE / "tiling_exact.out.jsonl"
SCALE_RECORDS = HERE / "tiling_scale.out.jsonl"
HALO_RECORDS = HERE / "tiling_halo.out.jsonl"
TILING_MD = HERE / "tiling.md"
BEGIN, END = "<!-- tiling.py blend: begin (written by the script) -->", "<!-- tiling.py blend: end -->"
EXACT_BEGIN, EXACT_END = "<!-- tiling.py exact: begin (written by the script) -->", "<!-- tiling.py exact: end -->"
SCALE_BEGIN, SCALE_END = "<!-- tiling.py scale: begin (written by the script) -->", "<!-- tiling.py scale: end -->"
HALO_BEGIN, HALO_END = "<!-- tiling.py halo: begin (written by the script) -->", "<!-- tiling.py halo: end -->"


def photo_1536x1024(src: Path) -> Path:
    """``src`` resized to cover 1536x1024 (Lanczos) and centre-cropped to it, as a PNG in /tmp."""
    from PIL import Image

    out = Path(tempfile.gettempdir()) / "neurodeploy-tiling" / f"{src.stem}-1536x1024.png"
    out.parent.mkdir(exist_ok=True)
    if not out.exists():
        im = Image.open(src).convert("RGB")
        k = max(1536 / im.width, 1024 / im.height)
        w, h = math.ceil(im.width * k), math.ceil(im.height * k)
        im = im.resize((w, h), Image.LANCZOS)
        x0, y0 = (w - 1536) // 2, (h - 1024) // 2
        im.crop((x0, y0, x0 + 1536, y0 + 1024)).save(out)
    return out


BLEND_HALO = 32  # the default blend halo (models/evaluate.py), not imported: --check runs without torch
BLEND_PASSES = 2  # blend's default statistics passes (models/evaluate.py), likewise
SEAM = 24  # px either side of a core boundary: covers blend's ramp (halo/2 <= 32) and cut's seam


def seam_band(h: int, w: int, tile: int) -> np.ndarray:
    """``(h, w)`` bool: pixels within SEAM of an interior core boundary of tile side ``tile``."""
    from neurodeploy.models.evaluate import _spans

    band = np.zeros((h, w), bool)
    for s, _ in _spans(h, tile)[1:]:
        band[max(0, s - SEAM):s + SEAM] = True
    for s, _ in _spans(w, tile)[1:]:
        band[:, max(0, s - SEAM):s + SEAM] = True
    return band


def run_one(model_name: str, photo: Path, tile: int, tiling: str, halo: int | None, npy: Path,
            passes: int | None = None) -> None:
    """The child of ``blend``: one derain call, its float output saved as .npy, its time printed."""
    import torch

    from neurodeploy.api import usable_cores
    from neurodeploy.checkpoint import load_model
    from neurodeploy.models.data import load_image
    from neurodeploy.models.evaluate import default_halo, derain, exact_derain, tile_grid

    torch.set_num_threads(usable_cores())  # as `neurodeploy derain` does
    model, _ = load_model(model_name)
    x = load_image(photo)
    t0 = time.perf_counter()
    info = {}
    if tiling == "exact":
        out, info = exact_derain(model, x, tile=tile, halo=default_halo(tiling) if halo is None else halo)
    else:
        out = derain(model, x, tile=tile, halo=halo, tiling=tiling, passes=passes)
    dt = time.perf_counter() - t0
    np.save(npy, out.numpy())
    halo = default_halo(tiling) if halo is None else halo
    from neurodeploy.models.evaluate import blend_passes, global_pools

    stat = {"stat_passes": blend_passes(passes) if global_pools(model) else 1} if tiling == "blend" and tile else {}
    print(json.dumps({"time_s": round(dt, 2), "tiles": len(tile_grid(x.shape[1], x.shape[2], tile, halo)),
                      "threads": torch.get_num_threads(), **({"passes": info["passes"]} if info else {}), **stat}))


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True).stdout.strip()


def blend_study(image: Path, models: list[str], blends: list[str], write: bool) -> None:
    runs = [("whole", 0, "blend", None, None), ("cut", 512, "cut", 16, None)]
    for spec in blends:  # TILE:HALO[:PASSES]
        t, h, *n = (int(v) for v in spec.split(":"))
        runs.append(("blend", t, "blend", h, n[0] if n else None))
    compare_study(image, models, runs, BLEND_RECORDS, write)


def exact_study(image: Path, models: list[str], write: bool) -> None:
    """``exact``: the whole image, ``--tiling exact`` and the default ``blend`` at tile 512 (default halos)."""
    runs = [("whole", 0, "blend", None, None), ("exact", 512, "exact", None, None), ("blend", 512, "blend", None, None)]
    compare_study(image, models, runs, EXACT_RECORDS, write)


def compare_study(image: Path, models: list[str], runs: list[tuple], record_file: Path, write: bool) -> None:
    photo = photo_1536x1024(image)
    work = photo.parent
    command = ".venv/bin/python benchmarks/tiling.py " + " ".join(sys.argv[1:])
    meta = {"kind": "meta", "command": command, "commit": _git("rev-parse", "--short", "HEAD"),
            "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "image": f"{image.name} -> 1536x1024",
            "cores": len(os.sched_getaffinity(0)), "load_start": [round(v, 2) for v in os.getloadavg()]}
    records = []
    for name in models:
        whole = None
        for label, tile, tiling, halo, passes in runs:
            npy = work / f"{name}-{label}-{tile}-{halo}-{passes}.npy"
            cmd = [sys.executable, str(Path(__file__).resolve()), "_run", "--model", name, "--photo", str(photo),
                   "--tile", str(tile), "--tiling", tiling, "--npy", str(npy)] + (["--halo", str(halo)] if halo is not None else []) \
                + (["--passes", str(passes)] if passes is not None else [])
            load0 = os.getloadavg()[0]
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
            if os.waitstatus_to_exitcode(status):
                raise SystemExit(f"{cmd} failed: {err[-500:]}")
            rec = {"kind": "run", "model": name, "mode": label, "tile": tile, "halo": halo, **json.loads(out.splitlines()[-1]),
                   "wall_s": round(wall, 1), "peak_rss_gb": round(usage.ru_maxrss / 1e6, 2),
                   "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2)}
            y = np.load(npy)
            if label == "whole":
                whole = y
            else:
                d = (y.astype(np.float64) - whole)
                mse = float((d ** 2).mean())
                # where the worst pixels are: within SEAM px of a core boundary (what blending
                # addresses) or beyond (what only whole-image attention statistics can fix)
                near = seam_band(y.shape[1], y.shape[2], tile)
                ad = np.abs(d).max(axis=0) * 255
                rec.update({"psnr_vs_whole_db": round(10 * math.log10(1 / mse), 2) if mse > 0 else None,
                            "max_abs_diff_8bit": round(float(ad.max()), 1),
                            "rms_diff_8bit": round(math.sqrt(mse) * 255, 2),
                            "max_abs_diff_near_seams_8bit": round(float(ad[near].max()), 1),
                            "max_abs_diff_far_from_seams_8bit": round(float(ad[~near].max()), 1)})
            npy.unlink()
            records.append(rec)
            print(json.dumps(rec), flush=True)
            # after every run, so that a study stopped part-way keeps what it measured
            meta["load_end"] = [round(v, 2) for v in os.getloadavg()]
            record_file.write_text("".join(json.dumps(r) + "\n" for r in [meta, *records]))
    meta["load_end"] = [round(v, 2) for v in os.getloadavg()]
    record_file.write_text("".join(json.dumps(r) + "\n" for r in [meta, *records]))
    if write:
        write_blend_table()


def render_blend_table(lines: list[dict]) -> str:
    """The Markdown section of ``tiling.md`` from the recorded file's lines (meta first)."""
    meta, runs = lines[0], lines[1:]
    out = [f"Written by `{meta['command']}` at commit {meta['commit']}{' (with uncommitted changes)' if meta['dirty'] else ''}, "
           f"{meta['date']}, photo {meta['image']}, {meta['cores']} cores; load average (1, 5, 15 min) "
           f"{tuple(meta['load_start'])} before, {tuple(meta['load_end'])} after. Each run is its own process; "
           "PSNR is RGB (peak 1) of the tiled float output against the whole-image one, the differences are in 8-bit levels; "
           "time is the derain call alone, memory the process's peak RSS (model, photo and torch included).", "",
           f"Max abs diff is split into pixels within {SEAM} px of a seam and beyond.", "",
           "| model | tiling | tile | halo | tiles | PSNR vs whole (dB) | max abs diff | near / far from seams | RMS diff | time (s) | peak memory (GB) | load (1 min) before / after |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    if any("passes" in r for r in runs):  # exact: one tiled run per pass
        out[-2] = out[-2].replace("| tiles |", "| tiles × passes |")
    for r in runs:
        mode = "whole (`--tile 0`)" if r["mode"] == "whole" else r["mode"]
        if r["mode"] == "blend":  # its statistics passes (a row recorded before --passes ran one)
            n = r.get("stat_passes", 1)
            mode += f", {n} pass{'es' if n > 1 else ''}" + (" (per-tile statistics)" if n == 1 else "")
        psnr = "—" if r["mode"] == "whole" else ("∞ (identical)" if r["psnr_vs_whole_db"] is None
                                                  else f"{r['psnr_vs_whole_db']:.2f}")
        mx = "—" if r["mode"] == "whole" else f"{r['max_abs_diff_8bit']:.1f}"
        rms = "—" if r["mode"] == "whole" else f"{r['rms_diff_8bit']:.2f}"
        split = "—" if r["mode"] == "whole" else f"{r['max_abs_diff_near_seams_8bit']:.1f} / {r['max_abs_diff_far_from_seams_8bit']:.1f}"
        out.append(f"| {r['model']} | {mode} | {r['tile'] or '—'} | {r['halo'] if r['halo'] is not None else '—'} | {r['tiles']}{' × ' + str(r['passes']) if 'passes' in r else ''} | "
                   f"{psnr} | {mx} | {split} | {rms} | {r['time_s']:.1f} | {r['peak_rss_gb']:.2f} | {r['load_before']} / {r['load_after']} |")
    default = [r for r in runs if r["mode"] == "blend" and r["tile"] == 512 and r["halo"] == BLEND_HALO
               and r.get("stat_passes") == BLEND_PASSES]
    if default:  # the bounds for the default, read off the rows above
        out += ["", f"Against issue 32's bounds for the default (tile 512, halo {BLEND_HALO}, {BLEND_PASSES} passes; "
                "PSNR >= 45 dB and no pixel more than 12 levels off): " + "; ".join(
                    f"{r['model']} {r['psnr_vs_whole_db']:.2f} dB, {r['max_abs_diff_8bit']:.1f} levels: "
                    + ("meets both" if r["psnr_vs_whole_db"] is None or (r["psnr_vs_whole_db"] >= 45 and r["max_abs_diff_8bit"] <= 12)
                       else "misses " + " and ".join(x for x, bad in (("the PSNR", r["psnr_vs_whole_db"] < 45),
                                                                     ("the max", r["max_abs_diff_8bit"] > 12)) if bad))
                    for r in default) + "."]
    return "\n".join(out) + "\n"


def rendered_md() -> str:
    """tiling.md with its generated sections re-rendered from their recorded files alone."""
    # each generated section of tiling.md: its record file, its markers, its renderer
    sections = ((BLEND_RECORDS, BEGIN, END, render_blend_table), (EXACT_RECORDS, EXACT_BEGIN, EXACT_END, render_blend_table),
                (SCALE_RECORDS, SCALE_BEGIN, SCALE_END, render_scale_table),
                (HALO_RECORDS, HALO_BEGIN, HALO_END, render_halo_table))
    md = TILING_MD.read_text()
    for records, begin, end, render in sections:
        if not records.exists():
            continue
        if begin not in md or end not in md:
            raise SystemExit(f"{TILING_MD} has no {begin} ... {end} section to write")
        head, rest = md.split(begin, 1)
        _, tail = rest.split(end, 1)
        md = head + begin + "\n" + render(_lines(records)) + end + tail
    return md


def _lines(path: Path) -> list[dict]:
    """A .jsonl record's objects, in order."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _records(path: Path) -> tuple[dict, list[dict]]:
    lines = _lines(path)
    return lines[0], lines[1:]


def _pick(runs: list[dict], mode: str, tile: int | None = None, halo: int | None = None) -> list[dict]:
    return [r for r in runs if r["mode"] == mode and (tile is None or r["tile"] == tile) and (halo is None or r["halo"] == halo)]


def _db(r: dict) -> str:
    return "∞" if r["psnr_vs_whole_db"] is None else f"{r['psnr_vs_whole_db']:.1f}"


def _models(rs: list[dict]) -> str:
    return " / ".join(r["model"] for r in rs)


def _passes(rs: list[dict], n: int) -> list[dict]:
    """Blend rows run with ``n`` statistics passes (a row recorded before ``--passes`` ran one)."""
    return [r for r in rs if r.get("stat_passes", 1) == n]


def _levels(rs: list[dict]) -> str:
    return " / ".join(f"{r['max_abs_diff_8bit']:.0f}" for r in rs)


def readme_blend(meta: dict, runs: list[dict]) -> str:
    """The README's blend and cut bullets, from tiling_blend.out.jsonl alone."""
    b512, b2, c = _pick(runs, "blend", 512, BLEND_HALO), _pick(runs, "blend", 1024), _pick(runs, "cut", 512)
    b, one, three = _passes(b512, BLEND_PASSES), _passes(b512, 1), _passes(b512, 3)
    whole = _pick(runs, "whole")
    out = [f"  - `blend` (default): windows with a {BLEND_HALO}-pixel halo overlap their neighbours, and the outputs",
           f"    are mixed by a raised-cosine ramp {BLEND_HALO} pixels wide centred on each seam (the weights sum to",
           "    1 at every pixel): no hard seams. The attention gates' statistics are shared between the tiles: a",
           "    downscaled whole-image run seeds them and each of `--passes` runs over the tiles (default "
           f"{BLEND_PASSES}) corrects them."]
    if b:
        out.append("    " + " / ".join(_db(r) for r in b) + f" dB ({_models(b)}), single pixels up to " + _levels(b)
                   + " levels off, in " + " / ".join(f"{r['time_s']:.0f}" for r in b) + " s.")
    if one:
        out.append("    `--passes 1` (each tile pools over itself, the fastest): " + " / ".join(_db(r) for r in one)
                   + " dB, up to " + _levels(one) + " levels, " + " / ".join(f"{r['time_s']:.0f}" for r in one) + " s.")
    if three:
        out.append("    `--passes 3`: " + " / ".join(_db(r) for r in three) + " dB, up to " + _levels(three) + " levels, "
                   + " / ".join(f"{r['time_s']:.0f}" for r in three) + " s.")
    if b2:
        out.append(f"    `--tile 1024` ({min(r['peak_rss_gb'] for r in b2):.1f}–{max(r['peak_rss_gb'] for r in b2):.1f} GB) gives "
                   + " / ".join(_db(r) for r in b2) + " dB, up to " + _levels(b2) + " levels.")
    out.append(f"  - `cut`: the stitching before issue 32, each core from its own window with a {c[0]['halo']}-pixel")
    out.append("    halo, hard seams, each tile's own statistics: " + " / ".join(_db(r) for r in c) + " dB, up to "
               + _levels(c) + " levels.")
    out.append(f"  - `--tile 0` runs whole images exactly, with memory that grows with the photo "
               f"({min(r['peak_rss_gb'] for r in whole):.1f}–{max(r['peak_rss_gb'] for r in whole):.1f} GB for the "
               "tiny derainers at 1.5 MP).")
    out.append(f"  (`tiling.py blend` at {meta['commit']}, {meta['date']}, load {meta['load_start'][0]} → {meta['load_end'][0]}.)")
    return "\n".join(out)


def readme_exact(meta: dict, runs: list[dict]) -> str:
    """The README's exact bullet, from tiling_exact.out.jsonl alone."""
    e = _pick(runs, "exact")
    b = _pick(runs, "blend")
    whole = {r["model"]: r for r in _pick(runs, "whole")}
    return "\n".join([
        "  - `exact`: every global pooling (the attention gates' statistics) over the whole image: the",
        f"    tiles ({'halo ' + str(e[0]['halo']) if e[0]['halo'] is not None else 'its default halo'}) run pass after "
        "pass, each pool returning the whole image's statistic from",
        "    the pass before, until a pass uses the statistics it produces. "
        + " / ".join(_db(r) for r in e) + f" dB from `--tile 0` ({_models(e)}), up to "
        + " / ".join(f"{r['max_abs_diff_8bit']:.2f}" for r in e) + " levels; it takes "
        + " / ".join(str(r["passes"]) for r in e) + " passes, i.e. "
        + " / ".join(f"{r['time_s']:.0f}" for r in e) + " s against "
        + " / ".join(f"{r['time_s']:.0f}" for r in b) + " s for `blend`"
        + (" with per-tile statistics (one pass)" if all(r.get("stat_passes", 1) == 1 for r in b) else "") + " and "
        + " / ".join(f"{whole[r['model']]['time_s']:.0f}" for r in e) + " s whole; memory "
        + " / ".join(f"{r['peak_rss_gb']:.1f}" for r in e) + " GB (whole: "
        + " / ".join(f"{whole[r['model']]['peak_rss_gb']:.1f}" for r in e) + " GB).",
        f"    (`tiling.py exact` at {meta['commit']}, {meta['date']}, load {meta['load_start'][0]} → {meta['load_end'][0]}.)"])


README_BLOCKS = ((BLEND_RECORDS, "tiling.py (blend)", readme_blend), (EXACT_RECORDS, "tiling.py (exact)", readme_exact))


def readme_scale(runs: list[dict]) -> str:
    """The README's 24-MP sentence: the latest 24-MP run of each tiling in tiling_scale.out.jsonl."""
    latest: dict[str, dict] = {}
    for r in runs:
        if r["megapixels"] >= 23.9 and r["exit"] == 0:
            latest[r.get("tiling", "cut (the default then)")] = r
    parts = []
    for tiling, r in latest.items():
        name = "`blend`" if tiling == "default" else (f"`{tiling}`" if " " not in tiling else tiling)
        when = (f"{r['commit']}, {r['date']}, load {r['load_before'][0]} → {r['load_after'][0]}" if "command" in r
                else "a run before the write path: commit and load not recorded")
        parts.append(f"  {name}: {r['wall_s']:.0f} s, peak {r['peak_rss_gb']:.2f} GB ({r['checkpoint']}, {when})")
    return "  A 24-MP photo on this 2-core machine (`tiling.py scale`):\n" + ";\n".join(parts) + "."


def rendered_readme() -> str:
    from _record import README, with_block

    text = README.read_text()
    for records, name, fn in README_BLOCKS:
        if records.exists():
            text = with_block(text, name, fn(*_records(records)))
    if SCALE_RECORDS.exists():
        text = with_block(text, "tiling.py (scale)", readme_scale(_lines(SCALE_RECORDS)))
    return text


def write_blend_table() -> None:
    from _record import README, write_md

    TILING_MD.write_text(rendered_md())
    write_md(README, rendered_readme())


def synthesize(src: Path, megapixels: float, folder: Path) -> Path:
    from PIL import Image

    w = int(round(math.sqrt(megapixels * 1e6 * 3 / 2)))
    h = int(round(w * 2 / 3))
    out = folder / f"photo-{w}x{h}.png"
    if not out.exists():
        Image.open(src).convert("RGB").resize((w, h), Image.LANCZOS).save(out, compress_level=1)
    return out


def scale_study(image: Path, mps: list[float], checkpoint: str, tile: int | None, tiling: str | None = None,
                write: bool = False) -> None:
    """``scale``: one ``neurodeploy derain`` process per size; each run's line (with its command, commit,
    date and the load average before and after) is appended to ``tiling_scale.out.jsonl`` as soon as
    it ends, so that a study stopped part-way keeps what it measured; ``--write`` renders the section."""
    folder = Path(tempfile.gettempdir()) / "neurodeploy-tiling"
    folder.mkdir(exist_ok=True)
    command = ".venv/bin/python benchmarks/tiling.py " + " ".join(sys.argv[1:])
    for mp in mps:
        photo = synthesize(image, mp, folder)
        out = folder / f"out-{photo.stem}"
        cmd = [sys.executable, "-m", "neurodeploy", "derain", checkpoint, str(photo), "--out", str(out)]
        if tile is not None:
            cmd += ["--tile", str(tile)]
        if tiling is not None:
            cmd += ["--tiling", tiling]
        load0, date = [round(v, 2) for v in os.getloadavg()], time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        dt = time.perf_counter() - t0
        err = proc.stderr.read().decode()[-300:]
        from PIL import Image

        w, h = Image.open(photo).size
        rec = {"checkpoint": checkpoint, "size_wh": [w, h], "megapixels": round(w * h / 1e6, 2),
               "tile": tile or "default", "tiling": tiling or "default", "exit": os.waitstatus_to_exitcode(status),
               "wall_s": round(dt, 1), "peak_rss_gb": round(usage.ru_maxrss / 1e6, 2), "cores": len(os.sched_getaffinity(0)),
               "command": command, "commit": _git("rev-parse", "--short", "HEAD"),
               "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")), "date": date,
               "load_before": load0, "load_after": [round(v, 2) for v in os.getloadavg()],
               **({"stderr_tail": err} if os.waitstatus_to_exitcode(status) else {})}
        print(json.dumps(rec), flush=True)
        with SCALE_RECORDS.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        if write:
            write_blend_table()


def render_scale_table(runs: list[dict]) -> str:
    """``tiling.md``'s scale section: every run in ``tiling_scale.out.jsonl``, oldest first. Runs
    recorded before the write path (no ``command``) say that their commit, date and load were not kept."""
    out = ["Each row is one `python -m neurodeploy derain CHECKPOINT PHOTO --out DIR` process on a Lanczos upscale "
           "of a real photo (3:2, in /tmp); wall time is the whole process (decode, derain, encode), peak memory "
           "the child's `ru_maxrss`. Load is the 1-minute load average over the machine's 2 cores before / after.", "",
           "| model | photo (W x H) | MP | tiling | wall time (s) | peak memory (GB) | exit | commit, date | load before / after |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        w, h = r["size_wh"]
        # runs before the tiling key was recorded ran the default of their day, the hard cuts
        tiling = {"default": "blend (default)"}.get(r.get("tiling", "cut (the default then)"), r.get("tiling", "cut (the default then)"))
        if "command" in r:
            when = f"{r['commit']}{'+dirty' if r['dirty'] else ''}, {r['date']}"
            load = f"{r['load_before'][0]} / {r['load_after'][0]}"
        else:
            when, load = "not recorded", "not recorded"
        out.append(f"| {r['checkpoint']} | {w}x{h} | {r['megapixels']:.1f} | {tiling} | {r['wall_s']:.1f} | "
                   f"{r['peak_rss_gb']:.2f} | {r['exit']} | {when} | {load} |")
    commands = sorted({r["command"] for r in runs if "command" in r})
    if commands:
        out += ["", "Commands: " + "; ".join(f"`{c}`" for c in commands) + "."]
    return "\n".join(out) + "\n"


def render_halo_table(runs: list[dict]) -> str:
    """``tiling.md``'s halo section (hard cuts, the stitching before blend) from ``tiling_halo.out.jsonl``."""
    r0 = runs[0]
    out = [f"Photo {r0['image']} ({r0['size_hw'][1]}x{r0['size_hw'][0]}), tile {r0['tile']} ({r0['tiles']} tiles); "
           "PSNR over RGB in [0, 1] (peak 1) of the tiled output against the whole-image output, max difference "
           "in 8-bit levels. Commit, date and load were not recorded (a run before issue 32's write path).", "",
           "| model | halo (px) | PSNR tiled vs whole (dB) | max abs diff (8-bit levels) | time tiled (s) | time whole (s) |",
           "|---|---|---|---|---|---|"]
    for r in runs:
        out.append(f"| {r['model']} | {r['halo']} | {r['psnr_tiled_vs_whole_db']:.2f} | {r['max_abs_diff_8bit']:.1f} | "
                   f"{r['time_tiled_s']:.1f} | {r['time_whole_s']:.1f} |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", nargs="?", choices=["halo", "scale", "blend", "exact", "blend-table", "_run"])
    ap.add_argument("--check", action="store_true", help="re-render tiling.md's generated sections from their "
                                                         "records; exit 1 if the file differs")
    ap.add_argument("--image", type=Path, default=None)
    ap.add_argument("--blends", nargs="+", default=["512:32:1", "512:32:2", "512:32:3"],
                    help="TILE:HALO[:PASSES] of each blend run (PASSES: blend's statistics passes, default its default)")
    ap.add_argument("--write", action="store_true", help="blend, exact, scale: render the tables into tiling.md")
    ap.add_argument("--model"), ap.add_argument("--photo", type=Path), ap.add_argument("--npy", type=Path)
    ap.add_argument("--tiling", default=None), ap.add_argument("--halo", type=int, default=None)
    ap.add_argument("--tile", type=int, default=None)
    ap.add_argument("--passes", type=int, default=None, help="_run: blend's statistics passes")
    ap.add_argument("--halos", type=int, nargs="+", default=[0, 16, 32, 64])
    ap.add_argument("--models", nargs="+", default=["esdnet-tiny", "spikerain-tiny", "vlifnet-tiny"])
    ap.add_argument("--mp", type=float, nargs="+", default=[1, 6, 12, 24])
    ap.add_argument("--checkpoint", default="esdnet-tiny")
    args = ap.parse_args()
    if args.check:
        from _record import README, check

        raise SystemExit(check(TILING_MD, rendered_md()) | check(README, rendered_readme()))
    if args.study is None:
        ap.error("a study is required")
    if args.study == "_run":
        run_one(args.model, args.photo, args.tile, args.tiling or "blend", args.halo, args.npy, args.passes)
    elif args.study == "blend-table":
        write_blend_table()
    elif args.image is None:
        ap.error("--image is required")
    elif args.study == "blend":
        blend_study(args.image, args.models, args.blends, args.write)
    elif args.study == "exact":
        exact_study(args.image, args.models, args.write)
    elif args.study == "halo":
        halo_study(args.image, args.tile or 512, args.halos, args.models)
    else:
        scale_study(args.image, args.mp, args.checkpoint, args.tile, args.tiling, args.write)


if __name__ == "__main__":
    main()
