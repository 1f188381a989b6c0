"""Interop with snntorch 1.0.0 and norse 1.1.0 through NIR, measured on real libraries.

Directions: their NIR graphs -> our Lava lowering (spikes vs. the library's own
simulation), and our exported graphs -> their importers (spikes vs. our torch model).
Tests named ``test_upstream_*`` assert what an upstream library does *today*; each fails
when upstream changes that behaviour, so the workaround in ``neurodeploy/ir/nirread.py`` (``WRITERS``) and ``targets/crosscheck.py``
can be revisited. Small nets: a few channels, 8x8 inputs, T = 8.
"""

from __future__ import annotations

import contextlib
import io
import logging

import nir
import numpy as np
import pytest
import torch
from torch import nn

from neurodeploy.nir_export import export_graph
from neurodeploy.ir import graph_info, import_graph, read_graph
from neurodeploy.targets.crosscheck import (export_snntorch, load_into_norse, load_into_snntorch,
                                 plain_nir, run_library)
from neurodeploy.models.layers import DirectEncode, MeanDecode, SeqConv2d
from neurodeploy.models.neurons import LIF
from neurodeploy.targets.torch_reference import TorchReference
from neurodeploy.verify import verdict

snn = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse.torch")
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402

T = 8
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # nirtorch.extract_nir_graph, nirtorch.load


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).random((2, 2, 8, 8))


def snntorch_net(pad: int, reset: str = "zero") -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=pad), snn.Leaky(beta=0.5, threshold=0.3, init_hidden=True, reset_mechanism=reset),
        nn.Conv2d(4, 4, 3, padding=pad), snn.Leaky(beta=0.75, threshold=0.2, init_hidden=True, reset_mechanism=reset))


def norse_net(pad: int) -> nn.Module:
    torch.manual_seed(0)
    p = lambda inv, th: norse.LIFBoxParameters(tau_mem_inv=torch.tensor(inv), v_th=torch.tensor(th))  # noqa: E731
    return norse.SequentialState(nn.Conv2d(2, 4, 3, padding=pad), norse.LIFBoxCell(p(500.0, 0.1)),
                                 nn.Conv2d(4, 4, 3, padding=pad), norse.LIFBoxCell(p(250.0, 0.05)))


class OurNet(nn.Module):
    """DirectEncode -> (conv -> LIF) x 2 -> conv -> MeanDecode, the papers' LIF (tau = 2)."""

    def __init__(self, pad: int = 1):
        super().__init__()
        self.t_steps = T
        self.enc = DirectEncode(T)
        self.conv1, self.lif1 = SeqConv2d(3, 4, 3, padding=pad), LIF(0.15, 2.0)
        self.conv2, self.lif2 = SeqConv2d(4, 4, 3, padding=pad), LIF(0.15, 2.0)
        self.conv3, self.dec = SeqConv2d(4, 3, 3, padding=pad), MeanDecode()

    def forward(self, x):
        return self.dec(self.conv3(self.lif2(self.conv2(self.lif1(self.conv1(self.enc(x)))))))


def our_model(pad: int = 1) -> OurNet:
    torch.manual_seed(0)
    return OurNet(pad).eval()


def _fired(traces) -> bool:
    return all(t.layers[name].sum() > 0 for t in traces for name in t.layers)


# --- their graphs -> the one import -> our Lava mapping -----------------------------------
# A writer's graph goes through neurodeploy.ir.import_graph (in memory: snntorch's conv + Leaky
# graphs cannot be written by nir.write) like any .nir file: a sequence graph; the images are
# shown for T steps (direct encoding, as run_library feeds the library).


def _sequence(images: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(images, dtype=np.float64)[None], T, axis=0)  # (T, N, C, H, W)


def _layers(traces, layers):
    return {name: np.stack([t.layers[name] for t in traces]) for name in layers}


def _agreement(reference, got, layers) -> dict[str, float]:
    ref, out = _layers(reference, layers), _layers(got, layers)
    return {name: 100.0 * float(np.mean(ref[name] == out[name])) for name in layers}


@pytest.mark.lava
@pytest.mark.parametrize("pad", [0, 1])
def test_snntorch_graph_runs_on_lava_spike_for_spike(pad, images):
    from neurodeploy.targets.loihi.executor import sequence_executor

    net = snntorch_net(pad)
    g = import_graph(export_snntorch(net, (2, 8, 8)), writer="snntorch")
    layers = g.neuron_layers()
    reference = run_library(net, images, T, layers, "snntorch")  # float32, as trained
    assert _fired(reference)
    assert _agreement(reference, sequence_executor(g).run(_sequence(images)), layers) == {"1": 100.0, "3": 100.0}


@pytest.mark.lava
@pytest.mark.parametrize("pad", [0, 1])
def test_norse_graph_runs_on_lava_spike_for_spike(pad, images):
    from neurodeploy.targets.loihi.executor import sequence_executor

    net = norse_net(pad)
    g = import_graph(norse.to_nir(net, torch.zeros(1, 2, 8, 8)), writer="norse")
    layers = g.neuron_layers()
    reference = run_library(net, images, T, layers, "norse", dtype=torch.float64)
    assert _fired(reference)
    assert _agreement(reference, sequence_executor(g).run(_sequence(images)), layers) == {"1": 100.0, "3": 100.0}


@pytest.mark.lava
def test_snntorch_nir_file_with_per_neuron_parameters_runs_on_lava(tmp_path, images):
    """The other workaround for snntorch's export: per-neuron beta/threshold of the layer's
    shape and an unbatched sample make export_to_nir and nir.write work; the file then
    goes through the same import as the in-memory graph."""
    from neurodeploy.ir import read_deploy_graph
    from neurodeploy.targets.loihi.executor import sequence_executor

    torch.manual_seed(0)
    shape = (4, 8, 8)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1),
                        snn.Leaky(beta=torch.full(shape, 0.5), threshold=torch.full(shape, 0.3), init_hidden=True,
                                  reset_mechanism="zero"))
    nir.write(tmp_path / "snn.nir", export_to_nir(net, torch.zeros(2, 8, 8)))
    g = read_deploy_graph(tmp_path / "snn.nir", writer="snntorch")
    reference = run_library(net, images, T, ["1"], "snntorch")
    assert _fired(reference)
    assert _agreement(reference, sequence_executor(g).run(_sequence(images)), ["1"]) == {"1": 100.0}


def test_a_writers_graph_is_annotated_as_a_sequence_graph_and_survives_nir_write(tmp_path):
    g = import_graph(norse.to_nir(norse_net(1), torch.zeros(1, 2, 8, 8)), writer="norse")
    info = g.info
    assert info.node_kinds == {"input": "input", "0": "conv", "1": "lif", "2": "conv", "3": "lif", "output": "output"}
    assert info.takes_sequences and info.t_steps == 0 and set(info.domains.values()) == {"seq"}
    assert info.input_shape == (2, 8, 8) and info.dt_s == 1e-3
    assert info.rules("1").is_nir and info.edge_kinds["1->2"] == "binary" and info.edge_kinds["0->1"] == "real"
    assert g.node("1").tau.shape == (4, 8, 8)
    # 1/tau_mem_inv in seconds; norse stored dt/tau_mem_inv in float32, hence ~1e-7 relative.
    np.testing.assert_allclose(g.node("1").tau, 1 / 500.0, rtol=1e-6)
    nir.write(str(tmp_path / "g.nir"), g.nir)
    back = read_graph(tmp_path / "g.nir", dt_s=1e-3)
    assert set(back.nodes) == set(g.nodes)
    np.testing.assert_array_equal(back.nodes["2"].weight, g.node("2").weight)


@pytest.mark.parametrize("library", ["snntorch", "norse"])
def test_a_writers_graph_runs_in_the_nir_torch_executor(library, images):
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    net = snntorch_net(1) if library == "snntorch" else norse_net(1)
    written = (export_snntorch(net, (2, 8, 8)) if library == "snntorch"
               else norse.to_nir(net, torch.zeros(1, 2, 8, 8)))
    g = import_graph(written, writer=library)
    layers = g.neuron_layers()
    reference = run_library(net, images, T, layers, library)
    got = NirSequenceExecutor(g).run(_sequence(images))
    assert _agreement(reference, got, layers) == {"1": 100.0, "3": 100.0}


@pytest.mark.lava
def test_what_the_old_image_path_refused_now_maps_to_lava():
    """snntorch's subtractive reset, norse's CubaLIF (LIFCell) and a leaky LIF (v_leak != 0): the
    image path (neurodeploy/foreign.py, removed) refused each; through the one import every one
    maps to Lava, and Lava equals NIR in torch on it. (A Flatten + Linear readout, which it
    refused too, is in tests/test_nir_primitives.py: norse 1.1.0 writes nn.Flatten as None.)"""
    from neurodeploy.targets.loihi.executor import sequence_executor
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    sample = torch.zeros(1, 2, 8, 8)
    leaky = norse.SequentialState(nn.Conv2d(2, 2, 3), norse.LIFBoxCell(norse.LIFBoxParameters(v_leak=torch.tensor(0.1))))
    graphs = {
        "snntorch subtract": import_graph(export_snntorch(snntorch_net(1, "subtract"), (2, 8, 8)), writer="snntorch",
                                          reset="subtract"),
        "norse LIFCell": import_graph(norse.to_nir(norse.SequentialState(nn.Conv2d(2, 2, 3), norse.LIFCell()), sample),
                                      writer="norse"),
        "norse v_leak": import_graph(norse.to_nir(leaky, sample), writer="norse"),
    }
    x = _sequence(np.random.default_rng(0).random((1, 2, 8, 8)) * 4)
    for what, g in graphs.items():
        layers = g.neuron_layers()
        ref = NirSequenceExecutor(g).run(x)
        assert _agreement(ref, sequence_executor(g).run(x), layers) == {n: 100.0 for n in layers}, what


# --- our graphs -> their importers -----------------------------------------------------


@pytest.mark.parametrize("pad", [0, 1])
def test_our_graph_in_snntorch_and_norse_spike_for_spike(pad):
    model = our_model(pad)
    imgs = np.random.default_rng(1).random((2, 3, 8, 8))
    graph = export_graph(model, (8, 8))
    info = graph_info(graph)
    layers = info.neuron_layers(graph)
    reference = TorchReference(model, graph, info, dtype=torch.float32).run(imgs)
    assert _fired(reference)
    got_snn = run_library(load_into_snntorch(graph), imgs, T, layers, "snntorch")
    module, _ = load_into_norse(graph)
    got_norse = run_library(module, imgs, T, layers, "norse")
    for got in (got_snn, got_norse):
        v = verdict(reference, got, ["a", "b"])
        assert v.layers == {"lif1": 100.0, "lif2": 100.0}, v.to_dict()
        assert v.output_psnr_db > 100.0


def test_equality_at_threshold_needs_the_ge_emulation():
    """Ours fires on H >= th, snntorch/norse/NIR on >: an input exactly at threshold."""
    model = our_model(1)
    with torch.no_grad():
        model.conv1.weight.zero_()
        model.conv1.bias.fill_(0.15)  # H = 0.15 = v_threshold on every step (reset to 0 after)
    imgs = np.random.default_rng(1).random((1, 3, 8, 8))
    graph = export_graph(model, (8, 8))
    info = graph_info(graph)
    reference = TorchReference(model, graph, info, dtype=torch.float32).run(imgs)
    assert reference[0].layers["lif1"].min() == 1.0  # fires on every step
    plain = run_library(load_into_snntorch(graph, emulate_ge=False), imgs, T, ["lif1"], "snntorch")
    assert plain[0].layers["lif1"][0].max() == 0.0  # snntorch's ">" does not fire at equality on step 0
    assert not np.array_equal(plain[0].layers["lif1"], reference[0].layers["lif1"])
    fixed = run_library(load_into_snntorch(graph), imgs, T, ["lif1"], "snntorch")
    np.testing.assert_array_equal(fixed[0].layers["lif1"], reference[0].layers["lif1"])
    module, _ = load_into_norse(graph)
    np.testing.assert_array_equal(run_library(module, imgs, T, ["lif1"], "norse")[0].layers["lif1"],
                                  reference[0].layers["lif1"])


# --- upstream behaviour, documented (each fails when upstream changes it) --------------


@pytest.mark.parametrize("pad", [0, 1])
def test_upstream_snntorch_export_to_nir_fails_on_conv_leaky(pad):
    """snntorch 1.0.0 export_to_nir calls nir's infer_types, which fails on conv + Leaky,
    with or without padding. Batched sample: the Input keeps the batch dim, the conv gets a
    3-D input_shape and NIR indexes the 2-tuple padding at [2] (neuromorphs/NIR#69,
    jeshraghian/snntorch#367). Unbatched: scalar beta/threshold give the LIF an empty
    shape (jeshraghian/snntorch#410; norse/norse#412 for norse). Workaround:
    ``neurodeploy.targets.crosscheck.export_snntorch`` (same mapping, no infer_types)."""
    with pytest.raises(IndexError, match="tuple index out of range"):
        export_to_nir(snntorch_net(pad), torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match=r"type mismatch.*-> 1.input: \[\]"):
        export_to_nir(snntorch_net(pad), torch.zeros(2, 8, 8))


def test_upstream_snntorch_export_drops_the_reset_mechanism(images):
    """NIR has no reset-method field (neuromorphs/NIR#63 discusses it) and snntorch writes
    none: a Leaky with snntorch's default reset_mechanism="subtract" exports to the same
    graph as "zero" but computes something else. Workaround: the import's ``reset=`` (the
    CLI's ``--reset subtract``) says which one was trained (neurodeploy/ir/rules.py)."""
    g_zero, g_sub = (export_snntorch(snntorch_net(1, reset), (2, 8, 8)) for reset in ("zero", "subtract"))
    for name in ("1", "3"):
        for key in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
            np.testing.assert_array_equal(np.asarray(getattr(g_zero.nodes[name], key)),
                                          np.asarray(getattr(g_sub.nodes[name], key)))
    zero = run_library(snntorch_net(1, "zero"), images, T, ["1", "3"], "snntorch")
    sub = run_library(snntorch_net(1, "subtract"), images, T, ["1", "3"], "snntorch")
    assert verdict(zero, sub, ["a", "b"]).layers["1"] < 100.0


def test_upstream_snntorch_import_hard_codes_dt():
    """snntorch's import_from_nir assumes dt = 1e-4 s: our graph (dt = 1e-3 s, tau = 2
    steps) imports as beta = 0.95 and threshold 0.15 / 0.1 = 1.5 instead of beta = 0.5,
    threshold 0.15 (jeshraghian/snntorch#435 makes dt settable for CubaLIF only).
    Workaround: load_into_snntorch rescales the taus to dt = 1e-4 s."""
    graph = export_graph(our_model(1), (8, 8))
    with contextlib.redirect_stdout(io.StringIO()):
        module = import_from_nir(plain_nir(graph)[0])
    assert torch.unique(module.lif1.beta).tolist() == pytest.approx([0.95])
    assert float(module.lif1.threshold) == pytest.approx(1.5)
    fixed = load_into_snntorch(graph)
    assert torch.unique(fixed.lif1.beta).tolist() == pytest.approx([0.5])
    assert float(fixed.lif1.threshold) == pytest.approx(0.15, abs=1e-7)


def test_upstream_norse_to_nir_writes_tau_times_dt_and_breaks_its_own_round_trip(images):
    """norse 1.1.0 to_nir writes tau = dt / tau_mem_inv (2e-6 s for tau_mem_inv = 500/s;
    the time constant is 1/tau_mem_inv = 2e-3 s), norse/norse#411. from_nir reads
    tau_mem_inv = 1/tau back, so norse's own round trip changes the network.
    Workaround: the import's ``writer="norse"`` (``--writer norse``) reads tau / dt back as tau."""
    net = norse_net(1)
    g = norse.to_nir(net, torch.zeros(1, 2, 8, 8))
    assert float(g.nodes["1"].tau) == pytest.approx(1e-3 / 500.0)
    back = run_library(norse.from_nir(g), images, T, ["1", "3"], "norse")
    own = run_library(net, images, T, ["1", "3"], "norse")
    assert verdict(own, back, ["a", "b"]).layers["1"] < 90.0


def test_upstream_norse_from_nir_ignores_r():
    """norse's from_nir drops nir.LIF.r (logs a warning only) and builds input gain dt/tau
    instead of NIR's dt*r/tau; our graphs carry r = tau_steps = 2. No upstream issue found.
    Workaround: load_into_norse folds r into the feeding conv's weights and bias."""
    model = our_model(1)
    imgs = np.random.default_rng(1).random((2, 3, 8, 8))
    graph = export_graph(model, (8, 8))
    info = graph_info(graph)
    reference = TorchReference(model, graph, info, dtype=torch.float32).run(imgs)
    logging.disable(logging.WARNING)
    try:
        naive = norse.from_nir(plain_nir(graph)[0])
    finally:
        logging.disable(logging.NOTSET)
    got = run_library(naive, imgs, T, ["lif1", "lif2"], "norse")
    assert verdict(reference, got, ["a", "b"]).layers["lif1"] < 100.0


def test_upstream_conv_lif_graphs_from_snntorch_and_norse_cannot_be_written(tmp_path):
    """Neither writer's conv + LIF graph survives nir.write (nir 1.0.8): the conv keeps
    input_shape None ("One of data, shape or dtype must be specified") and the shapeless
    LIF parameters are 0-d ("Scalar datasets don't support chunk/filter options"). Related:
    norse/norse#412, jeshraghian/snntorch#410 (shapeless neurons); no issue found for the
    write itself. Workaround: import in memory (neurodeploy.ir.import_graph), whose output writes
    (see test_a_writers_graph_is_annotated_as_a_sequence_graph_and_survives_nir_write)."""
    written = {"snntorch": export_snntorch(snntorch_net(1), (2, 8, 8)),
               "norse": norse.to_nir(norse_net(1), torch.zeros(1, 2, 8, 8))}
    for source, graph in written.items():
        with pytest.raises(TypeError, match="One of data, shape or dtype must be specified"):
            nir.write(tmp_path / "g.nir", graph)
        lif_only = nir.NIRGraph(nodes={"1": graph.nodes["1"]}, edges=[], type_check=False)
        with pytest.raises(TypeError, match="Scalar datasets don't support chunk/filter options"):
            nir.write(tmp_path / "lif.nir", lif_only)
        nir.write(str(tmp_path / "ok.nir"), import_graph(graph, writer=source).nir)
