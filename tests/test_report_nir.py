"""`neurodeploy report` on bundles of .nir files (issue 16): a graph written at test time by
the nir package and one written by sinabs, exported, reported on Lava; the JSON's counts
checked against an independent count from the spikes (synops = spikes x fan-out)."""

from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest

from neurodeploy.energy import MODELS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
DT = 1e-4


def _dense_graph() -> nir.NIRGraph:
    """16 -> Affine -> IF(8) -> Affine -> LIF(4), seeded positive weights: both layers fire on 10 % input."""
    rng = np.random.default_rng(3)
    return nir.NIRGraph(
        nodes={"input": nir.Input(np.array([16])),
               "fc1": nir.Affine(rng.uniform(0, 0.8, (8, 16)), np.zeros(8)),
               "if1": nir.IF(r=np.full(8, 1 / DT), v_threshold=np.ones(8), v_reset=np.zeros(8)),
               "fc2": nir.Linear(rng.uniform(0, 0.6, (4, 8))),
               "lif2": nir.LIF(tau=np.full(4, 2e-4), r=np.full(4, 2.0), v_leak=np.zeros(4), v_threshold=np.ones(4),
                               v_reset=np.zeros(4)),
               "output": nir.Output(np.array([4]))},
        edges=[("input", "fc1"), ("fc1", "if1"), ("if1", "fc2"), ("fc2", "lif2"), ("lif2", "output")])


def _reference(graph_path: Path, x: np.ndarray):
    """The layers' spikes from the NIR torch executor (the validated reference) on ``x`` (T, 1, ...)."""
    from neurodeploy.ir import read_graph
    from neurodeploy.targets.nir_primitives import NirSequenceExecutor

    return NirSequenceExecutor(read_graph(graph_path)).run(x)[0]


def _loihi_uj(synops: float, neuron_updates: float, spikes: float) -> float:
    """Loihi 1 per-op energy (LOIHI.md: 23.6 pJ/synop, 52 pJ/neuron update, 1.7 pJ/spike), pJ -> µJ."""
    return (23.6 * synops + 52.0 * neuron_updates + 1.7 * spikes) / 1e6


@pytest.mark.lava
def test_report_of_a_nir_package_graph_counts_spikes_times_fan_out(run_cli, tmp_path):
    from neurodeploy.nir_bundle import load_input

    nir.write(str(tmp_path / "dense.nir"), _dense_graph())
    out = tmp_path / "bundle"
    code, _, err = run_cli("export", tmp_path / "dense.nir", "--target", "loihi", "--out", out)
    assert code == 0, err
    code, stdout, err = run_cli("report", out, "--json")  # default: lava-float, 100 steps of 10 % spikes
    assert code == 0, err
    r = json.loads(stdout)
    assert r == json.loads((out / "report.json").read_text())
    assert r["kind"] == "nir" and r["executor"] == "lava-float" and r["t_steps"] == 100 and r["dt_s"] == DT
    assert {k: r["input"][k] for k in ("kind", "rate", "seed", "t_steps", "samples")} == \
        {"kind": "random_spikes", "rate": 0.1, "seed": 0, "t_steps": 100, "samples": 1}  # keys are only added
    x, _ = load_input(None, [16])
    ref = _reference(out / "graph.nir", x)
    spikes = {k: float(np.count_nonzero(v)) for k, v in ref.layers.items()}
    rows = {row["layer"]: row for row in r["layers"]}
    assert list(rows) == ["if1", "lif2"] and all(s > 20 for s in spikes.values()), spikes
    for name, row in rows.items():
        assert row["spikes"] == spikes[name] and row["neurons"] == {"if1": 8, "lif2": 4}[name]
        assert row["spikes_per_step"] == [float(np.count_nonzero(s)) for s in ref.layers[name]]
        assert row["firing_rate"] == pytest.approx(spikes[name] / (row["neurons"] * 100))
        assert row["cores"] == 1 and row["edge_kind"] == "binary" and row["macs"] == 0
    assert rows["if1"]["synops"] == spikes["if1"] * 4 and rows["lif2"]["synops"] == 0  # fc2: 4 outputs; lif2: Output
    events = float(np.count_nonzero(x))
    assert r["input_ops"] == {"node": "input", "events": events, "edge_kind": "binary", "synops": events * 8,
                              "macs": 0.0}
    t = r["totals"]
    assert t["spikes"] == sum(spikes.values()) and t["neurons"] == 12 and t["cores"] == 1
    assert t["synops"] == spikes["if1"] * 4 and t["input_synops"] == events * 8
    loihi = r["energy"]["models"]["loihi"]
    per_sample = _loihi_uj(events * 8 + spikes["if1"] * 4, 12 * 100, sum(spikes.values()))
    assert loihi["per_image_uj"] == pytest.approx(per_sample, rel=1e-12)
    # default rate: one sample of T dt = 10 ms per 10 ms, so per second = per sample x 100 (µW)
    assert r["energy"]["fps"] == pytest.approx(100.0) and loihi["per_second_uj"] == pytest.approx(per_sample * 100)
    assert r["energy"]["per"] == "sample" and r["lava_steps_per_image"] == 102  # T + 2 synapses of latency
    assert rows["if1"]["energy_uj"]["loihi"] == pytest.approx(_loihi_uj(spikes["if1"] * 4, 800, spikes["if1"]))
    md = (out / "report.md").read_text()
    assert "## Energy per sample" in md and "| if1 | chip | 8 | 1 |" in md
    html = (out / "report.html").read_text()
    for cid in ("chart-firing-rate", "chart-energy", "chart-spikes-per-step", "chart-synops-cores", "chart-rasters",
                "rasters-io"):
        assert f"id='{cid}'" in html, cid
    assert "http://" not in html and "https://" not in html


def _in_map_taps(h: int, w: int, k: int = 3, pad: int = 1) -> np.ndarray:
    """Per input pixel, how many taps of a k x k, stride-1 kernel land inside the output map (loops, not ops.py)."""
    taps = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            for dy in range(k):
                for dx in range(k):
                    oy, ox = y + pad - dy, x + pad - dx
                    taps[y, x] += 0 <= oy < h and 0 <= ox < w
    return taps


@pytest.mark.lava
def test_report_of_a_sinabs_file_counts_conv_borders_and_pooled_macs(run_cli, tmp_path):
    """sinabs conv(2->4, 3x3, pad 1) + IAF + SumPool2d(2) + Flatten + Linear(64->5) + IAF, on
    --input FILE.npy (30 steps, amplitude 3): the counts from the spikes, by hand."""
    pytest.importorskip("sinabs")
    from ndfixtures import writer_cases as iw

    case = {f"{c.writer}: {c.net}": c for c in iw.cases()}["sinabs: conv+IAF+SumPool+Flatten"]
    case.write(case.build(), tmp_path / "sinabs.nir")
    out = tmp_path / "bundle"
    code, _, err = run_cli("export", tmp_path / "sinabs.nir", "--target", "loihi", "--out", out, "--writer", "sinabs")
    assert code == 0, err
    x = iw.spikes(30, 1, (2, 8, 8), seed=5, scale=3.0)  # (T, 1, C, H, W), values 0 or 3
    np.save(tmp_path / "in.npy", x[:, 0])
    code, stdout, err = run_cli("report", out, "--input", tmp_path / "in.npy", "--fps", "50", "--json")
    assert code == 0, err
    r = json.loads(stdout)
    assert r["t_steps"] == 30 and r["input"]["kind"] == "file" and r["writer"] == "sinabs"
    ref = _reference(out / "graph.nir", x)
    s1 = ref.layers["1"]  # (T, 4, 8, 8)
    rows = {row["layer"]: row for row in r["layers"]}
    assert rows["1"]["spikes"] == np.count_nonzero(s1) > 50
    assert rows["5"]["spikes"] == np.count_nonzero(ref.layers["5"])
    # SumPool2d(2) without overlap: every spike reaches one synapse; the pooled (graded) values
    # then reach Linear's 5 outputs each: MACs
    pooled = s1.reshape(30, 4, 4, 2, 4, 2).sum(axis=(3, 5))
    assert rows["1"]["synops"] == np.count_nonzero(s1) and rows["1"]["macs"] == np.count_nonzero(pooled) * 5
    # the input (0/3: graded values, not spikes) -> conv 3x3 pad 1: in-map taps x 4 output channels, MACs
    taps = _in_map_taps(8, 8)
    assert r["input_ops"]["edge_kind"] == "real" and r["input_ops"]["synops"] == 0
    assert r["input_ops"]["macs"] == float(((x[:, 0] != 0) * taps).sum() * 4)
    horowitz = r["energy"]["models"]["horowitz45nm"]
    expected = (0.9 * rows["1"]["synops"] + 4.6 * (rows["1"]["macs"] + r["input_ops"]["macs"])) / 1e6
    assert horowitz["per_image_uj"] == pytest.approx(expected) and horowitz["fps"] == 50
    assert horowitz["constants_pj"] == {"ac_pj": MODELS["horowitz45nm"].ac_pj, "mac_pj": MODELS["horowitz45nm"].mac_pj}


def test_report_of_a_nir_bundle_refuses_bad_input_in_one_line(run_cli, tmp_path):
    nir.write(str(tmp_path / "dense.nir"), _dense_graph())
    out = tmp_path / "bundle"
    assert run_cli("export", tmp_path / "dense.nir", "--target", "loihi", "--out", out)[0] == 0
    before = sorted(p.name for p in out.iterdir())
    np.save(tmp_path / "bad.npy", np.zeros((20, 15)))
    code, _, err = run_cli("report", out, "--input", tmp_path / "bad.npy")
    assert code == 2 and "is not (T, 16) or (T, N, 16)" in err and err.count("\n") == 1, err
    for args in (("--image", tmp_path / "bad.npy"), ("--executor", "torch")):
        code, _, err = run_cli("report", out, *args)
        assert code == 2 and err.count("\n") == 1, err
    assert sorted(p.name for p in out.iterdir()) == before  # nothing written


def test_report_nir_counts_on_nir_torch_without_lava(run_cli, tmp_path):
    """The representative fast path: the same report on the nir-torch executor, --no-html."""
    nir.write(str(tmp_path / "dense.nir"), _dense_graph())
    out = tmp_path / "bundle"
    assert run_cli("export", tmp_path / "dense.nir", "--target", "loihi", "--out", out)[0] == 0
    code, stdout, err = run_cli("report", out, "--executor", "nir-torch", "--no-html", "--json")
    assert code == 0, err
    r = json.loads(stdout)
    assert r["executor"] == "nir-torch" and r["lava_steps_per_image"] is None and not (out / "report.html").exists()
    assert r["totals"]["synops"] == r["layers"][0]["spikes"] * 4 > 0
    code, stdout, err = run_cli("report", out, "--executor", "nir-torch", "--no-html", "--summary")
    assert code == 0 and "spikes per sample" in stdout and "µJ/sample" in stdout, err


def test_a_report_shows_only_its_own_executors_validation(run_cli, tmp_path):
    """validate with one executor, report with another: the report (summary table and report.md)
    must not show the first one's verdict as if it were the second's (issue 28's finding); the
    summary names this report's executor and labels the earlier verdict with its executor and time."""
    nir.write(str(tmp_path / "dense.nir"), _dense_graph())
    out = tmp_path / "bundle"
    assert run_cli("export", tmp_path / "dense.nir", "--out", out)[0] == 0
    assert run_cli("validate", out, "--executor", "split")[0] == 0
    code, stdout, err = run_cli("report", out, "--executor", "nir-torch", "--no-html")
    assert code == 0, err
    assert "Validation:" not in (out / "report.md").read_text()
    lines = stdout.splitlines()
    assert any("this report's executor" in line and "nir-torch" in line for line in lines), stdout
    assert not any(line.lstrip("│ ").startswith("validation (") for line in lines), stdout
    earlier = [line for line in lines if "earlier validation" in line]
    assert earlier and "(split vs" in earlier[0], stdout
    code, stdout, err = run_cli("report", out, "--executor", "split", "--no-html")
    assert code == 0, err
    assert "validation (split" in stdout  # the summary table (rich may fold the rest of the row)
    assert "**Validation: PASSED** — `split` against `nir-torch`" in (out / "report.md").read_text()
