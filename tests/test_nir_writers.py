"""NIR files written at test time by snntorch, norse, sinabs and rockpool (real libraries),
read by neurodeploy with ``--writer`` and run against the writer's own simulation (issue 16).

The cases and the measurement are ``tests/fixtures/writer_cases.py`` (``benchmarks/interop_writers.py``
runs them too and records the numbers in ``benchmarks/interop.md``): a dense LIF / CubaLIF network
and a conv SNN with pooling and flatten per writer, 100 steps of seeded random spikes at 10 %.
"""

from __future__ import annotations

import numpy as np
import pytest

from ndfixtures import writer_cases as iw

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
CASES = {f"{c.writer}: {c.net}": c for c in iw.cases()}

FROM_FILE = {"snntorch: dense Leaky+Synaptic", "snntorch: dense Leaky+Synaptic, subtract",
             "norse: dense LIFBox+LIFCell(CubaLIF)", "sinabs: conv+IAF+SumPool+Flatten",
             "sinabs: conv+IAF+SumPool+Flatten, subtract", "rockpool: dense LIFTorch(CubaLIF)",
             "norse: residual LIFBox (skip join, nirtorch.torch_to_nir)", "snntorch: dense RLeaky+RSynaptic (recurrent)"}
# The neuron rules each case needs (neurodeploy/ir/rules.py; set by --writer, --reset), and the layers
# that, run with NIR's rules instead, fall below 100 % (so each rule is needed; sinabs' ">=" never
# meets a tie with these float weights: tests/test_neuron_rules.py has the ties)
RULES = {
    "snntorch: dense Leaky+Synaptic": ({"3": "v > th, zero one step late"}, {"3"}),
    "snntorch: dense Leaky+Synaptic, subtract": ({"1": "v > th, subtract one step late",
                                                  "3": "v > th, subtract one step late"}, {"1", "3"}),
    # RLeaky's "zero" clears the whole step after a spike (issue 28): read with NIR's rules both layers part
    "snntorch: dense RLeaky+RSynaptic (recurrent)": ({"1.lif": "v > th, zero one step late",
                                                      "3.lif": "v > th, zero one step late"}, {"1.lif", "3.lif"}),
    "sinabs: conv+IAF+SumPool+Flatten": ({"1": "v >= th, zero", "5": "v >= th, zero"}, set()),
    "sinabs: conv+IAF+SumPool+Flatten, subtract": ({"1": "v >= th, subtract", "5": "v >= th, subtract"}, {"1", "5"}),
    "sinabs: dense LIF": ({"1": "v >= th, zero", "3": "v >= th, zero"}, set()),
    "rockpool: dense LIFTorch(CubaLIF)": ({"1_LIFTorch": "v >= th, subtract", "3_LIFTorch": "v >= th, subtract"},
                                          {"1_LIFTorch", "3_LIFTorch"}),
}


def _needs(writer: str) -> None:
    pytest.importorskip({"snntorch": "snntorch", "norse": "norse.torch", "sinabs": "sinabs",
                         "rockpool": "rockpool"}[writer])


@pytest.mark.parametrize("name", list(CASES))
def test_writer_file_runs_as_the_writer_on_nir_torch(name, tmp_path):
    case = CASES[name]
    _needs(case.writer)
    row = iw.measure(case, steps=100, samples=2, lava=False, folder=tmp_path)
    assert all(rate > 0.001 for rate in row["firing_rate"].values()), row
    # every layer, including snntorch's Synaptic (late reset) and rockpool's LIFTorch (>=, subtract):
    # the writer's neuron rules NIR cannot carry are read with --writer (neurodeploy/ir/rules.py)
    assert row["nir_torch"] == {layer: 100.0 for layer in row["firing_rate"]}, row
    # read from the .nir file where nir.write can store the writer's graph, else in memory
    # (tests/fixtures/writer_cases.py WRITE_NOTES says why); rockpool's needs the singleton warning
    assert row["file"] == (name in FROM_FILE), row
    rules, needed = RULES.get(name, ({}, set()))
    assert row["neuron_rules"] == rules, row
    assert {k for k, v in row.get("nir_torch_nir_rules", {}).items() if v < 100.0} == needed, row
    if case.writer == "rockpool":
        assert len(row["warnings"]) == 1 and "singleton" in row["warnings"][0], row


def test_reset_option_from_the_command_line(run_cli, tmp_path):
    """`--writer snntorch --reset subtract` (snntorch's default reset, not in its file) reaches
    graph.nir's node metadata and the manifest; --reset with a writer that records its own
    reset, or an unknown reset: one line, exit 2, nothing written."""
    import json

    import nir

    _needs("snntorch")
    case = CASES["snntorch: dense Leaky+Synaptic, subtract"]
    path = tmp_path / "snn.nir"
    case.write(case.build(), path)
    out = tmp_path / "bundle"
    code, _, err = run_cli("export", path, "--target", "loihi", "--out", out, "--writer", "snntorch",
                           "--reset", "subtract")
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["reset"] == "subtract"
    assert manifest["neuron_rules"] == {"1": "v > th, subtract one step late", "3": "v > th, subtract one step late"}
    meta = nir.read(str(out / "graph.nir")).nodes["3"].metadata  # nir.read loads it, the rules as metadata
    assert meta["neurodeploy.reset"] == "subtract" and int(meta["neurodeploy.reset_delay"]) == 1
    code, stdout, err = run_cli("inspect", out, "--json")
    assert code == 0 and json.loads(stdout)["neuron_rules"]["1"] == "v > th, subtract one step late", err
    for args, words in ((["--writer", "rockpool", "--reset", "zero"], "--reset applies with --writer snntorch or "
                                                                        "sinabs"),
                        (["--writer", "snntorch", "--reset", "halve"], "--reset 'halve' is not one of zero, subtract")):
        code, _, err = run_cli("export", path, "--target", "loihi", "--out", tmp_path / "no", *args)
        assert code == 2 and words in err and err.count("\n") == 1 and not (tmp_path / "no").exists(), err


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_writer_file_on_lava_float_equals_nir_torch(name, tmp_path):
    case = CASES[name]
    _needs(case.writer)
    row = iw.measure(case, steps=100, samples=2, lava=True, folder=tmp_path)
    assert row["lava_float"] == row["nir_torch"], row


@pytest.mark.lava
def test_export_and_validate_a_sinabs_file_from_the_command_line(run_cli, tmp_path):
    """`neurodeploy export net.nir --target loihi --out DIR` then `validate DIR` (default input:
    100 steps of seeded random spikes at 10 %) and `validate DIR --input FILE.npy`."""
    import json

    _needs("sinabs")
    case = CASES["sinabs: conv+IAF+SumPool+Flatten"]
    path = tmp_path / "sinabs.nir"
    case.write(case.build(), path)
    out = tmp_path / "bundle"
    code, stdout, err = run_cli("export", path, "--target", "loihi", "--out", out, "--writer", "sinabs")
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "nir" and manifest["writer"] == "sinabs" and manifest["dt_s"] == 1e-4
    assert manifest["input_shape"] == [2, 8, 8] and manifest["layers"] == ["1", "5"]
    code, stdout, err = run_cli("validate", out, "--json")
    assert code == 0, err
    verdict = json.loads(stdout)
    assert verdict["layers"] == {"1": 100.0, "5": 100.0} and verdict["executor"] == "lava-float"
    assert verdict["reference"] == "nir-torch" and verdict["t_steps"] == 100
    assert verdict["input"]["kind"] == "random_spikes" and verdict["writer"] == "sinabs"
    x = iw.spikes(30, 1, (2, 8, 8), seed=5, scale=3.0)[:, 0]  # (T, C, H, W)
    np.save(tmp_path / "in.npy", x)
    code, stdout, err = run_cli("validate", out, "--input", tmp_path / "in.npy", "--json")
    assert code == 0, err
    saved = json.loads((out / "validation.json").read_text())
    assert saved["t_steps"] == 30 and saved["input"]["kind"] == "file" and saved["dt_s"] == 1e-4
    code, stdout, err = run_cli("validate", out, "--executor", "split", "--json")  # the bundle's chip.nir
    assert code == 0 and json.loads(stdout)["layers"] == {"1": 100.0, "5": 100.0}, err
    assert set(json.loads((out / "validation.json").read_text())["executors"]) == {"lava-float", "split"}
    # bad input: one line, exit 2; the report (tests/test_report_nir.py) states the last validation
    np.save(tmp_path / "bad.npy", x[:, :1])
    code, _, err = run_cli("validate", out, "--input", tmp_path / "bad.npy")
    assert code == 2 and "is not (T, 2, 8, 8)" in err and err.count("\n") == 1, err
    code, _, err = run_cli("report", out, "--executor", "split", "--no-html")
    assert code == 0 and "Validation: PASSED" in (out / "report.md").read_text(), err
    code, stdout, err = run_cli("inspect", out, "--json")
    assert code == 0 and {r["node"] for r in json.loads(stdout)["nodes"]} >= {"0", "1", "2", "3", "4", "5"}, err
