"""Expected limits against the analytic exclusion probability of a linear-Gaussian toy."""

import numpy as np
import pytest

from alpswyft.limits import (
    BAND_FRACTIONS,
    ExclusionCounter,
    hpd_excluded,
    linear_gaussian_exclusion,
    published_limits,
)
from alpswyft.physics.toy import ToyLine, linear_gaussian_posterior


def test_hpd_region_of_a_simple_histogram():
    density = np.array([[0.5, 0.3], [0.15, 0.05]])
    excluded = hpd_excluded(density, levels=(0.5, 0.8, 0.95, 1.0))
    assert excluded[0].tolist() == [[False, True], [True, True]]  # 0.5 alone holds 50 %
    assert excluded[1].tolist() == [[False, False], [True, True]]
    assert excluded[2].tolist() == [[False, False], [False, True]]
    assert not excluded[3].any()


def test_cells_without_prior_mass_are_excluded_and_a_flat_posterior_excludes_nothing_else():
    """On the plane's points (2 x 2 per cell) a flat posterior in a truncated box (the lower-left
    quarter) leaves every cell of the box allowed (no sampling noise) and excludes the rest."""
    counter = ExclusionCounter(np.linspace(0, 1, 5), np.linspace(0, 1, 5), levels=(0.95,))
    x, y = counter.points()
    assert len(x) == 64 and x[0] == pytest.approx(0.0625) and y[1] == pytest.approx(0.1875)
    prior = ((x < 0.5) & (y < 0.5)).astype(float)
    excluded = counter.excluded_on_points(np.zeros(64), prior)
    assert excluded[0, 2:, :].all() and excluded[0, :, 2:].all()
    assert not excluded[0, :2, :2].any()
    assert counter.cell_of((0.3, 0.9)) == (1, 3) and counter.cell_of((1.2, 0.5)) is None


def test_expected_limits_match_the_analytic_exclusion():
    """toy_line with Gaussian noise and a flat prior: over mock observations at a fixed truth the
    posterior is N(theta_hat, C) with theta_hat ~ N(truth, C); the fraction of observations
    excluding a cell at 95 % is 1 - ncx2.cdf(chi2_2.ppf(0.95), 2, Mahalanobis^2(cell, truth))."""
    rng = np.random.default_rng(1)
    design = ToyLine.on_grid(-1, 1, 50).design_matrix()
    sigma, truth, n_obs = 3.0, np.array([0.5, -0.5]), 400
    _, covariance = linear_gaussian_posterior(design, np.zeros(50), sigma)
    precision = np.linalg.inv(covariance)
    edges = np.linspace(-4, 4, 51)
    counter = ExclusionCounter(edges, edges)
    points = np.stack(counter.points(), axis=-1)
    for _ in range(n_obs):
        data = design @ truth + sigma * rng.standard_normal(50)
        mean, _ = linear_gaussian_posterior(design, data, sigma)
        delta = points - mean
        loglikelihood = -0.5 * np.einsum("ki,ij,kj->k", delta, precision, delta)
        counter.add(counter.excluded_on_points(loglikelihood, np.ones(len(points))))
    centres = 0.5 * (edges[1:] + edges[:-1])
    grid = np.stack(np.meshgrid(centres, centres, indexing="ij"), axis=-1)
    for k, level in enumerate(counter.levels):
        analytic = linear_gaussian_exclusion(grid, truth, covariance, level)
        measured = counter.fraction[k]
        assert np.mean(np.abs(measured - analytic)) < 0.02
        # the median expected limit: the region excluded in at least half of the observations
        area_measured, area_analytic = np.mean(measured >= 0.5), np.mean(analytic >= 0.5)
        assert abs(area_measured - area_analytic) < 0.02 * area_analytic
        # the truth's cell is excluded in about 1 - level of the observations
        i, j = counter.cell_of(truth)
        assert abs(measured[i, j] - (1 - level)) < 3 * np.sqrt(level * (1 - level) / n_obs) + 0.02
    assert len(counter.areas) == n_obs and BAND_FRACTIONS[2] == 0.5


def test_false_exclusions_count_cells_only_the_first_analysis_excludes():
    counter = ExclusionCounter(np.linspace(0, 1, 3), np.linspace(0, 1, 3), levels=(0.9,))
    first = np.array([[[True, True], [False, False]]])
    reference = np.array([[[True, False], [False, True]]])
    counter.add(first, reference)
    counter.add(reference, reference)
    assert counter.false_fraction[0].tolist() == [[0.0, 0.5], [0.0, 0.0]]
    assert counter.fraction[0].tolist() == [[1.0, 0.5], [0.0, 0.5]]


def test_published_limits_are_the_published_contours():
    """AxionLimits' tables in the project's units (neV, 1e-11 GeV^-1), with their papers."""
    limits = {entry["file"]: entry for entry in published_limits()}
    assert set(limits) == {
        "MAGIC.txt",
        "Fermi1.txt",
        "Fermi2.txt",
        "HESS.txt",
        "Chandra_NGC1275.txt",
        "CAST.txt",
    }
    assert all("arXiv:" in entry["reference"] for entry in limits.values())
    magic = limits["MAGIC.txt"]
    deepest = np.argmin(magic["g"])
    assert (
        magic["g"][deepest] == pytest.approx(0.307, abs=0.001) and 40 < magic["m"][deepest] < 50
    )  # 3.1e-12 near 46 neV
    fermi = limits["Fermi2.txt"]
    assert (
        fermi["g"].min() == pytest.approx(0.467, abs=0.001)
        and 0.5 < fermi["m"][np.argmin(fermi["g"])] < 0.7
    )
    cast = limits["CAST.txt"]  # closed upwards: g = 6.6e-11 GeV^-1 over every mass drawn here
    assert (
        cast["g"][0] == pytest.approx(6.63, abs=0.01)
        and cast["g"].max() > 1e10
        and cast["m"][1] > 1e5
    )


def test_the_published_regions_are_drawn_on_an_m_g_plane():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from alp_config import alp_variables

    from alpswyft.config import load_run_config
    from alpswyft.plots import published_overlay

    config, _ = load_run_config(alp_variables())
    fig, ax = plt.subplots()
    ax.set_xlim(-2, 4)  # log10 m/neV
    ax.set_ylim(-2, 1)  # log10 g/(1e-11 GeV^-1)
    assert published_overlay(ax, config, 0, 1)
    labels = [patch.get_label() for patch in ax.patches if not patch.get_label().startswith("_")]
    assert len(ax.patches) == 6 and len(labels) == 5  # Fermi-LAT's two regions, one label
    assert ax.get_xlim() == (-2, 4)
    magic = next(p for p in ax.patches if p.get_label().startswith("MAGIC"))
    assert magic.contains_point(
        ax.transData.transform((np.log10(60), np.log10(1.0)))
    )  # 60 neV, 1e-11: excluded
    assert not magic.contains_point(ax.transData.transform((np.log10(60), np.log10(0.2))))
    assert not published_overlay(ax, config, 1, 0)  # (g, m): not drawn
    plt.close(fig)


def test_binomial_interval_and_the_truth_s_exclusion():
    from alpswyft.limits import binomial_interval, truth_exclusion

    assert binomial_interval(0, 40)[0] == 0 and binomial_interval(40, 40)[1] == 1
    low, high = binomial_interval(5, 100)
    assert low == pytest.approx(0.0285, abs=5e-4) and high == pytest.approx(
        0.0826, abs=5e-4
    )  # Clopper-Pearson 68 %
    edges = np.linspace(0, 1, 11)
    excluded = np.zeros((2, 10, 10), dtype=bool)
    excluded[:, 0, 0] = True
    counters = {
        truth: ExclusionCounter(edges, edges, (0.68, 0.95), truth, no_signal_below_y=True)
        for truth in [(0.05, 0.05), (0.95, 0.95), (0.5, -5.0), (-6.0, 0.05)]
    }
    for counter in counters.values():
        for _ in range(3):
            counter.add(excluded)
        counter.add(np.zeros_like(excluded))
    inside = truth_exclusion(counters[0.05, 0.05], 1)
    assert (
        inside["excluded"] == 3
        and inside["n"] == 4
        and inside["truth_in_plane"]
        and not inside["consistent"]
    )
    assert truth_exclusion(counters[0.95, 0.95], 0)["consistent"]
    # a no-ALP truth below the plane is the whole weakest-coupling row: excluded only with all of it
    below = truth_exclusion(counters[0.5, -5.0], 0)
    assert (
        below["excluded"] == 0
        and below["truth_cells"] == "row"
        and below["allowed"] == pytest.approx(0.32)
    )
    row = np.zeros_like(excluded)
    row[0, :, 0] = True
    counters[0.5, -5.0].add(row)
    assert [truth_exclusion(counters[0.5, -5.0], k)["excluded"] for k in (0, 1)] == [1, 0]
    beside = truth_exclusion(counters[-6.0, 0.05], 0)  # outside along m only: the nearest cell
    assert (
        beside["excluded"] == 3
        and beside["truth_cells"] == "nearest cell"
        and not beside["truth_in_plane"]
    )


def test_connected_regions_and_the_depth_of_a_limit():
    from alpswyft.limits import connected_regions, limit_depth

    edges = np.linspace(0.0, 1.0, 6)  # 5 x 5 cells of width 0.2
    excluded = np.zeros((5, 5), dtype=bool)
    excluded[:, 3:] = True  # the top two rows everywhere
    excluded[1, 1:] = True  # reaching down to the second row in column 1
    excluded[3, 0] = True  # an island at the bottom of column 3
    assert connected_regions(excluded) == 2
    assert connected_regions(np.zeros((5, 5), dtype=bool)) == 0
    assert limit_depth(excluded, edges, edges, 0.3) == pytest.approx(0.2)  # column 1
    assert limit_depth(excluded, edges, edges, 0.7) == pytest.approx(
        0.6
    )  # column 3: the island is not the limit
    assert limit_depth(excluded, edges, edges, 1.5) is None  # off the plane
    excluded[4, 4] = False
    assert limit_depth(excluded, edges, edges, 0.9) is None  # the top cell allowed
    excluded[2, :] = True
    assert limit_depth(excluded, edges, edges, 0.5) == 0.0  # the whole column


def test_the_depth_of_a_published_contour_and_the_ratio_to_it():
    """MAGIC's Perseus contour is deepest near 46 neV (3.1e-12 / GeV) and does not reach 10 neV; a
    limit excluding every g above 0.62 (1e-11 / GeV) at every mass is twice as weak there."""
    from types import SimpleNamespace

    from alpswyft.limits import depth_ratios, published_depth
    from alpswyft.parameters import ParameterTable, parse_row

    assert published_depth(46.0) == pytest.approx(0.31, rel=0.03)
    assert (
        published_depth(10.0) is None and published_depth(46.0, label="no such experiment") is None
    )
    rows = [
        "[1, 3] | -6 | -6 | 1 | U | m | neV",
        "[-1.5, 1.5] | -5 | -5 | 1 | U | g | e-11GeV^{-1}",
    ]
    config = SimpleNamespace(
        physics=SimpleNamespace(POI_indices=[0, 1]),
        table=ParameterTable([parse_row(i + 1, r)[0] for i, r in enumerate(rows)]),
    )
    edges_x, edges_y = np.linspace(1, 3, 21), np.linspace(-1.5, 1.5, 31)
    excluded = np.broadcast_to(0.5 * (edges_y[1:] + edges_y[:-1]) > np.log10(0.62), (20, 30))
    result = {
        "pairs": np.array([[0, 1]]),
        "levels": np.array([0.68, 0.95]),
        "edges_x": edges_x[None],
        "edges_y": edges_y[None],
        "fraction": np.stack([np.zeros((20, 30)), excluded.astype(float)])[None],
    }
    rows = depth_ratios(result, config, method="hpd")  # read at the lowest excluded cell's centre
    centre = 0.5 * (edges_y[13] + edges_y[14])
    assert len(rows) == 20 and all(r["g_limit"] == pytest.approx(10**centre) for r in rows)
    assert depth_ratios(result, config, method="hpd", at="edge")[0]["g_limit"] == pytest.approx(
        10 ** edges_y[13]
    )
    at_46 = min((r for r in rows if r["ratio"] is not None), key=lambda r: abs(np.log(r["m"] / 46)))
    assert at_46["ratio"] == pytest.approx(10**centre / published_depth(at_46["m"]))
    assert 1.5 < at_46["ratio"] < 2.5
    assert all(r["g_published"] is None for r in rows if r["m"] < 40)


def test_a_limit_result_saves_the_file_layout_and_reads_as_it(tmp_path):
    """A LimitResult with a calibrated method added writes the keys of
    expected_limits_gridpoint_<g>.npz (fraction, fraction_<method>, methods, ...), loads back equal,
    and reads as that layout for code written against the file."""
    from types import SimpleNamespace

    from alpswyft.limits import LimitResult, limit_fraction, quoted_method
    from alpswyft.results import RunTree

    config = SimpleNamespace(validation=SimpleNamespace(limit_method=("frequentist", "hpd")))

    rng = np.random.default_rng(1)
    maps = rng.uniform(size=(1, 2, 4, 4))
    result = LimitResult(
        pairs=np.array([[0, 1]]),
        pair_names=np.array([["m", "g"]]),
        levels=np.array([0.68, 0.95]),
        edges_x=np.linspace(0, 1, 5)[None],
        edges_y=np.linspace(0, 1, 5)[None],
        truth=np.array([0.5, 0.5]),
        n=10,
        with_reference=False,
        fraction={"hpd": maps},
        excluded_area={"hpd": rng.uniform(size=(1, 10, 2))},
        false_fraction=np.zeros_like(maps),
    )
    assert quoted_method(config, result) == "hpd"
    result = result.with_method("frequentist", maps / 2, rng.uniform(size=(1, 10, 2)))
    assert quoted_method(config, result) == "frequentist"
    assert np.array_equal(limit_fraction(result, "frequentist"), maps / 2)
    assert {"fraction", "fraction_frequentist", "excluded_area_frequentist"} <= set(result)
    with pytest.raises(KeyError, match="no cls expected limits"):
        limit_fraction(result, "cls")
    tree = RunTree(tmp_path)
    tree.val_output.mkdir()
    result.save(tree, 3)
    assert set(np.load(tree.validation_data("expected_limits", 3))) == set(result)
    again = LimitResult.load(tree, 3)
    assert again.n == 10 and not again.with_reference
    assert set(again.fraction) == {"hpd", "frequentist"}
    assert np.array_equal(again.fraction["frequentist"], maps / 2)
    assert LimitResult.load(tree, 4) is None
