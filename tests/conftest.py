"""Shared fixtures: tiny models, graphs and bundles built in a few lines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodeploy.checkpoint import save_checkpoint
from neurodeploy.nir_export import export_graph
from neurodeploy.ir import graph_info
from neurodeploy.models.toy_residual import ToyResidual

TOY_CONFIG = {"channels": 4, "t_steps": 4, "v_threshold": 0.15, "tau": 2.0}


def make_toy(seed: int = 0, **overrides) -> ToyResidual:
    """A toy-residual with seeded weights and non-trivial BatchNorm statistics.

    Random init makes its neurons fire at 15-30 % (checked by test_export), like a
    trained network, so spike comparisons are not trivially all-zero.
    """
    torch.manual_seed(seed)
    model = ToyResidual(**{**TOY_CONFIG, **overrides})
    gen = torch.Generator().manual_seed(seed)
    for bn in (model.bn2, model.bn3):
        bn.running_mean.copy_(torch.rand(bn.num_features, generator=gen) * 0.2 - 0.1)
        bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
        bn.weight.data.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
        bn.bias.data.copy_(torch.rand(bn.num_features, generator=gen) * 0.2 - 0.1)
    return model.eval()


@pytest.fixture
def toy_model() -> ToyResidual:
    return make_toy()


@pytest.fixture
def toy_graph(toy_model):
    graph = export_graph(toy_model, (12, 10))
    return graph, graph_info(graph)


@pytest.fixture
def rainy_images() -> np.ndarray:
    """Two real rainy crops (12x10) from the shipped example photo, (2, 3, 12, 10) in [0, 1]."""
    from neurodeploy.images import DEFAULT_IMAGE, read_image

    img = read_image(DEFAULT_IMAGE)
    return np.stack([img[:, 100:112, 200:210], img[:, 40:52, 300:310]])


@pytest.fixture
def toy_checkpoint(tmp_path, toy_model):
    return save_checkpoint(tmp_path / "toy.pt", toy_model, "toy-residual", TOY_CONFIG, {"preset": "test"})


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Run the CLI in-process: ``run_cli("export", ...) -> (exit code, stdout, stderr)``."""
    import sys

    from neurodeploy import cli

    def _run(*args) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["neurodeploy", *map(str, args)])
        with pytest.raises(SystemExit) as exc:
            cli.main()
            raise SystemExit(0)
        out, err = capsys.readouterr()
        return exc.value.code or 0, out, err

    return _run
