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


def test_export_weight_bits_from_the_command_line(run_cli, written, tmp_path):
    """`export FILE.nir --quantize int --weight-bits 15`: the manifest says which synapses took two
    groups, chip.net is not written (a netx layer holds one 8-bit group) and says why, and the emulator
    validates the bundle; bad uses exit 2 with one line and leave nothing behind."""
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
    for args, words in ((["--quantize", "int", "--weight-bits", "16"], "--weight-bits 16: choose 8..15"),
                        (["--weight-bits", "12"], "add --quantize int")):
        bad = tmp_path / f"bad{args[-1]}"
        code, stdout, err = run_cli("export", path, "--out", bad, "--writer", "snntorch", *args)
        assert code == 2 and words in stdout + err and not bad.exists(), stdout + err
    code, stdout, err = run_cli("export", "esdnet-tiny", "--out", tmp_path / "ck", "--weight-bits", "12")
    assert code == 2 and "--weight-bits is for .nir files" in stdout + err and not (tmp_path / "ck").exists()
