"""Importing checkpoints written by the authors' code (issue 20).

The source files are built from the authors' key names and shapes, in their order, as
read from models built with the authors' code (``tests/data/*-authors-state-dict.json``, copies
of ``../shared/reference/``: names and shapes only), filled with random values. Both the authors' modules and ours register their tensors in
the same order, so the i-th authors' tensor belongs in the i-th tensor of our state_dict:
that positional correspondence (with equal shapes) is the oracle here, independent of the
importer's regular expressions; a few hand-picked keys are checked by module path too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from neurodeploy.authors import import_checkpoint
from neurodeploy.checkpoint import load_checkpoint, load_model
from neurodeploy.errors import CheckpointError
from neurodeploy.models import get_architecture

REFERENCE = Path(__file__).resolve().parent / "data"

FORMS = ["bare", "bare-module", "training", "training-module"]


def _reference(arch: str) -> list[tuple[str, tuple[int, ...]]]:
    data = json.loads((REFERENCE / f"{arch}-authors-state-dict.json").read_text())
    return [(k, tuple(s)) for k, s in data["keys"]]


def authors_state_dict(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors in the authors' layout; tensor i holds the planted value 1000 + i at index 0."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for i, (key, shape) in enumerate(_reference(arch)):
        if key.endswith("num_batches_tracked"):
            t = torch.tensor(1000 + i, dtype=torch.long)
        else:
            t = torch.rand(shape, generator=gen) + 0.5  # > 0: valid running_var too
            t.view(-1)[0] = 1000.0 + i
        state[key] = t
    return state


def write_authors_file(path: Path, state: dict[str, torch.Tensor], form: str) -> Path:
    """Write ``state`` as the authors' train.py would (see neurodeploy.authors)."""
    if form.endswith("module"):
        state = {"module." + k: v for k, v in state.items()}
    if form.startswith("training"):
        # what their train.py saves as model_last.pth: AdamW's state_dict beside the weights
        opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
        state = {"epoch": 7, "state_dict": state, "optimizer": opt.state_dict()}
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def esdnet_state():
    return authors_state_dict("esdnet")


@pytest.fixture(scope="module")
def spikerain_state():
    return authors_state_dict("spikerain", seed=1)


def _assert_every_tensor_in_place(arch: str, imported: dict[str, torch.Tensor], source: dict[str, torch.Tensor]):
    ours = list(imported.items())
    ref = _reference(arch)
    assert len(ours) == len(ref) == len(source)
    for i, ((key, shape), (our_key, tensor)) in enumerate(zip(ref, ours)):
        assert tuple(tensor.shape) == shape, (key, our_key)
        assert tensor.reshape(-1)[0].item() == 1000 + i, (key, our_key)
        assert torch.equal(tensor, source[key].to(tensor.dtype)), (key, our_key)


@pytest.mark.parametrize("form", FORMS)
def test_import_esdnet_every_form_puts_every_tensor_in_place(tmp_path, run_cli, esdnet_state, form):
    src = write_authors_file(tmp_path / "model.pth", esdnet_state, form)
    code, out, err = run_cli("import", "esdnet", src, "--out", tmp_path / "esdnet-imported.pt")
    assert code == 0, err
    assert "preset paper inferred" in out
    ckpt = load_checkpoint(tmp_path / "esdnet-imported.pt")
    assert ckpt.architecture == "esdnet" and ckpt.meta["preset"] == "paper"
    _assert_every_tensor_in_place("esdnet", ckpt.state_dict, esdnet_state)
    rec = ckpt.meta["import"]
    assert rec["source_sha256"] == __import__("hashlib").sha256(src.read_bytes()).hexdigest()
    assert rec["mapping"] == "esdnet-authors/1" and len(rec["key_map"]) == 549
    assert ("module." in rec["source_form"]) == form.endswith("module")
    assert rec["source_epoch"] == (7 if form.startswith("training") else None)
    card = (tmp_path / "esdnet-imported.md").read_text()
    assert rec["source_sha256"] in card and "esdnet-authors/1" in card


@pytest.mark.parametrize("form", FORMS)
def test_import_spikerain_every_form_puts_every_tensor_in_place(tmp_path, spikerain_state, form):
    src = write_authors_file(tmp_path / "model_best.pth", spikerain_state, form)
    result = import_checkpoint("spikerain", src, tmp_path / "sr.pt")
    assert result["preset"] == "paper" and result["tensors"] == 770
    ckpt = load_checkpoint(tmp_path / "sr.pt")
    _assert_every_tensor_in_place("spikerain", ckpt.state_dict, spikerain_state)


def test_hand_picked_keys_land_in_the_module_the_authors_code_means(tmp_path, esdnet_state, spikerain_state):
    esd, _ = load_model(import_checkpoint("esdnet", write_authors_file(tmp_path / "e.pth", esdnet_state, "bare"),
                                          tmp_path / "e.pt", card=False)["out"])
    spk, _ = load_model(import_checkpoint("spikerain", write_authors_file(tmp_path / "s.pth", spikerain_state, "bare"),
                                          tmp_path / "s.pt", card=False)["out"])
    pairs = [
        # ESDNet: the second tdBN of the residual branch (authors' flat index 5; its V_th is 0.2·v_th)
        (esdnet_state["encoder_level1.0.residual.5.weight"], esd.encoder_level1[0].residual[1][2].weight),
        (esdnet_state["encoder_level1.0.shortcut.0.weight"], esd.encoder_level1[0].shortcut[0].weight),
        (esdnet_state["decoder_level1.1.attn.ca.sharedMLP.2.weight"], esd.decoder_level1[1].attn.ca.mlp[2].weight),
        (esdnet_state["up2_1.up.1.weight"], esd.up2_1[1][1].weight),
        (esdnet_state["output.0.bias"], esd.output.bias),
        # SpikeRain
        (spikerain_state["temporal_fusion.weights"], spk.decode.weights),
        (spikerain_state["downsample_2_to_3.maxpool_conv.2.bn.running_var"], spk.down2_3[2].running_var),
        (spikerain_state["encoder_level2.3.attn.channel_fc.3.bias"], spk.encoder_level2[3].attn.channel_mlp[2].bias),
        (spikerain_state["decoder_level1.1.layers.3.1.weight"], spk.decoder_level1[1].layers[3][1].weight),
        (spikerain_state["refinement.sa.2.weight"], spk.refinement.sa[2].weight),
    ]
    for source, target in pairs:
        assert torch.equal(source, target.detach())


def test_imported_models_run(tmp_path, esdnet_state, spikerain_state):
    x = torch.rand(1, 3, 16, 16)
    for arch, state in (("esdnet", esdnet_state), ("spikerain", spikerain_state)):
        out = import_checkpoint(arch, write_authors_file(tmp_path / f"{arch}.pth", state, "bare"),
                                tmp_path / f"{arch}.pt", card=False)["out"]
        model, _ = load_model(out)
        with torch.no_grad():
            y = model(x)
        assert y.shape == x.shape and torch.isfinite(y).all()


@pytest.mark.parametrize("preset,dim", [("S", 32), ("L", 64)])
def test_spikerain_size_is_inferred_from_the_shapes(tmp_path, preset, dim):
    arch = get_architecture("spikerain")
    model = arch.build(arch.config(preset))
    from neurodeploy.authors import SPIKERAIN, expected_keys

    gen = torch.Generator().manual_seed(2)
    state = {a: torch.rand(shape, generator=gen) if shape else torch.tensor(3)
             for a, _, shape in expected_keys(SPIKERAIN, model)}
    assert state["patch_embed.proj.weight"].shape[0] == dim
    result = import_checkpoint("spikerain", write_authors_file(tmp_path / "x.pth", state, "training-module"),
                               tmp_path / "x.pt", card=False)
    assert result["preset"] == preset
    assert torch.equal(load_checkpoint(tmp_path / "x.pt").state_dict["output.weight"], state["output_conv.weight"])


def test_preset_option_overrides_inference_and_accepts_the_authors_size_names(tmp_path, spikerain_state, run_cli):
    src = write_authors_file(tmp_path / "m.pth", spikerain_state, "bare")
    code, out, err = run_cli("import", "spikerain", src, "--out", tmp_path / "m.pt", "--preset", "M", "--no-card")
    assert code == 0, err
    assert "given with --preset" in out
    assert load_checkpoint(tmp_path / "m.pt").meta["preset"] == "paper"
    assert not (tmp_path / "m.md").exists()
    code, out, err = run_cli("import", "spikerain", src, "--out", tmp_path / "l.pt", "--preset", "L")
    assert code == 2 and not (tmp_path / "l.pt").exists()
    assert "has shape [48, 3, 3, 3], expected [64, 3, 3, 3]" in err


class _RunsCode:
    def __reduce__(self):
        return (print, ("this would have run code",))


def _bad_files(tmp_path: Path, esdnet_state) -> dict[str, tuple[Path, str]]:
    good = tmp_path / "good.pth"
    write_authors_file(good, esdnet_state, "bare")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: 2_000_000])
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint\n" * 100)
    missing = dict(esdnet_state)
    del missing["encoder_level3.7.attn.sa.conv.weight"]
    extra = {**esdnet_state, "encoder_level3.8.shortcut.0.weight": torch.zeros(192, 192, 3, 3)}
    shape = {**esdnet_state, "down2_3.maxpool_conv.1.weight": torch.zeros(192, 96, 1, 1)}
    files = {
        "truncated": (truncated, "not a readable PyTorch checkpoint"),
        "garbage": (garbage, "not a readable PyTorch checkpoint"),
        "missing": (write_authors_file(tmp_path / "missing.pth", missing, "training"),
                    "missing key 'encoder_level3.7.attn.sa.conv.weight'"),
        "extra": (write_authors_file(tmp_path / "extra.pth", extra, "bare-module"),
                  "unexpected key 'encoder_level3.8.shortcut.0.weight'"),
        "shape": (write_authors_file(tmp_path / "shape.pth", shape, "bare"),
                  "'down2_3.maxpool_conv.1.weight' has shape [192, 96, 1, 1], expected [192, 96, 3, 3]"),
        "not a state_dict": (tmp_path / "list.pth", "neither a state_dict nor"),
        "no such file": (tmp_path / "absent.pth", "no such file"),
        "runs code": (tmp_path / "evil.pth", "would run code when loaded"),
    }
    torch.save({**esdnet_state, "extra": _RunsCode()}, tmp_path / "evil.pth")
    torch.save({"model": {"a": 1}, "iteration": 3}, tmp_path / "list.pth")
    return files


def test_bad_files_give_one_line_exit_2_and_write_nothing(tmp_path, run_cli, esdnet_state):
    for name, (path, expect) in _bad_files(tmp_path, esdnet_state).items():
        out = tmp_path / f"out-{name.replace(' ', '-')}.pt"
        code, stdout, err = run_cli("import", "esdnet", path, "--out", out)
        assert code == 2, name
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, err)
        assert expect in lines[0], (name, lines[0])
        assert not out.exists() and not out.with_suffix(".md").exists(), name
        assert not list(tmp_path.glob("out-*.tmp")), name
        assert "this would have run code" not in stdout + err


def test_wrong_architecture_is_named(tmp_path, run_cli, spikerain_state):
    src = write_authors_file(tmp_path / "sr.pth", spikerain_state, "bare")
    code, _, err = run_cli("import", "esdnet", src, "--out", tmp_path / "x.pt")
    assert code == 2 and "looks like a spikerain checkpoint, not esdnet: use `neurodeploy import spikerain`" in err
    code, _, err = run_cli("import", "spikerain", write_authors_file(tmp_path / "e.pth", authors_state_dict("esdnet"), "bare"),
                           "--out", tmp_path / "x.pt")
    assert code == 2 and "use `neurodeploy import esdnet`" in err
    code, _, err = run_cli("import", "vlifnet", src, "--out", tmp_path / "x.pt")
    assert code == 2 and "no importer for 'vlifnet'" in err
    assert not (tmp_path / "x.pt").exists()


def test_import_refuses_to_overwrite_its_source(tmp_path, run_cli, spikerain_state):
    src = write_authors_file(tmp_path / "sr.pth", spikerain_state, "bare")
    before = src.read_bytes()
    code, _, err = run_cli("import", "spikerain", src, "--out", src)
    assert code == 2 and "is the source file" in err and src.read_bytes() == before


def test_spikerain_time_steps_follow_the_fusion_weights(tmp_path, spikerain_state):
    # the authors' train.py has --T; only temporal_fusion.weights depends on it
    state = {**spikerain_state, "temporal_fusion.weights": torch.rand(6)}
    import_checkpoint("spikerain", write_authors_file(tmp_path / "t6.pth", state, "bare"), tmp_path / "t6.pt", card=False)
    model, ckpt = load_model(tmp_path / "t6.pt")
    assert ckpt.config["t_steps"] == 6 and model.t_steps == 6
    assert torch.equal(model.decode.weights.detach(), state["temporal_fusion.weights"])
