"""Images in and out: ordinary PNG/JPEG files <-> float arrays ``(3, H, W)`` in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from neurodeploy.errors import InputImageError

DEFAULT_IMAGE = Path(__file__).resolve().parent / "assets" / "rainy-input09.png"


def read_image(path: str | Path) -> np.ndarray:
    """Read an RGB image as float64 ``(3, H, W)`` in [0, 1]."""
    path = Path(path)
    if not path.is_file():
        raise InputImageError(f"no such image file: {path}")
    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise InputImageError(f"{path} is not a readable image ({exc}); pass a PNG or JPEG file") from None
    return rgb.transpose(2, 0, 1)


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write ``(3, H, W)`` in [0, 1] as an 8-bit image (format from the suffix)."""
    rgb = np.clip(np.asarray(image).transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(path)


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
