"""Calibration of the trained marginal posteriors: empirical coverage of highest-posterior-density
(HPD) regions, as swyft's ``test_coverage`` / ``plot_zz`` compute it.

For an observation x with true parameters theta0 and a bank of prior samples theta_k, the
posterior weights are w_k = softmax(log r(x, theta_k)). The HPD credibility at which the truth is
just excluded is the mass of the bank with a larger log-ratio than the truth's:
m = sum_{k: r_k > r_0} w_k. For a calibrated posterior m is uniform on [0, 1]: the fraction of observations
with m < c (the truth inside the HPD region of credibility c) equals c. Error bands are Jeffreys
intervals of that binomial fraction.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def hpd_masses(logratio_truth: np.ndarray, logratio_bank: np.ndarray) -> np.ndarray:
    """HPD credibility at which each truth is excluded.

    Arguments: ``logratio_truth`` (n_obs,) at the true parameters, ``logratio_bank``
    (n_obs, n_bank) at the prior samples, for one marginal. Returns (n_obs,) masses in [0, 1].
    """
    logratio_bank = np.asarray(logratio_bank, dtype=float)
    weights = np.exp(logratio_bank - logratio_bank.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    above = logratio_bank > np.asarray(logratio_truth, dtype=float)[:, None]
    return np.sum(weights * above, axis=1)


def jeffreys_interval(k: np.ndarray, n: int, confidence: float = 0.6827) -> tuple[np.ndarray, np.ndarray]:
    """Jeffreys interval (Beta(k + 1/2, n - k + 1/2) quantiles) of a binomial fraction k / n."""
    tail = (1 - confidence) / 2
    k = np.asarray(k, dtype=float)
    low = np.where(k > 0, stats.beta.ppf(tail, k + 0.5, n - k + 0.5), 0.0)
    high = np.where(k < n, stats.beta.ppf(1 - tail, k + 0.5, n - k + 0.5), 1.0)
    return low, high


def empirical_coverage(masses: np.ndarray, credibility: np.ndarray) -> dict[str, np.ndarray]:
    """Fraction of truths inside the HPD region of each nominal ``credibility``, with its 1 sigma
    Jeffreys band; the same on swyft's z-score axis (z = Phi^-1((1 + c) / 2))."""
    masses = np.asarray(masses, dtype=float)
    credibility = np.asarray(credibility, dtype=float)
    inside = np.sum(masses[:, None] < credibility[None, :], axis=0)
    n = len(masses)
    low, high = jeffreys_interval(inside, n)
    z = lambda c: stats.norm.ppf((1 + np.clip(c, 0, 1 - 1e-12)) / 2)  # noqa: E731
    return {
        "nominal": credibility,
        "empirical": inside / n,
        "low": low,
        "high": high,
        "z_nominal": z(credibility),
        "z_empirical": z(inside / n),
        "z_low": z(low),
        "z_high": z(high),
        "n": np.array(n),
    }


def coverage_consistent(masses: np.ndarray, levels=(0.68, 0.95), n_sigma: float = 3.0) -> dict[float, bool]:
    """Whether the empirical coverage at each nominal level agrees with it within ``n_sigma``
    binomial standard deviations (sqrt(c (1 - c) / n))."""
    n = len(masses)
    empirical = empirical_coverage(masses, np.asarray(levels, dtype=float))["empirical"]
    return {level: bool(abs(e - level) <= n_sigma * np.sqrt(level * (1 - level) / n)) for level, e in zip(levels, empirical)}
