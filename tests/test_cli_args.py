"""One spelling per option: ``--size H W`` and ``--image a.png b.png``, as each command's help shows."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import typer.main
from PIL import Image

from neurodeploy import cli
from neurodeploy.cli_args import spread_values

EXAMPLE = re.compile(r"e\.g\. (--[a-z-]+(?: [^\s,;()]+)+)")


def _help_example(command: str, option: str) -> list[str]:
    """The ``e.g. --option v1 v2`` form the option's help text shows, as argv tokens."""
    cmd = typer.main.get_command(cli.app).commands[command]
    param = next(p for p in cmd.params if option in getattr(p, "opts", ()))
    match = EXAMPLE.search(param.help or "")
    assert match, f"{command} {option}: its help shows no example ({param.help!r})"
    tokens = [t.rstrip(".") for t in match.group(1).split()]  # a sentence may end on the example
    assert tokens[0] == option and len(tokens) >= 3, tokens  # several values after one flag
    return tokens


def test_spread_values_turns_one_flag_with_several_values_into_repeated_flags():
    caps = {"--image": None, "--size": 2}
    assert spread_values(["v", "B", "--image", "a", "b", "c", "--json"], caps) == \
        ["v", "B", "--image", "a", "--image", "b", "--image", "c", "--json"]
    # --size takes two values, so a positional after it stays positional
    assert spread_values(["export", "--size", "64", "48", "ckpt"], caps) == \
        ["export", "--size", "64", "--size", "48", "ckpt"]
    # the repeated form and --opt=value pass through; after -- nothing is touched
    assert spread_values(["--image", "a", "--image", "b"], caps) == ["--image", "a", "--image", "b"]
    assert spread_values(["--image=a", "b"], caps) == ["--image=a", "b"]
    assert spread_values(["--image", "a", "--", "--image", "x", "y"], caps) == ["--image", "a", "--", "--image", "x", "y"]


@pytest.fixture
def two_images(tmp_path):
    """Two real rainy crops saved as the file names the help examples use (a.png, b.png)."""
    from neurodeploy.images import DEFAULT_IMAGE

    with Image.open(DEFAULT_IMAGE) as img:
        rgb = np.asarray(img.convert("RGB"))
    paths = {}
    for name, (y, x) in (("a.png", (100, 200)), ("b.png", (40, 300))):
        paths[name] = tmp_path / name
        Image.fromarray(rgb[y:y + 64, x:x + 64]).save(paths[name])
    return paths


def _with_files(tokens: list[str], files: dict) -> list[str]:
    return [str(files.get(t, t)) for t in tokens]


def test_export_takes_size_as_its_help_shows(run_cli, tmp_path):
    size = _help_example("export", "--size")
    code, out, err = run_cli("export", "toy-residual", "--out", tmp_path / "b", *size, "--json")
    assert code == 0, err
    assert json.loads(out)["input_shape"][1:] == [int(v) for v in size[1:]]


def test_export_keeps_the_repeated_size_form_and_refuses_one_number(run_cli, tmp_path):
    code, out, err = run_cli("export", "toy-residual", "--out", tmp_path / "b", "--size", "16", "--size", "24", "--json")
    assert code == 0, err
    assert json.loads(out)["input_shape"] == [3, 16, 24]
    code, _, err = run_cli("export", "toy-residual", "--out", tmp_path / "c", "--size", "16")
    assert code == 2 and "--size takes two positive numbers" in err and not (tmp_path / "c").exists()


@pytest.fixture
def nir_bundle(run_cli, tmp_path):
    out = tmp_path / "bundle"
    code, _, err = run_cli("export", "toy-residual", "--out", out, "--size", "64", "64")
    assert code == 0, err
    return out


@pytest.mark.parametrize("command", ["validate", "report"])
def test_validate_and_report_take_images_as_their_help_shows(run_cli, nir_bundle, two_images, command):
    image = _with_files(_help_example(command, "--image"), two_images)
    code, out, err = run_cli(command, nir_bundle, *image, "--executor", "nir-torch", "--json")
    assert code == 0, err
    assert json.loads(out)["images"] == ["a.png", "b.png"]
    # the repeated form still works
    code, out, err = run_cli(command, nir_bundle, "--image", two_images["b.png"], "--image", two_images["a.png"],
                             "--executor", "nir-torch", "--json")
    assert code == 0, err
    assert json.loads(out)["images"] == ["b.png", "a.png"]


def test_count_takes_size_as_its_help_shows(run_cli):
    size = _help_example("count", "--size")
    code, out, err = run_cli("count", "toy-residual", "--preset", "default", *size, "--json")
    assert code == 0, err
    d = json.loads(out)
    assert [d["height"], d["width"]] == [int(v) for v in size[1:]]


def test_inspect_takes_size_as_its_help_shows(run_cli):
    size = _help_example("inspect", "--size")
    code, out, err = run_cli("inspect", "toy-residual", *size, "--json")
    assert code == 0, err
    node = next(r for r in json.loads(out)["nodes"] if r["node"] == "input")
    assert node["shape"] == [3, *(int(v) for v in size[1:])]


def test_train_takes_several_data_folders_as_its_help_shows(run_cli, tmp_path):
    rng = np.random.default_rng(0)
    dirs = {}
    for folder in ("DIR1", "DIR2"):
        for sub in ("clean", "rainy"):
            (tmp_path / folder / sub).mkdir(parents=True)
            clean = rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)
            Image.fromarray(clean).save(tmp_path / folder / sub / "p.png")
        dirs[folder] = tmp_path / folder
    data = _with_files(_help_example("train", "--data"), dirs)
    out = tmp_path / "t.pt"
    code, _, err = run_cli("train", "spikerain", "--preset", "tiny", *data, "--epochs", "1", "--iters-per-epoch", "1",
                           "--batch-size", "2", "--crop", "16", "--out", out)
    assert code == 0, err
    from neurodeploy.checkpoint import load_checkpoint

    assert load_checkpoint(out).meta["train"]["data"] == [str(dirs["DIR1"]), str(dirs["DIR2"])]


def test_every_list_option_shows_the_one_flag_form_in_its_help():
    group = typer.main.get_command(cli.app)
    for name, cmd in group.commands.items():
        for p in cmd.params:
            if getattr(p, "multiple", False):
                assert EXAMPLE.search(p.help or ""), f"{name} {p.opts}: help shows no 'e.g. {p.opts[0]} ...' form"
