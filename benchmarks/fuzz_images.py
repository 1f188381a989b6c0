"""Fuzz the image reader and the checkpoint loader through the code behind derain, evaluate and export.

Usage::

    .venv/bin/python benchmarks/fuzz_images.py --images 2000 --checkpoints 500 --seed 0

In-process, no CLI start per case. **Images** (<= 256x256): unusual but valid files
(modes 1/L/P/P+transparency/LA/RGBA/I;16/16-bit RGB/CMYK/YCbCr, EXIF orientations 1..8,
PNG/JPEG/TIFF/BMP/WebP/GIF, 1-pixel sides, progressive JPEG, compressed TIFF, a content
whose suffix lies), and damaged ones (truncated, flipped or zeroed bytes, inserted bytes,
a foreign or random header, empty, text, a header claiming 10^10 pixels). Each goes
through ``derain_files`` (check every input, tile, write atomically) with the shipped
toy-residual, and through ``evaluate`` as the rainy side of a paired folder.

**Checkpoints**: the shipped toy-residual and esdnet-tiny, damaged as bytes (truncated,
flipped, zeroed, random, empty, another file type) or as a payload re-saved with
``torch.save`` (keys deleted or wrongly typed, unknown architecture, config values
missing/negative/huge/NaN/of the wrong type, tensors dropped, added, reshaped, of another
dtype, NaN/inf). Each goes through ``load_model`` (derain/evaluate), ``load_checkpoint`` +
``build_model`` (what export does before it builds the graph), then derains a 16x16 image.

Outcomes: ``refused`` (a one-line NeurodeployError: expected for damage), ``ok`` (ran and
right). Failures (exit 1 if any): ``traceback`` (any other exception), ``multiline`` (an
error of several lines), ``hung`` (no answer in ``--timeout`` s), ``wrong`` (exit-0 result
whose output is less than 40 dB PSNR from the same pixels decoded by Pillow -- an
independent oracle here -- and derained directly; for checkpoints: non-finite output).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
import warnings
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from neurodeploy.checkpoint import build_model, load_checkpoint, load_model, resolve
from neurodeploy.errors import NeurodeployError
from neurodeploy.images import DEFAULT_IMAGE
from neurodeploy.models.evaluate import derain, derain_files, evaluate

FAILURES = ("traceback", "multiline", "hung", "wrong")
PSNR_MIN_DB = 40.0


class Hung(BaseException):
    """Raised by the alarm; BaseException so that no `except Exception` in the code under test eats it."""


def _alarm(_sig, _frame):
    raise Hung()


# ---------------------------------------------------------------- images

def _picture(rng: random.Random) -> np.ndarray:
    src = np.asarray(Image.open(DEFAULT_IMAGE).convert("RGB"))
    h = rng.choice([1, 2, 7, 11, 16, 33, 64, 100, 256]) if rng.random() < 0.3 else rng.randint(11, 96)
    w = rng.choice([1, 3, 11, 16, 64, 129, 256]) if rng.random() < 0.3 else rng.randint(11, 96)
    y, x = rng.randint(0, src.shape[0] - h), rng.randint(0, src.shape[1] - w)
    return src[y:y + h, x:x + w].copy()


def _valid_file(rng: random.Random, pic: np.ndarray) -> tuple[bytes, str, str]:
    """(bytes, suffix, kind) of an unusual but valid image file."""
    kind = rng.choice(["rgb", "L", "1", "P", "P-trns", "LA", "RGBA", "RGBA-opaque", "I;16", "rgb16", "CMYK", "exif",
                       "progressive", "tiff-comp", "gif", "webp", "bmp", "suffix-lies", "YCbCr"])
    im = Image.fromarray(pic)
    buf = io.BytesIO()
    fmt = rng.choice(["PNG", "TIFF"])
    if kind == "rgb":
        fmt = rng.choice(["PNG", "JPEG", "TIFF", "BMP", "WEBP"])
    elif kind in ("L", "1"):
        im = im.convert(kind)
        fmt = rng.choice(["PNG", "TIFF", "BMP"] + (["JPEG"] if kind == "L" else []))
    elif kind == "P":
        im = im.quantize(rng.choice([2, 16, 256]))
        fmt = rng.choice(["PNG", "BMP", "GIF", "TIFF"])
    elif kind == "P-trns":
        im = im.quantize(16)
        im.info["transparency"] = 0
        fmt = "PNG"
    elif kind in ("LA", "RGBA", "RGBA-opaque"):
        a = np.asarray(Image.fromarray(pic).convert("L"))
        if kind == "RGBA-opaque":
            a = np.full_like(a, 255)
        if kind == "LA":
            im = Image.merge("LA", [Image.fromarray(pic).convert("L"), Image.fromarray(a)])
        else:
            im = Image.fromarray(np.dstack([pic, a]), mode="RGBA")
        fmt = rng.choice(["PNG", "TIFF", "WEBP"]) if kind != "LA" else "PNG"
    elif kind == "I;16":
        g = np.asarray(im.convert("L")).astype(np.uint16) * 257 + np.uint16(rng.randint(0, 256))
        im = Image.fromarray(g, mode="I;16")
    elif kind == "rgb16":
        import cv2

        ok, enc = cv2.imencode(rng.choice([".png", ".tif"]), pic[..., ::-1].astype(np.uint16) * 257)
        data = enc.tobytes()
        return data, ".png" if data[:4] == b"\x89PNG" else ".tif", kind
    elif kind == "CMYK":
        im, fmt = im.convert("CMYK"), rng.choice(["JPEG", "TIFF"])
    elif kind == "YCbCr":
        im, fmt = im.convert("YCbCr"), "JPEG"
    elif kind == "exif":
        ex = Image.Exif()
        ex[0x0112] = rng.randint(1, 8)
        im.save(buf, format=rng.choice(["JPEG", "PNG"]), exif=ex)
        data = buf.getvalue()
        return data, ".jpg" if data[:2] == b"\xff\xd8" else ".png", kind
    elif kind == "progressive":
        im.save(buf, format="JPEG", progressive=True, quality=rng.randint(5, 100))
        return buf.getvalue(), ".jpg", kind
    elif kind == "tiff-comp":
        im.save(buf, format="TIFF", compression=rng.choice(["tiff_lzw", "tiff_deflate", "packbits", "tiff_adobe_deflate"]))
        return buf.getvalue(), ".tif", kind
    elif kind == "gif":
        fmt = "GIF"
    elif kind == "webp":
        im.save(buf, format="WEBP", lossless=rng.random() < 0.5)
        return buf.getvalue(), ".webp", kind
    elif kind == "bmp":
        fmt = "BMP"
    elif kind == "suffix-lies":
        im.save(buf, format="PNG")
        return buf.getvalue(), ".jpg", kind
    im.save(buf, format=fmt)
    suffix = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "BMP": ".bmp", "WEBP": ".webp", "GIF": ".gif"}[fmt]
    return buf.getvalue(), suffix, kind


def _damage(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    kind = rng.choice(["truncate", "flip", "zero", "insert", "random", "empty", "text", "foreign-header", "bomb", "header-only"])
    b = bytearray(data)
    if kind == "truncate":
        return bytes(b[: rng.randint(0, max(0, len(b) - 1))]), kind
    if kind == "flip":
        for _ in range(rng.choice([1, 2, 8, 64])):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b), kind
    if kind == "zero":
        i = rng.randrange(len(b))
        b[i:i + rng.randint(1, 256)] = bytes(min(len(b) - i, 256))[: len(b[i:i + 256])]
        return bytes(b), kind
    if kind == "insert":
        i = rng.randrange(len(b) + 1)
        return bytes(b[:i]) + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))) + bytes(b[i:]), kind
    if kind == "random":
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096))), kind
    if kind == "empty":
        return b"", kind
    if kind == "text":
        return b"this is not an image\n" * rng.randint(1, 20), kind
    if kind == "foreign-header":
        magic = rng.choice([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00", b"MM\x00*", b"BM", b"RIFF\x00\x00\x00\x00WEBP", b"GIF89a"])
        return magic + bytes(b[len(magic):]), kind
    w, h = rng.choice([(100_000, 100_000), (0, 10), (1, 2**31 - 1), (65535, 65535), (20000, 20000)])
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    body = chunk(b"IDAT", zlib.compress(bytes(rng.getrandbits(8) for _ in range(256)))) if kind == "bomb" else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + body + chunk(b"IEND", b""), kind


def pillow_oracle(path: Path) -> np.ndarray | None:
    """Independent decode with Pillow alone: (3, H, W) float in [0, 1], or None if Pillow refuses it.

    16-bit grey read at 16 bits, alpha composited on white, EXIF orientation applied
    (PIL.ImageOps.exif_transpose); everything else through Pillow's convert("RGB").
    """
    try:
        with Image.open(path) as im:
            im.load()
            try:
                im = ImageOps.exif_transpose(im)
            except Exception:  # a damaged EXIF block: Pillow's pixels as stored
                pass
            if im.mode.startswith("I;16") or im.mode == "I":
                g = np.asarray(im).astype(np.float64) / 65535.0
                return np.repeat(g[None], 3, 0)
            if im.mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in im.info:
                rgba = im.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.float64).transpose(2, 0, 1) / 255.0
            return np.asarray(im.convert("RGB"), dtype=np.float64).transpose(2, 0, 1) / 255.0
    except Exception:
        return None


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def _one_line(exc: NeurodeployError) -> bool:
    return "\n" not in str(exc)


def _outcome(run) -> str:
    """``run()``'s outcome, or how it failed: refused (one line), multiline, hung, traceback."""
    try:
        return run()
    except NeurodeployError as exc:
        return "refused" if _one_line(exc) else "multiline"
    except Hung:
        return "hung"
    except Exception:
        traceback.print_exc(limit=3)
        return "traceback"


def image_case(rng: random.Random, model, work: Path, i: int) -> list[tuple[str, str, str]]:
    """Returns [(path, kind, outcome)] for derain and evaluate."""
    pic = _picture(rng)
    data, suffix, kind = _valid_file(rng, pic)
    if rng.random() < 0.5:
        data, dkind = _damage(rng, data)
        kind = f"{dkind}({kind})"
    case = work / f"case{i}"
    (case / "rainy").mkdir(parents=True)
    (case / "clean").mkdir()
    path = case / "rainy" / f"x{suffix}"
    path.write_bytes(data)
    oracle = pillow_oracle(path)
    results = []
    # derain: the CLI's code path, then the oracle for an exit-0 result
    def derain_outcome() -> str:
        written = derain_files(model, [path], case / "out", tile=32, halo=8)
        if oracle is None:
            return "ok-pillow-refuses"  # we read what Pillow alone cannot (e.g. 16-bit colour via OpenCV)
        from neurodeploy.images import read_image

        ours = derain(model, torch.as_tensor(read_image(path), dtype=torch.float32), tile=32, halo=8)
        ref = derain(model, torch.as_tensor(oracle, dtype=torch.float32), tile=32, halo=8)
        ok_file = written[0].is_file() and Image.open(written[0]).size == (ref.shape[2], ref.shape[1])
        return "ok" if ok_file and ours.shape == ref.shape and _psnr(ours, ref) >= PSNR_MIN_DB else "wrong"

    results.append(("derain", kind, _outcome(derain_outcome)))
    # evaluate: the fuzz file as the rainy side, its oracle (or a grey picture) as the clean side
    clean = (oracle if oracle is not None else np.full((3, 16, 16), 0.5)).transpose(1, 2, 0)
    Image.fromarray((clean * 255 + 0.5).astype(np.uint8)).save(case / "clean" / "x.png")

    def evaluate_outcome() -> str:
        evaluate(model, case, tile=32, halo=8)
        return "ok"

    outcome = _outcome(evaluate_outcome)
    results.append(("evaluate", kind, outcome))
    shutil.rmtree(case, ignore_errors=True)
    return results


# ---------------------------------------------------------------- checkpoints

_BAD_VALUES = [-1, 0, 10**9, 2**63, 1e300, float("nan"), float("inf"), "8", None, [], {}, [1], True, 0.5, -0.5, 3]


def _damage_payload(rng: random.Random, payload: dict) -> tuple[dict, str]:
    p = {**payload, "config": dict(payload["config"]), "state_dict": dict(payload["state_dict"]), "meta": dict(payload["meta"])}
    kind = rng.choice(["del-key", "type-key", "arch", "config-value", "config-del", "config-extra",
                       "sd-drop", "sd-add", "sd-shape", "sd-dtype", "sd-nan", "sd-nontensor", "meta", "version"])
    sd, cfg = p["state_dict"], p["config"]
    if kind == "del-key":
        del p[rng.choice(["format", "architecture", "config", "state_dict", "meta", "format_version"])]
    elif kind == "type-key":
        p[rng.choice(["architecture", "config", "state_dict", "meta"])] = rng.choice([5, "x", [1, 2], None, {"a": 1}])
    elif kind == "arch":
        p["architecture"] = rng.choice(["no-such-net", "", "ESDNET", "esdnet ", "toy-residual", "esdnet", "vlifnet", "spikerain"])
    elif kind == "config-value":
        key = rng.choice(sorted(cfg))
        cfg[key] = rng.choice(_BAD_VALUES)
        kind = f"config-value:{key}"
    elif kind == "config-del":
        del cfg[rng.choice(sorted(cfg))]
    elif kind == "config-extra":
        cfg[rng.choice(["bogus", "dim", "channels", "levels"])] = rng.choice(_BAD_VALUES)
    elif kind == "sd-drop":
        del sd[rng.choice(sorted(sd))]
    elif kind == "sd-add":
        sd[rng.choice(["extra.weight", "conv_in.weight2"])] = torch.zeros(3)
    elif kind == "sd-shape":
        k = rng.choice(sorted(sd))
        sd[k] = torch.zeros(tuple(s + rng.choice([1, -1 if s > 1 else 1]) for s in sd[k].shape) or (2,))
    elif kind == "sd-dtype":
        k = rng.choice(sorted(sd))
        sd[k] = sd[k].to(rng.choice([torch.int64, torch.float16, torch.bfloat16, torch.bool, torch.uint8, torch.complex64, torch.float64]))
    elif kind == "sd-nan":
        k = rng.choice([k for k in sorted(sd) if sd[k].is_floating_point() and sd[k].numel()])
        t = sd[k].clone()
        t.view(-1)[rng.randrange(t.numel())] = rng.choice([float("nan"), float("inf"), -float("inf"), 1e38])
        sd[k] = t
    elif kind == "sd-nontensor":
        sd[rng.choice(sorted(sd))] = rng.choice([1, "w", [1.0, 2.0], None])
    elif kind == "meta":
        p["meta"] = rng.choice([None, "x", [1], {"preset": [1]}, {"train": "x"}])
    elif kind == "version":
        p["format_version"] = rng.choice([0, 2, 99, "1", None])
    return p, kind


def _damage_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    out, kind = _damage(rng, data)
    if kind in ("bomb", "header-only"):
        out, kind = data[: len(data) // 2], "truncate"
    return out, kind


def checkpoint_case(rng: random.Random, bases: dict[str, tuple[bytes, dict]], work: Path, i: int, image: torch.Tensor):
    name = rng.choice(sorted(bases))
    data, payload = bases[name]
    path = work / f"ckpt{i}.pt"
    if rng.random() < 0.4:
        damaged, kind = _damage_bytes(rng, data)
        path.write_bytes(damaged)
    else:
        p, kind = _damage_payload(rng, payload)
        torch.save(p, path)
    kind = f"{name}:{kind}"
    results = []
    for what in ("derain/evaluate", "export"):
        try:
            if what == "export":
                model = build_model(load_checkpoint(path))
            else:
                model, _ = load_model(path)
            out = derain(model, image, tile=0)
            outcome = "ok" if bool(torch.isfinite(out).all()) and out.shape == image.shape else "wrong"
        except NeurodeployError as exc:
            outcome = "refused" if _one_line(exc) else "multiline"
        except Hung:
            outcome = "hung"
        except Exception:
            outcome = "traceback"
            traceback.print_exc(limit=3)
        results.append((what, kind, outcome))
    path.unlink(missing_ok=True)
    return results


def run(images: int, checkpoints: int, seed: int = 0, timeout: float = 30.0,
        base_checkpoints: tuple[str, ...] = ("toy-residual", "esdnet-tiny")):
    """Run the cases; returns ``(counts, failures)``: outcome counters per path, failing cases per outcome."""
    torch.set_num_threads(1)
    previous = signal.signal(signal.SIGALRM, _alarm)
    rng = random.Random(seed)
    model, _ = load_model("toy-residual")
    image = torch.as_tensor(np.asarray(Image.open(DEFAULT_IMAGE).convert("RGB"))[:16, :16].transpose(2, 0, 1) / 255.0,
                            dtype=torch.float32)
    bases = {}
    for name in base_checkpoints:
        path = resolve(name)
        bases[name] = (path.read_bytes(), torch.load(path, weights_only=True))
    counts: dict[str, Counter] = defaultdict(Counter)
    failures: dict[str, list[str]] = defaultdict(list)
    try:
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the Pillow oracle's warnings; our reader silences its own
            work = Path(tmp)
            for kind_of_case, n in (("image", images), ("checkpoint", checkpoints)):
                for i in range(n):
                    signal.setitimer(signal.ITIMER_REAL, timeout)
                    try:
                        rows = (image_case(rng, model, work, i) if kind_of_case == "image"
                                else checkpoint_case(rng, bases, work, i, image))
                    except Hung:
                        rows = [(kind_of_case, "?", "hung")]
                    finally:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                    for what, kind, outcome in rows:
                        counts[f"{kind_of_case} via {what}"][outcome] += 1
                        if outcome in FAILURES:
                            failures[outcome].append(f"{kind_of_case} #{i} {what} {kind}")
    finally:
        signal.signal(signal.SIGALRM, previous)
    return counts, failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--checkpoints", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per case before it counts as hung")
    ap.add_argument("--show", type=int, default=3, help="cases to print per failure outcome")
    args = ap.parse_args()
    t0 = time.perf_counter()
    counts, failures = run(args.images, args.checkpoints, args.seed, args.timeout)
    dt = time.perf_counter() - t0
    print(f"cases: {args.images} images + {args.checkpoints} checkpoints (seed {args.seed}) in {dt:.1f} s")
    for key in sorted(counts):
        print(f"  {key:32s} {dict(sorted(counts[key].items()))}")
    total = sum(len(v) for v in failures.values())
    print(f"failures: {total} " + json.dumps({k: len(v) for k, v in failures.items()}))
    for outcome, cases in failures.items():
        for c in cases[: args.show]:
            print(f"  {outcome}: {c}")
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
