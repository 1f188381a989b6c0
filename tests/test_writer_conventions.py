"""A writer's releases that mean different neurons by the same values (issue 28, item 1): norse.

norse 1.1.0 (the only norse release on PyPI that writes NIR) writes a LIF's ``tau`` as
``dt / tau_mem_inv`` (norse#411); norse's GitHub master, and files written by hand from norse's
parameters (as for a published comparison), write the time constant itself, ``1 / tau_mem_inv``.
``--writer norse`` picks the reading under which every time constant is a plausible number of
steps, says which and why; a file both readings fit gets a warning; ``--writer norse@CONVENTION``
forces one. The reference is norse's own ``LIFBoxCell`` (installed) at the file's dt.
"""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest

from neurodeploy.errors import GraphError
from neurodeploy.ir import read_deploy_graph
from neurodeploy.targets.nir_primitives import NirSequenceExecutor

norse = pytest.importorskip("norse.torch")
torch = pytest.importorskip("torch")

STEPS = 300


def _one_lif_file(path, tau: float) -> None:
    """Input -> Linear(1) -> LIF(tau, r = 1, threshold 1) -> Output, as norse's LIFBoxCell is written."""
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([1])), "w": nir.Linear(weight=np.array([[1.0]])),
                            "lif": nir.LIF(tau=np.array([tau]), r=np.array([1.0]), v_leak=np.array([0.0]),
                                           v_threshold=np.array([1.0])),
                            "output": nir.Output(output_type=np.array([1]))},
                     edges=[("input", "w"), ("w", "lif"), ("lif", "output")])
    nir.write(str(path), g)


def _current() -> np.ndarray:
    """(steps, samples = 1, 1): a constant drive above threshold, so the neuron fires every few steps."""
    return np.full((STEPS, 1, 1), 1.5)


def _norse_spikes(tau_mem_inv: float, dt: float) -> np.ndarray:
    cell = norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.tensor(tau_mem_inv), v_th=torch.tensor(1.0)),
                            dt=dt).double()
    state, out = None, []
    with torch.no_grad():
        for x_t in torch.tensor(_current()[:, 0]):
            z, state = cell(x_t, state)
            out.append(z.numpy().copy())
    return np.stack(out)


def _ours(path, warn, **read) -> tuple[np.ndarray, dict]:
    g = read_deploy_graph(path, warn=warn, **read)
    trace = NirSequenceExecutor(g).run(_current())[0]
    return trace.layers["lif"].reshape(STEPS, -1), g.nir.metadata.get("neurodeploy.writer_convention")


def test_a_file_written_with_the_true_time_constant_is_read_as_norse_master_and_fires_as_norse(tmp_path):
    """The issue's file: LIFBoxCell(tau_mem_inv=400) simulated at dt = 1e-4, stored tau = 0.0025 s.
    Read as 1.1.0 it would be a 25-s neuron (250,000 steps) that never fires in 300 steps."""
    path = tmp_path / "true_tau.nir"
    _one_lif_file(path, 1 / 400)
    reference = _norse_spikes(400.0, 1e-4)
    assert reference.sum() >= 5
    lines: list[str] = []
    spikes, convention = _ours(path, lines.append, writer="norse", dt_s=1e-4)
    assert convention["convention"] == "master", convention
    assert np.array_equal(spikes, reference)
    assert len(lines) == 1 and lines[0].startswith("note: --writer norse: read as norse master's convention"), lines
    assert "2.5e+05" in lines[0] and "25 to 25 steps" in lines[0], lines  # why, in numbers of steps
    forced, convention = _ours(path, lines.append, writer="norse@1.1.0", dt_s=1e-4)
    assert convention == {"writer": "norse", "convention": "1.1.0", "why": "forced by --writer norse@1.1.0"}
    assert forced.sum() == 0  # the failure, now only when asked for
    assert len(lines) == 1  # a forced convention is not announced again


def test_a_file_written_by_norse_1_1_0_is_read_as_1_1_0_and_fires_as_norse(tmp_path):
    """norse's own to_nir (1.1.0, installed): tau_mem_inv = 100 at dt = 1e-3 is written tau = 1e-5."""
    net = norse.SequentialState(torch.nn.Linear(1, 1, bias=False),
                                norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.tensor(100.0),
                                                                        v_th=torch.tensor(1.0))))
    net[0].weight.data.fill_(1.0)
    graph = norse.to_nir(net, torch.zeros(1, 1))
    path = tmp_path / "norse110.nir"
    nir.write(str(path), graph, compression=None)
    taus = [float(np.ravel(n.tau)[0]) for n in graph.nodes.values() if isinstance(n, nir.LIF)]
    assert taus == [pytest.approx(1e-5)]  # what norse 1.1.0 writes (norse#411)
    lines: list[str] = []
    g = read_deploy_graph(path, warn=lines.append, writer="norse")
    assert g.nir.metadata["neurodeploy.writer_convention"]["convention"] == "1.1.0"
    said = [line for line in lines if "convention" in line]  # (norse's batched Input also gets its singleton line)
    assert len(said) == 1 and "read as norse 1.1.0's convention" in said[0] and said[0].startswith("note: "), lines
    lif = next(n for n in g.order if isinstance(g.node(n), nir.LIF))
    ours = NirSequenceExecutor(g).run(_current())[0].layers[lif].reshape(STEPS, -1)
    reference = _norse_spikes(100.0, 1e-3)
    assert reference.sum() >= 5 and np.array_equal(ours, reference)


def test_a_file_both_readings_fit_is_read_as_the_release_with_a_warning(tmp_path):
    """tau = 0.01 at dt = 1e-3: 10 steps as master's, 10,000 as 1.1.0's: both plausible."""
    path = tmp_path / "ambiguous.nir"
    _one_lif_file(path, 0.01)
    lines: list[str] = []
    _, convention = _ours(path, lines.append, writer="norse")
    assert convention["convention"] == "1.1.0"
    assert len(lines) == 1 and not lines[0].startswith("note: "), lines
    assert "both readings are plausible" in lines[0] and "--writer norse@CONVENTION (1.1.0, master)" in lines[0], lines


@pytest.mark.parametrize("writer, words", [
    ("norse@2.0", "--writer norse@2.0: unknown convention '2.0'; norse has 1.1.0, master"),
    ("sinabs@3.1.3", "sinabs wrote one convention in every release that writes NIR: use --writer sinabs"),
    ("brian@1", "unknown writer 'brian'"),
])
def test_an_unknown_convention_is_one_line(tmp_path, writer, words):
    path = tmp_path / "f.nir"
    _one_lif_file(path, 0.01)
    with pytest.raises(GraphError, match=words) as caught:
        read_deploy_graph(path, writer=writer)
    assert "\n" not in str(caught.value)


def test_the_manifest_says_which_convention_and_why_and_keeps_the_writer_name(run_cli, tmp_path):
    path = tmp_path / "true_tau.nir"
    _one_lif_file(path, 1 / 400)
    out = tmp_path / "b"
    code, _, err = run_cli("export", path, "--target", "loihi", "--out", out, "--writer", "norse", "--dt", "1e-4")
    assert code == 0, err
    assert err.startswith("note: --writer norse: read as norse master's convention"), err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["writer"] == "norse" and manifest["writer_convention"]["convention"] == "master"
    code, _, err = run_cli("export", path, "--target", "loihi", "--out", tmp_path / "no", "--writer", "norse@9")
    assert code == 2 and err.count("\n") == 1 and "unknown convention '9'" in err and not (tmp_path / "no").exists()
