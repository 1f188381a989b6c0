"""Writers' neuron rules NIR cannot carry (neurodeploy/ir/rules.py): a hand sequence with ties
at threshold, worked out on paper, against the torch executor and the Lava float mapping
(``RuleLIF``); the rules kept in graph.nir; bad rules refused in one line. The rules against the writers' own simulations: tests/test_nir_writers.py.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy.errors import GraphError
from neurodeploy.ir import read_graph
from neurodeploy.ir.rules import NIR_RULES, NeuronRules, rules_of, set_rules
from neurodeploy.targets.nir_primitives import NirSequenceExecutor

DT = 1e-4
# LIF with dt/tau = 1/2 and r = 2: v <- v/2 + x exactly (dyadic numbers), threshold 1, v_reset 0.
# Under NIR's rules v == 1 (a tie) at steps 0 and 4; every value is exact in float64.
X = [1, 2, 2, 0.5, 0.75, 3, 0, 0]
EXPECTED = {  # (spike condition, reset, reset delay): spikes, derived by hand step by step
    (">", "zero", 0): [0, 1, 1, 0, 0, 1, 0, 0],  # NIR: 1 > 1 is no spike (steps 0, 4)
    (">=", "zero", 0): [1, 1, 1, 0, 1, 1, 0, 0],  # sinabs: the ties fire
    (">=", "subtract", 0): [1, 1, 1, 1, 0, 1, 1, 0],  # rockpool: 2 -> 1, 2.5 -> 1.5, 1.25 fires, ...
    (">", "zero", 1): [0, 1, 0, 0, 0, 1, 0, 0],  # snntorch Synaptic: step 2's 3.25 is zeroed, not tested
    (">", "subtract", 1): [0, 1, 1, 0, 1, 1, 0, 0],  # snntorch "subtract": 3.25 - 1 fires, 1.625 - 1 does not
}


def lif_graph(rules: NeuronRules) -> nir.NIRGraph:
    lif = nir.LIF(tau=np.array([2 * DT]), r=np.array([2.0]), v_leak=np.zeros(1), v_threshold=np.ones(1),
                  v_reset=np.zeros(1))
    set_rules(lif, rules)
    nodes = {"input": nir.Input(input_type={"input": np.array([1])}), "w": nir.Linear(weight=np.ones((1, 1))),
             "lif": lif, "output": nir.Output(output_type={"output": np.array([1])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "w"), ("w", "lif"), ("lif", "output")], type_check=False)


def read_back(graph: nir.NIRGraph, tmp_path) -> nir.NIRGraph:
    path = tmp_path / "rules.nir"
    nir.write(str(path), graph, compression=None)
    return read_graph(path, dt_s=DT)


def x_seq() -> np.ndarray:
    return np.asarray(X, dtype=np.float64)[:, None, None]  # (T, N=1, 1)


@pytest.mark.parametrize("key", list(EXPECTED))
def test_hand_sequence_with_ties_in_torch(key, tmp_path):
    rules = NeuronRules(*key)
    graph = read_back(lif_graph(rules), tmp_path)  # the rules survive nir.write and read_graph
    assert rules_of("lif", graph.nodes["lif"]) == rules
    assert nir.read(str(tmp_path / "rules.nir")).nodes["lif"].metadata.get("neurodeploy.reset",
                                                                           "zero") == rules.reset
    got = NirSequenceExecutor(graph).run(x_seq())[0].layers["lif"][:, 0]
    np.testing.assert_array_equal(got, EXPECTED[key])


@pytest.mark.lava
def test_hand_sequence_with_ties_on_lava_float(tmp_path):
    """Each rule a Lava run (a LIFReset for NIR's rules, a RuleLIF for the writers'), two
    samples back to back (the second starts from rest)."""
    from neurodeploy.targets.loihi.executor import sequence_executor

    for key, want in EXPECTED.items():
        graph = read_back(lif_graph(NeuronRules(*key)), tmp_path)
        lava = sequence_executor(graph)
        assert lava.lowered.nodes["lif"].params["rules"] == NeuronRules(*key)
        got = lava.run(np.concatenate([x_seq(), x_seq()], axis=1))  # two samples back to back
        for trace in got:
            np.testing.assert_array_equal(trace.layers["lif"][:, 0], want, err_msg=str(key))


def test_default_reading_has_nir_rules_and_bad_rules_are_refused(tmp_path):
    graph = read_back(lif_graph(NIR_RULES), tmp_path)
    assert rules_of("lif", graph.nodes["lif"]).is_nir and "neurodeploy.reset" not in graph.nodes["lif"].metadata
    for key, value, words in (("neurodeploy.reset", "halve", "is not one of zero, subtract"),
                              ("neurodeploy.spike_condition", "<", "is not one of >, >="),
                              ("neurodeploy.reset_delay", 2, "is not 0 or 1")):
        bad = lif_graph(NIR_RULES)
        bad.nodes["lif"].metadata = {key: value}
        with pytest.raises(GraphError) as err:
            read_back(bad, tmp_path)
        assert words in str(err.value) and "'lif'" in str(err.value) and "\n" not in str(err.value)
    li = lif_graph(NIR_RULES)
    li.nodes["lif"] = nir.LI(tau=np.array([2 * DT]), r=np.array([2.0]), v_leak=np.zeros(1),
                             metadata={"neurodeploy.reset": "subtract"})
    with pytest.raises(GraphError, match="only IF, LIF and CubaLIF take"):
        read_back(li, tmp_path)
