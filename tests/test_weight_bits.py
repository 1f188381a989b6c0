"""``--weight-bits N``: Dense weight mantissas wider than Loihi's 8 bits as two synapse groups (issue 28).

A writer's float net whose threshold is a few 8-bit weight steps loses spike agreement to the weight
rounding (``benchmarks/interop_writers.md``). Two Lava Dense processes per synapse -- ``hi`` at
``weight_exp`` 7 and ``lo`` at 0, their sums meeting in the neuron's ``a_in`` -- hold 15-bit weights;
the emulator multiplies by the whole mantissa. These tests pin that the two are the same integers
(Lava fixed_pt == emulator, spikes and voltages) and that the wider weights are what brings the
recurrent snntorch net of ``test_recurrent.py`` (float weights) to the writer's spikes.
"""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest

from neurodeploy.ir import as_deploy_graph, read_graph
from neurodeploy.ir.nirfile import FOREIGN_DT_KEY
from neurodeploy.passes import annotated
from neurodeploy.quantize.ptq import (SPLIT_EXP, WEIGHT_MAX, QuantizationError, quantize_sequence, split_weights,
                                      weight_limit)
from neurodeploy.targets.emulator import SequenceEmulator

from ndfixtures import writer_cases as iw

torch = pytest.importorskip("torch")

STEPS, SAMPLES = 100, 2
LAYERS = {"1": "1.lif", "3": "3.lif"}  # snntorch module -> its RLeaky/RSynaptic neuron node


def test_a_wide_mantissa_is_two_8_bit_groups_that_sum_back_to_it():
    mant = np.arange(-weight_limit(15), weight_limit(15) + 1, dtype=np.int64)
    hi, lo = split_weights(mant)
    assert np.array_equal((hi << SPLIT_EXP) + lo, mant)
    assert np.abs(hi).max() <= WEIGHT_MAX and np.abs(lo).max() <= WEIGHT_MAX
    with pytest.raises(QuantizationError, match="two 8-bit synapse groups"):
        split_weights(np.array([weight_limit(15) + 200]))


@pytest.mark.parametrize("bits", [7, 16])
def test_weight_bits_outside_8_to_15_is_refused_by_name(bits):
    with pytest.raises(QuantizationError, match=f"--weight-bits {bits}: choose 8..15"):
        weight_limit(bits)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """(snntorch's spikes per layer, the file read with --writer snntorch, the input): float weights."""
    pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    net = iw.snntorch_recurrent(None)
    path = tmp_path_factory.mktemp("wide") / "rsnn.nir"
    nir.write(str(path), export_to_nir(net, torch.zeros(16)))
    x = iw.spikes(STEPS, SAMPLES, (16,), seed=0)
    return iw._snntorch_sim(list(LAYERS))(net, x), read_graph(path, writer="snntorch"), x, path


def _spikes(traces, node: str) -> np.ndarray:
    return np.stack([t.layers[node].reshape(len(t.layers[node]), -1) for t in traces], 1)


def _agreement(traces, ref) -> float:
    return min(100.0 * float((_spikes(traces, node) == ref[module]).mean()) for module, node in LAYERS.items())


@pytest.mark.lava
def test_two_synapse_groups_on_lava_fixed_equal_the_emulator_and_reach_the_writers_spikes(written):
    """At 15 bits every Dense into these neurons is split (its recurrent loop's too, through the loop's
    gate); Lava fixed_pt equals the emulator bit for bit, spikes and voltages, and both spike as snntorch
    (>= 99.9 % per layer) where 8-bit weights do not."""
    from neurodeploy.targets.loihi.executor import sequence_executor

    ref, graph, x, _ = written
    g = annotated(as_deploy_graph(graph, float(graph.metadata[FOREIGN_DT_KEY])))
    quant8, ints8 = quantize_sequence(g, x)
    narrow = _agreement(SequenceEmulator(g, quant8, ints8).run(x), ref)
    quant, ints = quantize_sequence(g, x, weight_bits=15)
    split = sorted(n for n, q in quant.items() if q.get("synapse_groups") == 2)
    assert {"0", "1.w_rec"} <= set(split), split
    for n in split:
        assert WEIGHT_MAX < int(np.abs(ints[n]["weight_mant"]).max()) <= weight_limit(15)
        assert quant[n]["weight_bits"] == int(np.abs(ints[n]["weight_mant"]).max()).bit_length() + 1
    for n, q in quant.items():
        if q["kind"] == "lif":
            assert q["a_in_bound"] <= 32767 and q["in_scale"] < quant8[n]["in_scale"], (n, q)
    emu = SequenceEmulator(g, quant, ints).run(x)
    fixed = sequence_executor(g, quant, ints).run(x)
    for node in LAYERS.values():
        assert np.array_equal(_spikes(fixed, node), _spikes(emu, node)), node
        for a, b in zip(fixed, emu):
            assert np.array_equal(a.membranes[node], b.membranes[node]), node
    assert narrow < 99.9 <= _agreement(emu, ref), narrow


@pytest.mark.lava
def test_export_weight_bits_from_the_command_line(run_cli, written, tmp_path):
    """`export FILE.nir --quantize int --weight-bits 15`: the manifest says which synapses took two
    groups, chip.net is not written (a netx layer holds one 8-bit group) and says why, the emulator
    validates the bundle against nir-torch and Lava fixed_pt against the emulator (equal); bad uses
    exit 2 with one line and leave nothing behind."""
    _, _, x, path = written
    np.save(tmp_path / "calib.npy", x)
    out = tmp_path / "wide"
    code, _, err = run_cli("export", path, "--out", out, "--writer", "snntorch", "--quantize", "int",
                           "--calib", tmp_path / "calib.npy", "--weight-bits", "15")
    assert code == 0, err
    q = json.loads((out / "manifest.json").read_text())["quantization"]
    assert q["weight_bits"] == 15 and "0" in q["two_group_synapses"]
    assert q["layers"]["0"]["synapse_groups"] == 2
    netx = json.loads((out / "manifest.json").read_text())["netx"]
    assert netx["chip_net"] is None and "two synapse groups" in netx["reason"]
    code, stdout, err = run_cli("validate", out, "--executor", "emulator", "--input", tmp_path / "calib.npy",
                                "--min-agreement", "99.9")
    assert code == 0, stdout + err
    code, stdout, err = run_cli("validate", out, "--executor", "lava-fixed", "--against", "emulator", "--input",
                                tmp_path / "calib.npy", "--json")
    assert code == 0 and set(json.loads(stdout)["layers"].values()) == {100.0}, stdout + err
    for args, words in ((["--quantize", "int", "--weight-bits", "16"], "--weight-bits 16: choose 8..15"),
                        (["--weight-bits", "12"], "add --quantize int")):
        bad = tmp_path / f"bad{args[-1]}"
        code, stdout, err = run_cli("export", path, "--out", bad, "--writer", "snntorch", *args)
        assert code == 2 and words in stdout + err and not bad.exists(), stdout + err
    code, stdout, err = run_cli("export", "esdnet-tiny", "--out", tmp_path / "ck", "--weight-bits", "12")
    assert code == 2 and "--weight-bits is for .nir files" in stdout + err and not (tmp_path / "ck").exists()


def test_export_says_which_synapses_took_two_groups_or_hints_at_them(run_cli, written, tmp_path):
    """`export` prints the split synapses at --weight-bits 15, and at 8 bits, below 99.9 % agreement on
    the calibration input, a hint naming the option."""
    _, _, x, path = written
    np.save(tmp_path / "calib.npy", x)
    for bits, words in (("8", "hint: below 99.9 % agreement; --weight-bits 15"),
                        ("15", "--weight-bits 15: 4 synapse(s) in two 8-bit groups")):
        code, stdout, err = run_cli("export", path, "--out", tmp_path / bits, "--writer", "snntorch", "--quantize",
                                    "int", "--calib", tmp_path / "calib.npy", "--weight-bits", bits)
        assert code == 0 and words in " ".join(stdout.split()), stdout + err


def test_a_rockpool_net_on_loihis_grid_spikes_as_rockpool_with_wider_weights(tmp_path):
    """rockpool's LIFTorch (a synaptic current and a membrane, several spikes per step) with weights k/16,
    decays 15/16 and 7/8: its numbers are Loihi integers, yet at 8 bits the neuron's input LSB is coarse
    enough that the per-step truncation of the current's decay flips counts; with --weight-bits 15 the
    grid's LSB is halved further (mantissas up to 15 bits) and every count matches rockpool's own run."""
    pytest.importorskip("rockpool")
    from neurodeploy.nir_bundle import peak_counts
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor
    from ndfixtures import release_cases as relc, rule_cases as rc

    path, net = rc.rockpool_dense_file(tmp_path / "grid.nir", "LIFTorch", 1e-3, grid=rc.ROCKPOOL_GRID)
    x = rc.random_spikes(STEPS, SAMPLES, (16,), scale=2.0)
    ref = rc.rockpool_run(net, x)
    graph = read_graph(path, writer="rockpool")
    dt = float(graph.metadata[FOREIGN_DT_KEY])
    flt = NirSequenceExecutor(graph, dt).run(x)
    g = annotated(as_deploy_graph(graph, dt))
    got = {}
    for bits in (8, 15):
        quant, ints = quantize_sequence(g, x, peak_counts(g, flt), weight_bits=bits)
        got[bits] = relc.summary(relc.compare(ref, SequenceEmulator(g, quant, ints).run(x)))
    assert not got[8]["pass"] and got[15]["min_agreement"] == 100.0 and got[15]["max_count_diff"] == 0.0, got


@pytest.mark.lava
def test_a_conv_of_two_groups_on_lava_fixed_equals_the_emulator(tmp_path):
    """A conv's hi group is a second Lava Conv whose sums an integer relay shifts left by 7 (Lava's Conv
    drops weight_exp, lava-nc#803): norse's conv net (norse 1.1.0, read with its master convention) at 15
    bits, both convs split, Lava fixed_pt equal to the emulator bit for bit -- spikes and voltages."""
    pytest.importorskip("norse")
    from ndfixtures import release_cases as relc
    from neurodeploy.nir_bundle import peak_counts
    from neurodeploy.targets.loihi.executor import sequence_executor
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    case = next(c for c in relc.cases() if c.release == "master" and c.net.startswith("conv"))
    graph, x, _, _ = case.load(tmp_path, 40, 1)
    dt = float(graph.metadata[FOREIGN_DT_KEY])
    g = annotated(as_deploy_graph(graph, dt))
    quant, ints = quantize_sequence(g, x, peak_counts(g, NirSequenceExecutor(graph, dt).run(x)), weight_bits=15)
    convs = [n for n, q in quant.items() if q["kind"] == "conv"]
    assert convs and all(quant[n].get("synapse_groups") == 2 for n in convs), {n: quant[n] for n in convs}
    emu = SequenceEmulator(g, quant, ints).run(x)
    fixed = sequence_executor(g, quant, ints).run(x)
    for a, b in zip(fixed, emu):
        assert a.layers.keys() == b.layers.keys()
        for node in a.layers:
            assert np.array_equal(a.layers[node], b.layers[node]), node
            assert np.array_equal(a.membranes[node], b.membranes[node]), node
    assert sum(float(v.sum()) for v in emu[0].layers.values()) > 0


def test_the_report_counts_two_groups_twice_in_memory_and_operations(run_cli, written, tmp_path):
    """The same file at 8 and at 15 bits, reported on the emulator with the same input: the spikes may
    differ a little, but per spike a split synapse costs two operations (each event reads both groups)
    and its unit stores twice the weights (the mapping's synaptic memory)."""
    _, _, x, path = written
    np.save(tmp_path / "calib.npy", x)
    reports = {}
    for bits in ("8", "15"):
        out = tmp_path / bits
        code, _, err = run_cli("export", path, "--out", out, "--writer", "snntorch", "--quantize", "int",
                               "--calib", tmp_path / "calib.npy", "--weight-bits", bits)
        assert code == 0, err
        code, _, err = run_cli("report", out, "--executor", "emulator", "--input", tmp_path / "calib.npy", "--no-html")
        assert code == 0, err
        reports[bits] = json.loads((out / "report.json").read_text())
    narrow, wide = reports["8"], reports["15"]
    for a, b in zip(narrow["layers"], wide["layers"]):  # every synapse here is split at 15 bits
        assert a["layer"] == b["layer"] and a["spikes"] > 0 and b["spikes"] > 0
        assert b["synops"] / b["spikes"] == pytest.approx(2 * a["synops"] / a["spikes"]), (a, b)
    for name, unit in wide["mapping"]["layers"].items():
        need, was = unit["whole_layer_needs"], narrow["mapping"]["layers"][name]["whole_layer_needs"]
        assert need["synaptic_memory_bits"] == 2 * was["synaptic_memory_bits"] > 0, (name, need, was)
        assert need["synapses"] == 2 * was["synapses"] and need["fan_in_axons"] == was["fan_in_axons"], (need, was)
