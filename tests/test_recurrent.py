"""Recurrent graphs (issue 28, item 6): a neuron layer that feeds itself through a synapse.

The loop's delay: a neuron feeds its loop the spikes of the previous time step
(``neurodeploy/ir/order.py``), as snntorch's ``RLeaky``/``RSynaptic`` do. The files are written at
test time by snntorch 1.0.0's own ``export_to_nir`` (installed) and by the ``nir`` package; the
reference is snntorch's module itself, stepped one time step per call. The net with PyTorch's float
weights is also a writer case (``tests/fixtures/writer_cases.py``: ``tests/test_nir_writers.py`` holds
it to snntorch on nir-torch, 100 %, and shows both layers need RLeaky's/RSynaptic's late reset). Executors: ``nir-torch``
(float64), ``emulator`` (integers), Lava ``floating_pt`` and ``fixed_pt`` (real simulator).

norse 1.1.0 writes no recurrent cell (its ``to_nir`` maps ``LIFRecurrentCell`` to nothing): the
last test shows it, and that the reader refuses such a file in one line.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy.errors import GraphError, LoweringError
from neurodeploy.ir import as_deploy_graph, read_graph
from neurodeploy.ir.nirfile import FOREIGN_DT_KEY
from neurodeploy.ir.order import loops, topological_order
from neurodeploy.passes import annotated
from neurodeploy.quantize.ptq import quantize_sequence
from neurodeploy.targets.emulator import SequenceEmulator
from neurodeploy.targets.nir_primitives import NirSequenceExecutor

from ndfixtures import writer_cases as iw

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
torch = pytest.importorskip("torch")

STEPS, SAMPLES = 100, 2
LAYERS = {"1": "1.lif", "3": "3.lif"}  # snntorch module -> the neuron node of its RLeaky/RSynaptic subgraph


# ---------------------------------------------------------------- the order of a graph with loops

def _neuron(name: str) -> bool:
    return name.startswith("lif")


def test_a_loop_is_cut_at_the_edge_back_into_it_and_delayed_on_the_edge_out_of_its_neuron():
    # snntorch's RLeaky as its exporter writes it: the edge back (w_rec -> lif) listed before the input's
    edges = [("lif", "w_rec"), ("in", "fc"), ("w_rec", "lif"), ("fc", "lif"), ("lif", "out")]
    found = loops(["in", "fc", "lif", "w_rec", "out"], edges, _neuron)
    assert found.back == (("w_rec", "lif"),) and found.delayed == (("lif", "w_rec"),)
    assert topological_order(["in", "fc", "lif", "w_rec", "out"], edges, _neuron) == ["in", "fc", "lif", "w_rec", "out"]
    # a later layer feeding an earlier one: the later neuron's output is the delayed one
    edges = [("in", "fc"), ("fc", "lif1"), ("lif1", "a"), ("a", "lif2"), ("lif2", "w"), ("w", "lif1"), ("lif2", "out")]
    found = loops(["in", "fc", "lif1", "a", "lif2", "w", "out"], edges, _neuron)
    assert found.back == (("w", "lif1"),) and found.delayed == (("lif2", "w"),)
    # one neuron on two loops: both of its edges into them carry the previous step
    edges = [("in", "s"), ("s", "lif"), ("lif", "a"), ("a", "b"), ("b", "lif"), ("lif", "c"), ("c", "b"), ("lif", "out")]
    assert set(loops(["in", "s", "lif", "a", "b", "c", "out"], edges, _neuron).delayed) == {("lif", "a"), ("lif", "c")}
    assert loops(["in", "lif", "out"], [("in", "lif"), ("lif", "out")], _neuron).back == ()


def test_a_loop_without_a_stateful_neuron_stays_an_algebraic_loop():
    with pytest.raises(GraphError, match="cycle 's'->'t'->'s' without a neuron"):
        topological_order(["in", "s", "t", "out"], [("in", "s"), ("s", "t"), ("t", "s"), ("t", "out")], _neuron)
    # a Threshold has no state: a loop through it alone is no recurrence
    from neurodeploy.ir import topological_order as graph_order

    with pytest.raises(GraphError, match="cycle .* without a neuron"):
        graph_order(_file_graph(nir.Threshold(threshold=np.array([0.5]))))
    assert graph_order(_file_graph()) == ["input", "fc", "lif", "w_rec", "output"]


# ---------------------------------------------------------------- the one-step delay, on every executor

def _file_graph(neuron=None, w_rec: float = 1.5) -> nir.NIRGraph:
    """input -> Linear(2) -> neuron -> Linear(w_rec) -> neuron (a self loop) -> output, one neuron.

    The default neuron forgets at once (beta 0: ``tau = dt``, ``r = 1``: v = this step's input), so
    its spikes show the loop's delay alone: a spike at step t drives the neuron over its threshold 1
    at step t + 1 (``w_rec`` 1.5), and again, for ever."""
    dt = 1e-4
    neuron = neuron if neuron is not None else nir.LIF(tau=np.array([dt]), r=np.array([1.0]), v_leak=np.array([0.0]),
                                                       v_threshold=np.array([1.0]), v_reset=np.array([0.0]))
    return nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([1])), "fc": nir.Linear(weight=np.array([[2.0]])),
                               "lif": neuron, "w_rec": nir.Linear(weight=np.array([[w_rec]])),
                               "output": nir.Output(output_type=np.array([1]))},
                        edges=[("input", "fc"), ("fc", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])


def _self_loop_input() -> np.ndarray:
    """(T = 12, samples = 2, 1): sample 0 gets one spike at step 3; sample 1 none."""
    x = np.zeros((12, 2, 1))
    x[3, 0, 0] = 1.0
    return x


def _spikes(traces, layer: str = "lif") -> np.ndarray:
    return np.stack([t.layers[layer].reshape(len(t.layers[layer]), -1) for t in traces], 1)


@pytest.mark.lava
def test_the_loop_delays_one_step_on_every_executor_and_no_sample_sees_the_one_before(tmp_path):
    """The self loop: one input spike at step 3 fires the neuron at 3 (fc), then at 4, 5, ... through the
    loop (each step's spike is next step's input). Sample 1 gets no input and must stay silent on Lava
    too, where the samples run back to back and the loop's Dense still holds sample 0's last spike
    (the LoopGate's job; without it sample 1 fires from its first step)."""
    from neurodeploy.targets.loihi.executor import sequence_executor

    nir.write(str(tmp_path / "loop.nir"), _file_graph())
    graph = read_graph(tmp_path / "loop.nir")
    x = _self_loop_input()
    want = np.zeros((12, 2, 1))
    want[3:, 0, 0] = 1.0
    assert np.array_equal(_spikes(NirSequenceExecutor(graph).run(x)), want)
    g = annotated(as_deploy_graph(graph, float(graph.metadata[FOREIGN_DT_KEY])))
    assert g.loops.delayed == (("lif", "w_rec"),)
    quant, ints = quantize_sequence(g, x)
    assert np.array_equal(_spikes(SequenceEmulator(g, quant, ints).run(x)), want)
    lava = sequence_executor(g)
    assert lava.lowered.summary()["recurrent"] == [{"src": "lif", "dst": "w_rec"}]
    assert np.array_equal(_spikes(lava.run(x)), want)
    assert np.array_equal(_spikes(sequence_executor(g, quant, ints).run(x)), want)


def test_a_loop_through_two_synapses_runs_on_nir_torch_and_is_refused_on_lava_in_one_line():
    """lif2 -> w_back -> lif1: nir-torch runs it (lif1 takes lif2's spikes of the previous step); Lava's
    loop would take two steps (one per synapse), so the lowering refuses it by name."""
    from neurodeploy.targets.loihi.lower import lower

    dt = 1e-4
    lif = lambda: nir.LIF(tau=np.array([dt]), r=np.array([1.0]), v_leak=np.array([0.0]),  # noqa: E731
                          v_threshold=np.array([1.0]), v_reset=np.array([0.0]))
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([1])), "fc": nir.Linear(weight=np.array([[2.0]])),
                                "lif1": lif(), "a": nir.Linear(weight=np.array([[2.0]])), "lif2": lif(),
                                "w_back": nir.Linear(weight=np.array([[1.5]])),
                                "output": nir.Output(output_type=np.array([1]))},
                         edges=[("input", "fc"), ("fc", "lif1"), ("lif1", "a"), ("a", "lif2"), ("lif2", "w_back"),
                                ("w_back", "lif1"), ("lif2", "output")])
    x = _self_loop_input()
    spikes = NirSequenceExecutor(graph).run(x)
    assert np.flatnonzero(_spikes(spikes, "lif1")[:, 0, 0]).tolist() == list(range(3, 12))
    assert np.flatnonzero(_spikes(spikes, "lif2")[:, 0, 0]).tolist() == list(range(3, 12))
    with pytest.raises(LoweringError) as exc:
        lower(as_deploy_graph(graph, dt))
    assert "'lif1' -> ... -> 'w_back' -> 'lif1' takes 2 Lava steps" in str(exc.value)
    assert "\n" not in str(exc.value)


# ---------------------------------------------------------------- snntorch RLeaky and RSynaptic

def _written(tmp_path, grid: float | None = None):
    """(snntorch's spikes per layer (T, N, n), the file read with --writer snntorch, the input)."""
    from snntorch.export_nir import export_to_nir

    net = iw.snntorch_recurrent(grid)
    path = tmp_path / "rsnn.nir"
    nir.write(str(path), export_to_nir(net, torch.zeros(16)))
    x = iw.spikes(STEPS, SAMPLES, (16,), seed=0)
    ref = iw._snntorch_sim(list(LAYERS))(net, x)  # snntorch's module itself, one step per call
    return ref, read_graph(path, writer="snntorch"), x


def _agreement(traces, ref) -> dict[str, float]:
    return {node: 100.0 * float((_spikes(traces, node) == ref[module]).mean()) for module, node in LAYERS.items()}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    pytest.importorskip("snntorch")
    return _written(tmp_path_factory.mktemp("rsnn"))


@pytest.fixture(scope="module")
def written_int(tmp_path_factory):
    pytest.importorskip("snntorch")
    return _written(tmp_path_factory.mktemp("rsnn-int"), grid=32)


def test_snntorch_rleaky_clears_the_whole_step_after_a_spike(tmp_path):
    """RLeaky's "zero" reset (``rleaky.py`` ``_base_zero``: ``base - reset * base``) clears the whole step
    after a spike, its input and recurrent spikes too -- unlike Leaky's, which clears the membrane
    before adding the input. A self-exciting neuron (recurrent weight 1.5 > threshold 1, no leak)
    therefore fires once on one input spike in snntorch; read with Leaky's rule (reset at once) it
    would fire for ever. ``--writer snntorch`` gives a neuron on a loop the late reset."""
    pytest.importorskip("snntorch")
    import snntorch as snn
    from snntorch.export_nir import export_to_nir
    from torch import nn

    from neurodeploy.ir import rules as nr

    net = nn.Sequential(nn.Linear(1, 1), snn.RLeaky(beta=torch.zeros(1), threshold=torch.ones(1), linear_features=1,
                                                    init_hidden=True, reset_mechanism="zero"))
    with torch.no_grad():
        net[0].weight.fill_(2.0), net[0].bias.zero_(), net[1].recurrent.weight.fill_(1.5), net[1].recurrent.bias.zero_()
    nir.write(str(tmp_path / "one.nir"), export_to_nir(net, torch.zeros(1)))
    x = _self_loop_input()[:, :1]
    ref = iw._snntorch_sim(["1"])(net, x)["1"]
    assert np.flatnonzero(ref[:, 0, 0]).tolist() == [3]
    graph = read_graph(tmp_path / "one.nir", writer="snntorch")
    assert nr.rules_of("1.lif", graph.nodes["1.lif"]).describe() == "v > th, zero one step late"
    assert np.array_equal(_spikes(NirSequenceExecutor(graph).run(x), "1.lif"), ref)
    for key in (nr.SPIKE_KEY, nr.RESET_KEY, nr.DELAY_KEY):  # Leaky's reset: NIR's, at once
        graph.nodes["1.lif"].metadata.pop(key, None)
    assert np.flatnonzero(_spikes(NirSequenceExecutor(graph).run(x), "1.lif")[:, 0, 0]).tolist() == list(range(3, 12))


def test_snntorch_recurrent_net_in_integers_runs_as_snntorch_on_the_emulator(written_int):
    """A net whose weights and decays are Loihi integers: the quantized emulator spikes as snntorch;
    the recurrent Linear's weights are on the scale of the feed-forward ones into the same neuron."""
    ref, graph, x = written_int
    g = annotated(as_deploy_graph(graph, float(graph.metadata[FOREIGN_DT_KEY])))
    quant, ints = quantize_sequence(g, x)
    for fc, rec, lif in (("0", "1.w_rec", "1.lif"), ("2", "3.w_rec", "3.lif")):
        assert quant[rec]["weight_scale"] == quant[fc]["weight_scale"] == quant[lif]["in_scale"], (quant[rec], quant[fc])
        assert quant[rec]["in_scale"] == 1.0  # the neuron's own binary spikes
    assert all(0.02 < float(v.mean()) < 0.5 for v in ref.values())
    assert _agreement(SequenceEmulator(g, quant, ints).run(x), ref) == {"1.lif": 100.0, "3.lif": 100.0}


@pytest.mark.lava
def test_snntorch_recurrent_net_on_lava_float_and_fixed_as_snntorch(written_int):
    """Lava floating_pt and (quantized) fixed_pt spike as snntorch on both layers (>= 99.9 %), and
    fixed_pt equals the integer emulator bit for bit (spikes and membrane voltages)."""
    from neurodeploy.targets.loihi.executor import sequence_executor

    ref, graph, x = written_int
    g = annotated(as_deploy_graph(graph, float(graph.metadata[FOREIGN_DT_KEY])))
    assert min(_agreement(sequence_executor(g).run(x), ref).values()) >= 99.9
    quant, ints = quantize_sequence(g, x)
    emu = SequenceEmulator(g, quant, ints).run(x)
    fixed = sequence_executor(g, quant, ints).run(x)
    assert min(_agreement(fixed, ref).values()) >= 99.9
    for node in LAYERS.values():
        assert np.array_equal(_spikes(fixed, node), _spikes(emu, node)), node


@pytest.mark.lava
@pytest.mark.slow
def test_snntorch_float_recurrent_net_on_lava(written):
    """PyTorch's float initialisation: Lava float spikes as snntorch; quantized, fixed_pt still equals
    the emulator bit for bit (its agreement with snntorch is what 8-bit weights keep, not 100 %)."""
    from neurodeploy.targets.loihi.executor import sequence_executor

    ref, graph, x = written
    g = annotated(as_deploy_graph(graph, float(graph.metadata[FOREIGN_DT_KEY])))
    assert _agreement(sequence_executor(g).run(x), ref) == {"1.lif": 100.0, "3.lif": 100.0}
    quant, ints = quantize_sequence(g, x)
    emu = SequenceEmulator(g, quant, ints).run(x)
    fixed = sequence_executor(g, quant, ints).run(x)
    for node in LAYERS.values():
        assert np.array_equal(_spikes(fixed, node), _spikes(emu, node)), node
    assert min(_agreement(fixed, ref).values()) > 90.0


def test_export_and_validate_a_recurrent_snntorch_file_from_the_command_line(run_cli, written_int, tmp_path):
    """`neurodeploy export rsnn.nir --writer snntorch --quantize int`, then `validate --executor emulator`:
    the bundle keeps the loop (graph.nir, chip.nir) and the integers run it."""
    import json

    from snntorch.export_nir import export_to_nir

    path = tmp_path / "rsnn.nir"
    nir.write(str(path), export_to_nir(iw.snntorch_recurrent(32), torch.zeros(16)))
    out = tmp_path / "bundle"
    code, _, err = run_cli("export", path, "--target", "loihi", "--quantize", "int", "--out", out,
                           "--writer", "snntorch")
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["neuron_rules"] == {"1.lif": "v > th, zero one step late", "3.lif": "v > th, zero one step late"}
    assert ("1.w_rec", "1.lif") in [tuple(e) for e in nir.read(str(out / "graph.nir")).edges]
    code, stdout, err = run_cli("validate", out, "--executor", "emulator", "--json")
    assert code == 0, err
    verdict = json.loads(stdout)
    assert verdict["layers"] == {"1.lif": 100.0, "3.lif": 100.0} and verdict["reference"] == "nir-torch", verdict


# ---------------------------------------------------------------- norse

def test_norse_1_1_writes_no_recurrent_cell_and_the_reader_says_so_in_one_line():
    """norse 1.1.0's ``to_nir`` has no mapping for ``LIFRecurrentCell`` (``export_nir.py`` l.14-61 maps
    Conv2d, LIFCell, LIFBoxCell, LIBoxCell, IAFCell and Linear; anything else becomes ``None``), so
    its recurrent weights never reach the file. If this fails, norse writes recurrent cells: add
    them here and to docs/nir-writer-conventions.md."""
    norse = pytest.importorskip("norse.torch")
    from torch import nn

    from neurodeploy.ir.nirread import read_foreign

    graph = norse.to_nir(norse.SequentialState(nn.Linear(4, 4), norse.LIFRecurrentCell(4, 3)), torch.zeros(1, 4))
    assert graph.nodes["1"] is None
    assert not any(isinstance(n, nir.Linear) and np.shape(n.weight) == (3, 3) for n in graph.nodes.values())
    with pytest.raises(GraphError) as exc:
        read_foreign(graph, writer="norse")
    assert "'1'" in str(exc.value) and "\n" not in str(exc.value)
