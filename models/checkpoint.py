"""Checkpoints: one ``.pt`` file = architecture name + config + state_dict + provenance.

Loaded only with ``torch.load(weights_only=True)``: a checkpoint that would need to run
code to load is refused. Shipped checkpoints (the zoo, ``models/checkpoints/NAME.pt``
with a model card ``NAME.md``) are addressable by NAME wherever a path is accepted.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neurodeploy import __version__
from neurodeploy.errors import CheckpointError, NeurodeployError
from neurodeploy.models.registry import get_architecture

FORMAT = "neurodeploy-checkpoint"
FORMAT_VERSION = 1


def _zoo_dir() -> Path:
    # Installed (non-editable) packages keep the checkpoints inside neurodeploy.models.
    return Path(__file__).resolve().parent / "checkpoints"


@dataclass
class Checkpoint:
    """A loaded checkpoint (not yet a module). ``sha256`` is the file's hash."""

    path: Path
    architecture: str
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class ZooEntry:
    name: str
    path: Path
    card: Path | None


def zoo() -> list[ZooEntry]:
    """The shipped checkpoints, sorted by name."""
    entries = []
    for pt in sorted(_zoo_dir().glob("*.pt")):
        card = pt.with_suffix(".md")
        entries.append(ZooEntry(pt.stem, pt, card if card.exists() else None))
    return entries


def resolve(path_or_name: str | Path) -> Path:
    """A path to an existing file, or the file of the shipped checkpoint of that name."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    for entry in zoo():
        if entry.name == str(path_or_name):
            return entry.path
    if path.exists():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file; pass a .pt file or a shipped name")
    names = ", ".join(e.name for e in zoo()) or "none"
    raise CheckpointError(
        f"no such file or shipped checkpoint: '{path_or_name}' (shipped: {names}; `neurodeploy models` lists them)"
    )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    architecture: str,
    config: dict[str, Any],
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights with its architecture and config, atomically."""
    get_architecture(architecture)  # refuse to write what cannot be loaded back
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": architecture,
        "config": dict(config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "neurodeploy_version": __version__,
        "meta": dict(meta or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def torch_load_weights(path: Path, unsafe_advice: str = "save plain tensors with "
                       "neurodeploy.checkpoint.save_checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a damaged file, or one that would
    run code when loaded, is one CheckpointError line (``unsafe_advice`` says what to do)."""
    if _starts_with(path, HDF5_MAGIC):
        raise CheckpointError(f"{path} is an HDF5 file, not a PyTorch checkpoint; a NIR graph? it is read by its "
                              f".nir name (rename it to {Path(path).with_suffix('.nir').name})")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: the one line below says it all
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch names the global in words that change between releases ("Unsupported global: GLOBAL
        # x.y", "unsupported GLOBAL x.y whose module x is blocked"); the pickle's own opcodes do not
        unsafe = re.search(r"unsupported global:? (?:GLOBAL )?([\w.]+)", str(exc), re.I)
        culprit = unsafe.group(1) if unsafe else _code_global(path)
        if culprit:
            raise CheckpointError(
                f"{path} holds Python objects that would run code when loaded ({culprit}); refusing it "
                f"({unsafe_advice})"
            ) from None
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint (the pickle stream is damaged or "
                              "not a checkpoint); re-save or re-download it") from None
    except Exception as exc:  # torch.load raises anything from KeyError to BadZipFile on junk
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint ({reason}); re-save or re-download it"
        ) from None


HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(magic)) == magic
    except OSError:
        return False


# Modules whose globals a weights-only checkpoint names (tensor rebuilders, storages, OrderedDict)
_DATA_MODULES = ("torch", "collections", "numpy", "builtins", "_codecs")


def _code_global(path: Path) -> str | None:
    """The first global a pickle (plain, or torch's zip's data.pkl) would import that is not a
    data type: read from its opcodes with pickletools, which runs nothing."""
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                data = z.read(name) if name else b""
        else:
            data = Path(path).read_bytes()
        strings: list[str] = []
        for op, arg, _ in pickletools.genops(data):
            if isinstance(arg, str) and ("UNICODE" in op.name or op.name.endswith("STRING")):
                strings.append(str(arg))
            found = None
            if op.name in ("GLOBAL", "INST"):
                found = str(arg).replace(" ", ".")
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found = f"{strings[-2]}.{strings[-1]}"
            if found and found.split(".")[0] not in _DATA_MODULES:
                return found
    except Exception:  # noqa: BLE001 -- a damaged stream: no culprit to name
        return None
    return None


def load_checkpoint(path_or_name: str | Path) -> Checkpoint:
    """Read and check a checkpoint file (or a shipped name) without building the model."""
    path = resolve(path_or_name)
    payload = torch_load_weights(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a neurodeploy checkpoint (no '{FORMAT}' header); "
            "wrap its state_dict with neurodeploy.checkpoint.save_checkpoint(path, model, architecture, config)"
        )
    for key, kind in (("architecture", str), ("config", dict), ("state_dict", dict)):
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(f"{path}: field '{key}' is missing or not a {kind.__name__}; the file is damaged")
    if not isinstance(payload.get("meta") or {}, dict):
        raise CheckpointError(f"{path}: field 'meta' is not a dict; the file is damaged")
    return Checkpoint(
        path=path,
        architecture=payload["architecture"],
        config=payload["config"],
        state_dict=payload["state_dict"],
        meta=dict(payload.get("meta") or {}),
        sha256=file_sha256(path),
    )


# The papers run T = 4; a damaged config asking for a million steps would run for hours
# (or fill the memory) before anything could go wrong visibly.
MAX_T_STEPS = 64


def _config_error(ckpt: Checkpoint, exc: Exception) -> CheckpointError:
    reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200] or type(exc).__name__
    return CheckpointError(f"{ckpt.path}: config does not build '{ckpt.architecture}': {reason}")


def build_model(ckpt: Checkpoint) -> nn.Module:
    """Build the checkpoint's architecture with its config and load its weights (eval mode).

    The model is first built on torch's ``meta`` device (shapes, no memory) and the
    state_dict checked against it: names, shapes, tensor types and finite values. So a
    damaged config (a width of 10**9) is refused before anything is allocated, and NaN or
    inf weights, which would give a black or garbage image with exit 0, are refused too.
    """
    arch = get_architecture(ckpt.architecture)
    t = ckpt.config.get("t_steps")
    if t is not None and (type(t) is not int or not 1 <= t <= MAX_T_STEPS):
        raise CheckpointError(f"{ckpt.path}: config t_steps={t!r} is not a whole number in 1..{MAX_T_STEPS}; the file is damaged")
    try:
        with torch.device("meta"):
            skeleton = arch.build(ckpt.config)
    except NeurodeployError:
        raise
    except Exception as exc:  # a factory meeting a wrongly typed or out-of-range value raises anything
        raise _config_error(ckpt, exc) from None
    expected = skeleton.state_dict()
    got = ckpt.state_dict
    missing, unexpected = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    wrong = [k for k in expected if k in got and (not isinstance(got[k], torch.Tensor) or got[k].shape != expected[k].shape)]
    if missing or unexpected or wrong:
        parts = [f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape or type", wrong)) if keys]
        raise CheckpointError(
            f"{ckpt.path}: state_dict does not fit '{ckpt.architecture}' with its config ({'; '.join(parts)}); "
            "was it saved with another config?"
        )
    for key, tensor in got.items():
        if tensor.is_complex():
            raise CheckpointError(f"{ckpt.path}: tensor '{key}' has dtype {tensor.dtype}; the file is damaged")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{ckpt.path}: tensor '{key}' holds NaN or infinite values; the file is damaged")
    try:
        model = arch.build(ckpt.config)
        model.load_state_dict(got, strict=True)
    except NeurodeployError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split())
        if len(detail) > 300:
            detail = detail[:300] + "..."
        raise CheckpointError(
            f"{ckpt.path}: state_dict does not fit '{ckpt.architecture}' with its config ({detail}); "
            "was it saved with another config?"
        ) from None
    return model.eval()


def load_model(path_or_name: str | Path) -> tuple[nn.Module, Checkpoint]:
    """Load a checkpoint (path or shipped name) into a torch module in eval mode."""
    ckpt = load_checkpoint(path_or_name)
    return build_model(ckpt), ckpt
