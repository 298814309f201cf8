"""Calibration of the trained marginal posteriors, as statistics of coverage simulations.

HPD coverage, as swyft's ``test_coverage`` / ``plot_zz`` compute it:

For an observation x with true parameters theta0 and a bank of prior samples theta_k, the
posterior weights are w_k = softmax(log r(x, theta_k)). The HPD credibility at which the truth is
just excluded is the mass of the bank with a larger log-ratio than the truth's:
m = sum_{k: r_k > r_0} w_k. For a calibrated posterior m is uniform on [0, 1]: the fraction of observations
with m < c (the truth inside the HPD region of credibility c) equals c. Error bands are Jeffreys
intervals of that binomial fraction.

TARP (Lemos, Coogan et al. 2023, arXiv:2302.03026; the DRP test of ``DRP_coverage_parameters``):
in the unit cube of the prior box, draw a reference point r per observation; f is the posterior mass closer to r than
the truth is. For a calibrated posterior f is uniform on [0, 1], whatever the (data-independent
or data-dependent) references; the expected coverage probability ECP(alpha) is the fraction of
observations with f < alpha. Posterior draws are the prior bank with importance weights
exp(log r), so no rejection sampling is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from alpswyft.limits import LEVELS
from alpswyft.results import SavedResult

CREDIBILITY_GRID = np.linspace(0.0, 0.999, 200)


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


def jeffreys_interval(
    k: np.ndarray, n: int, confidence: float = 0.6827
) -> tuple[np.ndarray, np.ndarray]:
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


def coverage_consistent(
    masses: np.ndarray, levels=LEVELS, n_sigma: float = 3.0
) -> dict[float, bool]:
    """Whether the empirical coverage at each nominal level agrees with it within ``n_sigma``
    binomial standard deviations (sqrt(c (1 - c) / n))."""
    n = len(masses)
    empirical = empirical_coverage(masses, np.asarray(levels, dtype=float))["empirical"]
    return {
        level: bool(abs(e - level) <= n_sigma * np.sqrt(level * (1 - level) / n))
        for level, e in zip(levels, empirical)
    }


def unit_cube(values: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``values`` (..., n_dims) mapped from ``box`` (n_dims, 2) into [0, 1]^n_dims."""
    box = np.asarray(box, dtype=float)
    return (np.asarray(values, dtype=float) - box[:, 0]) / (box[:, 1] - box[:, 0])


def tarp_fractions(
    samples: np.ndarray,
    truths: np.ndarray,
    references: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """TARP's f per observation: the (weighted) fraction of posterior draws closer (Euclidean
    distance) to the reference than the truth is.

    Arguments, all in the unit cube: ``samples`` (n_draws, n_dims), shared by all observations, or
    (n_obs, n_draws, n_dims); ``truths`` and ``references`` (n_obs, n_dims); ``weights`` (n_obs,
    n_draws) importance weights (normalised here), or None for equally weighted draws.
    """
    samples = np.asarray(samples, dtype=float)
    if samples.ndim == 2:
        samples = samples[None]
    references = np.asarray(references, dtype=float)
    d_samples = np.linalg.norm(samples - references[:, None, :], axis=-1)
    d_truth = np.linalg.norm(np.asarray(truths, dtype=float) - references, axis=-1)
    closer = d_samples < d_truth[:, None]
    if weights is None:
        return closer.mean(axis=1)
    weights = np.asarray(weights, dtype=float)
    return np.sum(weights * closer, axis=1) / np.sum(weights, axis=1)


def tarp_coverage(f: np.ndarray, alpha: np.ndarray = CREDIBILITY_GRID) -> dict[str, np.ndarray]:
    """Expected coverage probability ECP(alpha) = fraction of f below alpha, with its 1 sigma
    Jeffreys band, and the Kolmogorov-Smirnov test of f against the uniform distribution."""
    f = np.asarray(f, dtype=float)
    below = np.sum(f[:, None] < np.asarray(alpha)[None, :], axis=0)
    low, high = jeffreys_interval(below, len(f))
    ks = stats.kstest(f, "uniform")
    return {
        "alpha": np.asarray(alpha),
        "ecp": below / len(f),
        "low": low,
        "high": high,
        "ks_statistic": np.array(ks.statistic),
        "ks_pvalue": np.array(ks.pvalue),
    }


def tarp_consistent(f: np.ndarray, significance: float = 0.01) -> bool:
    """Whether f is consistent with the uniform distribution (KS test p-value above
    ``significance``): the TARP check of calibration."""
    return bool(tarp_coverage(f, np.array([0.5]))["ks_pvalue"] > significance)


def data_references(data: np.ndarray, n_dims: int, rng: np.random.Generator) -> np.ndarray:
    """Data-dependent reference points in [0, 1]^n_dims, one per observation: per axis a
    cosine-tapered sum over a random cyclic half of the bins (each bin min-max scaled across
    observations), turned into a phase by its empirical distribution function (not a fitted one),
    then 0.5 + 0.5 sin(2 pi ((freq phase)^exponent + offset)).

    ``data`` is (n_obs, nbins); returns (n_obs, n_dims).
    """
    data = np.asarray(data, dtype=float).reshape(len(data), -1)
    n_obs, nbins = data.shape
    low, high = data.min(axis=0), data.max(axis=0)
    scaled = (data - low) / np.where(high > low, high - low, 1.0)
    references = np.empty((n_obs, n_dims))
    half = max(nbins // 2, 1)
    for axis in range(n_dims):
        bins = (rng.integers(nbins) + np.arange(half)) % nbins
        taper = np.cos(np.linspace(-np.pi / 2, np.pi / 2, half + 2)[1:-1]) ** rng.uniform(0.5, 2.0)
        sums = scaled[:, bins] @ taper
        phase = (stats.rankdata(sums) - 0.5) / n_obs
        frequency, exponent, offset = rng.uniform(1.0, 1.4), rng.uniform(0.8, 1.5), rng.uniform()
        references[:, axis] = 0.5 + 0.5 * np.sin(
            2 * np.pi * ((frequency * phase) ** exponent + offset)
        )
    return references


#: The HPD coverage curves of :func:`empirical_coverage` a :class:`CoverageResult` keeps.
HPD_CURVES = ("nominal", "empirical", "low", "high", "z_nominal", "z_empirical", "z_low", "z_high")


@dataclass(frozen=True, eq=False)
class CoverageResult(SavedResult):
    """The calibration of a network's marginals on coverage simulations
    (``coverage_gridpoint_<g>.npz``).

    ``masses`` (marginal, simulation): the HPD mass at which each truth is excluded;
    ``tarp_f`` (reference set, marginal, simulation) and ``baseline_f`` (marginal, simulation):
    TARP's f against each set of references and for the uninformative baseline; the curves
    ``hpd`` (:data:`HPD_CURVES`, each (marginal, credibility)) and the TARP expected coverage
    ``tarp_ecp`` / ``tarp_low`` / ``tarp_high`` (reference set, marginal, ``alpha``) and
    ``baseline_ecp`` follow from them."""

    KIND = "coverage"

    marginals: tuple[str, ...]
    reference_sets: tuple[str, ...]
    masses: np.ndarray
    tarp_f: np.ndarray
    baseline_f: np.ndarray
    alpha: np.ndarray
    hpd: Mapping[str, np.ndarray]
    tarp_ecp: np.ndarray
    tarp_low: np.ndarray
    tarp_high: np.ndarray
    baseline_ecp: np.ndarray

    @classmethod
    def from_statistics(
        cls,
        marginals,
        reference_sets,
        masses: np.ndarray,
        tarp_f: np.ndarray,
        baseline_f: np.ndarray,
        alpha: np.ndarray = CREDIBILITY_GRID,
    ) -> CoverageResult:
        """The result of the per-simulation statistics, with its coverage curves on ``alpha``."""
        curves = [empirical_coverage(m, alpha) for m in masses]
        tarps = [[tarp_coverage(f_k, alpha) for f_k in f_r] for f_r in tarp_f]
        baselines = [tarp_coverage(f_k, alpha) for f_k in baseline_f]
        return cls(
            marginals=tuple(str(m) for m in marginals),
            reference_sets=tuple(str(r) for r in reference_sets),
            masses=masses,
            tarp_f=tarp_f,
            baseline_f=baseline_f,
            alpha=alpha,
            hpd={key: np.array([c[key] for c in curves]) for key in HPD_CURVES},
            tarp_ecp=np.array([[t["ecp"] for t in row] for row in tarps]),
            tarp_low=np.array([[t["low"] for t in row] for row in tarps]),
            tarp_high=np.array([[t["high"] for t in row] for row in tarps]),
            baseline_ecp=np.array([t["ecp"] for t in baselines]),
        )

    @property
    def n_simulations(self) -> int:
        return self.masses.shape[1]

    def ks_pvalues(self) -> tuple[np.ndarray, np.ndarray]:
        """The KS p-values of TARP's f against uniform: (reference set, marginal) and the
        baseline's (marginal)."""
        tarp = np.array([[tarp_coverage(f_k)["ks_pvalue"] for f_k in f_r] for f_r in self.tarp_f])
        return tarp, np.array([tarp_coverage(f_k)["ks_pvalue"] for f_k in self.baseline_f])

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "marginals": np.array(self.marginals),
            "masses": self.masses,
            "reference_sets": np.array(self.reference_sets),
            "tarp_f": self.tarp_f,
            "baseline_f": self.baseline_f,
            **{f"hpd_{key}": value for key, value in self.hpd.items()},
            "alpha": self.alpha,
            "tarp_ecp": self.tarp_ecp,
            "tarp_low": self.tarp_low,
            "tarp_high": self.tarp_high,
            "baseline_ecp": self.baseline_ecp,
        }

    @classmethod
    def from_arrays(cls, arrays) -> CoverageResult:
        return cls(
            marginals=tuple(str(m) for m in arrays["marginals"]),
            reference_sets=tuple(str(r) for r in arrays["reference_sets"]),
            masses=arrays["masses"],
            tarp_f=arrays["tarp_f"],
            baseline_f=arrays["baseline_f"],
            alpha=arrays["alpha"],
            hpd={key: arrays[f"hpd_{key}"] for key in HPD_CURVES},
            tarp_ecp=arrays["tarp_ecp"],
            tarp_low=arrays["tarp_low"],
            tarp_high=arrays["tarp_high"],
            baseline_ecp=arrays["baseline_ecp"],
        )
