"""sinabs' and rockpool's NIR importers on toy-residual's ``graph.nir`` (issue 16), as
test_nir_primitives.py does for snntorch and norse: sinabs runs it (four workarounds,
:mod:`neurodeploy.targets.crosscheck_sinabs`) and agrees 100 % per layer with our torch
model; rockpool's importer cannot build it (pinned, each fails when rockpool changes)."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning",
                                        "ignore::FutureWarning")


@pytest.fixture
def toy_graph_nir(run_cli, tmp_path, toy_checkpoint):
    out = tmp_path / "toy"
    code, _, err = run_cli("export", toy_checkpoint, "--out", out, "--size", 12, 10)
    assert code == 0, err
    return out / "graph.nir"


def test_toy_residual_graph_runs_in_sinabs_as_our_torch_model(toy_graph_nir, toy_checkpoint, rainy_images):
    pytest.importorskip("sinabs")
    from neurodeploy.checkpoint import build_model, load_checkpoint
    from neurodeploy.ir import graph_info, read_graph
    from neurodeploy.targets.crosscheck_sinabs import load_into_sinabs, run_sinabs
    from neurodeploy.targets.torch_reference import TorchReference

    graph = nir.read(str(toy_graph_nir))  # as any NIR tool reads it
    ours = read_graph(toy_graph_nir)
    info = graph_info(ours)
    layers = info.neuron_layers(ours)
    reference = TorchReference(build_model(load_checkpoint(toy_checkpoint)), ours, info,
                               dtype=torch.float32).run(rainy_images)
    got = run_sinabs(load_into_sinabs(graph, batch_size=len(rainy_images)), rainy_images, info.t_steps, layers)
    for ref, trace in zip(reference, got):
        assert ref.layers["lif1"].mean() > 0.01
        for layer in layers:
            np.testing.assert_array_equal(trace.layers[layer], ref.layers[layer])


def test_upstream_sinabs_from_nir_fails_on_a_multi_dimensional_v_leak(toy_graph_nir):
    """sinabs 3.1.3 ``from_nir``: ``any(node.v_leak) != 0`` on a (C, H, W) parameter raises."""
    sinabs = pytest.importorskip("sinabs")
    from neurodeploy.targets.crosscheck import plain_nir

    graph, _ = plain_nir(nir.read(str(toy_graph_nir)))
    with pytest.raises(ValueError, match="truth value of an array"):
        sinabs.from_nir(graph, batch_size=1)


def test_upstream_rockpool_from_nir_has_no_conv_and_a_broken_lif(toy_graph_nir):
    """rockpool 3.1.0 ``from_nir`` maps no Conv2d (toy-residual: NotImplementedError), and its
    ``nir.LIF`` branch reads ``node.tau_mem``, which nir.LIF does not have (a dense LIF graph)."""
    pytest.importorskip("rockpool")
    from rockpool.nn.modules.torch.nir import from_nir

    with pytest.raises(NotImplementedError, match="Conv2d"):
        from_nir(nir.read(str(toy_graph_nir)))
    dense = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([4])), "fc": nir.Affine(np.ones((3, 4)), np.zeros(3)),
               "lif": nir.LIF(tau=np.full(3, 2e-3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3),
                              v_reset=np.zeros(3)),
               "output": nir.Output(np.array([3]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    with pytest.raises(AttributeError, match="tau_mem"):
        from_nir(dense)
