"""rockpool's releases write one NIR convention (issue 28, item 1), and its dt is read from the file.

``tests/data/writers/rockpool-2.8/`` holds files written by rockpool 2.8 (its first NIR writer,
2024-06, with nir 1.0.4 and nirtorch 1.0) and 2.8's own run of them (``write_files.py`` there
names every version). rockpool 3.1.0 (installed) writes the same networks value for value: the
only difference is ``v_reset``, which nir >= 1.0.7 fills in with zeros (rockpool does not write
it). The writing code (``rockpool/nn/modules/torch/nir.py``, ``lif_torch.py``,
``lif_neuron_torch.py``) is byte-identical in 2.8, 2.9, 2.9.2.2, 3.0.0, 3.0.5 and 3.1.0.

Every release writes ``r = tau exp(-dt/tau)/dt`` and no dt: ``--writer rockpool`` reads the dt
from ``r`` (:func:`neurodeploy.ir.nirread.rockpool_dt`), says so where it is not rockpool's default
1e-3 s, and warns when ``--dt`` disagrees with it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from ndfixtures import release_cases
from neurodeploy.ir import read_deploy_graph
from neurodeploy.targets.nir_primitives import NirSequenceExecutor

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
DATA = Path(__file__).parent / "data" / "writers" / "rockpool-2.8"
FILES = ("dense_liftorch", "dense_lifneurontorch", "dense_lifneurontorch_dt1e-4")
MIN_AGREEMENT, MAX_COUNT_DIFF = 99.9, 0.005  # per layer: % of elements, relative spike count (issue 28)


def _reference(name: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """rockpool 2.8's own run: the input (steps, samples, 16) and per neuron module its spike counts."""
    return release_cases.rockpool_28_reference(name)


def _compare(runs, reference: dict[str, np.ndarray]) -> dict[str, tuple[float, float, float]]:
    """layer -> (% of elements equal, our spike count, rockpool's; k spikes in a step count k)."""
    out = {}
    for layer, ref in reference.items():
        ours = np.stack([np.asarray(t.layers[layer]).reshape(ref.shape[0], -1) for t in runs], 1)
        out[layer] = (100.0 * float((ours == ref).mean()), float(ours.sum()), float(ref.sum()))
    return out


def _assert_agrees(measured) -> None:
    for layer, (agree, ours, theirs) in measured.items():
        assert theirs > 100, measured
        assert agree >= MIN_AGREEMENT and abs(ours - theirs) <= MAX_COUNT_DIFF * theirs, (layer, measured)


@pytest.mark.parametrize("name", FILES)
def test_a_rockpool_2_8_file_fires_as_rockpool_2_8_on_nir_torch(name):
    """Without --dt: the dt is read from r (1e-4 s for the last file, said in one note line)."""
    pytest.importorskip("rockpool")
    x, reference = _reference(name)
    lines: list[str] = []
    g = read_deploy_graph(DATA / f"{name}.nir", writer="rockpool", warn=lines.append)
    notes = [line for line in lines if "dt" in line]
    if name.endswith("dt1e-4"):
        assert g.info.dt_s == pytest.approx(1e-4)
        assert len(notes) == 1 and notes[0].startswith("note: --writer rockpool: dt = 0.0001 s"), lines
    else:
        assert g.info.dt_s == pytest.approx(1e-3) and notes == [], lines
    _assert_agrees(_compare(NirSequenceExecutor(g).run(x), reference))


def test_a_dt_that_disagrees_with_the_files_r_is_warned_about_and_changes_the_spikes():
    name = "dense_lifneurontorch_dt1e-4"
    x, reference = _reference(name)
    lines: list[str] = []
    g = read_deploy_graph(DATA / f"{name}.nir", writer="rockpool", dt_s=1e-3, warn=lines.append)
    said = [line for line in lines if "--dt" in line]
    assert len(said) == 1 and said[0].startswith("--writer rockpool: --dt 0.001 s, but the file's r"), lines
    assert "encodes dt = 0.0001 s" in said[0], said
    measured = _compare(NirSequenceExecutor(g).run(x), reference)
    assert min(a for a, _, _ in measured.values()) < 95.0, measured  # the wrong-dt failure, now warned


def _writer_module():
    spec = importlib.util.spec_from_file_location("rockpool_2_8_writer", DATA / "write_files.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, neuron, dt", [("dense_liftorch", "LIFTorch", 1e-3),
                                              ("dense_lifneurontorch_dt1e-4", "LIFNeuronTorch", 1e-4)])
def test_rockpool_3_1_0_writes_what_2_8_wrote_and_runs_as_2_8_ran(tmp_path, name, neuron, dt):
    """The installed rockpool (3.1.0) given 2.8's weights writes every array of 2.8's file equal, and
    its modules give 2.8's recorded spikes; the one added field is nir's v_reset (zeros)."""
    pytest.importorskip("rockpool")
    import h5py
    import nir
    import torch
    from nir.serialization import hdf2dict
    from rockpool.nn.modules.torch.nir import to_nir

    writer = _writer_module()
    with h5py.File(DATA / f"{name}.nir", "r") as f:
        old = hdf2dict(f["node"])["nodes"]
    net = writer._net(neuron, dt)
    with torch.no_grad():  # 2.8's weights, not the seed's: the comparison does not rest on torch's RNG
        for k in (0, 2):
            net[k].weight.data = torch.tensor(np.asarray(old[f"{k}_LinearTorch"]["weight"]).T, dtype=torch.float32)
    path = tmp_path / "rockpool310.nir"
    nir.write(str(path), to_nir(net))
    with h5py.File(path, "r") as f:
        new = hdf2dict(f["node"])["nodes"]
    assert sorted(new) == sorted(old)
    for node in old:
        assert set(new[node]) - set(old[node]) <= {"v_reset"}, (node, set(new[node]) ^ set(old[node]))
        assert set(old[node]) <= set(new[node]), node
        for key in old[node]:
            assert np.array_equal(np.asarray(old[node][key]), np.asarray(new[node][key])), (node, key)
        if "v_reset" in new[node]:
            assert not np.any(np.asarray(new[node]["v_reset"])), node  # nir's fill-in, not rockpool's value
    x, reference = _reference(name)
    ours = writer._run(net, x.astype(np.float32))
    assert all(np.array_equal(ours[k], reference[k]) for k in reference)


@pytest.mark.lava
@pytest.mark.slow
def test_a_rockpool_2_8_file_at_dt_1e_4_on_lava_float_fires_as_rockpool_2_8():
    from neurodeploy.targets.loihi.executor import sequence_executor

    name = "dense_lifneurontorch_dt1e-4"
    x, reference = _reference(name)
    g = read_deploy_graph(DATA / f"{name}.nir", writer="rockpool", warn=lambda _: None)
    _assert_agrees(_compare(sequence_executor(g.nir).run(x[:40]), {k: v[:40] for k, v in reference.items()}))


@pytest.mark.parametrize("threshold", [0.5, 1.0])
def test_a_net_on_a_grid_meets_rockpools_exact_ties_with_its_float32_decays(tmp_path, threshold):
    """A LIFNeuronTorch net with weights k/16 and decay 15/16 puts membranes exactly on its threshold;
    rockpool steps with ``torch.exp(-dt/tau)`` in float32, which the reader now takes
    (``nirread.float32_decay``). In float64 the decay differs in its last bits and nir-torch agreed with
    rockpool on 94.8 % (threshold 0.5) and 99.25 % (1.0) of entries; now every count matches."""
    pytest.importorskip("rockpool")
    from ndfixtures import rule_cases as rc

    path, net = rc.rockpool_dense_file(tmp_path / "grid.nir", "LIFNeuronTorch", 1e-3, grid=16, threshold=threshold)
    x = rc.random_spikes(100, 2, (16,), scale=2.0)
    ref = rc.rockpool_run(net, x)
    got = release_cases.compare(ref, NirSequenceExecutor(read_deploy_graph(path, writer="rockpool")).run(x))
    assert all(v["agreement"] == 100.0 and v["ours"] == v["theirs"] > 100 for v in got.values()), got
