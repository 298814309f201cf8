"""Empirical HPD coverage against the exact posterior of toy_line (physics spec section 6)."""

import numpy as np

from alpswyft.physics.toy import ToyLine, linear_gaussian_posterior
from alpswyft.validation import coverage_consistent, empirical_coverage, hpd_masses, jeffreys_interval

N_OBS, N_BANK = 1000, 4000


def exact_marginal_logratios(width_factor: float = 1.0):
    """1D marginal log-likelihood of a for N_OBS toy_line observations (truths from the flat prior
    on [-3, 3]^2), at the truths and on a prior bank; ``width_factor`` < 1 makes it overconfident."""
    rng = np.random.default_rng(0)
    model = ToyLine(-1, 1, 50)
    design = model.design_matrix()
    truths = rng.uniform(-3, 3, (N_OBS, 2))
    bank = rng.uniform(-3, 3, (N_BANK, 2))
    data = truths @ design.T + rng.standard_normal((N_OBS, 50))
    _, covariance = linear_gaussian_posterior(design, data[0], 1.0)
    means = np.array([linear_gaussian_posterior(design, y, 1.0)[0] for y in data])
    sigma = np.sqrt(covariance[0, 0]) * width_factor
    at_truth = -0.5 * ((truths[:, 0] - means[:, 0]) / sigma) ** 2
    on_bank = -0.5 * ((bank[None, :, 0] - means[:, None, 0]) / sigma) ** 2
    return at_truth, on_bank


def test_hpd_mass_of_simple_cases():
    bank = np.log(np.array([[0.1, 0.2, 0.3, 0.4]]))
    np.testing.assert_allclose(hpd_masses(np.log([0.25]), bank), [0.7])  # 0.3 + 0.4 lie above
    np.testing.assert_allclose(hpd_masses(np.log([0.5]), bank), [0.0])  # the truth is the mode
    low, high = jeffreys_interval(np.array([0, 50, 100]), 100)
    assert low[0] == 0 and high[2] == 1 and low[1] < 0.5 < high[1] and 0.09 < high[1] - low[1] < 0.11  # 2 x sqrt(0.25 / 100)


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
