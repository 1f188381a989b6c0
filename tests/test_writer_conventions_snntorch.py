"""snntorch's releases that mean different neurons by the same NIR fields (issue 28, item 1).

snntorch 0.7.0 (2023-07, its first NIR writer, ``snntorch/export.py`` l.13-18) writes a
``Leaky`` as ``nir.LIF(tau = r = -1/(beta+1))``, with nir 0.0.6; 0.8.0 to 1.0.0
(``export_nir.py``) write ``tau = 1e-4/(1-beta)``, ``r = tau/1e-4``. The 0.7.0 files in
``tests/data/writers/snntorch-0.7.0/`` were written by snntorch 0.7.0 itself, with its own
Leaky run recorded beside them (``write_files.py`` there names every version). ``--writer
snntorch`` picks the release whose reading gives every neuron a decay in [0, 1) and the input
gain it writes, says which and why; a file neither fits gets a warning; ``@0.7.0``/``@1.0.0``
force one. Measured here: every layer of every 0.7.0 file spike for spike on nir-torch and Lava
float (the files with one beta per layer, which a Loihi layer takes); quantized (the emulator, Lava
fixed_pt), as close as Loihi's integer decay allows (QUANT_AGREEMENT below).
"""

from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest

from ndfixtures import release_cases
from neurodeploy.errors import GraphError
from neurodeploy.ir import read_deploy_graph
from neurodeploy.targets.nir_primitives import NirSequenceExecutor

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
DATA = Path(__file__).parent / "data" / "writers" / "snntorch-0.7.0"
FILES = ("dense_leaky", "dense_leaky_current", "dense_leaky_uniform", "dense_leaky_grid")
# one decay per layer, which a Loihi layer takes (dense_leaky's per-neuron beta is refused by name there)
LOIHI_FILES = ("dense_leaky_grid", "dense_leaky_uniform", "dense_leaky_current")
MIN_AGREEMENT, MAX_COUNT_DIFF = 99.9, 0.005  # per layer: % of elements, relative spike count (issue 28)


def _reference(name: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """snntorch 0.7.0's own run of the file: the input (steps, samples, features) and each Leaky
    layer's spikes (steps, samples, neurons), in the network's order."""
    return release_cases.snntorch_070_reference(name)


def _lif_layers(g) -> list[str]:
    return [n for n in g.order if isinstance(g.node(n), nir.LIF)]


def _compare(runs, layers: list[str], reference: list[np.ndarray]) -> dict[str, tuple[float, int, int]]:
    """layer -> (% of elements equal, our spike count, snntorch's)."""
    out = {}
    for layer, ref in zip(layers, reference):
        ours = np.stack([np.asarray(t.layers[layer]).reshape(ref.shape[0], -1) for t in runs], 1)
        out[layer] = (100.0 * float((ours == ref).mean()), int(ours.sum()), int(ref.sum()))
    return out


def _assert_agrees(measured: dict[str, tuple[float, int, int]]) -> None:
    for layer, (agree, ours, theirs) in measured.items():
        assert theirs > 50, measured  # the reference fires: agreement is not agreement on silence
        assert agree >= MIN_AGREEMENT and abs(ours - theirs) <= MAX_COUNT_DIFF * theirs, (layer, measured)


def _read(name: str, writer: str = "snntorch"):
    lines: list[str] = []
    g = read_deploy_graph(DATA / f"{name}.nir", writer=writer, warn=lines.append)
    return g, lines


@pytest.mark.parametrize("name", FILES)
def test_a_snntorch_0_7_0_file_is_read_as_0_7_0_and_fires_as_snntorch_0_7_0_on_nir_torch(name):
    x, reference = _reference(name)
    g, lines = _read(name)
    convention = g.nir.metadata["neurodeploy.writer_convention"]
    assert convention["convention"] == "0.7.0", convention
    assert len(lines) == 1 and lines[0].startswith("note: --writer snntorch: read as snntorch 0.7.0's convention"), lines
    assert "only 0.7.0's reading gives every neuron a decay beta in [0, 1)" in lines[0], lines  # why, in numbers
    assert all(g.nir.nodes[n].metadata["neurodeploy.reset"] == "subtract" for n in _lif_layers(g))
    _assert_agrees(_compare(NirSequenceExecutor(g).run(x), _lif_layers(g), reference))


def test_the_0_7_0_reading_is_needed_and_forcing_the_other_release_is_refused_or_differs():
    """Without --writer (NIR's reading) the negative tau is refused, naming the way out; forced as
    1.0.0 the same; forced as 0.7.0: no note (the user chose); with --reset zero (not snntorch 0.7.0's
    default) the layers no longer agree: the subtractive late reset is needed."""
    name = "dense_leaky"
    with pytest.raises(GraphError, match=r"tau -0\.\d+ s is not > 0 .*--writer snntorch$") as caught:
        read_deploy_graph(DATA / f"{name}.nir")
    assert "\n" not in str(caught.value)
    with pytest.raises(GraphError, match="is not > 0"):
        read_deploy_graph(DATA / f"{name}.nir", writer="snntorch@1.0.0")
    g, lines = _read(name, "snntorch@0.7.0")
    assert lines == [] and g.nir.metadata["neurodeploy.writer_convention"]["why"] == "forced by --writer snntorch@0.7.0"
    x, reference = _reference(name)
    zero = read_deploy_graph(DATA / f"{name}.nir", writer="snntorch", reset="zero")
    measured = _compare(NirSequenceExecutor(zero).run(x), _lif_layers(zero), reference)
    assert min(a for a, _, _ in measured.values()) < 99.0, measured


def test_a_file_written_now_by_snntorch_1_0_0_is_still_read_as_1_0_0(tmp_path):
    snn = pytest.importorskip("snntorch")
    torch = pytest.importorskip("torch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(1)
    # per-neuron parameters: snntorch 1.0.0's export_to_nir cannot type one-number ones (tests/test_nir_primitives.py);
    # reset "zero", as the v_reset = 0 it writes says (Leaky's zero reset is immediate: rules.py)
    net = torch.nn.Sequential(
        torch.nn.Linear(6, 10), snn.Leaky(beta=torch.full((10,), 0.9), threshold=torch.ones(10), init_hidden=True,
                                          reset_mechanism="zero"),
        torch.nn.Linear(10, 4), snn.Leaky(beta=torch.full((4,), 0.8), threshold=torch.ones(4), init_hidden=True,
                                          reset_mechanism="zero"))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(3.0)
    path = tmp_path / "snntorch100.nir"
    nir.write(str(path), export_to_nir(net, torch.zeros(6)))
    lines: list[str] = []
    g = read_deploy_graph(path, writer="snntorch", warn=lines.append)
    assert g.nir.metadata["neurodeploy.writer_convention"]["convention"] == "1.0.0"
    said = [line for line in lines if "convention" in line]
    assert len(said) == 1 and said[0].startswith("note: --writer snntorch: read as snntorch 1.0.0's convention"), lines
    x = (np.random.default_rng(3).random((60, 2, 6)) < 0.4).astype(np.float64)
    spikes = {1: [], 3: []}
    hooks = [net[k].register_forward_hook(lambda _m, _i, o, k=k: spikes[k].append(o.detach().numpy().copy()))
             for k in spikes]
    from snntorch import utils

    utils.reset(net)
    with torch.no_grad():
        for x_t in torch.tensor(x, dtype=torch.float32):
            net(x_t)
    for h in hooks:
        h.remove()
    reference = [np.stack(spikes[k]) for k in (1, 3)]
    _assert_agrees(_compare(NirSequenceExecutor(g).run(x), _lif_layers(g), reference))


def _lif_file(path, tau: float, r: float) -> None:
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([2])),
                            "w": nir.Affine(weight=np.eye(2), bias=np.zeros(2)),
                            "lif": nir.LIF(tau=np.full(2, tau), r=np.full(2, r), v_leak=np.zeros(2),
                                           v_threshold=np.ones(2)),
                            "output": nir.Output(output_type=np.array([2]))},
                     edges=[("input", "w"), ("w", "lif"), ("lif", "output")])
    nir.write(str(path), g)


def test_a_file_neither_release_writes_is_read_as_1_0_0_with_a_warning(tmp_path):
    """tau = r = 10: what 0.7.0's comment meant (tau = r = 1/(1-beta), beta 0.9) but neither release
    wrote: 0.7.0's reading gives beta = -1.1, 1.0.0's an input gain of 1e-4. The guess may be wrong:
    one warning line, not a note, naming how to force a release."""
    path = tmp_path / "hand.nir"
    _lif_file(path, 10.0, 10.0)
    lines: list[str] = []
    g = read_deploy_graph(path, writer="snntorch", warn=lines.append)
    assert g.nir.metadata["neurodeploy.writer_convention"]["convention"] == "1.0.0"
    assert len(lines) == 1 and lines[0].startswith("--writer snntorch: read as snntorch 1.0.0's"), lines
    assert "neither reading is plausible" in lines[0] and "-1.1" in lines[0] and "0.0001" in lines[0], lines
    assert "--writer snntorch@CONVENTION (1.0.0, 0.7.0)" in lines[0], lines


@pytest.mark.parametrize("writer, words", [
    ("snntorch@0.6", "--writer snntorch@0.6: unknown convention '0.6'; snntorch has 1.0.0, 0.7.0"),
])
def test_an_unknown_snntorch_release_is_one_line_and_a_release_of_the_same_convention_is_taken(tmp_path, writer,
                                                                                               words):
    with pytest.raises(GraphError, match=words) as caught:
        read_deploy_graph(DATA / "dense_leaky.nir", writer=writer)
    assert "\n" not in str(caught.value)
    path = tmp_path / "f.nir"
    _lif_file(path, 1e-3, 10.0)  # what 0.9.4 writes for beta = 0.9
    g = read_deploy_graph(path, writer="snntorch@0.9.4")
    assert g.nir.metadata["neurodeploy.writer_convention"]["convention"] == "1.0.0"


def test_export_of_a_0_7_0_file_says_which_convention_in_the_manifest(run_cli, tmp_path):
    out = tmp_path / "b"
    code, _, err = run_cli("export", DATA / "dense_leaky_uniform.nir", "--target", "loihi", "--out", out,
                           "--writer", "snntorch")
    assert code == 0, err
    assert err.startswith("note: --writer snntorch: read as snntorch 0.7.0's convention"), err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["writer"] == "snntorch" and manifest["writer_convention"]["convention"] == "0.7.0"
    assert manifest["neuron_rules"] == {"2": "v > th, subtract one step late", "4": "v > th, subtract one step late"}


def _quantized(name: str):
    from neurodeploy.ir import as_deploy_graph
    from neurodeploy.ir.nirfile import FOREIGN_DT_KEY, read_graph
    from neurodeploy.passes import annotated
    from neurodeploy.quantize.ptq import quantize_sequence

    graph = read_graph(DATA / f"{name}.nir", writer="snntorch")
    g = annotated(as_deploy_graph(graph, float(graph.metadata[FOREIGN_DT_KEY])))
    x, reference = _reference(name)
    quant, arrays = quantize_sequence(g, x)
    return graph, g, quant, arrays, x, reference


def _lava_float(name: str) -> dict:
    from neurodeploy.targets.loihi.executor import sequence_executor

    x, reference = _reference(name)
    g, _ = _read(name)
    return _compare(sequence_executor(g.nir).run(x), _lif_layers(g), reference)


def _fixed(name: str, lava: bool) -> dict:
    from neurodeploy.targets.emulator import SequenceEmulator

    graph, g, quant, arrays, x, reference = _quantized(name)
    layers = [n for n in graph.nodes if isinstance(graph.nodes[n], nir.LIF)]
    out = {"emulator": _compare(SequenceEmulator(g, quant, arrays).run(x), layers, reference)}
    if lava:
        from neurodeploy.targets.loihi.executor import sequence_executor

        out["lava-fixed"] = _compare(sequence_executor(g, quant, arrays, fast=True).run(x), layers, reference)
    return out


# Quantized (Loihi 2 integers), a leaky membrane is decayed and rounded toward zero every step at v's
# LSB. On the grid file (every weight, bias and threshold exact) the quantizer halves the input LSB as far
# as the mantissas, the threshold and a_in allow, so the rounding is far below the threshold: the issue's
# 99.9 % / 0.5 % hold (measured 99.98 / 100 %, counts equal; before that refinement 99.77 / 99.58 %). The
# other files' weights round to Loihi's 8-bit mantissas: 93.9-99.2 % (lava-fixed equal to the emulator).
QUANT_AGREEMENT, QUANT_COUNT_DIFF = MIN_AGREEMENT, MAX_COUNT_DIFF


def _assert_close_quantized(measured: dict[str, tuple[float, int, int]]) -> None:
    for layer, (agree, ours, theirs) in measured.items():
        assert theirs > 50, measured
        assert agree >= QUANT_AGREEMENT and abs(ours - theirs) <= QUANT_COUNT_DIFF * theirs, (layer, measured)


def test_a_snntorch_0_7_0_file_on_the_integer_emulator_fires_as_snntorch_0_7_0():
    """The fast representative of the Loihi executors (Lava's are marked slow below)."""
    _assert_close_quantized(_fixed("dense_leaky_grid", lava=False)["emulator"])


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("name", LOIHI_FILES)
def test_a_snntorch_0_7_0_file_on_lava_float_fires_as_snntorch_0_7_0(name):
    _assert_agrees(_lava_float(name))


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("name", LOIHI_FILES)
def test_a_snntorch_0_7_0_file_on_lava_fixed_equals_the_emulator(name):
    measured = _fixed(name, lava=True)
    assert measured["lava-fixed"] == measured["emulator"], measured
    assert min(a for a, _, _ in measured["emulator"].values()) > 90.0, measured
    if name == "dense_leaky_grid":
        _assert_close_quantized(measured["lava-fixed"])
