"""Paired rainy/clean image folders, random crops and flips.

A *paired folder* holds ``rainy/`` and ``clean/`` with the same file names (matched by
name without extension, so ``a.png`` pairs with ``a.jpg``). Images load as RGB in [0, 1]
through :mod:`neurodeploy.images` (the one reader: 8/16-bit, grey, palette, alpha, CMYK, EXIF).
Problems are reported up front as :class:`~neurodeploy.errors.DataError`, one line each:
missing or empty folders, unmatched names, unreadable or non-image files, size mismatches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch

from neurodeploy.errors import DataError, InputImageError
from neurodeploy.images import ImageInfo, image_size, read_image_info, write_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def _image_files(folder: Path) -> dict[str, Path]:
    files = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            if p.stem in files:
                raise DataError(f"{folder}: two files named '{p.stem}' ({files[p.stem].name}, {p.name}); keep one")
            files[p.stem] = p
    return files


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) read from the header (EXIF orientation applied); DataError if not an image."""
    try:
        return image_size(path)
    except InputImageError as exc:
        raise DataError(f"{exc}; remove or replace it") from None


def load_image(path: str | Path) -> torch.Tensor:
    """An image file as a float32 ``(3, H, W)`` tensor in [0, 1] (RGB; see :mod:`neurodeploy.images`).

    A missing or unreadable file is a :class:`DataError` here, since it is part of a data set.
    """
    return load_image_info(path)[0]


def load_image_info(path: str | Path) -> tuple[torch.Tensor, ImageInfo]:
    """:func:`load_image` and the file's :class:`~neurodeploy.images.ImageInfo` (for :func:`save_image`)."""
    try:
        array, info = read_image_info(path)
    except InputImageError as exc:
        raise DataError(str(exc)) from None
    return torch.from_numpy(array).float(), info


def save_image(image: torch.Tensor, path: str | Path, like: ImageInfo | None = None) -> Path:
    """Write a ``(3, H, W)`` image in [0, 1]; ``like`` (the input's info) keeps its bit depth, grey and alpha."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, image.detach().cpu().numpy(), like)
    return path


@dataclass(frozen=True)
class Pair:
    name: str
    rainy: Path
    clean: Path


def find_pairs(folder: str | Path) -> list[Pair]:
    """The pairs of a paired folder (``rainy/`` + ``clean/``), checked, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    rainy_dir, clean_dir = folder / "rainy", folder / "clean"
    for d in (rainy_dir, clean_dir):
        if not d.is_dir():
            raise DataError(f"{folder} has no '{d.name}/' folder; a paired folder needs rainy/ and clean/ with the same file names")
    rainy, clean = _image_files(rainy_dir), _image_files(clean_dir)
    if not rainy and not clean:
        raise DataError(f"{folder}: rainy/ and clean/ are empty; put image pairs in them")
    only_rainy, only_clean = sorted(set(rainy) - set(clean)), sorted(set(clean) - set(rainy))
    if only_rainy or only_clean:
        parts = []
        if only_rainy:
            parts.append(f"only in rainy/: {', '.join(only_rainy[:5])}{' ...' if len(only_rainy) > 5 else ''}")
        if only_clean:
            parts.append(f"only in clean/: {', '.join(only_clean[:5])}{' ...' if len(only_clean) > 5 else ''}")
        raise DataError(f"{folder}: unmatched file names ({'; '.join(parts)}); every rainy image needs a clean one of the same name")
    pairs = []
    for name in sorted(rainy):
        size_r, size_c = _image_size(rainy[name]), _image_size(clean[name])
        if size_r != size_c:
            raise DataError(
                f"{folder}: '{name}' is {size_r[0]}x{size_r[1]} in rainy/ but {size_c[0]}x{size_c[1]} in clean/; pairs must have the same size"
            )
        pairs.append(Pair(name, rainy[name], clean[name]))
    return pairs


def expand_data_dirs(dirs: Iterable[str | Path]) -> list[Path]:
    """Each folder as given if it is a paired folder, else its sub-folders that are (a parent of sets)."""
    out: list[Path] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise DataError(f"data folder not found: {d}")
        if (d / "rainy").is_dir() or (d / "clean").is_dir():
            out.append(d)
            continue
        subs = sorted(s for s in d.iterdir() if s.is_dir() and (s / "rainy").is_dir())
        if not subs:
            raise DataError(f"{d} is neither a paired folder (rainy/ + clean/) nor a parent of paired folders")
        out.extend(subs)
    return out


def find_clean_images(folder: str | Path) -> list[Path]:
    """Clean images for synthetic rain: ``folder/clean/*`` if present, else ``folder/*``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    src = folder / "clean" if (folder / "clean").is_dir() else folder
    files = [p for p in sorted(src.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"{src} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); add clean images")
    for p in files:
        _image_size(p)
    return files


def random_crop_flip(
    images: Sequence[torch.Tensor], size: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """The same random ``size``×``size`` crop and random horizontal/vertical flips of each ``(3,H,W)`` image.

    Images smaller than ``size`` are padded by reflection first.
    """
    h, w = images[0].shape[-2:]
    if h < size or w < size:
        ph, pw = max(size - h, 0), max(size - w, 0)
        images = [torch.nn.functional.pad(im[None], (0, pw, 0, ph), mode="replicate")[0] for im in images]
        h, w = images[0].shape[-2:]
    top = int(torch.randint(0, h - size + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - size + 1, (1,), generator=generator))
    flip_h, flip_v = torch.rand(2, generator=generator).tolist()
    out = []
    for im in images:
        c = im[:, top : top + size, left : left + size]
        if flip_h < 0.5:
            c = c.flip(-1)
        if flip_v < 0.5:
            c = c.flip(-2)
        out.append(c)
    return out


class PairedPatches:
    """Random training patches from paired folders (all images kept in memory as uint8).

    ``batch(n, generator)`` returns ``(rainy, clean)`` float tensors ``(n, 3, size, size)``
    in [0, 1]; images are drawn uniformly, crops and flips at random from ``generator``.
    With ``synth`` (a :class:`models.rain.RainSynthesizer`), the rainy side is made from
    the clean crop instead of read from disk: always for ``clean_only`` images and, for
    pairs, with probability ``synthetic_fraction`` per crop (1.0: the rainy files are not
    even read). With ``cast`` (a :class:`models.rain.ColourCast`), the rainy side of each crop,
    real or synthetic, gets a random colour cast with probability ``cast_fraction``.
    """

    def __init__(
        self,
        pairs: Sequence[Pair] = (),
        clean_only: Sequence[Path] = (),
        size: int = 64,
        synth=None,
        synthetic_fraction: float = 1.0,
        cast=None,
        cast_fraction: float = 0.0,
    ):
        self.size = int(size)
        self.synth = synth
        if not 0.0 <= synthetic_fraction <= 1.0:
            raise DataError(f"synthetic fraction {synthetic_fraction} is outside [0, 1]")
        self.synthetic_fraction = float(synthetic_fraction) if synth is not None else 0.0
        if not 0.0 <= cast_fraction <= 1.0:
            raise DataError(f"colour-cast fraction {cast_fraction} is outside [0, 1]")
        self.cast = cast
        self.cast_fraction = float(cast_fraction) if cast is not None else 0.0
        self.rainy: list[torch.Tensor | None] = []
        self.clean: list[torch.Tensor] = []
        for p in pairs:
            self.rainy.append((load_image(p.rainy) * 255).byte() if self.synthetic_fraction < 1.0 else None)
            self.clean.append((load_image(p.clean) * 255).byte())
        for path in clean_only:
            self.rainy.append(None)
            self.clean.append((load_image(path) * 255).byte())
        if not self.clean:
            raise DataError("no training images; pass --data with a paired folder (or clean images with --synthetic-rain)")
        if synth is None and any(r is None for r in self.rainy):
            raise DataError("clean-only images need --synthetic-rain")

    def __len__(self) -> int:
        return len(self.clean)

    def batch(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        rainy, clean = [], []
        idx = torch.randint(0, len(self.clean), (n,), generator=generator).tolist()
        for i in idx:
            c = self.clean[i].float() / 255.0
            # only a mixed run draws the coin, so all-real and all-synthetic runs keep the
            # random stream (and the results) they had before mixing existed
            f = self.synthetic_fraction
            synthetic = f == 1.0 or (f > 0.0 and float(torch.rand(1, generator=generator)) < f)
            if self.rainy[i] is not None and not synthetic:
                r, c = random_crop_flip([self.rainy[i].float() / 255.0, c], self.size, generator)
            else:
                (c,) = random_crop_flip([c], self.size, generator)
                r = self.synth.random(c, generator)
            # as above: no coin unless casts are asked for, so earlier runs reproduce
            if self.cast_fraction > 0.0 and float(torch.rand(1, generator=generator)) < self.cast_fraction:
                r = self.cast.random(r, generator)
            rainy.append(r)
            clean.append(c)
        return torch.stack(rainy), torch.stack(clean)
