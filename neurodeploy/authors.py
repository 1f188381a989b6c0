"""Import checkpoints written by the authors' training code (ESDNet, SpikeRain).

The authors' code (``MingTian99/ESDNet``, ``tanvirnwu/SpikeRain``) writes three kinds of
file, all read here with ``torch.load(weights_only=True)``:

- a bare state_dict (``model_best.pth``, and the published weights such as ``Rain200H.pth``);
- ``{"epoch", "state_dict", "optimizer"}`` (``model_last.pth``, ``model_epoch_N.pth``);
- either of them with every key prefixed ``module.`` (their ``train.py`` wraps the model in
  ``nn.DataParallel`` whenever more than one GPU is visible; SpikeRain's default is two).

The tensors are the same as neurodeploy's; only the module paths differ (the authors nest
some layers one level deeper or name them differently). A :class:`KeyMap` is an ordered list of
regular-expression rewrites from a neurodeploy key to the authors' key; applying it to the
state_dict of the neurodeploy model gives the exact list of keys (and shapes) the authors'
file must hold. Loading is strict: a missing, unexpected or differently shaped tensor is
an error that names the first of each, and nothing is written.

The result is an ordinary neurodeploy checkpoint (:func:`neurodeploy.checkpoint.save_checkpoint`)
whose meta records the source file, its SHA-256, its form and the key map, with a short
model card beside it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from neurodeploy.checkpoint import file_sha256, save_checkpoint
from neurodeploy.models.checkpoint import torch_load_weights
from neurodeploy.errors import CheckpointError
from neurodeploy.models import get_architecture
from neurodeploy.models.counting import count_params

DATAPARALLEL_PREFIX = "module."


@dataclass(frozen=True)
class KeyMap:
    """How a neurodeploy state_dict key is spelled in the authors' code.

    Attributes:
        name: identifier recorded in imported checkpoints (bump the suffix if the rules change).
        architecture: neurodeploy architecture name.
        source: the authors' repository and the file that defines the names.
        rules: ``(pattern, replacement)`` pairs, applied in order with :func:`re.sub` to
            every neurodeploy key.
        sizes: the authors' sizes that shape inference chooses from: preset name -> dim
            (the channel count of the first conv, ``patch_embed.proj.weight``).
        aliases: the authors' names of a size -> neurodeploy preset name.
        signature: a key fragment that only this architecture's files hold (to tell a user
            who picked the wrong architecture which one the file is).
    """

    name: str
    architecture: str
    source: str
    rules: tuple[tuple[str, str], ...]
    sizes: dict[str, int]
    aliases: dict[str, str]
    signature: str

    def authors_key(self, key: str) -> str:
        for pattern, replacement in self.rules:
            key = re.sub(pattern, replacement, key)
        return key


ESDNET = KeyMap(
    name="esdnet-authors/1",
    architecture="esdnet",
    source="MingTian99/ESDNet, model.py",
    rules=(
        (r"^patch_embed\.", "patch_embed.proj."),
        # the authors' residual branch is one flat Sequential (LIF, conv, tdBN, LIF, conv, tdBN);
        # ours is two SpikingUnits of three: unit u, layer i -> index 3u + i
        (r"\.residual\.1\.1\.", ".residual.4."),
        (r"\.residual\.1\.2\.", ".residual.5."),
        (r"\.residual\.0\.([12])\.", r".residual.\1."),
        (r"\.attn\.(ta|ca)\.mlp\.", r".attn.\1.sharedMLP."),
        (r"\.attn\.sa_conv\.", ".attn.sa.conv."),
        (r"^(down1_2|down2_3)\.", r"\1.maxpool_conv."),  # a strided conv despite the name
        (r"^(up3_2|up2_1)\.1\.", r"\1.up."),  # the bilinear upsampling has no parameters
        (r"^output\.", "output.0."),
    ),
    sizes={"paper": 48},
    aliases={},
    signature=".attn.ta.sharedMLP.",
)

SPIKERAIN = KeyMap(
    name="spikerain-authors/1",
    architecture="spikerain",
    source="tanvirnwu/SpikeRain, model/spikerain.py and model/modules.py",
    rules=(
        (r"^patch_embed\.", "patch_embed.proj."),
        # the authors wrap each BatchNorm of a LIF -> conv -> BN unit in a module with a `.bn`
        (r"^(.*\.layers\.\d+|down1_2|down2_3|up3_2\.1|up2_1\.1|reduce_chan_level2)\.2\.", r"\1.2.bn."),
        (r"\.attn\.temporal_conv\.", ".attn.temporal_fc.1."),
        (r"\.attn\.channel_mlp\.0\.", ".attn.channel_fc.1."),
        (r"\.attn\.channel_mlp\.2\.", ".attn.channel_fc.3."),
        (r"\.attn\.spatial_conv\.", ".attn.spatial_conv.0."),
        (r"^down1_2\.", "downsample_1_to_2.maxpool_conv."),
        (r"^down2_3\.", "downsample_2_to_3.maxpool_conv."),
        (r"^up3_2\.1\.", "upsample_3_to_2.up."),
        (r"^up2_1\.1\.", "upsample_2_to_1.up."),
        (r"^reduce_chan_level2\.", "reduce_channels_2."),
        (r"^decode\.", "temporal_fusion."),
        (r"^output\.", "output_conv."),
    ),
    sizes={"S": 32, "paper": 48, "L": 64},
    aliases={"M": "paper", "s": "S", "m": "paper", "l": "L"},
    signature=".layers.0.1.weight",
)

KEY_MAPS = {m.architecture: m for m in (ESDNET, SPIKERAIN)}


def _key_map(architecture: str) -> KeyMap:
    if architecture not in KEY_MAPS:
        raise CheckpointError(
            f"no importer for '{architecture}': the authors' checkpoints of {', '.join(sorted(KEY_MAPS))} "
            "can be imported (VLIF-Net's code is not public)"
        )
    return KEY_MAPS[architecture]


def _torch_load(path: Path):
    """``torch.load(weights_only=True)`` on the CPU; a damaged or unsafe file is one CheckpointError line."""
    return torch_load_weights(path, "save the weights alone: torch.save(model.state_dict(), path)")


@dataclass
class SourceFile:
    """The authors' state_dict as read from a file, and in which form it came."""

    state_dict: dict[str, torch.Tensor]
    form: str  # "state_dict" or "training checkpoint"
    dataparallel: bool
    epoch: int | None


def read_authors_file(path: Path) -> SourceFile:
    """Read any of the authors' checkpoint forms (see module doc); keys without ``module.``."""
    if not path.is_file():
        raise CheckpointError(f"no such file: '{path}'; pass the .pth file written by the authors' code")
    payload = _torch_load(path)
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} holds a {type(payload).__name__}, not a state_dict; "
                              "pass model_best.pth, model_last.pth or the published weights")
    if payload.get("format") == "neurodeploy-checkpoint":
        raise CheckpointError(f"{path} is already a neurodeploy checkpoint; use it directly (no import needed)")
    epoch = None
    if isinstance(payload.get("state_dict"), dict):
        form, state = "training checkpoint", payload["state_dict"]
        epoch = payload.get("epoch") if isinstance(payload.get("epoch"), int) else None
    else:
        form, state = "state_dict", payload
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors or not state:
        top = ", ".join(map(repr, list(payload)[:6])) or "nothing"
        raise CheckpointError(
            f"{path} is neither a state_dict nor {{'epoch', 'state_dict', 'optimizer'}} (top-level keys: {top}); "
            "pass a file written by the authors' train.py or their published weights"
        )
    keys = [str(k) for k in state]
    dataparallel = all(k.startswith(DATAPARALLEL_PREFIX) for k in keys)
    if dataparallel:
        state = {k[len(DATAPARALLEL_PREFIX):]: v for k, v in state.items()}
    return SourceFile(state, form, dataparallel, epoch)


def _refuse_other_architecture(path: Path, key_map: KeyMap, state: dict[str, torch.Tensor]) -> None:
    """A file that holds another architecture's keys (and none of ours) is named as such."""
    if any(key_map.signature in k for k in state):
        return
    for other in KEY_MAPS.values():
        if other is not key_map and any(other.signature in k for k in state):
            raise CheckpointError(f"{path} looks like a {other.architecture} checkpoint, not {key_map.architecture}: "
                                  f"use `neurodeploy import {other.architecture}`")


def _fmt(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def infer_preset(key_map: KeyMap, state: dict[str, torch.Tensor]) -> str:
    """The authors' size whose first-conv width matches the file (the strict check follows)."""
    w = state.get("patch_embed.proj.weight")
    if w is None or w.dim() != 4:
        return "paper"  # the strict check then names what is missing or malformed
    for preset, dim in key_map.sizes.items():
        if w.shape[0] == dim:
            return preset
    known = ", ".join(f"{p} ({d})" for p, d in key_map.sizes.items())
    raise CheckpointError(
        f"patch_embed.proj.weight has {w.shape[0]} output channels, which fits no {key_map.architecture} size "
        f"the authors ship ({known}); pass --preset if it is another neurodeploy preset"
    )


def expected_keys(key_map: KeyMap, model: torch.nn.Module) -> list[tuple[str, str, tuple[int, ...]]]:
    """``(authors_key, neurodeploy_key, shape)`` for every tensor of ``model``, in its order."""
    return [(key_map.authors_key(k), k, tuple(v.shape)) for k, v in model.state_dict().items()]


def _check(path: Path, key_map: KeyMap, preset: str, expected, state: dict[str, torch.Tensor]) -> None:
    want = {a: shape for a, _, shape in expected}
    missing = [a for a, _, _ in expected if a not in state]
    unexpected = [k for k in state if k not in want]
    wrong = [(k, tuple(state[k].shape), want[k]) for k in state if k in want and tuple(state[k].shape) != want[k]]
    if not (missing or unexpected or wrong):
        return
    parts = []
    if missing:
        parts.append(f"missing key '{missing[0]}'" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    if unexpected:
        parts.append(f"unexpected key '{unexpected[0]}'"
                     + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""))
    if wrong:
        k, got, exp = wrong[0]
        parts.append(f"'{k}' has shape {_fmt(got)}, expected {_fmt(exp)}"
                     + (f" (and {len(wrong) - 1} more shapes differ)" if len(wrong) > 1 else ""))
    hint = (f"check that it is a complete {key_map.architecture} checkpoint from {key_map.source.split(',')[0]} "
            f"(another size: pass --preset)")
    raise CheckpointError(
        f"{path} does not fit {key_map.architecture} preset '{preset}': {'; '.join(parts)}; {hint}"
    )


def import_checkpoint(
    architecture: str,
    source: str | Path,
    out: str | Path,
    preset: str | None = None,
    command: str = "",
    card: bool = True,
) -> dict[str, Any]:
    """Convert the authors' checkpoint ``source`` into a neurodeploy checkpoint at ``out``.

    ``preset`` overrides shape inference (the authors' size names S, M, L are accepted).
    Nothing is written unless every tensor fits. Returns the import record stored in
    the checkpoint's ``meta["import"]`` plus the output paths.
    """
    key_map = _key_map(architecture)
    source, out = Path(source), Path(out)
    if out.exists() and source.exists() and out.resolve() == source.resolve():
        raise CheckpointError(f"--out {out} is the source file; write the import to another path")
    src = read_authors_file(source)
    _refuse_other_architecture(source, key_map, src.state_dict)
    arch = get_architecture(architecture)
    if preset is None:
        preset, how = infer_preset(key_map, src.state_dict), "inferred from the tensor shapes"
    else:
        preset, how = key_map.aliases.get(preset, preset), "given with --preset"
    config = arch.config(preset)
    if architecture == "spikerain" and "temporal_fusion.weights" in src.state_dict:
        # SpikeRain's train.py has --T; only the fusion weights depend on it
        t = src.state_dict["temporal_fusion.weights"]
        if t.dim() == 1 and t.numel() >= 1:
            config["t_steps"] = int(t.numel())
    model = arch.build(config)
    expected = expected_keys(key_map, model)
    _check(source, key_map, preset, expected, src.state_dict)
    model.load_state_dict({ours: src.state_dict[a] for a, ours, _ in expected}, strict=True)
    record = {
        "source_file": str(source),
        "source_sha256": file_sha256(source),
        "source_form": src.form + (" with DataParallel 'module.' prefix" if src.dataparallel else ""),
        "source_epoch": src.epoch,
        "authors_code": key_map.source,
        "mapping": key_map.name,
        "mapping_rules": [list(rule) for rule in key_map.rules],
        "key_map": {a: ours for a, ours, _ in expected},
        "tensors": len(expected),
        "preset_choice": how,
    }
    meta = {"preset": preset, "command": command, "import": record}
    save_checkpoint(out, model.eval(), architecture, config, meta)
    result = {**{k: v for k, v in record.items() if k != "key_map"}, "architecture": architecture, "preset": preset,
              "config": config, "out": str(out), "card": None}
    if card:
        card_path = out.with_suffix(".md")
        tmp = card_path.with_name(card_path.name + ".tmp")
        tmp.write_text(card_text(out, architecture, preset, config, model, record, command))
        tmp.replace(card_path)
        result["card"] = str(card_path)
    return result


def card_text(out: Path, architecture: str, preset: str, config: dict, model, record: dict, command: str) -> str:
    """A model card for an imported checkpoint: provenance and the key map, no evaluation."""
    exact, paper = count_params(model)
    lines = [
        f"# {out.stem}",
        "",
        f"Imported from a checkpoint written by the authors' code ({record['authors_code']}); the weights are",
        "theirs (or whoever trained with their code), unchanged. neurodeploy has not evaluated them.",
        "",
        f"- **architecture**: `{architecture}`, preset `{preset}` ({record['preset_choice']}; "
        f"config: `{json.dumps(config)}`)",
        f"- **parameters**: {exact:,} exact; {paper:,} under the papers' thop convention (see `models/counting.py`)",
        f"- **source file**: `{record['source_file']}` ({record['source_form']}"
        + (f", epoch {record['source_epoch']}" if record["source_epoch"] is not None else "") + ")",
        f"- **source sha256**: `{record['source_sha256']}`",
        f"- **mapping**: `{record['mapping']}`, {record['tensors']} tensors, every one mapped (strict)",
        f"- **command**: `{command}`",
        "",
        "## Key map",
        "",
        "Each neurodeploy key is rewritten by these regular expressions, in order, to the authors' key",
        "(the full map is in the checkpoint's `meta['import']['key_map']`):",
        "",
        "| pattern | replacement |",
        "|---|---|",
    ]
    def cell(text: str) -> str:  # a '|' inside a table cell would end the cell
        return "`" + text.replace("|", "\\|") + "`"

    lines += [f"| {cell(p)} | {cell(r)} |" for p, r in record["mapping_rules"]]
    lines += [
        "",
        "## Evaluation",
        "",
        f"Not measured at import. Run `neurodeploy evaluate {out} --data <paired folder> --json`.",
    ]
    return "\n".join(lines) + "\n"
