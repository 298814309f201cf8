"""The MAGIC-like model: three flux states through a MAGIC run's response (needs the run in ../shared)."""

import numpy as np
import pytest
from conftest import SHARED

from alpswyft.physics.magic import MAGIC_ROWS, STATES, state_vectors

MAGIC_RUN = SHARED / "data" / "irfs" / "magicDL3_05059487.fits.gz"


def test_each_state_has_its_epwl_in_the_alp_models_vector():
    from alpswyft.parameters import ParameterTable, parse_row

    table = ParameterTable([parse_row(i + 1, row)[0] for i, row in enumerate(MAGIC_ROWS)])
    theta = table.physical(table.obs)
    assert table.free_names == [
        "m",
        "g",
        *(f"{p}_{s.name}" for s in STATES for p in ("amplitude", "index", "lambda")),
    ]
    for k, state in enumerate(STATES):
        v = state_vectors(theta, k)[0]
        assert v.shape == (18,)
        np.testing.assert_allclose(
            v[2:6], [state.amplitude, state.index, 300.0, 1e3 / state.lam]
        )  # Ecut = 1/lambda
        np.testing.assert_allclose(
            v[6:], [10, 39, 4.05, 500, 80, 280, 1.2, 0.58, 0.5, 0.18, 9, 2.8], rtol=1e-6
        )
    assert sum(s.livetime_h for s in STATES) == pytest.approx(41.3)


def test_the_shipped_script_has_the_models_table():
    from conftest import REPO

    from alpswyft.parameters import parse_row
    from alpswyft.runscript import evaluate_run_script

    variables = evaluate_run_script(REPO / "cluster_runs" / "magic_like.sh")
    assert variables["model"] == "magic_like"
    shipped = [parse_row(i + 1, variables[f"param{i + 1}"])[0] for i in range(len(MAGIC_ROWS))]
    ours = [parse_row(i + 1, row)[0] for i, row in enumerate(MAGIC_ROWS)]
    for a, b in zip(shipped, ours):
        assert (a.name, a.unit, a.free, a.log) == (b.name, b.unit, b.free, b.log)
        values = [(a.bounds, b.bounds), (a.obs, b.obs)] if a.free else [(a.value, b.value)]
        for x, y in values:
            np.testing.assert_allclose(x, y, rtol=1e-6)
    assert f"param{len(MAGIC_ROWS) + 1}" not in variables


needs_run = pytest.mark.requires_data(MAGIC_RUN.relative_to(SHARED))


@pytest.fixture(scope="module")
def sim():
    from alpswyft import ALPSim

    return ALPSim("magic_like", observation=MAGIC_RUN, rad_max=0.1414, nbins=8, nbins_etrue=40)


@needs_run
def test_the_states_share_one_field_and_scale_the_runs_response(sim):
    from alpswyft.datasets.onoff import observation_setup

    model = sim.model
    assert sim.simulator.shapes["data"] == sim.simulator.shapes["n_off"] == (24,)
    flare = model.states[0]
    response, observed = observation_setup(
        flare.config, energy_true_edges_gev=flare.response.e_true_edges
    )
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
    assert (
        observed.nodes["n_off"].shape == (24,)
        and observed.nodes["power"].shape == sim.simulator.shapes["power"]
    )


@needs_run
def test_the_classical_fits_are_wstat_per_state_and_agree_with_iminuit(sim):
    """MAGIC's likelihood: each flux state's amplitude, index and lambda profiled within their
    +-50 % box (fitted as log10 amplitude and log10 1/lambda), the OFF expectation of every bin
    profiled (WStat), -2 ln L the sum over the states; each state's fit is iminuit's to 1e-6."""
    import torch
    from iminuit import Minuit

    from alpswyft import classical as cl

    fitter = cl.make_fitter(sim.model, sim.config, device=torch.device("cpu"))
    assert (
        isinstance(fitter, cl.JointFit)
        and fitter.nbins == 24
        and cl.field_parameters(sim.config) == []
    )
    for state, fit in zip(STATES, fitter.states):
        assert fit.on_off and fit.e0 == 300.0
        box = fit.nuisances.to_table(np.stack([fit.nuisances.low, fit.nuisances.high]))
        np.testing.assert_allclose(
            np.sort(box, axis=0),
            [
                [0.5 * state.amplitude, 0.5 * state.index, 0.5 * state.lam],
                [1.5 * state.amplitude, 1.5 * state.index, 1.5 * state.lam],
            ],
            rtol=2e-3,
        )  # the table's 4 digits
    observed = sim.observe(seed=1)
    counts = cl.observation_counts(
        sim.model, {"data": observed.data, "n_off": observed.nodes["n_off"]}
    )
    np.testing.assert_array_equal(counts[24:], observed.nodes["n_off"])
    points = np.array([[1.66, 0.5], [2.0, -1.0]])
    pgg = cl.survival_bank(sim.model, sim.config, points, 2, seed=0).reshape(-1, 40)
    deviance, nuisances = fitter.fit(counts, pgg)
    assert deviance.shape == (4,) and nuisances.shape == (4, 9)
    parts = fitter.split(counts)
    assert sum(fit.fit(c, pgg)[0] for fit, c in zip(fitter.states, parts)) == pytest.approx(
        deviance
    )
    for fit, c in zip(fitter.states, parts):
        for row in (0, 3):
            d, _ = fit.fit(c, pgg[row : row + 1])
            minuit = Minuit(
                fit.objective(c, pgg[row]), fit.start.tolist(), name=("a", "index", "c")
            )
            minuit.errordef, minuit.strategy, minuit.tol = 1.0, 2, 1e-8
            minuit.limits = list(zip(fit.nuisances.low, fit.nuisances.high))
            minuit.migrad()
            assert d[0] == pytest.approx(minuit.fval, abs=1e-6)
    toys = fitter.draw(
        pgg[:2], np.random.default_rng(0)
    )  # [n_on of the states | n_off of the states]
    assert toys.shape == (2, 48) and np.all(toys >= 0)


@needs_run
def test_each_state_may_have_its_own_binning(sim):
    """setups.magic_like(state_nbins=...) bins each state on its own (MAGIC's 26 / 24 / 19): the model and
    the classical fits take the binning from the set-up, and split the nodes state by state."""
    import torch

    from alpswyft import classical as cl
    from alpswyft.physics.magic import MAGIC_NBINS, MagicLike
    from alpswyft.setups import magic_like
    from analysis_core.errors import ConfigError

    nbins = (5, 7, 4)
    model = MagicLike(sim.config, magic_like(sim.config, nbins))
    assert model.nbins == nbins and model.shapes["data"] == model.shapes["n_off"] == (16,)
    for state, sub, n in zip(STATES, model.states, nbins):
        assert len(sub.response.e_reco) == n and sub.response.e_reco_edges[
            [0, -1]
        ].tolist() == pytest.approx([state.emin, state.emax])
    exp = model.expected(sim.theta(), np.random.default_rng(0))["exp"]
    assert exp.shape == (1, 16) and [a.shape[-1] for a in model._split(exp)] == list(nbins)
    nodes = model.noise(exp, np.random.default_rng(1))
    fitter = cl.make_fitter(model, sim.config, device=torch.device("cpu"))
    assert [f.nbins for f in fitter.states] == list(nbins)
    counts = cl.observation_counts(model, {k: v[0] for k, v in nodes.items()})
    assert [c.shape for c in fitter.split(counts)] == [(2 * n,) for n in nbins]
    pgg = cl.survival_bank(model, sim.config, np.array([[1.66, 0.5]]), 2, seed=0).reshape(-1, 40)
    assert np.all(np.isfinite(fitter.fit(counts, pgg)[0]))
    assert sum(MAGIC_NBINS) == 69
    with pytest.raises(ConfigError, match="state_nbins"):
        magic_like(sim.config, (26, 24))


@pytest.mark.slow
@needs_run
def test_the_shipped_magic_like_script_runs_and_compares_with_magic(tmp_path):
    """cluster_runs/magic_like.sh, reduced (400 simulations, 2 epochs): the report draws the three
    states and compares the expected limit with MAGIC's contour, mass by mass."""
    import json

    from conftest import REPO, write_run_script
    from test_end_to_end import run

    script = write_run_script(
        tmp_path,
        template=REPO / "cluster_runs" / "magic_like.sh",
        run_name="magic_e2e",
        observation=str(MAGIC_RUN),
        nbins="8",
        nbins_etrue="40",
        n_sim_train="400",
        n_prior_samples="3_000",
        max_epochs="2",
        n_sim_coverage="20",
        n_sim_explim="5",
        DRP_coverage_parameters='"500, 20, 0, 0, 1"',
        limit_method="hpd",
        classical_limits="1",
        classical_bins='"5,6"',
        classical_realisations="20",
        classical_toys="0",
    )
    result = run(script, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    run_dir = tmp_path / "analysis_results" / "magic_e2e"
    obs = np.load(run_dir / "true_obs.npz")
    assert obs["data"].shape == obs["n_off"].shape == (24,)
    notebook = json.loads((run_dir / "analysis_results.ipynb").read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    cell = next(c for c in code if "published_comparison" in "".join(c["source"]))
    text = "".join("".join(o.get("text", "")) for o in cell["outputs"])
    assert (
        "against MAGIC's published, observed contour" in text
        and "MAGIC's contour spans m = 45.7-417 neV" in text
    )
    for png in (
        "against_MAGIC_gridpoint_0",
        "mock_observation",
        "classical_comparison_gridpoint_0",
    ):
        assert (run_dir / "val_output" / f"{png}.png").is_file()
    # MAGIC's own method on the same 5 mock observations: WStat fits of the three states
    classical = json.loads((run_dir / "val_output" / "validation_gridpoint_0.json").read_text())[
        "classical"
    ]
    assert classical["grid"] == [5, 6] and classical["n_observations"] == 5
    limits = classical["levels"]["0.95"]["wilks_quantile"]["median"]
    assert limits["100"] is not None  # strong couplings excluded at 100 neV


def test_magic_like_without_a_run_says_which_file_it_needs():
    from alpswyft import ALPSim
    from analysis_core.errors import ConfigError

    with pytest.raises(ConfigError, match="observation.*MAGIC DL3 run"):
        ALPSim("magic_like")
