"""sinabs' releases write one NIR convention (issue 28, item 1), checked by running sinabs 2.0.0.

``tests/data/writers/sinabs-2.0.0/`` holds files written by sinabs 2.0.0 (2024-03, with nir 1.0.1
and nirtorch 1.0) and two runs of each by sinabs 2.0.0 itself: its ``from_nir`` of the file as
shipped, and the module that wrote it (``write_files.py`` there names every version). Read with
``--writer sinabs`` (the rules measured against sinabs 3.1.3, ``tests/test_writer_rules.py``) they
agree with both, every count; sinabs 3.1.3 (installed) given 2.0.0's weights writes every array
equal (nir 1.0.8 adds v_reset zeros). By code: ``sinabs/nir.py``'s neuron mapping, ``layers/functional/lif.py`` and
``activation/spike_generation.py`` are the same in 1.2.10 to 3.1.3 (docs/nir-writer-conventions.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ndfixtures import release_cases
from neurodeploy.ir import read_deploy_graph
from neurodeploy.targets.nir_primitives import NirSequenceExecutor

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
DATA = Path(__file__).parent / "data" / "writers" / "sinabs-2.0.0"
MIN_AGREEMENT, MAX_COUNT_DIFF = 99.9, 0.005  # per layer: % of elements, relative spike count (issue 28)

# file, --rule switches, which of sinabs 2.0.0's runs they reproduce
CASES = [("conv_iaf", (), "from_nir"),                    # sinabs' from_nir: MultiSpike, subtract, min_v_mem
         ("conv_iaf", ("min-v-mem=off",), "module"),      # the IAFSqueeze modules that wrote it: no clamp
         ("dense_lif", (), "module"),                     # LIFSqueeze's norm_input=True
         ("dense_lif", ("norm-input=off",), "from_nir")]  # from_nir builds norm_input=False


def _reference(name: str, run: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return release_cases.sinabs_200_reference(name, run)


@pytest.mark.parametrize("name, rules, run", CASES)
def test_a_sinabs_2_0_0_file_fires_as_sinabs_2_0_0_on_nir_torch(name, rules, run):
    pytest.importorskip("sinabs")
    x, reference = _reference(name, run)
    g = read_deploy_graph(DATA / f"{name}.nir", writer="sinabs", rules=rules, warn=lambda _: None)
    runs = NirSequenceExecutor(g).run(x)
    for layer, ref in reference.items():
        ours = np.stack([np.asarray(t.layers[layer]).reshape(ref.shape[0], *ref.shape[2:]) for t in runs], 1)
        agree = 100.0 * float((ours == ref).mean())
        assert ref.sum() > 10 and agree >= MIN_AGREEMENT, (layer, agree)
        assert abs(ours.sum() - ref.sum()) <= MAX_COUNT_DIFF * ref.sum(), (layer, ours.sum(), ref.sum())


def test_sinabs_3_1_3_writes_what_2_0_0_wrote_and_reads_it_as_2_0_0_did(tmp_path):
    """The installed sinabs given 2.0.0's weights writes every array of the conv file equal (types
    inferred as 2.0.0's were), and its from_nir of 2.0.0's file gives 2.0.0's from_nir spikes."""
    pytest.importorskip("sinabs")
    import h5py
    import nir
    import sinabs.layers as sl
    import torch
    import torch.nn as nn
    from nir.serialization import hdf2dict
    from sinabs.nir import from_nir, to_nir

    with h5py.File(DATA / "conv_iaf.nir", "r") as f:
        old = hdf2dict(f["node"])["nodes"]
    iaf = lambda: sl.IAFSqueeze(batch_size=1)  # noqa: E731
    net = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1, bias=False), iaf(), sl.SumPool2d(2),
                        nn.Conv2d(8, 8, 3, padding=1, bias=False), iaf(), sl.SumPool2d(2),
                        nn.Flatten(), nn.Linear(8 * 4 * 4, 32, bias=False), iaf(),
                        nn.Linear(32, 10, bias=False), iaf())
    with torch.no_grad():
        for k in ("0", "3", "7", "9"):
            net[int(k)].weight.copy_(torch.tensor(np.asarray(old[k]["weight"])))
    net(torch.zeros(1, 2, 16, 16))
    graph = to_nir(net, torch.zeros(1, 2, 16, 16))
    graph.infer_types()
    nir.write(str(tmp_path / "sinabs313.nir"), graph)
    with h5py.File(tmp_path / "sinabs313.nir", "r") as f:
        new = hdf2dict(f["node"])["nodes"]
    assert sorted(new) == sorted(old)
    for node in old:
        # nir >= 1.0.7 fills in v_reset = 0 where the writer passes none (sinabs does not write it)
        assert set(old[node]) <= set(new[node]) and set(new[node]) - set(old[node]) <= {"v_reset"}, node
        for key in old[node]:
            assert np.array_equal(np.asarray(old[node][key]), np.asarray(new[node][key])), (node, key)
        assert not np.any(np.asarray(new[node].get("v_reset", 0))), node
    x, reference = _reference("conv_iaf", "from_nir")
    t, n = x.shape[:2]
    model = from_nir(nir.read(str(DATA / "conv_iaf.nir")), batch_size=n)
    rec: dict[str, list] = {k: [] for k in reference}
    hooks = [model.get_submodule(k).register_forward_hook(lambda m, a, o, k=k: rec[k].append(o.detach()))
             for k in reference]
    with torch.no_grad():
        model(torch.tensor(np.swapaxes(x, 0, 1).reshape(n * t, *x.shape[2:]), dtype=torch.float32))
    for h in hooks:
        h.remove()
    for k, ref in reference.items():
        ours = np.swapaxes(rec[k][0].numpy().reshape(n, t, *rec[k][0].shape[1:]), 0, 1)
        assert np.array_equal(ours, ref), k
