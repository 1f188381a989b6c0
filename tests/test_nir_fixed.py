"""Graphs from any NIR writer in Loihi 2 integers: Lava fixed_pt against the integer reference (issue 16).

Files are written at test time by the real writers (snntorch, norse, sinabs, rockpool;
``tests/fixtures/writer_cases.py``) and by the ``nir`` package (``tests/fixtures/nir_graphs.py``; cases and
run: ``tests/fixtures/fixed_cases.py``, which ``benchmarks/interop_fixed.py`` runs too),
quantized as ``neurodeploy export net.nir --quantize int`` does, and run by Lava's fixed_pt
models (``lava-fixed``) and the torch int64 reference (``emulator``), which must agree on
every spike and state; the float reference (``nir-torch``) measures what quantization costs.
"""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest

from neurodeploy.errors import LoweringError
from neurodeploy.ir import as_deploy_graph, read_graph
from neurodeploy.ir.rules import NeuronRules, set_rules
from neurodeploy.passes import annotated
from neurodeploy.quantize.ptq import QuantizationError, check_sequence_integers, quantize_sequence
from neurodeploy.targets.emulator import SequenceEmulator
from neurodeploy.targets.nir_primitives import NirSequenceExecutor

from ndfixtures import fixed_cases as ifx
from ndfixtures import writer_cases as iw

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
CASES = {c.name: c for c in ifx.cases()}
CONV = "nir: conv+IF+SumPool+LIF+AvgPool+Flatten+Affine+CubaLIF"


def _needs(name: str) -> None:
    writer = name.split(":")[0]
    if writer != "nir":
        pytest.importorskip({"snntorch": "snntorch", "norse": "norse.torch", "sinabs": "sinabs",
                             "rockpool": "rockpool"}[writer])


@pytest.mark.lava
def test_lava_fixed_equals_the_integer_reference_on_conv_pool_flatten_if_lif_cubalif():
    """The representative fast test: Conv2d (padding, stride, dilation, groups), IF, SumPool2d,
    LIF (v_reset != 0), AvgPool2d, Flatten, Affine (bias), CubaLIF from a file the nir package
    writes; Lava fixed_pt (bit-accurate Dense and LIFReset, the fast fixed Conv) spike for spike
    with the int64 reference, which stays close to float."""
    row = ifx.measure(CASES[CONV], steps=30, samples=2)
    assert row["lava_fixed_vs_emulator"] == {"if1": 100.0, "lif2": 100.0, "cuba": 100.0}, row
    assert all(r > 0.05 for r in row["firing_rate"].values()), row
    assert all(95.0 < a <= 100.0 for a in row["emulator_vs_float"].values()), row
    assert min(row["emulator_vs_float"].values()) < 100.0, row  # quantization does show: not a float run


@pytest.mark.lava
def test_joins_balanced_by_delay_lines_run_as_the_integer_reference():
    """Three paths of different depth into one neuron (one through a NIR Delay): the lowering's balancing
    delay lines hold pipeline latency on Lava fixed_pt; the integer reference, on logical steps, needs
    none -- 100 % on every layer."""
    row = ifx.measure(CASES["nir: skip joins (delay-balanced) + Delay"], steps=30, samples=2)
    assert row["lava_fixed_vs_emulator"] == {"lif0": 100.0, "lif1": 100.0, "out": 100.0}, row
    assert all(a > 95.0 for a in row["emulator_vs_float"].values()) and row["firing_rate"]["lif1"] > 0.1, row


@pytest.mark.lava
def test_a_flipped_rounding_rule_is_caught_at_the_layer_it_changes(monkeypatch):
    """The comparison has teeth: the integer reference with its decays rounding down instead of toward
    zero (Lava's rule) still agrees on the Threshold layer's spikes and no longer on the LI layer's state
    (dv = 819, negative v: a one-LSB difference on most steps)."""
    import neurodeploy.targets.emulator as emulator

    def floor_decay(x, keep, bits):  # the emulator's decay_, rounding down instead of toward zero
        x *= keep * 2.0 ** -bits
        return np.floor(x, out=x)

    monkeypatch.setattr(emulator, "decay_", floor_decay)
    row = ifx.measure(CASES["nir: Conv1d+Threshold+Linear+Scale+LIF+Delay+Affine+LI"], steps=20, samples=1)
    agreement = row["lava_fixed_vs_emulator"]
    assert agreement["thr"] == 100.0 and agreement["li"] < 90.0, row


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in CASES if n != CONV])
def test_lava_fixed_equals_the_integer_reference_for_every_writer_and_primitive(name):
    """Every writer's files (dense LIF/CubaLIF, conv with pooling and flatten) and the nir package's
    Conv1d, Threshold, Linear, Scale, Delay, I, LI, CubaLI: Lava fixed_pt (and Lava's own fixed
    Conv model) == the integer reference on 100 % of spikes and states."""
    _needs(name)
    row = ifx.measure(CASES[name], steps=100, samples=2, stock=True)
    for key in ("lava_fixed_vs_emulator", "lava_fixed_stock_vs_emulator"):
        assert set(row[key].values()) == {100.0}, row
    assert all(r > 0.001 for r in row["firing_rate"].values()), row
    # a slow synaptic current keeps every spike quantization flips upstream (CubaLIF tau_syn = 100 dt: 94 %)
    assert all(a > 90.0 for a in row["emulator_vs_float"].values()), row
    # I/LI/CubaLI states after spiking layers: their float error is dominated by the few spikes upstream
    # that quantization flips (test_integrator_states_stay_close_to_float isolates their own error)
    assert all(np.isfinite(e) for e in row.get("state_error_rel", {}).values()), row


@pytest.mark.parametrize("name", ["li", "i", "cubali"])
def test_integrator_states_stay_close_to_float(tmp_path, name):
    """Input -> Affine (bias) -> LI/I/CubaLI: the integer state (``v · v_lsb``) stays within 2 % of the
    float state's range (8-bit weights, 12-bit decays, the constant input rounded to a_in units)."""
    rng = np.random.default_rng(4)
    node = {"li": nir.LI(tau=np.full(3, 5e-4), r=np.ones(3), v_leak=np.full(3, 0.1)), "i": nir.I(r=np.full(3, 2.0)),
            "cubali": nir.CubaLI(tau_syn=np.full(3, 2e-4), tau_mem=np.full(3, 5e-4), r=np.ones(3),
                                 v_leak=np.zeros(3))}[name]
    nodes = {"input": nir.Input(input_type={"input": np.array([8])}),
             "fc": nir.Affine(weight=rng.normal(size=(3, 8)), bias=np.full(3, 0.3)), name: node,
             "output": nir.Output(output_type={"output": np.array([3])})}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", name), (name, "output")], type_check=False)
    nir.write(str(tmp_path / "s.nir"), g, compression=None)
    graph = read_graph(tmp_path / "s.nir")
    g = annotated(as_deploy_graph(graph, 1e-4))
    x = iw.spikes(100, 2, (8,), seed=4)
    quant, arrays = quantize_sequence(g, x)
    assert quant[name]["vth_mant"] == 1 << 17 and not quant[name]["spiking"]  # never fires: 2**23 > every v
    emu = np.stack([t.layers[name] for t in SequenceEmulator(g, quant, arrays).run(x)])
    ref = np.stack([t.layers[name] for t in NirSequenceExecutor(graph).run(x)])
    assert 0 < np.abs(emu - ref).max() < 0.02 * np.abs(ref).max()


def _tie_graph() -> nir.NIRGraph:
    """Input (1,) -> Linear 0.25 -> IF (v_th 0.5, r dt = 1): v = 0.25, 0.5 (= v_th: no spike), 0.75 (spike)."""
    nodes = {"input": nir.Input(input_type={"input": np.array([1])}),
             "lin": nir.Linear(weight=np.array([[0.25]])),
             "if": nir.IF(r=np.array([1e4]), v_threshold=np.array([0.5])),
             "output": nir.Output(output_type={"output": np.array([1])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "lin"), ("lin", "if"), ("if", "output")], type_check=False)


def test_integer_spike_condition_is_strictly_greater_like_nir(tmp_path):
    """A membrane that lands exactly on the threshold does not fire (NIR and Lava: ``v > vth``): the
    threshold is a whole number of input LSBs (vth_mant 254 = twice the weight mantissa 127), so the tie is exact."""
    nir.write(str(tmp_path / "tie.nir"), _tie_graph(), compression=None)
    graph = read_graph(tmp_path / "tie.nir")
    g = annotated(as_deploy_graph(graph, 1e-4))
    x = np.ones((6, 1, 1))
    quant, arrays = quantize_sequence(g, x)
    assert quant["if"]["vth_mant"] == 254 and arrays["lin"]["weight_mant"].tolist() == [[127]]
    emu = SequenceEmulator(g, quant, arrays).run(x)[0].layers["if"].ravel()
    ref = NirSequenceExecutor(graph).run(x)[0].layers["if"].ravel()
    assert emu.tolist() == ref.tolist() == [0, 0, 1, 0, 0, 1]


def test_a_writers_greater_or_equal_on_an_if_is_exact_in_integers(tmp_path):
    """sinabs' IAF fires on ``v >= th``: on an IF, ``v`` stays on multiples of 64, so Lava's ``v > vth << 6``
    with ``vth_mant`` one lower is exactly ``>=`` -- the membrane landing on the threshold fires, as in float."""
    g = _tie_graph()
    set_rules(g.nodes["if"], NeuronRules(">=", "zero", 0))
    nir.write(str(tmp_path / "ge.nir"), g, compression=None)
    graph = read_graph(tmp_path / "ge.nir")
    g = annotated(as_deploy_graph(graph, 1e-4))
    x = np.ones((6, 1, 1))
    quant, arrays = quantize_sequence(g, x)
    assert quant["if"]["vth_mant"] == 253 and quant["if"]["spike"] == ">=" and quant["if"]["vth_rel_error"] == 0.0
    emu = SequenceEmulator(g, quant, arrays).run(x)[0].layers["if"].ravel()
    ref = NirSequenceExecutor(graph).run(x)[0].layers["if"].ravel()
    assert emu.tolist() == ref.tolist() == [0, 1, 0, 1, 0, 1]


def _rules_graph(rules: NeuronRules) -> nir.NIRGraph:
    """Input (16) -> Affine -> LIF -> Linear -> CubaLIF, both neurons with the writer's ``rules``."""
    rng = np.random.default_rng(5)
    nodes = {"input": nir.Input(input_type={"input": np.array([16])}),
             "fc1": nir.Affine(weight=rng.normal(size=(8, 16)), bias=np.full(8, 0.02)),
             "lif": nir.LIF(tau=np.full(8, 5e-4), r=np.full(8, 3.0), v_leak=np.zeros(8), v_threshold=np.full(8, 0.5)),
             "fc2": nir.Linear(weight=rng.normal(size=(4, 8))),
             "cuba": nir.CubaLIF(tau_syn=np.full(4, 3e-4), tau_mem=np.full(4, 5e-4), r=np.full(4, 3.0),
                                 v_leak=np.zeros(4), v_threshold=np.full(4, 0.3)),
             "output": nir.Output(output_type={"output": np.array([4])})}
    for name in ("lif", "cuba"):
        set_rules(nodes[name], rules)
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False)


@pytest.mark.lava
@pytest.mark.parametrize("rules", [NeuronRules(">=", "subtract", 0), NeuronRules(">", "zero", 1),
                                   NeuronRules(">", "subtract", 1)], ids=lambda r: r.describe())
def test_writers_rules_run_on_the_fixed_pt_rule_lif_as_the_integer_reference(tmp_path, rules):
    """rockpool's (>=, subtract), snntorch Synaptic's (reset one step late) and snntorch Leaky
    subtract's rules on leaky neurons: the project's fixed_pt RuleLIF == the integer reference, and
    both stay close to the float reading with the same rules."""
    from neurodeploy.targets.loihi.executor import sequence_executor

    nir.write(str(tmp_path / "rules.nir"), _rules_graph(rules), compression=None)
    graph = read_graph(tmp_path / "rules.nir")
    g = annotated(as_deploy_graph(graph, 1e-4))
    x = iw.spikes(40, 2, (16,), seed=6)
    quant, arrays = quantize_sequence(g, x)
    assert {quant[k]["model"] for k in ("lif", "cuba")} == {"RuleLIF"}
    emu = SequenceEmulator(g, quant, arrays).run(x)
    lava = sequence_executor(graph, quant, arrays).run(x)
    ref = NirSequenceExecutor(graph).run(x)
    for layer in ("lif", "cuba"):
        e, la, f = (np.stack([t.layers[layer] for t in tr]) for tr in (emu, lava, ref))
        assert np.array_equal(e, la), (layer, (e == la).mean())
        assert e.mean() > 0.05 and (e == f).mean() > 0.93, (layer, e.mean(), (e == f).mean())


def test_fixed_mapping_refuses_in_one_line_naming_the_node(tmp_path):
    """A threshold Loihi's unsigned vth cannot hold, and integers that do not match the graph (a
    bundle's params.npz changed by hand), are refused in one line naming the node."""
    tie = _tie_graph()
    tie.nodes["if"] = nir.IF(r=np.array([1e4]), v_threshold=np.array([0.0]))
    nir.write(str(tmp_path / "zero.nir"), tie, compression=None)
    x = np.ones((6, 1, 1))
    with pytest.raises(QuantizationError, match="neuron 'if': threshold v_th - v_reset = 0 is not > 0"):
        quantize_sequence(annotated(as_deploy_graph(read_graph(tmp_path / "zero.nir"), 1e-4)), x)
    nir.write(str(tmp_path / "tie.nir"), _tie_graph(), compression=None)
    g = annotated(as_deploy_graph(read_graph(tmp_path / "tie.nir"), 1e-4))
    quant, arrays = quantize_sequence(g, x)
    check_sequence_integers(g, quant, arrays, "params.npz")
    arrays["lin"]["weight_mant"] = np.zeros((2, 1), dtype=np.int64)
    with pytest.raises(QuantizationError, match=r"'lin/weight_mant' is \[2, 1\], the graph needs \[1, 1\]"):
        check_sequence_integers(g, quant, arrays, "params.npz")


@pytest.mark.lava
def test_quantized_export_and_validate_of_a_sinabs_file_from_the_command_line(run_cli, tmp_path):
    """`export net.nir --quantize int --calib X.npy`, then `validate --executor lava-fixed --against
    emulator` (100 % per layer) and `--executor emulator` (against nir-torch: the quantization's
    agreement); bad input one line, exit 2, nothing written."""
    pytest.importorskip("sinabs")
    case = {c.writer + c.net: c for c in iw.cases()}["sinabsconv+IAF+SumPool+Flatten"]
    path = tmp_path / "sinabs.nir"
    case.write(case.build(), path)
    x = iw.spikes(40, 1, (2, 8, 8), seed=3, scale=3.0)[:, 0]
    np.save(tmp_path / "calib.npy", x)
    out = tmp_path / "bundle"
    # the case's net is built with SingleSpike and MembraneReset, not sinabs' defaults (issue 28): say so
    options = ["--reset", case.reset] + [a for r in case.rules for a in ("--rule", r)]
    code, _, err = run_cli("export", path, "--target", "loihi", "--quantize", "int", "--calib", tmp_path / "calib.npy",
                           "--writer", "sinabs", *options, "--out", out)
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    q = manifest["quantization"]
    assert q["status"] == "int" and "params.npz" in manifest["files"] and q["calibration_input"]["kind"] == "file"
    assert q["layers"]["input"]["kind"] == "source" and q["layers"]["input"]["scale"] == 3.0  # spikes of amplitude 3
    assert {q["layers"][k]["du"] for k in ("1", "5")} == {4095} and q["layers"]["1"]["dv"] == 0  # IAF: no leak
    # sinabs fires at v >= th: exact on Lava's own LIF for an IF (v on the grid of 64, vth_mant one lower)
    assert q["layers"]["1"]["spike"] == ">=" and q["layers"]["1"]["model"] == "LIFReset"
    assert q["spike_agreement_pct_min"] > 95.0 and q["saturated_values"] == 0
    with np.load(out / "params.npz") as params:
        assert params["2/weight_mant"].max() == 1  # SumPool2d: mantissa 1, exact
        assert np.abs(params["4/weight_mant"]).max() <= 127
    code, stdout, err = run_cli("validate", out, "--executor", "lava-fixed", "--against", "emulator",
                                "--input", tmp_path / "calib.npy", "--json")
    assert code == 0, err
    verdict = json.loads(stdout)
    assert verdict["layers"] == {"1": 100.0, "5": 100.0} and verdict["reference"] == "emulator"
    code, stdout, err = run_cli("validate", out, "--executor", "emulator", "--input", tmp_path / "calib.npy",
                                "--min-agreement", "95", "--min-psnr", "0", "--json")
    assert code == 0, err
    verdict = json.loads(stdout)
    assert verdict["reference"] == "nir-torch" and all(95.0 < a <= 100.0 for a in verdict["layers"].values())
    assert set(json.loads((out / "validation.json").read_text())["executors"]) == {"lava-fixed", "emulator"}
    # the report runs on the integers too: Lava fixed_pt and the integer reference count the same spikes
    counts = {}
    for executor in ("emulator", "lava-fixed"):
        code, _, err = run_cli("report", out, "--executor", executor, "--input", tmp_path / "calib.npy", "--no-html")
        assert code == 0, err
        report = json.loads((out / "report.json").read_text())
        assert report["executor"] == executor and report["kind"] == "nir"
        counts[executor] = {row["layer"]: row["spikes"] for row in report["layers"]}
    assert counts["emulator"] == counts["lava-fixed"] and sum(counts["emulator"].values()) > 0, counts
    # bad input: one line, exit 2, no bundle written
    np.save(tmp_path / "bad.npy", x[:, :1])
    code, _, err = run_cli("export", path, "--quantize", "int", "--calib", tmp_path / "bad.npy", "--writer", "sinabs",
                           "--out", tmp_path / "b2")
    assert code == 2 and "--calib" in err and "is not (T, 2, 8, 8)" in err and err.count("\n") == 1, err
    assert not (tmp_path / "b2").exists()
    code, _, err = run_cli("export", path, "--calib", tmp_path / "calib.npy", "--out", tmp_path / "b3")
    assert code == 2 and "add --quantize int" in err and err.count("\n") == 1 and not (tmp_path / "b3").exists(), err
    code, _, err = run_cli("export", path, "--writer", "sinabs", "--out", tmp_path / "float")
    assert code == 0, err
    code, _, err = run_cli("validate", tmp_path / "float", "--executor", "lava-fixed")
    assert code == 2 and "is not quantized" in err and err.count("\n") == 1, err
    # a bundle quantized before the integers were kept in NIR layout (no "layout" key): one line to re-export
    del manifest["quantization"]["layout"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = run_cli("validate", out, "--executor", "emulator", "--input", tmp_path / "calib.npy")
    assert code == 2 and "re-export the .nir file with --quantize int" in err and err.count("\n") == 1, err


def test_a_dense_too_wide_for_the_16_bit_a_in_keeps_8_bits_with_a_weight_exponent():
    """Real-valued input (8-bit payloads) into a fan-in of 32: the worst-case sum needs 2 more bits than
    Lava's int16 a_in, so the Dense gets weight_exp -2 (sums shifted right, mantissas keep 8 bits)."""
    row = ifx.measure(CASES["nir: values+Affine(weight_exp)+LIF+Linear+CubaLIF(slow)+Affine+I"], steps=50, samples=1,
                      lava=False)
    assert row["weight_exp"] == {"fc1": -2} and row["saturated_or_wrapped"] == {}, row
    assert row["emulator_vs_float"]["lif"] > 98.0 and row["firing_rate"]["lif"] > 0.05, row


def test_weights_below_the_input_lsb_are_refused_by_name(tmp_path):
    """A conv whose weights are all below one LSB of the neuron's input (set by a threshold 10**7 times
    larger; Lava's Conv has no weight exponent) is refused in one line naming it."""
    nodes = {"input": nir.Input(input_type={"input": np.array([2, 3, 3])}),
             "conv": nir.Conv2d(input_shape=(3, 3), weight=np.full((1, 2, 3, 3), 1e-7), stride=1, padding=1,
                                dilation=1, groups=1, bias=np.zeros(1)),
             "if": nir.IF(r=np.full((1, 3, 3), 1e4), v_threshold=np.ones((1, 3, 3))),
             "output": nir.Output(output_type={"output": np.array([1, 3, 3])})}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "conv"), ("conv", "if"), ("if", "output")], type_check=False)
    nir.write(str(tmp_path / "tiny.nir"), g, compression=None)
    g = annotated(as_deploy_graph(read_graph(tmp_path / "tiny.nir"), 1e-4))
    with pytest.raises(QuantizationError, match="synapse 'conv': every weight rounds to 0 at neuron 'if''s input"):
        quantize_sequence(g, np.ones((4, 1, 2, 3, 3)))


def test_a_threshold_that_cannot_be_unsigned_is_refused_at_export(run_cli, tmp_path):
    g = _tie_graph()
    g.nodes["if"] = nir.IF(r=np.array([1e4]), v_threshold=np.array([-0.5]))
    nir.write(str(tmp_path / "neg.nir"), g, compression=None)
    code, _, err = run_cli("export", tmp_path / "neg.nir", "--quantize", "int", "--out", tmp_path / "b")
    assert code == 2 and "neuron 'if': threshold v_th - v_reset = -0.5 is not > 0" in err, err
    assert err.count("\n") == 1 and not (tmp_path / "b").exists()
