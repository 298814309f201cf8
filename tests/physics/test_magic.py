"""The MAGIC-like model: three flux states through a MAGIC run's response (needs the run in ../shared)."""

import numpy as np
import pytest
from alpswyft.physics.magic import MAGIC_ROWS, STATES, state_vectors
from conftest import SHARED

MAGIC_RUN = SHARED / "data" / "irfs" / "magicDL3_05059487.fits.gz"


def test_each_state_has_its_epwl_in_the_alp_models_vector():
    from alpswyft.parameters import ParameterTable, parse_row

    table = ParameterTable([parse_row(i + 1, row)[0] for i, row in enumerate(MAGIC_ROWS)])
    theta = table.physical(table.obs)
    assert table.free_names == ["m", "g", *(f"{p}_{s.name}" for s in STATES for p in ("index", "lambda"))]
    for k, state in enumerate(STATES):
        v = state_vectors(theta, k)[0]
        assert v.shape == (18,)
        np.testing.assert_allclose(v[2:6], [state.amplitude, state.index, 300.0, 1e3 / state.lam])  # Ecut = 1/lambda
        np.testing.assert_allclose(v[6:], [10, 39, 4.05, 500, 80, 280, 1.2, 0.58, 0.5, 0.18, 9, 2.8], rtol=1e-6)
    assert sum(s.livetime_h for s in STATES) == pytest.approx(41.3)


@pytest.mark.skipif(not MAGIC_RUN.exists(), reason="the MAGIC run in ../shared is not present")
def test_the_states_share_one_field_and_scale_the_runs_response():
    from alpswyft import ALPSim
    from alpswyft.observation import observation_setup

    sim = ALPSim("magic_like", observation=MAGIC_RUN, rad_max=0.1414, nbins=8, nbins_etrue=40)
    model = sim.model
    assert sim.simulator.shapes["data"] == sim.simulator.shapes["n_off"] == (24,)
    flare = model.states[0]
    response, observed = observation_setup(flare.config, energy_true_edges_gev=flare.response.e_true_edges)
    scale = STATES[0].livetime_h * 3600 / float(observed["onoff_livetime_s"])
    np.testing.assert_allclose(flare.response.exposure, response.exposure * scale)
    np.testing.assert_allclose(flare.off_background, observed["onoff_off_background"] * scale)
    assert flare.response.e_reco_edges[[0, -1]].tolist() == pytest.approx([50.0, 2100.0])
    # one P_gg per simulation: a strong ALP at 46 neV dims every state, each by its fold of the same P_gg
    theta = sim.theta(m=[1e-6, 46.0], g=[1e-5, 5.0])
    counts, pgg = model.counts(theta, np.random.default_rng(3))
    assert pgg.shape == (2, 40) and np.all(pgg[1] < pgg[0] + 1e-12)
    for k, state in enumerate(model.states):
        np.testing.assert_allclose(counts[k], state.fold(state_vectors(theta, k), pgg))
        assert counts[k][1].sum() < counts[k][0].sum()
    observed = sim.observe(seed=1)
    assert observed.nodes["n_off"].shape == (24,) and observed.nodes["power"].shape == sim.simulator.shapes["power"]
