"""The writers' default neuron options as rules (issue 28 item 2): sinabs' several spikes per
step (MultiSpike), subtractive reset and IF ``min_v_mem`` clamp, rockpool's ``max_spikes_per_dt``
and ``LIFNeuronTorch`` step -- each read by ``--writer``, each switchable off with ``--rule
NAME=off`` -- against the writer's own simulation of the same file (``sinabs.nir.from_nir`` as
shipped; rockpool's modules): per-layer spike counts (a graded spike of k counts k) and agreement,
on nir-torch, Lava float, the integer emulator and Lava fixed_pt. Cases: tests/fixtures/rule_cases.py.
"""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest

from ndfixtures import rule_cases as rc

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
ALL_OFF = ("multi-spike=off", "subtract-reset=off", "min-v-mem=off")


@pytest.fixture(scope="module")
def sinabs_case(tmp_path_factory):
    pytest.importorskip("sinabs")
    path = rc.sinabs_conv_file(tmp_path_factory.mktemp("sinabs") / "conv.nir")
    x = rc.random_spikes(100, 2, rc.SINABS_SHAPE)
    return path, x, rc.sinabs_from_nir(path, x)


@pytest.fixture(scope="module")
def sinabs_grid_case(tmp_path_factory):
    """The same net with its weights on a grid of 1/16 (a net trained for an 8-bit chip)."""
    pytest.importorskip("sinabs")
    path = rc.sinabs_conv_file(tmp_path_factory.mktemp("sinabs") / "grid.nir", weight_step=1 / 16)
    x = rc.random_spikes(100, 2, rc.SINABS_SHAPE)
    return path, x, rc.sinabs_from_nir(path, x)


def _nir_torch(path, x, **kw):
    from neurodeploy.ir import read_graph
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    g = read_graph(path, writer=kw.pop("writer", "sinabs"), **kw)
    return g, rc.stack(NirSequenceExecutor(g).run(x), rc.SINABS_LAYERS)


def _within(rows, pct=0.5, agreement=99.9):
    return all(abs(r["ratio"] - 1) * 100 <= pct and r["agreement"] >= agreement for r in rows.values())


def test_sinabs_defaults_give_sinabs_from_nir_on_nir_torch(sinabs_case):
    """--writer sinabs reads sinabs' defaults: every layer's count within 0.5 % of from_nir's and
    >= 99.9 % agreement; the run has several spikes in one step (so MultiSpike is exercised), and
    today's rules (one spike, reset to 0, no clamp) miss by far (the issue's 13-73 %)."""
    path, x, ref = sinabs_case
    assert max(r.max() for r in ref.values()) >= 2  # several spikes per step in sinabs' own run
    g, got = _nir_torch(path, x)
    rows = rc.compare(ref, got)
    assert _within(rows), rows
    from neurodeploy.ir import rules as nr

    rules = {n: nr.rules_of(n, v) for n, v in g.nodes.items() if not nr.rules_of(n, v).is_nir}
    assert set(rules) == set(rc.SINABS_LAYERS)
    assert all(r.max_spikes == nr.MAX_COUNT and r.reset == "subtract" and r.v_min == -1.0 for r in rules.values())
    _, off = _nir_torch(path, x, rules=ALL_OFF)
    rows_off = rc.compare(ref, off)
    assert all(r["ratio"] < 0.9 for r in rows_off.values()), rows_off


def test_each_sinabs_rule_switched_off(sinabs_case, tmp_path):
    """Each --rule NAME=off changes only its own rule; all three off are today's rules (``v >= th,
    zero``, what --writer sinabs read before issue 28) and run spike for spike as them."""
    from neurodeploy.ir import read_graph
    from neurodeploy.ir import rules as nr

    path, x, _ = sinabs_case
    seen = {}
    for rules in ((), ("multi-spike=off",), ("subtract-reset=off",), ("min-v-mem=off",), ALL_OFF):
        g = read_graph(path, writer="sinabs", rules=rules)
        seen[rules] = nr.rules_of("1", g.nodes["1"])
    assert seen[("multi-spike=off",)] == nr.NeuronRules(">=", "subtract", 0, 1, -1.0)
    assert seen[("subtract-reset=off",)] == nr.NeuronRules(">=", "zero", 0, nr.MAX_COUNT, -1.0)
    assert seen[("min-v-mem=off",)] == nr.NeuronRules(">=", "subtract", 0, nr.MAX_COUNT, None)
    assert seen[ALL_OFF] == nr.NeuronRules(">=", "zero") and seen[ALL_OFF].describe() == "v >= th, zero"
    # --reset zero says what subtract-reset=off says; both together agree, contradicting ones are refused
    zero = read_graph(path, writer="sinabs", reset="zero", rules=("multi-spike=off", "min-v-mem=off"))
    assert nr.rules_of("1", zero.nodes["1"]) == seen[ALL_OFF]
    from neurodeploy.errors import GraphError

    with pytest.raises(GraphError, match="disagree"):
        read_graph(path, writer="sinabs", reset="subtract", rules=("subtract-reset=off",))
    # today's rules, written as before issue 28 (no max_spikes/v_min keys), run the same spikes
    g_off, off = _nir_torch(path, x, rules=ALL_OFF)
    old = nir.read(str(path))
    from neurodeploy.ir.nirread import read_foreign
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    flat, _, _ = read_foreign(old, writer="sinabs", reset="zero", rules={"multi-spike": False, "min-v-mem": False})
    for name, node in flat.nodes.items():
        assert nr.MAX_SPIKES_KEY not in (node.metadata or {}) and nr.V_MIN_KEY not in (node.metadata or {})
    flat.metadata["neurodeploy.dt_s"] = 1e-4
    again = rc.stack(NirSequenceExecutor(flat).run(x), rc.SINABS_LAYERS)
    assert all(np.array_equal(again[k], off[k]) for k in rc.SINABS_LAYERS)


def test_bad_rules_refused_in_one_line(sinabs_case, tmp_path):
    from neurodeploy.errors import GraphError
    from neurodeploy.ir import read_graph
    from neurodeploy.ir import rules as nr

    path = sinabs_case[0]
    for rules, words in ((("multi-spike",), "is not NAME=on or NAME=off"), (("fast=off",), "is not a rule"),
                         (("lif-step=off",), "is a rule of --writer rockpool"),
                         (("multi-spike=on", "multi-spike=off"), "both on and off")):
        with pytest.raises(GraphError, match=words):
            read_graph(path, writer="sinabs", rules=rules)
    with pytest.raises(GraphError, match="without --writer"):
        read_graph(path, rules=("multi-spike=off",))
    node = nir.IF(r=np.ones(2), v_threshold=np.ones(2))
    for meta, words in (({nr.MAX_SPIKES_KEY: 0}, "is not a whole number"), ({nr.MAX_SPIKES_KEY: 1.5}, "whole number"),
                        ({nr.V_MIN_KEY: "low"}, "not a finite number"),
                        ({nr.MAX_SPIKES_KEY: 4, nr.DELAY_KEY: 1}, "one step late")):
        node.metadata = meta
        with pytest.raises(GraphError, match=words):
            nr.rules_of("n", node)


def test_rules_kept_in_graph_nir_and_annotations(sinabs_case, tmp_path, run_cli):
    """export --writer sinabs: graph.nir's node metadata carries the rules (nir.read loads them),
    GraphInfo has them (max_spikes, v_min), the manifest names them and --rule as given; --rule in
    --help; a bad --rule: exit 2, one line, nothing written."""
    path = sinabs_case[0]
    out = tmp_path / "b"
    code, _, err = run_cli("export", path, "--target", "loihi", "--out", out, "--writer", "sinabs",
                           "--rule", "min-v-mem=off")
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rules"] == ["min-v-mem=off"]
    assert manifest["neuron_rules"]["1"] == "v >= th, subtract, up to 8388607 spikes per step"
    meta = nir.read(str(out / "graph.nir")).nodes["1"].metadata
    assert int(meta["neurodeploy.max_spikes"]) == 8388607 and "neurodeploy.v_min" not in meta
    from neurodeploy.bundle import Bundle

    info = Bundle.open(out).info
    assert info.max_spikes == {k: 8388607 for k in rc.SINABS_LAYERS} and info.v_min == {}
    assert info.edge_kinds["1->2"] == "graded"  # counts, not 0/1 events (energy counts them as graded)
    code, _, err = run_cli("report", out, "--executor", "nir-torch", "--no-html")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert all(row["spikes"] > 0 for row in report["layers"])
    code, stdout, _ = run_cli("export", "--help")
    assert "--rule" in stdout and all(n in stdout for n in ("multi-spike", "subtract-reset", "min-v-mem", "lif-step"))
    code, _, err = run_cli("export", path, "--target", "loihi", "--out", tmp_path / "no", "--writer", "sinabs",
                           "--rule", "multi-spike=off", "multispike=off")  # one flag, several rules
    assert code == 2 and "is not a rule" in err and err.count("\n") == 1 and not (tmp_path / "no").exists(), err


def test_rule_help_names_every_rule():
    from neurodeploy import cli
    from neurodeploy.ir.nirread import WRITER_RULES

    assert all(f"{name} (" in cli.RULE_HELP for name in WRITER_RULES)


def _quantized(path, x, **kw):
    from neurodeploy.ir import as_deploy_graph, read_graph
    from neurodeploy.nir_bundle import peak_counts
    from neurodeploy.passes import annotated
    from neurodeploy.quantize.ptq import quantize_sequence
    from neurodeploy.targets.emulator import SequenceEmulator
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    g = annotated(as_deploy_graph(read_graph(path, writer="sinabs", **kw)))
    quant, arrays = quantize_sequence(g, x, peak_counts(g, NirSequenceExecutor(g).run(x)))
    emulator = SequenceEmulator(g, quant, arrays)
    return g, quant, arrays, emulator, rc.stack(emulator.run(x), rc.SINABS_LAYERS)


def test_sinabs_defaults_quantized_on_the_emulator(sinabs_case):
    """The integer emulator runs the counts: each multi-spike layer's cap is its calibration peak
    (nothing clipped on that input), several spikes per step reach the next layer as graded
    payloads. Against from_nir, 8-bit weights cost agreement (measured, not the issue's 99.9 %):
    the counts stay within 2 %."""
    path, x, ref = sinabs_case
    g, quant, _, emulator, got = _quantized(path, x)
    assert all(quant[k]["model"] == "RuleLIF" and quant[k]["lim"] == quant[k]["max_spikes"] for k in rc.SINABS_LAYERS)
    assert quant["1"]["max_spikes"] >= 2 and quant["1"]["v_min_mant"] == -quant["1"]["vth_mant"]
    assert all(c.get("count_clipped", 0) == 0 for c in emulator.counts.values())
    assert max(v.max() for v in got.values()) >= 2
    rows = rc.compare(ref, got)
    assert all(abs(r["ratio"] - 1) <= 0.02 for r in rows.values()), rows


def test_sinabs_defaults_quantized_exactly_when_the_weights_are_on_a_grid(sinabs_grid_case):
    """Weights on a grid of 1/16 and threshold 1: the quantizer finds the input LSB at which every
    integer is exact (ptq._grid_step), and the emulator gives from_nir's counts within 0.5 % and
    >= 99.9 % per layer (the issue's bar for quantized runs)."""
    path, x, ref = sinabs_grid_case
    g, quant, _, _, got = _quantized(path, x)
    synapses = [q for q in quant.values() if q["kind"] in ("dense", "conv")]
    assert len(synapses) == 6 and all(q["weight_max_error"] == 0 and q["weight_exp"] == 0 for q in synapses)
    assert all(quant[k]["vth_rel_error"] == 0 for k in rc.SINABS_LAYERS)
    rows = rc.compare(ref, got)
    assert _within(rows), rows
    assert max(r.max() for r in got.values()) >= 2


@pytest.mark.lava
@pytest.mark.parametrize("case", ["sinabs_case", "sinabs_grid_case"])
def test_sinabs_defaults_on_lava_float_and_fixed(case, request):
    """Lava float (RuleLIF, graded counts into the next Dense/Conv) gives from_nir's counts within
    0.5 % and >= 99.9 % per layer; Lava fixed_pt equals the emulator bit for bit (on the grid net:
    from_nir's counts within 0.5 % and >= 99.9 % too)."""
    from neurodeploy.targets.loihi.executor import sequence_executor

    path, x, ref = request.getfixturevalue(case)
    x, ref = x[:40], {k: v[:40] for k, v in ref.items()}  # 40 steps: the Lava runs stay a few seconds
    g, quant, arrays, _, emu = _quantized(path, x)
    flt = rc.stack(sequence_executor(g).run(x), rc.SINABS_LAYERS)
    rows = rc.compare(ref, flt)
    assert _within(rows), rows
    fixed = rc.stack(sequence_executor(g, quant, arrays).run(x), rc.SINABS_LAYERS)
    assert all(np.array_equal(fixed[k], emu[k]) for k in rc.SINABS_LAYERS)
    assert max(v.max() for v in fixed.values()) >= 2
    if case == "sinabs_grid_case":
        assert _within(rc.compare(ref, fixed))


@pytest.mark.parametrize("neuron", ["LIFTorch", "LIFNeuronTorch"])
def test_rockpool_defaults_give_its_modules_on_nir_torch(neuron, tmp_path):
    """--writer rockpool: max_spikes_per_dt (2**16) as graded counts, subtracting that many
    thresholds; LIFNeuronTorch's step (lif-step). Counts within 0.5 % and >= 99.9 % per layer
    against the modules; with the rule off, far from them."""
    pytest.importorskip("rockpool")
    from neurodeploy.ir import read_graph
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    path, net = rc.rockpool_dense_file(tmp_path / "r.nir", neuron)
    x = rc.random_spikes(100, 2, (16,), scale=2.0)
    ref = rc.rockpool_run(net, x)
    assert max(r.max() for r in ref.values()) >= 2

    def run(rules):
        g = read_graph(path, writer="rockpool", warn=lambda _: None, rules=rules)
        traces = NirSequenceExecutor(g).run(x)
        layers = [n for n in traces[0].layers]
        return rc.compare(ref, {r: np.stack([t.layers[n] for t in traces], 1) for r, n in zip(ref, layers)})

    rows = run(())
    assert _within(rows), rows
    off = ("multi-spike=off",) if neuron == "LIFTorch" else ("lif-step=off",)
    assert not _within(run(off)), off


def test_graph_info_keys_added_not_required():
    """GraphInfo's max_spikes/v_min: absent in an older bundle's JSON (read as one spike, no clamp),
    refused in one line when damaged."""
    from dataclasses import asdict

    from neurodeploy.errors import GraphError
    from neurodeploy.ir.info import GraphInfo

    info = GraphInfo(t_steps=0, dt_s=1e-4, input_shape=(2,), encode="none", decode="none",
                     max_spikes={"n": 7}, v_min={"n": -1.0})
    data = asdict(info)
    assert GraphInfo.from_json(json.dumps(data)).rules("n").describe() == "v > th, zero, up to 7 spikes per step, v >= -1"
    old = {k: v for k, v in data.items() if k not in ("max_spikes", "v_min")}
    assert GraphInfo.from_json(json.dumps(old)).rules("n").is_nir
    for key, bad in (("max_spikes", {"n": 0}), ("max_spikes", {"n": 2.5}), ("v_min", {"n": "x"})):
        with pytest.raises(GraphError, match=f"node 'n': the metadata's {key}"):
            GraphInfo.from_json(json.dumps({**data, key: bad}))


@pytest.mark.lava
def test_rockpool_lif_torch_on_lava_float_and_fixed(tmp_path):
    """rockpool's LIFTorch (a CubaLIF: the current decays, du < 4095) with up to 2**16 spikes per step:
    Lava float gives the modules' counts within 0.5 % and >= 99.9 % per layer; Lava fixed_pt equals
    the emulator bit for bit, counts of several spikes included."""
    pytest.importorskip("rockpool")
    from neurodeploy.ir import as_deploy_graph, read_graph
    from neurodeploy.nir_bundle import peak_counts
    from neurodeploy.passes import annotated
    from neurodeploy.quantize.ptq import quantize_sequence
    from neurodeploy.targets.emulator import SequenceEmulator
    from neurodeploy.targets.loihi.executor import sequence_executor
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    path, net = rc.rockpool_dense_file(tmp_path / "r.nir", "LIFTorch")
    x = rc.random_spikes(40, 2, (16,), scale=2.0)
    ref = rc.rockpool_run(net, x)
    g = annotated(as_deploy_graph(read_graph(path, writer="rockpool", warn=lambda _: None)))
    layers = [n for n in g.order if n.endswith("LIFTorch")]
    assert len(layers) == 2 and all(g.info.neuron_form[n]["du"] < 1 for n in layers)
    relabel = lambda d: {r: d[n] for r, n in zip(ref, layers)}  # noqa: E731
    flt = rc.stack(sequence_executor(g).run(x), layers)
    assert _within(rc.compare(ref, relabel(flt)))
    quant, arrays = quantize_sequence(g, x, peak_counts(g, NirSequenceExecutor(g).run(x)))
    emu = rc.stack(SequenceEmulator(g, quant, arrays).run(x), layers)
    fixed = rc.stack(sequence_executor(g, quant, arrays).run(x), layers)
    assert all(np.array_equal(fixed[k], emu[k]) for k in layers) and max(v.max() for v in fixed.values()) >= 2


def test_sinabs_lif_norm_input_module_or_from_nir():
    """A sinabs LIF file: --writer sinabs runs the module that wrote it (norm_input=True, its default);
    --rule norm-input=off runs it as sinabs' from_nir reads it (norm_input=False: about tau times the
    input). Each within 0.5 % and >= 99.9 % per layer of its own reference; the two references differ."""
    pytest.importorskip("sinabs")
    from sinabs.nir import from_nir

    from neurodeploy.ir.nirread import read_foreign
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    x = rc.random_spikes(100, 2, (16,), scale=4.0)
    net, graph = rc.sinabs_lif_dense(2)
    module = rc.sinabs_module_run(net, x, ["1", "3"])
    shipped = rc.sinabs_module_run(from_nir(graph, batch_size=2), x, ["1", "3"])
    assert all(shipped[k].sum() > 2 * module[k].sum() > 0 for k in module)
    for rules, ref in (((), module), (("norm-input=off",), shipped)):
        flat, _, dt = read_foreign(graph, writer="sinabs", rules=rules)
        flat.metadata["neurodeploy.dt_s"] = dt
        got = rc.stack(NirSequenceExecutor(flat).run(x), ["1", "3"])
        assert _within(rc.compare(ref, got)), (rules, rc.compare(ref, got))
