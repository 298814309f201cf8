"""The classical likelihood analysis (:mod:`alpswyft.classical`): MAGIC's combination over the
field realisations by hand, the batched fits against iminuit, and Wilks' theorem on a toy whose
likelihood is known."""

import numpy as np
import pytest
import torch
from alpswyft import ALPSim
from alpswyft import classical as cl
from scipy import stats

#: The shipped default's spectral priors (run.sh): the three nuisances free.
NUISANCES = {
    "param3": "[-9.3, -8.3] | -8.812 | -8.812 | 1 | U | Amplitude | TeV^{-1}cm^{-2}s^{-1}",
    "param4": "[1.6, 2.6] | 2.11 | 2.11 | 0 | U | index | none",
    "param6": "[2.3, 3.3] | 2.75 | 2.75 | 1 | U | Ecut | GeV",
}


@pytest.fixture(scope="module")
def sim():
    return ALPSim(nbins_etrue="90", **NUISANCES)


@pytest.fixture(scope="module")
def fitter(sim):
    return cl.SpectralFit(sim.model, sim.config, device=torch.device("cpu"))


def test_magic_s_quantile_and_the_marginal_by_hand():
    deviance = np.random.default_rng(0).permutation(np.arange(1.0, 101.0))
    assert cl.magic_quantile(deviance) == 6.0  # the 6th best of 100
    assert cl.magic_quantile(deviance[:20]) == np.sort(deviance[:20])[1]  # of 20: the 2nd best
    grid = np.stack([deviance, deviance + 3.0])  # two grid points, the same realisations
    assert cl.combine(grid, "quantile").tolist() == [6.0, 9.0]
    assert cl.test_statistic(cl.combine(grid, "quantile")).tolist() == [0.0, 3.0]
    assert cl.marginal_deviance(np.array([0.0, 2.0])) == pytest.approx(-2 * np.log((1 + np.exp(-1)) / 2))
    assert cl.marginal_deviance(np.array([1000.0, 1002.0])) == pytest.approx(1000 - 2 * np.log((1 + np.exp(-1)) / 2))
    with pytest.raises(ValueError, match="combination 'mean'"):
        cl.combine(grid, "mean")


def test_the_fits_are_the_run_s_forward_model_and_agree_with_iminuit(sim, fitter):
    from iminuit import Minuit

    assert fitter.nuisances.columns == [0, 1, 2]
    points = np.array([[-6.0, -5.0], [1.0, 0.5], [2.0, 0.0], [0.0, -1.0]])
    bank = cl.survival_bank(sim.model, sim.config, points, 2, seed=0)
    counts = sim.observe(seed=3).observed_counts
    result = cl.scan(fitter, counts, points, bank)
    # the expectation is the simulator's, floor included
    theta = sim.config.table.physical(np.tile(sim.config.table.obs, (1, 1)))
    theta[0, :2] = 10.0 ** points[1]
    floor = 10.0 ** (sim.model.null_level + sim.config.floor_exp)
    mu = fitter.expectation(fitter.nodes(bank[1, :1]), fitter.start[None]).numpy()[0]
    np.testing.assert_allclose(mu, np.maximum(sim.model.fold(theta, bank[1, :1])[0], floor), rtol=1e-12)
    for i, r in ((0, 0), (1, 1), (2, 0), (3, 1)):
        objective = fitter.objective(counts, bank[i, r])
        minuit = Minuit(objective, fitter.start.tolist(), name=("a", "index", "c"))
        minuit.errordef, minuit.tol = 1.0, 1e-8
        minuit.limits = list(zip(fitter.nuisances.low, fitter.nuisances.high))
        minuit.migrad()
        minuit.migrad()
        assert result.deviance[i, r] == pytest.approx(minuit.fval, abs=1e-6), (i, r)
        assert result.deviance[i, r] <= minuit.fval + 1e-6
        assert objective(result.nuisances[i, r]) == pytest.approx(result.deviance[i, r])
    # the deviance is -2 ln L against the saturated model, from scipy's Poisson law
    expected = fitter.expectation(fitter.nodes(bank[1, :1]), torch.tensor([[*result.nuisances[1, 0]]])).numpy()[0]
    saturated = 2 * np.sum(stats.poisson.logpmf(counts, counts) - stats.poisson.logpmf(counts, expected))
    assert fitter.objective(counts, bank[1, 0])(result.nuisances[1, 0]) == pytest.approx(saturated, rel=1e-10)

def test_the_profile_fit_recovers_the_truth(sim, fitter):
    """Counts at their expectation (an Asimov spectrum) with the nuisances off their Obs. values:
    the fit returns them, at -2 ln L = 0; at a bound of the box it stays there."""
    truth = np.array([[-8.7, 2.3, 2.6]])
    pgg = np.ones((1, len(sim.model.response.e_true)))
    nodes = fitter.nodes(pgg)
    counts = fitter.expectation(nodes, torch.tensor(truth)).numpy()[0]
    d, nu = fitter.fit(counts, pgg)
    np.testing.assert_allclose(nu[0], truth[0], atol=1e-6)
    assert abs(d[0]) < 1e-8
    outside = fitter.expectation(nodes, torch.tensor([[-8.2, 2.3, 2.6]])).numpy()[0]  # amplitude above the box
    _, nu = fitter.fit(outside, pgg)
    assert nu[0, 0] == pytest.approx(-8.3)


def test_ts_follows_chi2_2_where_wilks_holds(sim, fitter):
    """A toy with a known likelihood: P_gg = 1 - a s1(E) - b s2(E), two smooth dips linear in
    (a, b), on a grid around the truth, with the spectrum profiled. TS at the truth over
    pseudo-experiments follows chi2 with 2 degrees of freedom (its 68 % and 95 % quantiles within
    their binomial errors)."""
    ln_e = np.log(sim.model.response.e_true)
    s1 = np.exp(-0.5 * ((ln_e - np.log(300.0)) / 0.4) ** 2)
    s2 = np.exp(-0.5 * ((ln_e - np.log(1500.0)) / 0.4) ** 2)
    # the dips' depths are known to about 0.015 (1 sigma): a grid of half that, 3 sigma either side
    a, b = np.meshgrid(np.linspace(0.055, 0.145, 13), np.linspace(0.055, 0.145, 13), indexing="ij")
    points = np.column_stack([a.ravel(), b.ravel()])
    pgg = 1.0 - points[:, :1] * s1 - points[:, 1:] * s2
    truth = int(np.flatnonzero((np.abs(points[:, 0] - 0.1) < 1e-9) & (np.abs(points[:, 1] - 0.1) < 1e-9))[0])
    mean = fitter.expectation(fitter.nodes(pgg[truth][None]), fitter.start[None]).numpy()[0]
    rng = np.random.default_rng(5)
    ts = []
    for _ in range(100):
        d, _ = fitter.fit(rng.poisson(mean).astype(float), pgg)
        ts.append(d[truth] - d.min())
    ts = np.array(ts)
    for level in (0.68, 0.95):
        covered = np.mean(ts <= stats.chi2.ppf(level, 2))
        assert abs(covered - level) < 3 * np.sqrt(level * (1 - level) / len(ts)), (level, covered)


def test_bad_input_names_the_variable(sim):
    from analysis_core.errors import ConfigError

    toy = ALPSim(model="toy_line")
    with pytest.raises(ConfigError, match="fits ALP models with a spectrum"):
        cl.SpectralFit(toy.model, toy.config)
    with pytest.raises(ConfigError, match="bins = .*at least 5 x 5"):
        cl.grid_points(sim.config, (4, 25))
    points, edges_x, edges_y = cl.grid_points(sim.config, (6, 5))
    assert points.shape == (30, 2) and edges_x[0] == -2 and edges_y[-1] == 1
    assert np.allclose(points[1], [-1.5, -1.1])  # x slowest: the first m cell, the second g cell
