"""The frequentist limits of the validation stage on a trained toy_line run: the Neyman set equals
the exact one (the chi2_2 ellipse of a linear-Gaussian model), its coverage holds at every point,
CLs and HPD beside it, and the workbench tests new observations with the run's calibration."""

import json

import numpy as np
import pytest
from conftest import validated_toy_run

from alpswyft import neyman
from alpswyft.limits import linear_gaussian_exclusion
from alpswyft.physics.toy import ToyLine, linear_gaussian_posterior
from analysis_core.errors import ConfigError

pytestmark = pytest.mark.slow

SIGMA, N_EXPLIM, N_CAL, N_COVERAGE = 3.0, 200, 4000, 1000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One round (the whole box is calibrated), noise 3 so that a posterior spans several cells."""
    return validated_toy_run(
        tmp_path_factory.mktemp("frequentist"),
        n_truncations="0",
        noise_sigma=str(SIGMA),
        n_prior_samples="10_000",
        max_epochs="40",
        obs_seed="1",
        n_sim_explim=str(N_EXPLIM),
        limit_method="frequentist,cls,hpd",
        n_sim_calibration=str(N_CAL),
        n_sim_limit_coverage=str(N_COVERAGE),
        n_sim_null="300",
        extra_observations="a=-1, b=1",
    )


def test_the_stores_and_files(run_dir):
    from alpswyft.stores import read_store, store_name

    for kind, n in (("calibration", N_CAL), ("limit_coverage", N_COVERAGE), ("null", 300)):
        params = read_store(run_dir.stores / store_name(kind, 0, 0), ["params"])["params"]
        assert len(params) == n, kind
    null = read_store(run_dir.stores / store_name("null", 0, 0), ["params"])["params"]
    assert np.all(null == 0)  # the Null column
    result = np.load(run_dir.validation_data("expected_limits", 0))
    assert result["fraction_frequentist"].shape == result["fraction_cls"].shape == (1, 2, 50, 50)
    assert list(result["methods"]) == ["frequentist", "cls"]
    sets = np.load(run_dir.validation_data("confidence_sets", 0))
    assert sets["observation_frequentist"].shape == (1, 1, 2, 50, 50) and sets[
        "extra_hpd"
    ].shape == (1, 1, 2, 50, 50)
    summary = json.loads(run_dir.validation_summary(0).read_text())["frequentist"]
    assert (
        summary["k"] == neyman.neighbour_count(N_CAL, (0.68, 0.95))
        and summary["n_calibration"] == N_CAL
    )


def test_the_neyman_set_is_the_exact_one(run_dir):
    """toy_line with a flat prior: the exact Neyman test excludes a point when the chi2 of the fit
    exceeds chi2_2.ppf(level); over the mock observations at the truth each cell is excluded with
    probability 1 - ncx2.cdf. The learned ratio's calibrated set reproduces it."""
    design = ToyLine.on_grid(-1, 1, 50).design_matrix()
    _, covariance = linear_gaussian_posterior(design, np.zeros(50), SIGMA)
    result = np.load(run_dir.validation_data("expected_limits", 0))
    edges = result["edges_x"][0]
    centres = 0.5 * (edges[1:] + edges[:-1])
    grid = np.stack(np.meshgrid(centres, centres, indexing="ij"), axis=-1)
    for k, level in enumerate(result["levels"]):
        exact = linear_gaussian_exclusion(grid, result["truth"], covariance, level)
        measured = result["fraction_frequentist"][0, k]
        assert np.mean(np.abs(measured - exact)) < 0.03, level
        assert abs(np.mean(measured >= 0.5) - np.mean(exact >= 0.5)) < 0.05 * np.mean(
            exact >= 0.5
        ), level
    # the critical values: Wilks' chi2_2 / 2 where the box does not cut the posterior
    critical = json.loads(run_dir.validation_summary(0).read_text())["frequentist"][
        "critical_values"
    ]["a-b"]
    for level, (_, median, _) in critical.items():
        assert median == pytest.approx(neyman.gaussian_neyman_threshold(float(level)), rel=0.2), (
            level
        )


def test_coverage_at_every_point(run_dir):
    summary = json.loads(run_dir.validation_summary(0).read_text())["frequentist"]
    for method in ("frequentist", "cls", "hpd"):
        for level, v in summary["coverage"]["a-b"][method].items():
            sigma = np.sqrt(float(level) * (1 - float(level)) / N_COVERAGE)
            assert v["coverage"] > float(level) - 3 * sigma, (method, level, v)
            assert v["area_below_2sigma"] < 0.1, (method, level, v)
    for level, v in summary["pairs"]["a-b"].items():  # the truth itself, over the mock observations
        point = v["frequentist"]["truth_point_exclusion"]
        # the observations' binomial error and the truth's critical value's: a weighted quantile of
        # about 0.55 k simulations, shared by all observations
        sigma = np.sqrt(
            float(level) * (1 - float(level)) * (1 / N_EXPLIM + 1 / (0.55 * summary["k"]))
        )
        assert point["fraction"] < 1 - float(level) + 3 * sigma, (level, point)
    for level, v in summary["leave_one_out"]["a-b"].items():  # the calibration's own check
        assert abs(v["coverage"] - float(level)) < 3 * np.sqrt(
            float(level) * (1 - float(level)) / N_CAL
        ), (level, v)
    maps = np.load(run_dir.validation_data("limit_coverage", 0))
    assert maps["smooth_frequentist"].shape == (1, 2, 50, 50) and maps["covered_cls"].shape == (
        1,
        2,
        N_COVERAGE,
    )
    assert maps["binned_n_hpd"].sum() == 2 * N_COVERAGE
    assert (run_dir.val_output / "limit_coverage_gridpoint_0.png").is_file()


def test_the_workbench_tests_new_observations_with_the_run_s_calibration(run_dir):
    from alpswyft import open_run

    run = open_run(run_dir.root)
    sets = np.load(run_dir.validation_data("confidence_sets", 0))
    for k, level in enumerate((0.68, 0.95)):
        for method in ("frequentist", "cls", "hpd"):
            mine = run.confidence_set(level=level, method=method)
            assert np.array_equal(mine.excluded, sets[f"observation_{method}"][0, 0, k]), (
                method,
                level,
            )
    confidence = run.confidence_set(run.sim.observe(a=0.5, b=0.5, seed=3))
    assert "Neyman" in repr(confidence) and confidence.truth == pytest.approx((0.5, 0.5))
    assert not confidence.excludes(a=0.5, b=0.5) and confidence.excludes(a=-2.5, b=-2.5)
    assert confidence.plot() is not None
    # the limits at the run's levels from the kept maps are the stage's; at another level nested
    result = np.load(run_dir.validation_data("expected_limits", 0))
    again = run.expected_limits()
    assert np.array_equal(again["fraction_frequentist"], result["fraction_frequentist"])
    assert np.array_equal(again["fraction_cls"], result["fraction_cls"])
    at_90 = run.expected_limits((0.9,))["fraction_frequentist"][0, 0]
    assert np.all(at_90 <= result["fraction_frequentist"][0, 0] + 1e-12)
    with pytest.raises(ConfigError, match=r"level = '0.999'.*n_sim_calibration >= 100_000"):
        run.confidence_set(level=0.999)
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        run.confidence_set(level=1.5)
    with pytest.raises(ConfigError, match="method = 'neyman'"):
        run.confidence_set(method="neyman")
    assert run.plot_expected_limits(method="cls") is not None
