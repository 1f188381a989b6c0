"""A verifier that cannot pass on silence, and membranes of a .nir file's bundle (issue 28, items 3-4).

Two runs of a layer that never spikes agree on every entry and prove nothing: the verdict counts
each layer's spikes on both sides, calls a layer where neither spiked *silent* (not agreement),
fails when every spiking layer is silent, and with ``--min-activity`` fails near-silent ones.
The default input of a ``.nir`` file's bundle grows (longer, denser) until every spiking layer
fires in the reference, or says which never did. Every executor of a ``.nir`` file's bundle
returns membrane potentials (model units) that ``validate --save-traces`` writes.
"""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest

from neurodeploy.trace import Trace
from neurodeploy.verify import verdict


def _slow_graph(weight: float) -> nir.NIRGraph:
    """Input (2) -> Linear -> IF (v_th 1, r dt = 1) -> Output: ``weight`` 0.02 needs about 50 input
    spikes per neuron to fire (random spikes at 10 %: well after 100 steps); a negative one never fires."""
    nodes = {"input": nir.Input(input_type={"input": np.array([2])}),
             "lin": nir.Linear(weight=np.full((2, 2), weight)),
             "if": nir.IF(r=np.full(2, 1e4), v_threshold=np.ones(2)),
             "output": nir.Output(output_type={"output": np.array([2])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "lin"), ("lin", "if"), ("if", "output")], type_check=False)


def _export(run_cli, tmp_path, weight: float, name: str):
    nir.write(str(tmp_path / f"{name}.nir"), _slow_graph(weight), compression=None)
    out = tmp_path / name
    code, _, err = run_cli("export", tmp_path / f"{name}.nir", "--out", out, "--quantize", "int")
    assert code == 0, err
    return out


def _trace(name: str, spikes: np.ndarray) -> Trace:
    return Trace(name, spikes.shape[0], {"a": spikes}, np.zeros((1, 4, 4)))


def test_silent_layers_are_not_agreement_and_counts_sit_beside_agreement():
    """Per-element agreement of 97 % can hide a spike count of 55 %: the counts and their ratio are in
    the verdict; a layer where neither side spiked is silent; when every spiking layer is silent the
    validation fails, and --min-activity fails a near-silent one."""
    rng = np.random.default_rng(0)
    ref = (rng.random((100, 10)) < 0.066).astype(float)
    other = ref.copy()
    ones = np.flatnonzero(ref)
    other.flat[ones[: int(0.45 * ones.size)]] = 0.0  # 45 % of the reference's spikes lost
    v = verdict([_trace("ref", ref)], [_trace("run", other)], ["x"], min_agreement_pct=95.0, min_psnr_db=0.0)
    assert 95.0 < v.layers["a"] < 99.0 and v.passed  # per element, it still "agrees"
    counts = v.spike_counts["a"]
    assert counts["reference"] == ones.size and 0.5 < counts["ratio"] < 0.6 and v.silent_layers == []
    zeros = np.zeros((100, 10))
    v = verdict([_trace("ref", zeros)], [_trace("run", zeros)], ["x"], min_psnr_db=0.0)
    assert v.layers["a"] == 100.0 and v.silent_layers == ["a"] and not v.passed
    assert v.spike_counts["a"] == {"reference": 0.0, "executor": 0.0, "ratio": None}
    v = verdict([_trace("ref", ref)], [_trace("run", ref)], ["x"], min_psnr_db=0.0, min_activity=0.1)
    assert v.inactive_layers == ["a"] and not v.passed  # 6.6 % of neurons per step < 0.1
    assert verdict([_trace("ref", ref)], [_trace("run", ref)], ["x"], min_psnr_db=0.0, min_activity=0.05).passed


def test_the_default_input_grows_until_every_layer_fires_or_names_those_that_never_do(run_cli, tmp_path):
    """A neuron that needs ~50 input spikes: 100 steps at 10 % leave it silent, so the default input
    grows and the validation compares real spikes; a neuron fed only negative weights never fires:
    the validation fails (exit 1) and names it, in the table and in one warning line."""
    out = _export(run_cli, tmp_path, 0.02, "slow")
    code, stdout, err = run_cli("validate", out, "--executor", "emulator", "--json")
    result = json.loads(stdout)
    assert result["input"]["t_steps"] > 100 and "never_fired" not in result["input"], result["input"]
    assert result["spike_counts"]["if"]["reference"] > 0 and result["silent_layers"] == []
    out = _export(run_cli, tmp_path, -0.5, "never")
    code, stdout, err = run_cli("validate", out, "--executor", "emulator")
    assert code == 1, stdout + err
    assert "every spiking layer is silent" in " ".join(stdout.split()), stdout  # rich folds long lines
    assert "never fired in nir-torch: if" in err and err.count("\n") == 1, err
    code, stdout, _ = run_cli("validate", out, "--executor", "emulator", "--json")
    result = json.loads(stdout)
    assert code == 1 and result["silent_layers"] == ["if"] and result["input"]["never_fired"] == ["if"]
    assert result["layers"]["if"] == 100.0 and not result["passed"]  # every entry equal, and still no pass


def test_membranes_of_a_nir_bundle_are_compared_and_saved(run_cli, tmp_path):
    """nir-torch and the emulator record each neuron layer's v (model units, v_reset added back):
    the verdict gives their difference (the quantization's, small against the threshold of 1), and
    --save-traces writes spikes and membranes per layer and executor."""
    out = _export(run_cli, tmp_path, 0.3, "busy")
    code, stdout, err = run_cli("validate", out, "--executor", "emulator", "--json", "--save-traces",
                                tmp_path / "traces")
    assert code == 0, err
    result = json.loads(stdout)
    assert 0 <= result["membrane_error"]["if"]["max_abs"] < 0.05, result["membrane_error"]
    for executor in ("emulator", "nir-torch"):
        v = np.load(tmp_path / "traces" / executor / "if.v.npy")
        s = np.load(tmp_path / "traces" / executor / "if.spikes.npy")
        assert v.shape == s.shape == (1, result["t_steps"], 2)
        assert v.max() <= 1.0 + 1e-9 and s.sum() > 0  # after each step's reset, v stays at or below v_th


@pytest.mark.lava
def test_lava_float_reads_the_membranes_it_ran(run_cli, tmp_path):
    """On Lava float a Monitor reads v of a small graph's neurons: equal to nir-torch's to float noise."""
    out = _export(run_cli, tmp_path, 0.3, "busy")
    code, stdout, err = run_cli("validate", out, "--executor", "lava-float", "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["membrane_error"]["if"]["max_abs"] < 1e-9, result["membrane_error"]


def test_the_report_draws_voltages_against_the_threshold_for_a_small_graph(run_cli, tmp_path):
    out = _export(run_cli, tmp_path, 0.3, "busy")
    code, _, err = run_cli("report", out, "--executor", "emulator")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["membranes"] == {"if": {"v_threshold": 1.0, "v_reset": 0.0}}
    assert "id='chart-membranes'" in (out / "report.html").read_text()


def test_a_nir_bundles_report_maps_it_onto_a_system(run_cli, tmp_path):
    """A .nir file's graph goes through the same mapping pass as a model's: the report has the
    cores, chips, traffic, time and whole-system energy per sample (issue 29, one pipeline)."""
    out = _export(run_cli, tmp_path, 0.3, "busy")
    code, _, err = run_cli("report", out, "--executor", "nir-torch", "--system", "oheo-gulch", "--no-html")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["mapping"]["cores"] >= 1 and report["mapping"]["chips"] == 1
    assert report["mapping"]["system_figures"]["title"].lower().startswith("oheo")
    assert report["time_per_image_s"] > 0 and report["energy"]["system_uj"]["total"] > 0
    assert report["traffic"]["host_to_chip"]["bits_per_step"] > 0  # the input's spikes cross the host link
