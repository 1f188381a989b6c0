"""Checkpoints: round trip, the zoo, and every bad input with a one-line cause."""

from __future__ import annotations

import pickle

import pytest
import torch

from neurodeploy.checkpoint import load_checkpoint, load_model, resolve, save_checkpoint, zoo
from neurodeploy.errors import CheckpointError, UnknownArchitecture
TOY_CONFIG = {"channels": 4, "t_steps": 4, "v_threshold": 0.15, "tau": 2.0}


def test_round_trip_restores_weights_and_config(toy_model, toy_checkpoint):
    model, ckpt = load_model(toy_checkpoint)
    assert ckpt.architecture == "toy-residual" and ckpt.config == TOY_CONFIG and ckpt.meta["preset"] == "test"
    assert len(ckpt.sha256) == 64
    for (k, a), (_, b) in zip(toy_model.state_dict().items(), model.state_dict().items()):
        assert torch.equal(a, b), k
    assert not model.training


def test_shipped_toy_residual_is_addressable_by_name():
    names = [e.name for e in zoo()]
    assert "toy-residual" in names
    assert resolve("toy-residual").name == "toy-residual.pt"
    model, ckpt = load_model("toy-residual")
    assert ckpt.architecture == "toy-residual"


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such file or shipped checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")


def test_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello, I am text\n")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(path)


def test_truncated_checkpoint(tmp_path, toy_checkpoint):
    data = toy_checkpoint.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(cut)


class _Evil:
    def __reduce__(self):
        return (print, ("this would have run code",))


def test_pickle_that_would_run_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": "neurodeploy-checkpoint", "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="would run code"):
        load_checkpoint(path)
    assert "this would have run code" not in capsys.readouterr().out


def test_plain_pickle_is_refused(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_bare_state_dict_is_not_a_neurodeploy_checkpoint(tmp_path, toy_model):
    path = tmp_path / "sd.pt"
    torch.save(toy_model.state_dict(), path)
    with pytest.raises(CheckpointError, match="not a neurodeploy checkpoint"):
        load_checkpoint(path)


def test_unknown_architecture(tmp_path, toy_model, toy_checkpoint):
    payload = torch.load(toy_checkpoint, weights_only=True)
    payload["architecture"] = "no-such-net"
    torch.save(payload, tmp_path / "x.pt")
    with pytest.raises(UnknownArchitecture, match="unknown architecture 'no-such-net'.*toy-residual"):
        load_model(tmp_path / "x.pt")


def test_state_dict_that_does_not_fit_its_config(tmp_path, toy_checkpoint):
    payload = torch.load(toy_checkpoint, weights_only=True)
    payload["config"]["channels"] = 6
    torch.save(payload, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="state_dict does not fit 'toy-residual'"):
        load_model(tmp_path / "x.pt")


def test_save_refuses_unknown_architecture(tmp_path, toy_model):
    with pytest.raises(UnknownArchitecture):
        save_checkpoint(tmp_path / "x.pt", toy_model, "nope", {})


def _resaved(tmp_path, toy_checkpoint, change):
    payload = torch.load(toy_checkpoint, weights_only=True)
    change(payload)
    torch.save(payload, tmp_path / "x.pt")
    return tmp_path / "x.pt"


@pytest.mark.parametrize("change, message", [
    # a width of 10**5 would allocate ~360 GB before load_state_dict could complain
    (lambda p: p["config"].update(channels=10**5), "state_dict does not fit"),
    (lambda p: p["config"].update(channels=10**9), "config does not build"),
    # a million time steps: hours of work (or all the memory) on the first image
    (lambda p: p["config"].update(t_steps=10**6), "t_steps=1000000 is not a whole number in 1..64"),
    (lambda p: p["config"].update(t_steps=2.5), "t_steps=2.5"),
    # NaN weights gave a black image (NaN -> 0 when written as 8 bits) with exit 0
    (lambda p: p["state_dict"]["conv_in.weight"].view(-1).__setitem__(0, float("nan")), "NaN or infinite"),
    (lambda p: p["state_dict"].__setitem__("conv_in.weight", "w"), "wrong shape or type: conv_in.weight"),
    (lambda p: p["state_dict"].__setitem__("conv_in.weight", torch.zeros(3, dtype=torch.complex64)), "wrong shape"),
    (lambda p: p.__setitem__("meta", 5), "field 'meta' is not a dict"),
    (lambda p: p["config"].update(channels="8"), "config does not build 'toy-residual'"),
])
def test_damaged_checkpoints_found_by_the_fuzzer_are_one_line_errors(tmp_path, toy_checkpoint, change, message):
    path = _resaved(tmp_path, toy_checkpoint, change)
    with pytest.raises(CheckpointError) as exc:
        load_model(path)
    assert message in str(exc.value) and "\n" not in str(exc.value)
