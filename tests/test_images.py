"""The one image reader and writer: every kind of file reads as the 8-bit RGB file of the same picture."""

import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from neurodeploy.errors import InputImageError
from neurodeploy.images import DEFAULT_IMAGE, ImageInfo, image_size, read_image, read_image_info, write_image


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    """A real 40x48 (HxW) rainy crop, uint8 (H, W, 3): not square, so a missed rotation shows."""
    return np.asarray(Image.open(DEFAULT_IMAGE).convert("RGB"))[100:140, 200:248].copy()


def _grey(base):
    return np.asarray(Image.fromarray(base).convert("L"))


def _stored_for_orientation_6(arr):
    """The stored pixels that a viewer shows as ``arr`` under EXIF orientation 6 (rotate 90° clockwise)."""
    return np.ascontiguousarray(np.rot90(arr, 1))


def _exif(orientation):
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex


def _alpha(base):
    h, w = base.shape[:2]
    return (np.linspace(0, 255, w)[None, :].repeat(h, 0)).astype(np.uint8)


# kind -> (write the file, the 8-bit RGB picture it must read as, allowed max abs error in [0, 1] units)
KINDS = {
    "png-rgb8": (lambda b, p: Image.fromarray(b).save(p), lambda b: b, 0.0),
    "png-rgb16": (lambda b, p: cv2.imwrite(str(p), (b[..., ::-1].astype(np.uint16) * 257)), lambda b: b, 0.0),
    "tiff-rgb16": (lambda b, p: cv2.imwrite(str(p), (b[..., ::-1].astype(np.uint16) * 257)), lambda b: b, 0.0),
    "png-grey8": (lambda b, p: Image.fromarray(_grey(b)).save(p), lambda b: np.repeat(_grey(b)[..., None], 3, 2), 0.0),
    "png-grey16": (lambda b, p: Image.fromarray(_grey(b).astype(np.uint16) * 257, mode="I;16").save(p),
                   lambda b: np.repeat(_grey(b)[..., None], 3, 2), 0.0),
    "tiff-grey16": (lambda b, p: Image.fromarray(_grey(b).astype(np.uint16) * 257, mode="I;16").save(p),
                    lambda b: np.repeat(_grey(b)[..., None], 3, 2), 0.0),
    "png-bilevel": (lambda b, p: Image.fromarray(_grey(b) > 128).save(p),
                    lambda b: np.repeat(((_grey(b) > 128) * 255).astype(np.uint8)[..., None], 3, 2), 0.0),
    "png-palette": (lambda b, p: Image.fromarray(b).quantize(64).save(p),
                    lambda b: np.asarray(Image.fromarray(b).quantize(64).convert("RGB")), 0.0),
    "png-rgba-opaque": (lambda b, p: Image.fromarray(np.dstack([b, np.full(b.shape[:2], 255, np.uint8)])).save(p),
                        lambda b: b, 0.0),
    "png-rgba-translucent": (
        lambda b, p: Image.fromarray(np.dstack([b, _alpha(b)])).save(p),
        lambda b: np.asarray(Image.alpha_composite(Image.new("RGBA", b.shape[1::-1], "white"),
                                                   Image.fromarray(np.dstack([b, _alpha(b)]))).convert("RGB")),
        1.5 / 255),  # Pillow's composite rounds in 8 bits
    "png-exif-rotated": (lambda b, p: Image.fromarray(_stored_for_orientation_6(b)).save(p, exif=_exif(6)),
                         lambda b: b, 0.0),
    "jpeg-exif-rotated": (lambda b, p: Image.fromarray(_stored_for_orientation_6(b)).save(p, quality=100, exif=_exif(6)),
                          lambda b: b, 12 / 255),
    "jpeg-cmyk": (lambda b, p: Image.fromarray(b).convert("CMYK").save(p, quality=100), lambda b: b, 12 / 255),
    "bmp-rgb8": (lambda b, p: Image.fromarray(b).save(p), lambda b: b, 0.0),
    "tiff-rgb8": (lambda b, p: Image.fromarray(b).save(p), lambda b: b, 0.0),
    "webp-lossless": (lambda b, p: Image.fromarray(b).save(p, lossless=True), lambda b: b, 0.0),
}
SUFFIX = {"png": ".png", "tiff": ".tif", "jpeg": ".jpg", "bmp": ".bmp", "webp": ".webp"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_reads_as_its_8bit_rgb_picture(kind, base, tmp_path):
    write, expected, tol = KINDS[kind]
    path = tmp_path / ("x" + SUFFIX[kind.split("-")[0]])
    write(base, path)
    got, info = read_image_info(path)
    assert got.shape == (3, 40, 48) and got.dtype == np.float64
    assert 0.0 <= got.min() and got.max() <= 1.0
    want = expected(base).transpose(2, 0, 1) / 255.0
    assert np.abs(got - want).max() <= tol + 1e-12, kind
    assert image_size(path) == (48, 40)
    assert info.bits == (16 if "16" in kind else 8)
    assert bool(info.notes) == (kind == "png-rgba-translucent")


def test_a_16bit_png_is_not_read_as_almost_white(base, tmp_path):
    """The issue-19 case: a 16-bit grey PNG was converted by clipping to 255 (mean 249 for 121)."""
    Image.fromarray(_grey(base).astype(np.uint16) * 257, mode="I;16").save(tmp_path / "g16.png")
    got = read_image(tmp_path / "g16.png")
    assert abs(got.mean() * 255 - _grey(base).mean()) < 0.01


@pytest.mark.parametrize("kind", ["png-rgb16", "png-grey16", "tiff-rgb16", "png-grey8", "png-rgba-translucent"])
def test_the_writer_keeps_bit_depth_grey_and_alpha(kind, base, tmp_path):
    write, _, _ = KINDS[kind]
    src = tmp_path / ("in" + SUFFIX[kind.split("-")[0]])
    write(base, src)
    image, info = read_image_info(src)
    out = tmp_path / ("out" + src.suffix)
    write_image(out, image, like=info)
    raw = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == (np.uint16 if info.bits == 16 else np.uint8)
    assert raw.ndim == (2 if info.grey else 3)
    if info.alpha is not None:
        assert raw.shape[2] == 4 and np.array_equal(raw[..., 3], _alpha(base))
    elif not info.grey:
        # read back through the reader: a lossless round trip of what was read
        assert np.abs(read_image(out) - image).max() <= 0.5 / 65535 + 1e-12


def test_write_without_info_is_8bit_rgb(tmp_path, base):
    write_image(tmp_path / "o.png", base.transpose(2, 0, 1) / 255.0)
    im = Image.open(tmp_path / "o.png")
    assert im.mode == "RGB" and np.array_equal(np.asarray(im), base)
    write_image(tmp_path / "o2.png", base.transpose(2, 0, 1) / 255.0, ImageInfo())
    assert Image.open(tmp_path / "o2.png").mode == "RGB"


def _png_header_only(width, height):
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("bad, message", [
    ("empty", "the file is empty"),
    ("text", "not a readable image"),
    ("truncated", "not a readable image"),
    ("bomb", "more than 200 MP"),
    ("float", "floating-point"),
    ("missing", "no such image file"),
])
def test_bad_files_are_one_line_input_errors(bad, message, tmp_path, base):
    p = tmp_path / "bad.png"
    if bad == "empty":
        p.write_bytes(b"")
    elif bad == "text":
        p.write_text("hello, I am not a picture\n")
    elif bad == "truncated":
        Image.fromarray(base).save(p)
        p.write_bytes(p.read_bytes()[:200])
    elif bad == "bomb":
        p.write_bytes(_png_header_only(100_000, 100_000))
    elif bad == "float":
        p = tmp_path / "f.tif"
        Image.fromarray(base[..., 0].astype(np.float32) / 255, mode="F").save(p)
    with pytest.raises(InputImageError) as exc:
        read_image(p)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_png_with_damaged_pixel_data_is_refused_not_half_decoded(tmp_path, base):
    """Fuzz find: PNG's getexif() loaded the pixels, its error was swallowed, and the half-decoded
    image then loaded "fine" (exit 0, garbage pixels)."""
    p = tmp_path / "z.png"
    Image.fromarray(base).convert("L").save(p)
    data = bytearray(p.read_bytes())
    idat = data.index(b"IDAT") + 4
    data[idat + 20:idat + 84] = bytes(64)
    p.write_bytes(bytes(data))
    with pytest.raises(InputImageError, match="not a readable image"):
        read_image(p)
