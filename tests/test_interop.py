"""Interop with snntorch 1.0.0 and norse 1.1.0 through NIR, measured on real libraries.

Directions: their NIR graphs -> our Lava lowering (spikes vs. the library's own
simulation), and our exported graphs -> their importers (spikes vs. our torch model).
Tests named ``test_upstream_*`` assert what an upstream library does *today*; each fails
when upstream changes that behaviour, so the workaround in ``neurodeploy/foreign.py`` and ``targets/crosscheck.py`` can
be revisited. Small nets: a few channels, 8x8 inputs, T = 8.
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

from neurodeploy.errors import GraphError, LoweringError
from neurodeploy.nir_export import export_graph
from neurodeploy.ir import graph_info, read_graph, write_graph
from neurodeploy.foreign import from_foreign_nir
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


# --- their graphs -> our Lava lowering -------------------------------------------------


@pytest.mark.lava
@pytest.mark.parametrize("pad", [0, 1])
def test_snntorch_graph_runs_on_lava_spike_for_spike(pad, images):
    from neurodeploy.targets.loihi.executor import LavaSimExecutor

    net = snntorch_net(pad)
    graph = from_foreign_nir(export_snntorch(net, (2, 8, 8)), T, "snntorch")
    info = graph_info(graph)
    layers = info.neuron_layers(graph)
    reference = run_library(net, images, T, layers, "snntorch")  # float32, as trained
    lava = LavaSimExecutor(graph, info).run(images)
    v = verdict(reference, lava, ["a", "b"])
    assert _fired(reference)
    assert v.layers == {"1": 100.0, "3": 100.0}, v.to_dict()
    assert v.output_psnr_db == 200.0  # output = firing rate of the last layer, identical


@pytest.mark.lava
@pytest.mark.parametrize("pad", [0, 1])
def test_norse_graph_runs_on_lava_spike_for_spike(pad, images):
    from neurodeploy.targets.loihi.executor import LavaSimExecutor

    net = norse_net(pad)
    graph = from_foreign_nir(norse.to_nir(net, torch.zeros(1, 2, 8, 8)), T, "norse")
    info = graph_info(graph)
    layers = info.neuron_layers(graph)
    reference = run_library(net, images, T, layers, "norse", dtype=torch.float64)
    lava = LavaSimExecutor(graph, info).run(images)
    v = verdict(reference, lava, ["a", "b"])
    assert _fired(reference)
    assert v.layers == {"1": 100.0, "3": 100.0}, v.to_dict()


@pytest.mark.lava
def test_snntorch_nir_file_with_per_neuron_parameters_runs_on_lava(tmp_path, images):
    """The other workaround for snntorch's export: per-neuron beta/threshold of the layer's
    shape and an unbatched sample make export_to_nir, nir.write and nir.read work; the file
    then lowers like the in-memory graph."""
    from neurodeploy.targets.loihi.executor import LavaSimExecutor

    torch.manual_seed(0)
    shape = (4, 8, 8)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1),
                        snn.Leaky(beta=torch.full(shape, 0.5), threshold=torch.full(shape, 0.3), init_hidden=True,
                                  reset_mechanism="zero"))
    nir.write(tmp_path / "snn.nir", export_to_nir(net, torch.zeros(2, 8, 8)))
    graph = from_foreign_nir(nir.read(tmp_path / "snn.nir"), T, "snntorch")  # snntorch's file: plain NIR
    info = graph_info(graph)
    reference = run_library(net, images, T, ["1"], "snntorch")
    v = verdict(reference, LavaSimExecutor(graph, info).run(images), ["a", "b"])
    assert _fired(reference)
    assert v.layers == {"1": 100.0}, v.to_dict()


def test_foreign_graph_is_annotated_and_survives_nir_write(tmp_path):
    graph = from_foreign_nir(norse.to_nir(norse_net(1), torch.zeros(1, 2, 8, 8)), T, "norse")
    info = graph_info(graph)
    assert info.node_kinds == {"input": "input", "0": "conv", "1": "lif", "2": "conv", "3": "lif", "output": "output",
                               "encode": "encode", "decode": "decode_mean"}
    assert ("input", "encode") in graph.edges and ("encode", "0") in graph.edges and ("3", "decode") in graph.edges
    assert info.domains["input"] == info.domains["decode"] == "image" and info.domains["1"] == "seq"
    assert info.input_shape == (2, 8, 8) and info.dt_s == 1e-3 and info.decode == "spikes"
    assert info.spike_condition == {"1": ">", "3": ">"}
    assert graph.nodes["1"].tau.shape == (4, 8, 8)
    # 1/tau_mem_inv in seconds; norse stored dt/tau_mem_inv in float32, hence ~1e-7 relative.
    np.testing.assert_allclose(graph.nodes["1"].tau, 1 / 500.0, rtol=1e-6)
    write_graph(tmp_path / "g.nir", graph)
    back = read_graph(tmp_path / "g.nir")
    assert graph_info(back).node_kinds == info.node_kinds
    np.testing.assert_array_equal(back.nodes["2"].weight, graph.nodes["2"].weight)


@pytest.mark.parametrize("library", ["snntorch", "norse"])
def test_foreign_graph_runs_in_the_nir_torch_executor(library, images):
    from neurodeploy.targets.nir_torch import NirTorchExecutor

    net = snntorch_net(1) if library == "snntorch" else norse_net(1)
    written = (export_snntorch(net, (2, 8, 8)) if library == "snntorch"
               else norse.to_nir(net, torch.zeros(1, 2, 8, 8)))
    graph = from_foreign_nir(written, T, library)
    info = graph_info(graph)
    reference = run_library(net, images, T, info.neuron_layers(graph), library)
    v = verdict(reference, NirTorchExecutor(graph, info).run(images), ["a", "b"])
    assert v.layers == {"1": 100.0, "3": 100.0} and v.output_psnr_db == 200.0, v.to_dict()


def test_unsupported_foreign_graphs_fail_with_one_clear_line():
    sample = torch.zeros(1, 2, 8, 8)
    with pytest.raises(LoweringError, match="reset 'subtract'.*reset_mechanism='zero'"):
        from_foreign_nir(export_snntorch(snntorch_net(1), (2, 8, 8)), T, "snntorch", reset="subtract")
    cuba = norse.SequentialState(nn.Conv2d(2, 2, 3), norse.LIFCell())
    with pytest.raises(LoweringError, match="node '1' is nir.CubaLIF"):
        from_foreign_nir(norse.to_nir(cuba, sample), T, "norse")
    pooled = norse.SequentialState(nn.Conv2d(2, 2, 3), norse.LIFBoxCell(), nn.Flatten(), nn.Linear(72, 3))
    with contextlib.redirect_stdout(io.StringIO()):
        g = norse.to_nir(pooled, sample)
    with pytest.raises(LoweringError, match="has no Lava mapping"):
        from_foreign_nir(g, T, "norse")
    with pytest.raises(GraphError, match="pass dt_s"):
        from_foreign_nir(g, T, "nir")
    leaky_params = norse.LIFBoxParameters(v_leak=torch.tensor(0.1))
    leaky = norse.SequentialState(nn.Conv2d(2, 2, 3), norse.LIFBoxCell(leaky_params))
    with pytest.raises(LoweringError, match="neuron '1': v_leak and v_reset must be 0"):
        from_foreign_nir(norse.to_nir(leaky, sample), T, "norse")


@pytest.mark.parametrize("source", ["sinabs", "rockpool", "bogus"])
def test_this_image_path_reads_snntorch_and_norse_only(source):
    """The dt table is the ``.nir`` reader's (it also knows sinabs, whose dt is None, and rockpool);
    this older path still names its own sources instead of running on with a missing dt."""
    graph = export_snntorch(snntorch_net(1), (2, 8, 8))
    with pytest.raises(GraphError, match=f"unknown NIR source '{source}'; use 'snntorch', 'norse' or 'nir'"):
        from_foreign_nir(graph, T, source)


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
    graph as "zero" but computes something else. Workaround: from_foreign_nir(reset=...)
    refuses "subtract"; users must train with reset_mechanism="zero"."""
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
    Workaround: from_foreign_nir(source="norse") reads tau / dt (norse_tau_bug=True)."""
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
    write itself. Workaround: convert in memory with from_foreign_nir, whose output writes
    (see test_foreign_graph_is_annotated_and_survives_nir_write)."""
    written = {"snntorch": export_snntorch(snntorch_net(1), (2, 8, 8)),
               "norse": norse.to_nir(norse_net(1), torch.zeros(1, 2, 8, 8))}
    for source, graph in written.items():
        with pytest.raises(TypeError, match="One of data, shape or dtype must be specified"):
            nir.write(tmp_path / "g.nir", graph)
        lif_only = nir.NIRGraph(nodes={"1": graph.nodes["1"]}, edges=[], type_check=False)
        with pytest.raises(TypeError, match="Scalar datasets don't support chunk/filter options"):
            nir.write(tmp_path / "lif.nir", lif_only)
        nir.write(tmp_path / "ok.nir", from_foreign_nir(graph, T, source))
