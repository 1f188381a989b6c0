"""Images in and out: the one reader and the one writer of every command.

**Range.** :func:`read_image` returns float64 ``(3, H, W)`` with values in [0, 1]: a
sample of an N-bit file (N = 8 or 16) is ``code / (2**N - 1)``, so 8-bit 255 and 16-bit
65535 both read as 1.0 and a 16-bit file is not "almost white" any more.

**What is read** (PNG, JPEG, TIFF, BMP, WebP, and anything else Pillow opens):

- 8-bit RGB, grey (``L``, ``1``), palette (``P``): as RGB; grey is repeated on 3 channels.
- 16-bit grey (``I;16*``, and 32-bit integer ``I`` whose values fit 16 bits) and
  16-bit RGB/RGBA PNG and TIFF: at full 16-bit precision (Pillow would cut 16-bit colour
  to 8 bits, so those are decoded by OpenCV, which the project already depends on).
- CMYK (e.g. CMYK JPEG), YCbCr: converted to RGB by Pillow.
- **Alpha** (``RGBA``, ``LA``, ``PA``, palette transparency): a pixel with alpha < 1 is
  composited over **white** (the background of a page or a viewer) before deraining, and
  :attr:`ImageInfo.notes` says so (the CLI prints it). Fully opaque alpha changes nothing.
  The writer puts the original alpha back, so transparent areas stay transparent.
- **EXIF orientation** is applied, so the pixels are upright as a viewer shows them.
- Refused with :class:`~neurodeploy.errors.InputImageError`, one line: missing, empty,
  damaged or truncated files, non-images, 32-bit float images, more than
  :data:`MAX_PIXELS` pixels (a "decompression bomb" header), images of 0 pixels.

**What is written** (:func:`write_image`): the format comes from the suffix. Given the
:class:`ImageInfo` of the input (``like=``), the output keeps the input's bit depth and
mode where the format allows: 16-bit in -> 16-bit out (PNG, TIFF), grey in -> grey out,
alpha in -> the same alpha out. Palette and CMYK inputs are written as RGB (re-quantising
to a palette or going back to CMYK would lose what the derainer did).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from neurodeploy.errors import InputImageError

DEFAULT_IMAGE = Path(__file__).resolve().parent / "assets" / "rainy-input09.png"

# 200 MP: eight times a 24-MP photo; a header claiming more is a damaged file or a bomb.
MAX_PIXELS = 200_000_000
# Every decode here checks MAX_PIXELS before loading pixels; Pillow's own limit (89 MP warn,
# 179 MP refuse with "cannot identify image file") would hide that message.
Image.MAX_IMAGE_PIXELS = None

# EXIF orientation tag value -> numpy ops on an (H, W, C) array (as PIL.ImageOps.exif_transpose).
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: a.transpose(1, 0, 2)[::-1],
}


@dataclass
class ImageInfo:
    """How a file was stored, so the writer can keep it.

    Attributes:
        bits: bits per sample of the file, 8 or 16.
        grey: the file had one colour channel.
        alpha: ``(H, W)`` alpha in [0, 1] after orientation, or None (no alpha channel).
        mode: Pillow's mode of the file (``RGB``, ``I;16``, ``P``, ``CMYK``, ...).
        format: Pillow's format name (``PNG``, ``JPEG``, ...).
        notes: things the user should be told (alpha composited, ...), one line each.
    """

    bits: int = 8
    grey: bool = False
    alpha: np.ndarray | None = None
    mode: str = "RGB"
    format: str = ""
    notes: list[str] = field(default_factory=list)


def _refuse(path: Path, why: str) -> InputImageError:
    return InputImageError(f"{path} is not a readable image ({why}); pass a PNG, JPEG, TIFF, BMP or WebP file")


def not_a_file(path: Path) -> InputImageError | None:
    """The one-line error for a path that exists but is no regular file (a folder, a device such
    as /dev/null, a pipe), saying what it is; None for a file or a missing path."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return InputImageError(f"{path} is a folder, not an image; pass the image files in it, e.g. {path}/*.png")
    kind = ("a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    return InputImageError(f"{path} is {kind}, not an image file; pass a PNG, JPEG, TIFF, BMP or WebP file")


def _is_16bit_colour(img: Image.Image, path: Path) -> bool:
    """Whether the file holds 16-bit colour samples that Pillow would cut to 8 bits."""
    if img.format == "PNG" and img.mode in ("RGB", "RGBA"):
        with open(path, "rb") as f:
            head = f.read(26)
        return len(head) == 26 and head[24] == 16  # IHDR bit depth
    if img.format == "TIFF" and img.mode in ("RGB", "RGBA", "RGBX"):
        bps = img.tag_v2.get(258)
        bps = bps if isinstance(bps, tuple) else (bps,)
        return any(b == 16 for b in bps)
    return False


def _decode_16bit_colour(path: Path) -> np.ndarray:
    """(H, W, 3|4) uint16 RGB(A) via OpenCV (which keeps 16 bits and ignores EXIF, as we want)."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError("16-bit colour data could not be decoded")
    return arr[..., [2, 1, 0, 3][: arr.shape[2]]]  # BGR(A) -> RGB(A)


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(0x0112, 1)
        return int(value) if int(value) in _ORIENT else 1
    except Exception:  # a damaged EXIF block must not lose the picture; show it as stored
        return 1


def _decode(img: Image.Image, path: Path) -> tuple[np.ndarray, ImageInfo]:
    """(H, W, C) float64 in [0, 1] with C = 1, 2 (grey+alpha), 3 or 4 (RGB+alpha), and the info."""
    info = ImageInfo(mode=img.mode, format=img.format or "")
    mode = img.mode
    if _is_16bit_colour(img, path):
        arr = _decode_16bit_colour(path).astype(np.float64) / 65535.0
        info.bits = 16
        return arr, info
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img)
        if arr.min() < 0 or arr.max() > 65535:
            raise ValueError(f"32-bit integer samples outside 0..65535 (mode {mode})")
        info.bits, info.grey = 16, True
        return arr.astype(np.float64)[..., None] / 65535.0, info
    if mode in ("F",):
        raise ValueError("32-bit floating-point samples; save it as 8- or 16-bit")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info) or (
        mode in ("L", "RGB") and "transparency" in img.info)
    grey = mode in ("1", "L", "LA", "La") or (mode == "P" and _palette_is_grey(img))
    target = ("LA" if has_alpha else "L") if grey else ("RGBA" if has_alpha else "RGB")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "palette with transparency" advice: we handle alpha below
        arr = np.asarray(img.convert(target), dtype=np.float64) / 255.0
    if arr.ndim == 2:
        arr = arr[..., None]
    info.grey = grey
    return arr, info


def _palette_is_grey(img: Image.Image) -> bool:
    pal = np.asarray(img.convert("RGB"))
    return bool((pal[..., 0] == pal[..., 1]).all() and (pal[..., 1] == pal[..., 2]).all())


def read_image_info(path: str | Path) -> tuple[np.ndarray, ImageInfo]:
    """Read an image as float64 ``(3, H, W)`` in [0, 1] (see the module docstring) and its :class:`ImageInfo`."""
    path = Path(path)
    odd = not_a_file(path)
    if odd is not None:
        raise odd
    if not path.is_file():
        raise InputImageError(f"no such image file: {path}")
    if path.stat().st_size == 0:
        raise _refuse(path, "the file is empty")
    try:
        with warnings.catch_warnings():
            # Pillow warns about big headers (we apply our own limit, in one line) and damaged
            # EXIF blocks (then shown as stored): a warning dump would break the one-line rule
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise InputImageError(
                        f"{path} claims {w}x{h} pixels (more than {MAX_PIXELS // 1_000_000} MP); "
                        "the header is damaged or the image is too large, crop or shrink it"
                    )
                if w * h == 0:
                    raise _refuse(path, "it has 0 pixels")
                frames = getattr(img, "n_frames", 1)
                if frames > 1:  # Pillow would hand over the first frame as if it were the image
                    raise InputImageError(
                        f"{path} is an animated or multi-page {img.format or 'image'} of {frames} frames; neurodeploy "
                        f"derains still images: save its frames as PNG files first (e.g. `ffmpeg -i {path} "
                        "frame-%03d.png`) and pass those")
                # load first: PNG's getexif() loads the pixels itself, and a decoding error
                # swallowed there would leave a half-decoded image that loads "fine" after
                img.load()
                orient = _orientation(img)
                arr, info = _decode(img, path)
    except InputImageError:
        raise
    except Exception as exc:  # Pillow/OpenCV raise OSError, SyntaxError, ValueError, struct.error ... on bad files
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200] or type(exc).__name__
        raise _refuse(path, reason) from None
    if orient != 1:
        arr = np.ascontiguousarray(_ORIENT[orient](arr))
    n_colour = 1 if info.grey else 3
    colour = arr[..., :n_colour]
    if arr.shape[2] > n_colour:
        alpha = arr[..., n_colour]
        if (alpha < 1.0).any():
            # composite on white: out = a * colour + (1 - a) * 1
            colour = colour * alpha[..., None] + (1.0 - alpha[..., None])
            info.notes.append(f"{path.name} has transparent pixels: composited on white before deraining; "
                              "its alpha is kept in the output")
        info.alpha = alpha
    if n_colour == 1:
        colour = np.repeat(colour, 3, axis=2)
    return np.ascontiguousarray(colour.transpose(2, 0, 1)), info


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as a viewer shows it (EXIF orientation applied), from the header only.

    Cheap (no pixel decoding); InputImageError if the file is not an image.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # as in read_image_info
            with Image.open(path) as img:
                w, h = img.size
                turned = _orientation(img) >= 5
    except Exception as exc:  # as in read_image_info: any decoder error is a bad file
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200] or type(exc).__name__
        raise _refuse(path, reason) from None
    return (h, w) if turned else (w, h)


def read_image(path: str | Path) -> np.ndarray:
    """Read any supported image as float64 ``(3, H, W)`` RGB in [0, 1] (see the module docstring)."""
    return read_image_info(path)[0]


_SIXTEEN_BIT_FORMATS = {".png", ".tif", ".tiff"}
_ALPHA_FORMATS = {".png", ".tif", ".tiff", ".webp"}


def write_image(path: str | Path, image: np.ndarray, like: ImageInfo | None = None) -> None:
    """Write ``(3, H, W)`` in [0, 1] (format from the suffix), keeping ``like``'s bit depth, grey and alpha.

    Without ``like``: 8-bit RGB. 16 bits are kept in PNG and TIFF, alpha in PNG, TIFF and
    WebP; JPEG is written at quality 95.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    rgb = np.clip(np.asarray(image, dtype=np.float64).transpose(1, 2, 0), 0.0, 1.0)
    like = like or ImageInfo()
    bits = 16 if like.bits == 16 and suffix in _SIXTEEN_BIT_FORMATS else 8
    peak = 65535.0 if bits == 16 else 255.0
    dtype = np.uint16 if bits == 16 else np.uint8
    if like.grey:
        # ITU-R BT.601 luma, as Pillow's convert("L"): the derainer's 3 channels back to one
        chans = [rgb @ np.array([0.299, 0.587, 0.114])]
    else:
        chans = [rgb[..., i] for i in range(3)]
    if like.alpha is not None and suffix in _ALPHA_FORMATS and like.alpha.shape == rgb.shape[:2]:
        chans.append(like.alpha)
    arr = (np.stack(chans, axis=-1) * peak + 0.5).astype(dtype)
    save_kw = {"quality": 95} if suffix in (".jpg", ".jpeg") else {}
    try:
        if bits == 16 and arr.shape[2] > 1:
            import cv2  # Pillow cannot write 16-bit colour

            bgr = arr[..., [2, 1, 0, 3][: arr.shape[2]]]
            if not cv2.imwrite(str(path), bgr):
                raise OSError("OpenCV could not write it")
        elif bits == 16:
            Image.fromarray(arr[..., 0], mode="I;16").save(path)
        else:
            mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[arr.shape[2]]
            im = Image.fromarray(arr if arr.shape[2] > 1 else arr[..., 0], mode=mode)
            if mode == "LA" and suffix not in (".png", ".tif", ".tiff"):
                im = im.convert("RGBA")
            im.save(path, **save_kw)
    except (OSError, ValueError, KeyError) as exc:
        raise InputImageError(f"cannot write {path} ({exc}); use a .png, .jpg, .tif, .bmp or .webp name") from None


def center_crop(image: np.ndarray, size: tuple[int, int], source: str = "image") -> np.ndarray:
    """Crop ``(C, H, W)`` to ``size`` = (H, W) around its centre; refuse smaller images."""
    _, h, w = image.shape
    th, tw = size
    if h < th or w < tw:
        raise InputImageError(
            f"{source} is {h}x{w} (HxW), smaller than the bundle's input {th}x{tw}; "
            f"pass a larger image or export with --size {min(h, th)} {min(w, tw)}"
        )
    top, left = (h - th) // 2, (w - tw) // 2
    return image[:, top:top + th, left:left + tw]


def fit_notes(paths: list[str | Path] | None, size: tuple[int, int]) -> list[str]:
    """One line per image larger than ``size`` = (H, W) pixels, saying how it is fitted to a
    bundle's input (its centre crop; never resized). Reads the headers only."""
    notes = []
    for p in expand_images(paths) if paths else [DEFAULT_IMAGE]:
        try:
            with Image.open(p) as img:
                w, h = img.size
        except (OSError, ValueError):
            continue  # the reader says what is wrong with it
        if (h, w) != tuple(size):
            notes.append(f"{Path(p).name} is {h}x{w} (HxW); using its centre {size[0]}x{size[1]} crop, the bundle's "
                         f"input (not resized; export with --size {h} {w} to use it whole)")
    return notes


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def expand_images(paths: list[str | Path]) -> list[Path]:
    """Files as given; a folder stands for its image files (by suffix), sorted by name."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not found:
                raise InputImageError(f"folder {p} holds no PNG/JPEG images; pass image files or a folder of them")
            out.extend(found)
        else:
            out.append(p)
    return out


def load_inputs(paths: list[str | Path] | None, size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """Read images (default: the shipped rainy photo; folders expand to their images), centre-crop
    to ``size``: ``(N, 3, H, W)``."""
    paths = expand_images(paths) if paths else [DEFAULT_IMAGE]
    images = [center_crop(read_image(p), size, str(p)) for p in paths]
    return np.stack(images), [Path(p).name for p in paths]


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def calibration_images(folder: str | Path, size: tuple[int, int], limit: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Centre crops ``(N, 3, H, W)`` of the images in ``folder`` (or its ``rainy/`` when it is a
    paired folder), sorted by name, at most ``limit``. An empty folder, an image smaller than
    ``size`` = (H, W) or an unreadable file is refused in one line (DataError)."""
    from neurodeploy.errors import DataError

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"calibration folder not found: {folder}")
    source = folder / "rainy" if (folder / "rainy").is_dir() else folder
    files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not p.name.startswith("."))[:limit]
    if not files:
        raise DataError(f"calibration folder {source} holds no images (PNG/JPEG); pass a folder of images "
                        "or a paired folder with rainy/")
    crops = []
    for p in files:
        try:
            image = read_image(p)
        except InputImageError as exc:
            raise DataError(str(exc)) from None
        _, h, w = image.shape
        if h < size[0] or w < size[1]:
            raise DataError(f"calibration image {p} is {h}x{w} (HxW), smaller than the export size "
                            f"{size[0]}x{size[1]}; use larger images or a smaller --size")
        crops.append(center_crop(image, size, str(p)))
    return np.stack(crops), [p.name for p in files]
