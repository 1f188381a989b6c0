"""Shared fixtures: tiny models, graphs and bundles built in a few lines."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neurodeploy.checkpoint import save_checkpoint
from neurodeploy.nir_export import export_graph
from neurodeploy.ir import graph_info
from neurodeploy.models.toy_residual import ToyResidual

TOY_CONFIG = {"channels": 4, "t_steps": 4, "v_threshold": 0.15, "tau": 2.0}


def _register_fixtures(name: str = "ndfixtures") -> None:
    """Make ``tests/fixtures/`` importable as the package ``name`` (``from ndfixtures import
    writer_cases``) for every test module: pytest imports this conftest before them.

    By file location, as benchmarks/_shared.py does for the benchmarks: pytest's importlib mode
    puts no test folder on the import path, and ``tests.fixtures`` would name the ``tests`` package the
    lava wheels install into site-packages.
    """
    if name in sys.modules:
        return
    folder = Path(__file__).resolve().parent / "fixtures"
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[name])


_register_fixtures()


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
