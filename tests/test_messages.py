"""What a newcomer hands the CLI by mistake is named for what it is, in one line (issue 26)."""

from __future__ import annotations

import os
import pickle

import h5py
import numpy as np
import pytest
import torch
from PIL import Image


@pytest.fixture
def animated_gif(tmp_path):
    frames = [Image.new("RGB", (40, 30), (60 * i, 20, 20)) for i in range(3)]
    path = tmp_path / "rain.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def test_an_animated_gif_is_refused_not_derained_as_its_first_frame(run_cli, tmp_path, animated_gif):
    code, _, err = run_cli("derain", "toy-residual", animated_gif, "--out", tmp_path / "out")
    assert code == 2
    assert err.strip() == (f"error: {animated_gif} is an animated or multi-page GIF of 3 frames; neurodeploy derains "
                           f"still images: save its frames as PNG files first (e.g. `ffmpeg -i {animated_gif} "
                           "frame-%03d.png`) and pass those")
    assert not (tmp_path / "out").exists()


def test_a_one_frame_gif_still_derains(run_cli, tmp_path):
    path = tmp_path / "still.gif"
    Image.new("RGB", (40, 30), (90, 90, 90)).save(path)
    code, _, err = run_cli("derain", "toy-residual", path, "--out", tmp_path / "out")
    assert code == 0, err
    assert (tmp_path / "out" / "still.gif").is_file()


@pytest.mark.parametrize("what", ["folder", "device"])
def test_a_folder_or_a_device_given_as_an_image_is_named_for_what_it_is(run_cli, tmp_path, what):
    path = tmp_path / "photos" if what == "folder" else "/dev/null"
    if what == "folder":
        path.mkdir()
    code, _, err = run_cli("derain", "toy-residual", path, "--out", tmp_path / "out")
    assert code == 2
    expected = (f"error: {path} is a folder, not an image; pass the image files in it, e.g. {path}/*.png"
                if what == "folder" else
                "error: /dev/null is a character device, not an image file; pass a PNG, JPEG, TIFF, BMP or WebP file")
    assert err.strip() == expected


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("kind", ["torch.save", "pickle"])
def test_a_pickle_that_would_run_code_is_refused_as_such(run_cli, tmp_path, kind):
    marker = tmp_path / "ran"
    path = tmp_path / "model.pt"
    if kind == "torch.save":
        torch.save({"state_dict": _RunsCode(marker)}, path)
    else:
        path.write_bytes(pickle.dumps(_RunsCode(marker), protocol=4))
    code, _, err = run_cli("inspect", path)
    assert code == 2
    assert err.strip() == (f"error: {path} holds Python objects that would run code when loaded ({os.name}.system); "
                           "refusing it (save plain tensors with neurodeploy.checkpoint.save_checkpoint)")
    assert not marker.exists()


def test_an_hdf5_file_given_as_a_checkpoint_says_it_is_hdf5(run_cli, tmp_path):
    path = tmp_path / "graph.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    code, _, err = run_cli("export", path, "--out", tmp_path / "b")
    assert code == 2
    # an HDF5 file that is not .nir is read by content as a lava-dl netx network (issue 30): this one is neither
    assert err.strip() == (f"error: {path}: an HDF5 file, but not a lava-dl netx network (no 'layer' group; it holds: "
                           "x); a NIR graph is read by its .nir name (rename it to graph.nir), a netx network is the "
                           "file slayer's export_hdf5 writes")
