"""The classical likelihood analysis (:mod:`alpswyft.classical`): MAGIC's combination over the
field realisations by hand, the batched fits against iminuit, and Wilks' theorem on a toy whose
likelihood is known."""

import numpy as np
import pytest
import torch
from scipy import stats

from alpswyft import ALPSim
from alpswyft import classical as cl

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
    assert cl.marginal_deviance(np.array([0.0, 2.0])) == pytest.approx(
        -2 * np.log((1 + np.exp(-1)) / 2)
    )
    assert cl.marginal_deviance(np.array([1000.0, 1002.0])) == pytest.approx(
        1000 - 2 * np.log((1 + np.exp(-1)) / 2)
    )
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
    np.testing.assert_allclose(
        mu, np.maximum(sim.model.fold(theta, bank[1, :1])[0], floor), rtol=1e-12
    )
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
    expected = fitter.expectation(
        fitter.nodes(bank[1, :1]), torch.tensor([[*result.nuisances[1, 0]]])
    ).numpy()[0]
    saturated = 2 * np.sum(
        stats.poisson.logpmf(counts, counts) - stats.poisson.logpmf(counts, expected)
    )
    assert fitter.objective(counts, bank[1, 0])(result.nuisances[1, 0]) == pytest.approx(
        saturated, rel=1e-10
    )


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
    outside = fitter.expectation(nodes, torch.tensor([[-8.2, 2.3, 2.6]])).numpy()[
        0
    ]  # amplitude above the box
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
    truth = int(
        np.flatnonzero((np.abs(points[:, 0] - 0.1) < 1e-9) & (np.abs(points[:, 1] - 0.1) < 1e-9))[0]
    )
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


def test_thresholds_from_pseudo_experiments_by_hand():
    assert cl.toys_needed(0.95) == 19 and cl.toys_needed(0.68) == 3
    ts = np.random.default_rng(1).permutation(
        np.arange(1.0, 20.0)
    )  # 19 values: the 95 % rank is the 19th
    assert cl.order_statistic_threshold(ts, 0.95) == 19.0
    assert cl.order_statistic_threshold(ts, 0.68) == 14.0  # ceil(0.68 * 20) = 14
    with pytest.raises(Exception, match="classical_toys = '18'.*at least 19"):
        cl.order_statistic_threshold(ts[:18], 0.95)
    # bilinear between the lattice points, held at the lattice's edge outside it
    axes = (np.array([0.0, 1.0, 2.0]), np.array([0.0, 2.0]))
    x, y = np.meshgrid(*axes, indexing="ij")
    level_rank = np.arange(1.0, 20.0)  # every point's 19 toys are 1..19 plus a plane a + 2x + y
    plane = (2 * x + y).ravel()
    thresholds = cl.Thresholds(
        axes,
        {
            "quantile": plane[:, None] + level_rank[None],
            "marginal": plane[:, None] + 0 * level_rank,
        },
    )
    np.testing.assert_allclose(thresholds.at_lattice(0.95), plane + 19)
    np.testing.assert_allclose(
        thresholds.at(np.array([[0.5, 1.0], [1.5, 0.5], [3.0, -1.0]]), 0.95),
        [19 + 2.0, 19 + 3.5, 19 + 4.0],
    )
    errors = thresholds.errors(0.95)
    assert errors["interpolation_loo_max"] is None and errors["range"] == [
        19.0,
        25.0,
    ]  # no inner point on 3 x 2


def test_limit_depths_cross_the_threshold_between_cell_centres():
    centres = np.array([0.5, 1.5, 2.5, 3.5])
    ts = np.array(
        [
            [0.0, 1.0, 3.0, 9.0],  # crosses 2 between the 2nd and 3rd centres: 1.5 + (2-1)/(3-1)
            [5.0, 6.0, 7.0, 8.0],  # all excluded: the grid's lower edge
            [9.0, 1.0, 9.0, 1.0],  # the top allowed: no limit
            [9.0, 1.0, 9.0, 9.0],
        ]
    )  # an allowed cell interrupts the run: the limit stops above it
    depths = cl.column_depths(ts, np.full(ts.shape, 2.0), centres, bottom=0.0)
    np.testing.assert_allclose(depths, [2.0, 0.0, np.nan, 1.5 + 1.0 / 8.0])
    limits = cl.ClassicalLimits(
        np.arange(5.0),
        np.arange(5.0),
        {"quantile": np.stack([ts, ts + 100]), "marginal": np.stack([ts, ts])},
    )
    expected = limits.expected(0.95, method="wilks")  # chi2_2 at 95 %: 5.99
    assert expected.shape == (5, 4) and np.isinf(
        expected[-1, 2]
    )  # no limit counts as above the box
    assert cl.depth_at(expected, limits.edges_x, 10**1.5) == [
        10.0**v if np.isfinite(v) else None for v in expected[:, 1]
    ]
    assert cl.depth_at(expected, limits.edges_x, 1e9) == [None] * 5


def test_expected_limits_of_mock_observations_at_ci_size(sim, tmp_path):
    """Three no-ALP observations on a 12 x 6 grid, 20 realisations, thresholds from 3
    pseudo-experiments at 2 x 2 lattice points (68 % only): strong couplings at 10-30 neV are
    excluded; along the weakest row (almost no ALP whatever the mass) TS is nearly flat; the file round-trips."""
    observations = np.array([sim.observe(seed=s).observed_counts for s in range(3)])
    calls = []
    limits = cl.expected_limits(
        sim.model,
        sim.config,
        observations,
        (12, 6),
        20,
        3,
        2,
        seed=0,
        progress=lambda what, done, total: calls.append((what, done, total)),
        line_steps=2,
    )
    assert ("pseudo-experiments", 12, 12) in calls and ("observations", 3, 3) in calls
    # and 3 more at truths on the Wilks line at each comparison mass where it has a limit (at
    # 68 %, the highest level 3 pseudo-experiments serve), then the line calibrated cell by cell
    line = limits.line_exclusion()
    assert ("limit-line truths", 3 * len(line), 3 * len(line)) in calls and len(line) >= 2
    assert all(
        r["n"] == 3 and r["m"] in cl.COMPARISON_MASSES and r["allowed"] == 0.32 for r in line
    )
    calibrated = limits.calibrated
    assert list(calibrated["masses"]) == [r["m"] for r in line]
    visited = int(np.isfinite(calibrated["g"][:, 1:]).sum())  # the cells beyond each mass's first
    assert [c for c in calls if c[0] == "calibrated-line cells"] == [
        ("calibrated-line cells", k, len(line)) for k in range(1, visited + 1)
    ]
    for k, m in enumerate(calibrated["masses"]):
        steps = np.isfinite(calibrated["g"][k])
        assert calibrated["g"].shape[1] == 2
        fractions = calibrated["fraction"][k][steps]
        assert steps[0] and np.all(calibrated["threshold"][k][steps] >= 0)
        depth = limits.calibrated_depth(float(m))
        if depth is not None:  # the lowest cell excluded in at least half the observations
            assert fractions[np.isclose(calibrated["g"][k][steps], np.log10(depth))][0] >= 0.5
    assert limits.ts["quantile"].shape == (3, 12, 6) and np.all(
        limits.ts["quantile"].min(axis=(1, 2)) == 0
    )
    assert limits.thresholds.ts["quantile"].shape == (4, 3) and np.all(
        limits.thresholds.ts["quantile"] >= 0
    )
    threshold = limits.threshold(0.68)
    assert (
        threshold.shape == (12, 6)
        and threshold.min() >= limits.thresholds.at_lattice(0.68).min() - 1e-12
    )
    weakest = limits.ts["quantile"][:, :, 0]  # 1.8e-13 /GeV
    assert np.all(
        weakest.max(axis=1) - weakest.min(axis=1) < 0.5
    )  # against hundreds at strong coupling
    for method in cl.THRESHOLD_METHODS:
        excluded = limits.excluded(0.68, method=method)
        assert excluded[:, 5:7, -1].all(), method  # 10-30 neV at 3e-11 /GeV
    depths = limits.depths(0.68, method="wilks")
    assert np.all(np.isfinite(depths[:, 5:7])) and np.all(depths[:, 5:7] < limits.edges_y[-1] - 0.5)
    limits.save(tmp_path / "c.npz")
    again = cl.ClassicalLimits.load(tmp_path / "c.npz")
    np.testing.assert_allclose(again.expected(0.68), limits.expected(0.68), rtol=1e-6)
    assert again.n_realisations == 20 and again.seconds.keys() == limits.seconds.keys()
    assert again.line_exclusion() == line
    assert [again.calibrated_depth(float(m)) for m in calibrated["masses"]] == [
        limits.calibrated_depth(float(m)) for m in calibrated["masses"]
    ]
    # without the lattice (classical_lattice=0): pseudo-experiments only along the Wilks line
    along = cl.expected_limits(
        sim.model, sim.config, observations[:2], (12, 6), 20, 3, 0, seed=0, line_steps=1
    )
    assert (
        along.thresholds is None
        and "pseudo_experiments" not in along.seconds
        and along.calibrated is not None
    )
    assert set(cl.summary(along, sim.config)["levels"]["0.68"]) == {
        "wilks_quantile",
        "wilks_marginal",
    }


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"classical_realisations": "10"}, "classical_realisations = '10': at least 20"),
        ({"classical_toys": "5"}, "classical_toys = '5': 0 .* or at least 19"),
        (
            {"classical_bins": "8"},
            "classical_bins = '8': at least 5 cells of at most 0.5 dex along m .* 12 or more",
        ),
        ({"classical_bins": "12,5"}, "along g"),
        ({"classical_lattice": "1"}, "classical_lattice = '1': 0 .* or 2-10"),
        ({"model": "toy_line"}, "toy model without a spectrum"),
        ({"n_sim_explim": "0"}, "set n_sim_explim > 0"),
    ],
)
def test_the_validation_option_refuses_bad_input(variables, message):
    from conftest import RUN_SH

    from alpswyft.config import load_run_config
    from alpswyft.runscript import evaluate_run_script
    from analysis_core.errors import ConfigError

    base = {**evaluate_run_script(RUN_SH), "classical_limits": "1"}
    if variables.get("model") == "toy_line":
        base = {k: v for k, v in base.items() if not k.startswith("param")} | {
            "param1": "[-3, 3] | 0.7 | 0 | 0 | U | a | 1",
            "param2": "[-3, 3] | -0.3 | 0 | 0 | U | b | 1",
            "POI_indices": "0,1",
            "geom": "simple",
        }
    with pytest.raises(ConfigError, match=message):
        load_run_config({**base, **variables})


def test_the_field_strength_belongs_to_the_realisations():
    """With rms_B free, ``field="prior"`` draws it with each realisation from its prior (the same
    draw at every grid point), ``field="obs"`` holds it at its Obs. value."""
    from analysis_core.errors import ConfigError

    sim = ALPSim(
        nbins_etrue="90",
        **NUISANCES,
        param7="[0.58, 2.22] | 1.4 | 1.4 | 1 | N(1.4,0.28) | rms_B | muG",
    )
    assert [sim.config.table.free_names[i] for i in cl.field_parameters(sim.config)] == ["rms_B"]
    rng = np.random.default_rng(0)
    prior = cl._realisation_vectors(sim.config, 200, "prior", rng)[:, 5]
    assert (
        0.58 <= prior.min()
        and prior.max() <= 2.22
        and abs(prior.mean() - 1.4) < 0.06
        and prior.std() > 0.2
    )
    assert np.all(cl._realisation_vectors(sim.config, 3, "obs", rng)[:, 5] == 1.4)
    points = np.array([[1.0, 0.5], [1.5, 0.5]])
    held, drawn = (
        cl.survival_bank(sim.model, sim.config, points, 2, seed=0, field=f)
        for f in ("obs", "prior")
    )
    assert not np.allclose(held, drawn)
    with pytest.raises(ConfigError, match="classical_field = 'fixed'"):
        cl.survival_bank(sim.model, sim.config, points, 2, seed=0, field="fixed")


def test_wstat_profiles_the_background_and_its_newton_weights_are_exact():
    """WStat's closed-form b against a numerical maximisation of P(n_on | s + alpha b) P(n_off | b),
    zero counts and b held at 0 included; its Newton weights against finite differences of the
    profiled -2 ln L in s."""
    from scipy.optimize import minimize_scalar

    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    n_on, n_off = t([0.0, 3, 10, 40, 5, 0, 7, 2]), t([0.0, 9, 3, 20, 60, 4, 0, 0])
    alpha, s = (
        t([0.2, 0.33, 0.5, 0.2, 0.1, 0.3, 0.25, 0.25]),
        t([0.5, 2.0, 4.0, 30.0, 0.1, 1.0, 3.0, 5.0]),
    )
    b, mu_on = cl.wstat_background(n_on, n_off, s, alpha)
    np.testing.assert_allclose(mu_on, s + alpha * b)
    for i in range(len(s)):
        a, on, off, si = (float(v[i]) for v in (alpha, n_on, n_off, s))

        def nll(x, a=a, on=on, off=off, si=si):
            return si + a * x - on * np.log(si + a * x) + x - (off * np.log(x) if off else 0.0)

        best = minimize_scalar(
            nll, bounds=(0.0, 500.0), method="bounded", options={"xatol": 1e-10}
        ).x
        assert float(b[i]) == pytest.approx(best, abs=1e-6), i
    assert b[[0, 6, 7]].tolist() == [
        0.0,
        0.0,
        0.0,
    ]  # no OFF counts and s above the ON excess: b = 0

    def profiled(values):
        bb, mm = cl.wstat_background(n_on, n_off, values, alpha)
        return 2.0 * (
            mm
            - n_on
            + cl._xlog_ratio(torch, n_on, mm)
            + bb
            - n_off
            + cl._xlog_ratio(torch, n_off, bb)
        )

    h = 1e-4
    residual, curvature, expected = cl.wstat_weights(n_on, n_off, s, alpha)
    np.testing.assert_allclose(residual, (profiled(s + h) - profiled(s - h)) / (4 * h), atol=1e-7)
    np.testing.assert_allclose(
        curvature, (profiled(s + h) - 2 * profiled(s) + profiled(s - h)) / (2 * h**2), atol=1e-5
    )
    assert torch.all(expected > 0)
