"""Energy models: constants, terms, and what each counts."""

from __future__ import annotations

import pytest

from neurodeploy.energy import MODELS, Horowitz45nm, LoihiPerOp, OpCounts, PapersConvention, energy_section


def test_each_model_prices_its_own_terms():
    c = OpCounts(synops=1e6, effective_macs=2e5, host_macs=1e5, spikes=1e4, neuron_updates=4e4, flops_paper=3e6,
                 synops_paper=5e5)
    assert PapersConvention().energy_pj(c) == pytest.approx(12.5 * 3e6 + 0.077 * 5e5 + 3.7 * 1e4)
    assert Horowitz45nm().energy_pj(c) == pytest.approx(0.9 * 1e6 + 4.6 * (2e5 + 1e5))
    assert LoihiPerOp().energy_pj(c) == pytest.approx(23.6 * (1e6 + 2e5) + 52 * 4e4 + 1.7 * 1e4)
    assert LoihiPerOp().energy_uj(c) == pytest.approx(LoihiPerOp().energy_pj(c) / 1e6)


def test_section_states_sources_loihi1_and_per_second():
    c = OpCounts(synops=1e6, spikes=1e3, neuron_updates=1e4)
    s = energy_section(c, fps=25)
    assert set(s["models"]) == set(MODELS) == {"papers", "horowitz45nm", "loihi"}
    for m in s["models"].values():
        assert m["sources"] and m["constants_pj"]
        assert m["per_second_uj"] == pytest.approx(25 * m["per_image_uj"])
    assert "Loihi 1" in s["models"]["loihi"]["title"] and "Loihi 2" in s["models"]["loihi"]["note"]
    assert "Horowitz" in s["models"]["horowitz45nm"]["sources"][0]
    assert energy_section(c)["models"]["loihi"]["per_second_uj"] is None
