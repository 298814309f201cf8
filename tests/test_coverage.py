"""HPD and TARP coverage against the exact posterior of toy_line."""

import numpy as np
import pytest

from alpswyft.coverage import (
    coverage_consistent,
    data_references,
    empirical_coverage,
    hpd_masses,
    jeffreys_interval,
    tarp_consistent,
    tarp_coverage,
    tarp_fractions,
    unit_cube,
)
from alpswyft.physics.toy import ToyLine, linear_gaussian_posterior

N_OBS, N_BANK = 1000, 4000


def toy_observations(seed: int):
    """N_OBS toy_line observations with truths from the flat prior on [-3, 3]^2, a prior bank of
    N_BANK samples, and each observation's exact posterior mean and (shared) covariance."""
    rng = np.random.default_rng(seed)
    design = ToyLine.on_grid(-1, 1, 50).design_matrix()
    truths = rng.uniform(-3, 3, (N_OBS, 2))
    bank = rng.uniform(-3, 3, (N_BANK, 2))
    data = truths @ design.T + rng.standard_normal((N_OBS, 50))
    _, covariance = linear_gaussian_posterior(design, data[0], 1.0)
    means = np.array([linear_gaussian_posterior(design, y, 1.0)[0] for y in data])
    return truths, bank, data, means, covariance


def exact_marginal_logratios(width_factor: float = 1.0):
    """1D marginal log-likelihood of a, at the truths and on the prior bank; ``width_factor`` < 1
    makes it overconfident."""
    truths, bank, _, means, covariance = toy_observations(0)
    sigma = np.sqrt(covariance[0, 0]) * width_factor
    at_truth = -0.5 * ((truths[:, 0] - means[:, 0]) / sigma) ** 2
    on_bank = -0.5 * ((bank[None, :, 0] - means[:, None, 0]) / sigma) ** 2
    return at_truth, on_bank


def test_hpd_mass_of_simple_cases():
    bank = np.log(np.array([[0.1, 0.2, 0.3, 0.4]]))
    np.testing.assert_allclose(hpd_masses(np.log([0.25]), bank), [0.7])  # 0.3 + 0.4 lie above
    np.testing.assert_allclose(hpd_masses(np.log([0.5]), bank), [0.0])  # the truth is the mode
    low, high = jeffreys_interval(np.array([0, 50, 100]), 100)
    assert (
        low[0] == 0 and high[2] == 1 and low[1] < 0.5 < high[1] and 0.09 < high[1] - low[1] < 0.11
    )  # 2 x sqrt(0.25 / 100)


def test_exact_posterior_covers_nominally():
    masses = hpd_masses(*exact_marginal_logratios())
    assert coverage_consistent(masses) == {0.68: True, 0.95: True}
    curve = empirical_coverage(masses, np.linspace(0.05, 0.95, 19))
    inside = (curve["low"] - 3 * (curve["high"] - curve["low"]) <= curve["nominal"]) & (
        curve["nominal"] <= curve["high"] + 3 * (curve["high"] - curve["low"])
    )
    assert inside.all()


def test_overconfident_posterior_fails_the_check():
    masses = hpd_masses(*exact_marginal_logratios(width_factor=0.5))
    assert coverage_consistent(masses) == {0.68: False, 0.95: False}
    assert np.all(empirical_coverage(masses, np.array([0.68, 0.95]))["empirical"] < [0.5, 0.8])


def exact_joint_posterior(width_factor: float = 1.0):
    """Truths, data, the prior bank and each observation's importance weights under the exact
    joint posterior of (a, b); ``width_factor`` scales the posterior's standard deviations."""
    truths, bank, data, means, covariance = toy_observations(1)
    precision = np.linalg.inv(covariance * width_factor**2)
    delta = bank[None] - means[:, None]
    logweights = -0.5 * np.einsum("nki,ij,nkj->nk", delta, precision, delta)
    weights = np.exp(logweights - logweights.max(axis=1, keepdims=True))
    return truths, data, bank, weights


BOX = np.array([[-3.0, 3.0], [-3.0, 3.0]])


@pytest.mark.parametrize("references", ["random", "data"])
def test_tarp_passes_the_exact_posterior(references):
    truths, data, bank, weights = exact_joint_posterior()
    rng = np.random.default_rng(2)
    refs = rng.uniform(size=(N_OBS, 2)) if references == "random" else data_references(data, 2, rng)
    f = tarp_fractions(unit_cube(bank, BOX), unit_cube(truths, BOX), refs, weights)
    assert tarp_consistent(f)
    curve = tarp_coverage(f)
    assert np.max(np.abs(curve["ecp"] - curve["alpha"])) < 0.06


def test_tarp_fails_an_overconfident_posterior():
    truths, _, bank, weights = exact_joint_posterior(width_factor=0.5)
    refs = np.random.default_rng(2).uniform(size=(N_OBS, 2))
    f = tarp_fractions(unit_cube(bank, BOX), unit_cube(truths, BOX), refs, weights)
    assert not tarp_consistent(f)


def test_uninformative_posterior_is_calibrated():
    """The prior itself (equal weights on the bank) is calibrated for truths from the prior: the
    baseline of the report."""
    truths, _, bank, _ = exact_joint_posterior()
    refs = np.random.default_rng(3).uniform(size=(N_OBS, 2))
    assert tarp_consistent(tarp_fractions(unit_cube(bank, BOX), unit_cube(truths, BOX), refs))


def test_tarp_agrees_with_the_tarp_package():
    """Equal weights and given references: our ECP equals tarp's at its alpha edges."""
    tarp = pytest.importorskip("tarp")
    rng = np.random.default_rng(4)
    samples = rng.uniform(size=(300, 200, 2))  # (n_draws, n_obs, n_dims), as tarp wants them
    truths, refs = rng.uniform(size=(200, 2)), rng.uniform(size=(200, 2))
    ecp, alpha = tarp.get_tarp_coverage(
        samples, truths, references=refs, norm=False, num_alpha_bins=20
    )
    f = tarp_fractions(samples.transpose(1, 0, 2), truths, refs)
    ours = tarp_coverage(f, alpha[1:-1])["ecp"]
    # tarp's histogram spans [min f, max f]; below its last edge the cumulative sums agree
    np.testing.assert_allclose(ours, ecp[1:-1], atol=1e-12)


def test_data_references_are_roughly_uniform():
    _, data, _, _ = exact_joint_posterior()
    refs = data_references(data, 3, np.random.default_rng(5))
    assert refs.shape == (N_OBS, 3) and refs.min() >= 0 and refs.max() <= 1
    assert all(0.3 < np.mean(refs[:, k]) < 0.7 for k in range(3))


def test_a_coverage_result_saves_and_loads_its_curves(tmp_path):
    """CoverageResult.from_statistics computes the curves of its per-simulation statistics; saved
    as coverage_gridpoint_<g>.npz (the report's layout) and loaded, it is the same."""
    from alpswyft.coverage import HPD_CURVES, CoverageResult
    from alpswyft.results import RunTree

    rng = np.random.default_rng(2)
    masses = rng.uniform(size=(2, 300))
    result = CoverageResult.from_statistics(
        ["a", "b"],
        ["random", "data"],
        masses,
        rng.uniform(size=(2, 2, 300)),
        rng.uniform(size=(2, 300)),
    )
    assert result.n_simulations == 300 and result.tarp_ecp.shape == (2, 2, len(result.alpha))
    assert np.allclose(
        result.hpd["empirical"][0], empirical_coverage(masses[0], result.alpha)["empirical"]
    )
    tree = RunTree(tmp_path)
    tree.val_output.mkdir()
    result.save(tree, 0)
    keys = set(np.load(tree.validation_data("coverage", 0)))
    assert {f"hpd_{c}" for c in HPD_CURVES} | {
        "masses",
        "tarp_f",
        "tarp_ecp",
        "baseline_ecp",
    } <= keys
    again = CoverageResult.load(tree, 0)
    assert again.marginals == ("a", "b") and again.reference_sets == ("random", "data")
    for key in HPD_CURVES:
        assert np.array_equal(again.hpd[key], result.hpd[key])
    tarp_p, baseline_p = again.ks_pvalues()
    assert tarp_p.shape == (2, 2) and (baseline_p > 0.001).all()  # uniform f: not rejected
