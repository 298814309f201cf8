"""The Neyman construction and CLs with exact likelihoods: a linear-Gaussian toy, whose exact Neyman
set is the chi2_2 ellipse, and an ALP-like toy whose signal vanishes at weak coupling."""

import numpy as np
import pytest
from scipy import stats

from alpswyft import neyman
from alpswyft.limits import ExclusionCounter, linear_gaussian_exclusion
from alpswyft.physics.toy import ToyLine, linear_gaussian_posterior

LEVELS = (0.68, 0.95)


def gaussian_toy(sigma=3.0):
    design = ToyLine.on_grid(-1, 1, 50).design_matrix()
    _, covariance = linear_gaussian_posterior(design, np.zeros(50), sigma)
    return design, covariance, np.linalg.inv(covariance)


def gaussian_logratios(estimates, points, precision):
    """log r = log L(theta) + const of the linear-Gaussian toy, (n_obs, n_points)."""
    delta = estimates[:, None, :] - points[None]
    return -0.5 * np.einsum("npi,ij,npj->np", delta, precision, delta)


def calibrate(truths, estimates, precision, edges, k=None):
    x, y = neyman.cell_centres(edges, edges)
    cells = np.column_stack([x, y])
    at_truth = -0.5 * np.einsum("ni,ij,nj->n", estimates - truths, precision, estimates - truths)
    t = neyman.statistic_at(gaussian_logratios(estimates, cells, precision), at_truth)
    k = k or neyman.neighbour_count(len(t), LEVELS)
    return (
        neyman.CriticalValues(neyman.to_unit(truths[:, 0], truths[:, 1], edges, edges), t, k),
        cells,
        t,
    )


def test_sizes_follow_the_levels():
    assert (
        neyman.neighbours_needed((0.68, 0.95)) == 100
        and neyman.calibration_size_needed((0.68, 0.95)) == 2000
    )
    assert neyman.calibration_size_needed((0.68,)) == 320
    assert (
        neyman.neighbour_count(2000, LEVELS) == 103
        and neyman.neighbour_count(20_000, LEVELS) == 476
    )
    assert neyman.gaussian_neyman_threshold(0.95) == pytest.approx(0.5 * 5.991, rel=1e-3)


def test_statistic_is_the_log_ratio_below_the_plane_s_maximum():
    logratios = np.array([[0.0, 2.0, 1.5], [-1.0, -3.0, -2.0]])
    assert neyman.statistic_map(logratios).tolist() == [[2.0, 0.0, 0.5], [0.0, 2.0, 1.0]]
    assert neyman.statistic_at(logratios, np.array([2.5, -2.0])).tolist() == [
        0.0,
        1.0,
    ]  # the point above the grid: 0


def test_critical_values_of_a_gaussian_are_wilks_chi2_threshold():
    """Exact Gaussian likelihood, truths uniform over the box: c(theta) inside the box is
    chi2_2.ppf(level) / 2 within the binomial error of a k-sample quantile."""
    rng = np.random.default_rng(3)
    _, covariance, precision = gaussian_toy()
    edges = np.linspace(-4, 4, 41)
    n = 8000
    truths = rng.uniform(-4, 4, (n, 2))
    estimates = truths + rng.multivariate_normal([0, 0], covariance, n)
    critical, cells, _ = calibrate(truths, estimates, precision, edges)
    inner = np.all(np.abs(cells) < 1.5, axis=1)  # two posterior widths from the box's edges
    neighbours = critical.neighbours(neyman.to_unit(cells[:, 0], cells[:, 1], edges, edges))
    for level in LEVELS:
        c = critical.quantile(neighbours, level)[inner]
        implied = stats.chi2.cdf(
            2 * c, 2
        )  # the coverage this critical value gives under the exact law
        sigma = np.sqrt(level * (1 - level) / neighbours.effective_count.mean())
        assert abs(implied.mean() - level) < sigma, (
            level
        )  # unbiased: the mean over a few independent neighbourhoods
        assert implied.std() < 1.5 * sigma, level  # and no noisier than a k-sample quantile
    # p-values: (w0 + the weight at or above t) / (w0 + W), w0 = W / k
    first = neighbours[:1]
    assert critical.pvalue(first, np.array([0.0]))[0] == 1.0
    assert critical.pvalue(first, np.array([np.inf]))[0] == pytest.approx(1 / (critical.k + 1))
    # the weights fall with the distance, and weigh all k
    assert (
        np.all(first.weights > 0)
        and first.weights.max() <= 1
        and 0.4 < first.effective_count[0] / critical.k < 0.7
    )


def test_equal_weights_give_the_order_statistic():
    t = np.arange(1.0, 101.0)
    truths = np.random.default_rng(0).uniform(size=(100, 2))
    critical = neyman.CriticalValues(truths, t, 99, kernel="uniform")
    neighbours = critical.neighbours([[0.5, 0.5]])
    for level in (0.5, 0.68, 0.9):
        assert (
            critical.quantile(neighbours, level)[0]
            == np.sort(neighbours.t[0])[int(np.ceil(level * 100)) - 1]
        )
    assert (
        critical.quantile(neighbours, 0.999)[0] == neighbours.t[0].max()
    )  # beyond the sample: its largest
    assert (
        critical.pvalue(neighbours, neighbours.t[:, 0])[0] == 1.0
    )  # at or above the smallest: all
    with pytest.raises(ValueError, match="kernel 'box'"):
        neyman.CriticalValues(truths, t, 10, kernel="box")


def test_tricube_weights_follow_a_narrow_ridge():
    """t = scale x chi2_2 / 2 with its scale three times larger on a ridge about 0.1 wide in x (as
    the ALP default's 68 % quantile on its mass ridges): on the ridge, the construction's
    leave-one-out coverage at 68 % is closer to nominal than equal weights over 5 % of the store's
    (its former neighbourhoods); far from the ridge both are nominal."""
    rng = np.random.default_rng(11)
    n = 10_000
    truths = rng.uniform(size=(n, 2))
    t = (1.0 + 2.0 * np.exp(-0.5 * ((truths[:, 0] - 0.5) / 0.05) ** 2)) * rng.chisquare(2, n) / 2
    ridge, far = np.abs(truths[:, 0] - 0.5) < 0.03, np.abs(truths[:, 0] - 0.5) > 0.25
    on_ridge = {}
    for kernel, k in (("tricube", neyman.neighbour_count(n, LEVELS)), ("uniform", n // 20)):
        covered = neyman.CriticalValues(truths, t, k, kernel).leave_one_out_covered(0.68)
        on_ridge[kernel] = covered[ridge].mean()
        assert abs(covered[far].mean() - 0.68) < 0.02, kernel
    sigma = np.sqrt(0.68 * 0.32 / ridge.sum())
    assert on_ridge["tricube"] > on_ridge["uniform"] + 2 * sigma, on_ridge


def test_the_neyman_set_of_a_gaussian_is_the_exact_one():
    """Mock observations at one truth: the fraction excluding each cell equals the exact Neyman
    test's (the chi2_2 ellipse around the estimate: 1 - ncx2.cdf), within its Monte Carlo error."""
    rng = np.random.default_rng(4)
    _, covariance, precision = gaussian_toy()
    edges = np.linspace(-4, 4, 41)
    n_cal, n_obs, truth = 8000, 300, np.array([0.5, -0.5])
    truths = rng.uniform(-4, 4, (n_cal, 2))
    critical, cells, _ = calibrate(
        truths, truths + rng.multivariate_normal([0, 0], covariance, n_cal), precision, edges
    )
    neighbours = critical.neighbours(neyman.to_unit(cells[:, 0], cells[:, 1], edges, edges))
    counter = ExclusionCounter(edges, edges, LEVELS)
    estimates = truth + rng.multivariate_normal([0, 0], covariance, n_obs)
    for lr in gaussian_logratios(estimates, cells, precision):
        excluded = neyman.excluded_cells(
            neyman.statistic_map(lr), neighbours, critical, LEVELS, "frequentist"
        )
        counter.add(excluded.reshape(len(LEVELS), 40, 40))
    grid = cells.reshape(40, 40, 2)
    for k, level in enumerate(LEVELS):
        exact = linear_gaussian_exclusion(grid, truth, covariance, level)
        assert np.mean(np.abs(counter.fraction[k] - exact)) < 0.02, level
        # the median limit: excluded in at least half of the observations
        assert abs(np.mean(counter.fraction[k] >= 0.5) - np.mean(exact >= 0.5)) < 0.03 * np.mean(
            exact >= 0.5
        )


# ---------------------------------------------------------------- an ALP-like toy


class AlpLikeToy:
    """y = 10^(2 lg) sin(2 pi 10^lm x) + N(0, 1) on 30 points: a coupling lg that switches the signal
    off below about -1.5 and a mass lm that sets its frequency (the plane's own log10 units)."""

    x = np.linspace(0, 1, 30)

    def mean(self, points):
        points = np.atleast_2d(points)
        return 10 ** (2 * points[:, 1:2]) * np.sin(2 * np.pi * 10 ** points[:, 0:1] * self.x)

    def observe(self, points, rng):
        return self.mean(points) + rng.standard_normal((len(np.atleast_2d(points)), len(self.x)))

    def logratios(self, data, points):
        mean = self.mean(points)
        return -0.5 * ((data[:, None, :] - mean[None]) ** 2).sum(-1)

    def no_effect(self, points, tolerance=0.05):
        """Points whose signal is below ``tolerance`` of the noise in every bin."""
        return np.abs(self.mean(points)).max(axis=1) < tolerance


def alp_toy_limits(box_g, n_cal=20_000, n_obs=400, n_null=300, seed=5):
    """Calibrate the toy on the box m in [-1, 1], g in ``box_g`` and count the exclusions of
    no-signal observations per method; returns (counters by method, cells, toy)."""
    rng = np.random.default_rng(seed)
    toy = AlpLikeToy()
    ex, ey = np.linspace(-1, 1, 21), np.linspace(*box_g, round((box_g[1] - box_g[0]) / 0.2) + 1)
    x, y = neyman.cell_centres(ex, ey)
    cells = np.column_stack([x, y])
    truths = np.column_stack([rng.uniform(-1, 1, n_cal), rng.uniform(*box_g, n_cal)])
    data = toy.observe(truths, rng)
    at_truth = -0.5 * ((data - toy.mean(truths)) ** 2).sum(-1)
    t = np.concatenate(
        [
            neyman.statistic_at(toy.logratios(data[i : i + 1000], cells), at_truth[i : i + 1000])
            for i in range(0, n_cal, 1000)
        ]
    )
    critical = neyman.CriticalValues(
        neyman.to_unit(truths[:, 0], truths[:, 1], ex, ey), t, neyman.neighbour_count(n_cal, LEVELS)
    )
    neighbours = critical.neighbours(neyman.to_unit(x, y, ex, ey))
    null_maps = neyman.statistic_map(
        toy.logratios(rng.standard_normal((n_null, len(toy.x))), cells)
    )
    counters = {m: ExclusionCounter(ex, ey, LEVELS) for m in ("frequentist", "cls", "hpd")}
    shape = (len(LEVELS), len(ex) - 1, len(ey) - 1)
    for lr in toy.logratios(rng.standard_normal((n_obs, len(toy.x))), cells):
        t_map = neyman.statistic_map(lr)
        for method in ("frequentist", "cls"):
            counters[method].add(
                neyman.excluded_cells(
                    t_map, neighbours, critical, LEVELS, method, null_maps
                ).reshape(shape)
            )
        from alpswyft.limits import hpd_excluded

        counters["hpd"].add(hpd_excluded(np.exp(lr - lr.max()).reshape(shape[1:]), LEVELS))
    return counters, cells, toy


def test_no_signal_cells_neyman_excludes_at_its_size_and_cls_almost_never():
    """Where the data see nothing, the Neyman test excludes in 1 - level of the observations (within
    the binomial error of the observations and of the critical value's k-sample quantile), and CLs
    in at most 1 %."""
    counters, cells, toy = alp_toy_limits((-2.5, 0.5))
    quiet = toy.no_effect(cells)
    assert quiet.mean() > 0.3  # a third of the plane sees nothing
    n, k = counters["frequentist"].n, neyman.neighbour_count(20_000, LEVELS)
    for j, level in enumerate(LEVELS):
        # the observations' binomial error and the critical value's (a k-sample quantile): one
        # noisy critical value is shared by a neighbourhood of cells, so the largest of a few
        # hundred cells lies a few sigma above the mean
        sigma = np.sqrt(level * (1 - level) * (1 / n + 1 / k))
        rate = counters["frequentist"].fraction[j].ravel()[quiet]
        assert (
            abs(rate.mean() - (1 - level)) < 2 * sigma and rate.max() <= (1 - level) + 4 * sigma
        ), level
        cls = counters["cls"].fraction[j].ravel()[quiet]
        assert cls.mean() <= 0.01 and cls.max() <= 0.05, level
    # and the strong-signal corner is excluded by both
    strong = (cells[:, 1] > 0.2) & (cells[:, 0] > 0.0)
    assert counters["frequentist"].fraction[1].ravel()[strong].min() > 0.9
    assert counters["cls"].fraction[1].ravel()[strong].min() > 0.9


def test_the_frequentist_limit_does_not_depend_on_the_prior_box():
    """Moving g's lower edge one unit down adds only no-signal cells: the frequentist and CLs
    median limits where the boxes overlap stay the same within the Monte Carlo error, while the
    HPD limit, which spreads its probability over the added cells, moves."""
    narrow, cells_n, _ = alp_toy_limits((-2.0, 1.0), seed=6)
    wide, cells_w, _ = alp_toy_limits((-3.0, 1.0), seed=7)
    overlap = cells_w[:, 1] > -2.0
    assert np.allclose(cells_w[overlap], cells_n)
    n = narrow["frequentist"].n
    for method in ("frequentist", "cls"):
        a = narrow[method].fraction[1].ravel()
        b = wide[method].fraction[1].ravel()[overlap]
        k = neyman.neighbour_count(20_000, LEVELS)  # two observation sets and two calibrations
        sigma = np.sqrt(np.maximum(0.5 * (a + b) * (1 - 0.5 * (a + b)), 1 / n) * (2 / n + 2 / k))
        assert np.mean(np.abs(a - b) < 3 * sigma) > 0.95, method
        assert abs(np.mean(a >= 0.5) - np.mean(b >= 0.5)) < 0.04, method
    hpd_a = narrow["hpd"].fraction[1].ravel()
    hpd_b = wide["hpd"].fraction[1].ravel()[overlap]
    assert np.mean(hpd_b >= 0.5) > np.mean(
        hpd_a >= 0.5
    )  # more empty box, more of the rest excluded


def test_coverage_maps():
    rng = np.random.default_rng(8)
    truths = rng.uniform(size=(4000, 2))
    covered = rng.uniform(size=4000) < np.where(truths[:, 0] < 0.5, 0.95, 0.7)
    points = np.array([[0.2, 0.5], [0.8, 0.5]])
    p, sigma = neyman.smooth_coverage(truths, covered, points)
    assert abs(p[0] - 0.95) < 3 * sigma[0] + 0.01 and abs(p[1] - 0.7) < 3 * sigma[1] + 0.01
    assert 0.005 < sigma[0] < 0.03
    binned = neyman.binned_coverage(truths, covered, 4)
    assert binned["n"].sum() == 4000 and np.all(binned["low"] <= binned["fraction"])
    assert np.all(binned["fraction"] <= binned["high"])
    assert (
        abs(np.nanmean(binned["fraction"][:2]) - 0.95) < 0.02
        and abs(np.nanmean(binned["fraction"][2:]) - 0.7) < 0.03
    )


def test_against_gradient_boosted_quantile_regression():
    """LF2I's quantile regression (lf2i 0.3.1's ``train_qr_algorithm('gb')``: scikit-learn's
    GradientBoostingRegressor with the quantile loss) on a toy whose t quantile varies over the
    plane: the nearest-neighbour critical values are as close to the exact ones."""
    sklearn = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(9)
    n = 4000
    truths = rng.uniform(size=(n, 2))
    scale = 0.5 + 2.0 * truths[:, 0]  # t = scale x chi2_2 / 2: its quantile grows along x
    t = scale * rng.chisquare(2, n) / 2
    points = rng.uniform(0.1, 0.9, size=(400, 2))
    level = 0.95
    critical = neyman.CriticalValues(truths, t, neyman.neighbour_count(n, LEVELS))
    ours = critical.quantile(critical.neighbours(points), level)
    boosted = (
        sklearn.GradientBoostingRegressor(
            loss="quantile",
            alpha=level,
            n_estimators=200,
            max_depth=3,
            learning_rate=0.05,
            random_state=0,
        )
        .fit(truths, t)
        .predict(points)
    )
    # what an error of c does: the coverage it gives under the exact law
    coverage = lambda c: stats.chi2.cdf(2 * c / (0.5 + 2.0 * points[:, 0]), 2)  # noqa: E731
    error_ours, error_boosted = (
        np.mean(np.abs(coverage(ours) - level)),
        np.mean(np.abs(coverage(boosted) - level)),
    )
    assert abs(np.mean(coverage(boosted)) - level) < 0.01  # unbiased
    assert abs(np.mean(coverage(ours)) - level) < 0.01
    # k = 163 neighbours' quantile noise; the boosted trees pool the smooth trend
    assert error_ours < 0.025 and error_ours < 3 * error_boosted, (error_ours, error_boosted)
