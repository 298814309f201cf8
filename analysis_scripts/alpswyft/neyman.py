"""Frequentist exclusions from the learned ratio: a Neyman construction and CLs on a POI plane.

The test statistic of a point theta = (x, y) of a plane, for an observation D, compares the
learned 2D marginal log-ratio there with its largest value on the plane's grid:

    t(D; theta) = max over the cell centres theta' of log r(D; theta') - log r(D; theta)  (>= 0).

log r(D; theta) = log p(D | theta) - log p(D) with the other parameters integrated over their
prior, so t is the integrated (marginal) likelihood-ratio statistic, the network's estimate of it
(half the usual -2 ln lambda). A point is excluded at confidence ``level`` when t exceeds its
critical value c(theta), the ``level`` quantile of t under simulations **at** theta with every
other parameter (the spectrum, B0, the field realisation, ...) drawn from its prior: a hybrid
frequentist treatment of the nuisances, as MAGIC's use of field realisations. Whatever the
network learned, the set {theta : t <= c(theta)} covers the truth with probability ``level``
at every theta (up to the error of c), and it does not depend on how much prior box lies where
the data see nothing.

The critical values come from one calibration store with theta drawn over the plane (LF2I,
Dalmasso, Masserano, Zhao, Izbicki & Lee, arXiv:2107.03920): t's distribution at theta is that of
the ``k`` calibration simulations nearest to theta in the plane's unit square, each weighted with
the tricube kernel of its distance (Cleveland's loess weights; k-nearest-neighbour quantile
regression). The same weighted neighbours give the p-value P_theta(T >= t), so one estimator
serves the Neyman test, its p-values and CLs. In both the point's own simulation counts as one
more neighbour of average weight, the (k + 1)-sample rule of a k-sample reference (the exact one
with equal weights), so they are nominal where t's distribution is locally constant.

Why weights: t's distribution is not smooth over the plane. On the ALP default its 68 % quantile
is about 0.3 over most of the plane and about 1 on narrow ridges in m (where the network resolves
the spectral features), a few cells wide. Equal weights over 5 % of the store average a ridge
with its flanks and under-cover on it; the tricube weights concentrate on the nearest, at the
same noise as equal weights over about half as many (measured with ``docs/compare_critical_values.py``,
the calibration store's leave-one-out coverage; docs/guide/results.md).

CLs (Read 2002; used by VERITAS for NGC 1275) divides that p-value by the one of the same
statistic under the no-ALP hypothesis (the Null column), estimated from simulations at the null
point: theta is excluded when p_theta / p_null < 1 - level. A plain Neyman test excludes a point
where the data have no sensitivity in 1 - level of the observations, by construction; there
p_theta = p_null, and CLs does not exclude it.

Coverage at every theta (LF2I's diagnostic) is estimated from a further set of simulations with
theta over the plane: the indicator "the set holds the truth" smoothed with a Gaussian kernel in
the unit square, with its binomial error, and in coarse bins with Clopper-Pearson intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import cKDTree

from alpswyft.limits import binomial_interval

#: The limit constructions of ``limit_method``.
METHODS = ("frequentist", "cls", "hpd")
#: How each construction is named on figures and in logs.
METHOD_WORDS = {"frequentist": "Neyman (frequentist)", "cls": "CLs", "hpd": "HPD (Bayesian)"}
#: Calibration simulations expected beyond the critical value of the highest level, per neighbourhood.
TAIL_COUNT = 5
#: k for a calibration store of 10 000 simulations. Larger neighbourhoods are less noisy, smaller
#: ones follow c where it changes fast: on the ALP default (10 000 calibration simulations,
#: leave-one-out), 500 with equal weights left 5 % of the plane below 0.68 - 2 sigma at 68 %,
#: 300 with tricube weights none. k grows as N^(2/3), the rate that balances a quantile's variance
#: (1/k) against its squared bias over the neighbourhood ((k/N)^2: its area, squared) in two dimensions.
NEIGHBOURS_AT_10000 = 300
#: The smallest store holds :func:`neighbours_needed` in a neighbourhood of at most this fraction.
LARGEST_NEIGHBOUR_FRACTION = 0.05
#: The weights of the neighbours: ``tricube`` (the construction's) or ``uniform`` (for comparison).
KERNELS = ("tricube", "uniform")
#: Width (in the plane's unit square) of the Gaussian kernel of the coverage map.
COVERAGE_BANDWIDTH = 0.08


def neighbours_needed(levels) -> int:
    """Calibration simulations per neighbourhood for the critical value of the highest level:
    ``TAIL_COUNT`` of them beyond it."""
    return math.ceil(TAIL_COUNT / (1.0 - max(levels)) - 1e-9)


def calibration_size_needed(levels) -> int:
    """The smallest calibration store for ``levels``: neighbourhoods of :func:`neighbours_needed`
    simulations that hold at most ``LARGEST_NEIGHBOUR_FRACTION`` of it."""
    return math.ceil(neighbours_needed(levels) / LARGEST_NEIGHBOUR_FRACTION - 1e-9)


def neighbour_count(n_calibration: int, levels) -> int:
    """k of the k-nearest-neighbour critical values for a calibration store of ``n_calibration``."""
    return max(
        neighbours_needed(levels), round(NEIGHBOURS_AT_10000 * (n_calibration / 10_000) ** (2 / 3))
    )


def cell_centres(edges_x: np.ndarray, edges_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centres of a plane's cells, flattened (x slowest, as :class:`~alpswyft.limits.ExclusionCounter`'s maps)."""
    x, y = np.meshgrid(
        0.5 * (edges_x[1:] + edges_x[:-1]), 0.5 * (edges_y[1:] + edges_y[:-1]), indexing="ij"
    )
    return x.ravel(), y.ravel()


def to_unit(x, y, edges_x, edges_y) -> np.ndarray:
    """Points (x, y) of a plane in its unit square (n, 2)."""
    ux = (np.asarray(x, float) - edges_x[0]) / (edges_x[-1] - edges_x[0])
    uy = (np.asarray(y, float) - edges_y[0]) / (edges_y[-1] - edges_y[0])
    return np.column_stack([np.ravel(ux), np.ravel(uy)])


def statistic_map(logratios_cells: np.ndarray) -> np.ndarray:
    """t at every cell centre, from the log-ratios there (..., n_cells): max - value; a cell at
    -inf (outside the last round's box) gets t = inf, excluded by every test."""
    logratios_cells = np.asarray(logratios_cells, float)
    with np.errstate(invalid="ignore"):  # -inf - -inf where every cell is outside
        t = np.max(logratios_cells, axis=-1, keepdims=True) - logratios_cells
    return np.where(np.isneginf(logratios_cells), np.inf, t)


def statistic_at(logratios_cells: np.ndarray, logratio_point: np.ndarray) -> np.ndarray:
    """t at one point per observation (a calibration truth), from the observation's log-ratios at
    the cell centres (n_obs, n_cells) and at the point (n_obs,): the largest of both minus the
    point's."""
    logratio_point = np.asarray(logratio_point, float)
    top = np.maximum(np.max(np.asarray(logratios_cells, float), axis=-1), logratio_point)
    return top - logratio_point


@dataclass(frozen=True)
class Neighbourhoods:
    """The calibration simulations near each of n points: their t, sorted (n, k), and their
    weights in the same order (n, k)."""

    t: np.ndarray
    weights: np.ndarray

    @property
    def effective_count(self) -> np.ndarray:
        """Kish's effective number of simulations of each neighbourhood (n,): W^2 / sum w^2."""
        return self.weights.sum(axis=1) ** 2 / (self.weights**2).sum(axis=1)

    def __getitem__(self, index) -> Neighbourhoods:
        return Neighbourhoods(self.t[index], self.weights[index])


class CriticalValues:
    """The distribution of t at any point of a plane, from calibration simulations: the t of the
    ``k`` calibration truths nearest to the point in the plane's unit square, weighted with the
    ``kernel`` of their distance.

    ``truths_unit`` (N, 2): the calibration truths in the unit square; ``statistic`` (N,): t of
    each simulation at its own truth.
    """

    def __init__(
        self, truths_unit: np.ndarray, statistic: np.ndarray, k: int, kernel: str = "tricube"
    ):
        self.truths_unit = np.asarray(truths_unit, float)
        self.statistic = np.asarray(statistic, float)
        if not 1 <= k < len(self.statistic):
            raise ValueError(
                f"k = {k}: needs 1 <= k < {len(self.statistic)} calibration simulations"
            )
        if kernel not in KERNELS:
            raise ValueError(f"kernel {kernel!r}: expected one of {KERNELS}")
        self.k, self.kernel = int(k), kernel
        self._tree = cKDTree(self.truths_unit)

    def neighbours(
        self, points_unit: np.ndarray, leave_out_nearest: bool = False
    ) -> Neighbourhoods:
        """The k nearest calibration simulations of each point (n_points rows).
        ``leave_out_nearest``: skip each point's nearest one (a calibration truth itself, for
        leave-one-out checks)."""
        skip = int(leave_out_nearest)
        # one more than k: the tricube's width is the distance of the (k + 1)-th, so all k weigh
        distance, index = self._tree.query(np.atleast_2d(points_unit), k=self.k + 1 + skip)
        distance, index = distance[:, skip:], index[:, skip:]
        if self.kernel == "tricube":
            width = distance[:, -1:]
            with np.errstate(invalid="ignore", divide="ignore"):
                weights = np.where(
                    width > 0, (1.0 - np.clip(distance / width, 0.0, 1.0) ** 3) ** 3, 1.0
                )
        else:
            weights = np.ones_like(distance)
        t = self.statistic[index[:, :-1]]
        order = np.argsort(t, axis=1)
        return Neighbourhoods(
            np.take_along_axis(t, order, 1), np.take_along_axis(weights[:, :-1], order, 1)
        )

    @staticmethod
    def quantile(neighbours: Neighbourhoods, level: float) -> np.ndarray:
        """c at ``level`` (n_points,), t > c excludes: the smallest neighbour whose cumulative
        weight reaches ``level`` (W + w0), W the total weight and w0 = W / k the point's own
        simulation's, one average neighbour (with equal weights the ceil(level (k + 1))-th
        smallest); the largest neighbour where none does."""
        cumulative = np.cumsum(neighbours.weights, axis=1)
        total = cumulative[:, -1:]
        target = level * total * (1.0 + 1.0 / neighbours.t.shape[1]) - 1e-9
        first = np.argmax(cumulative >= target, axis=1)
        first = np.where(total[:, 0] >= target[:, 0], first, neighbours.t.shape[1] - 1)
        return neighbours.t[np.arange(len(first)), first]

    @staticmethod
    def pvalue(neighbours: Neighbourhoods, t: np.ndarray) -> np.ndarray:
        """P_theta(T >= t) estimated from the neighbours (n_points,): (w0 + the weight at or above
        t) / (w0 + W), the point's own simulation counting as one average neighbour (w0 = W / k);
        with equal weights (1 + the number at or above t) / (k + 1), a valid p-value of a k-sample
        reference."""
        total = neighbours.weights.sum(axis=1)
        own = total / neighbours.t.shape[1]
        above = np.sum(neighbours.weights * (neighbours.t >= np.asarray(t, float)[:, None]), axis=1)
        return (own + above) / (own + total)

    def leave_one_out_covered(self, level: float) -> np.ndarray:
        """Whether each calibration simulation's t is within the critical value estimated from
        the others (N,): the estimator's coverage, measured on its own store."""
        return self.statistic <= self.quantile(
            self.neighbours(self.truths_unit, leave_out_nearest=True), level
        )


def null_pvalues(null_maps: np.ndarray, t_map: np.ndarray) -> np.ndarray:
    """P_null(T(theta) >= t(theta)) at every cell: ``null_maps`` (n_null, n_cells) are t under
    simulations of the null hypothesis, ``t_map`` (n_cells,) the observation's."""
    return np.mean(np.asarray(null_maps) >= np.asarray(t_map)[None, :], axis=0)


def excluded_cells(
    t_map: np.ndarray,
    neighbours: Neighbourhoods,
    critical: CriticalValues,
    levels,
    method: str,
    null_maps: np.ndarray | None = None,
    outside: np.ndarray | None = None,
) -> np.ndarray:
    """Cells (n_levels, n_cells) that ``method`` (``frequentist`` or ``cls``) excludes at each
    level for one observation's t map (n_cells,). ``neighbours`` are the cells'
    (:meth:`CriticalValues.neighbours`); ``null_maps`` (n_null, n_cells) the null hypothesis'
    t maps (CLs); ``outside``: cells outside the last round's box, excluded there as in HPD."""
    t_map = np.asarray(t_map, float)
    if method == "frequentist":
        out = np.array([t_map > critical.quantile(neighbours, level) for level in levels])
    elif method == "cls":
        if null_maps is None:
            raise ValueError("CLs needs the null hypothesis' t maps")
        p_theta = critical.pvalue(neighbours, t_map)
        p_null = null_pvalues(null_maps, t_map)
        # p_theta / p_null < 1 - level, written without dividing: p_null = 0 never excludes
        out = np.array([p_theta < (1.0 - level) * p_null for level in levels])
    else:
        raise ValueError(f"method {method!r}: expected 'frequentist' or 'cls'")
    if outside is not None:
        out |= outside[None, :]
    return out


def smooth_coverage(
    truths_unit: np.ndarray,
    covered: np.ndarray,
    points_unit: np.ndarray,
    bandwidth: float = COVERAGE_BANDWIDTH,
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage as a smooth function of theta: the Gaussian-kernel average of the indicators
    ``covered`` (n_sims,) at ``points_unit`` (n_points, 2), and its binomial 1 sigma error
    sqrt(p (1 - p) sum w^2) / sum w (Kish's effective number of simulations)."""
    covered = np.asarray(covered, float)
    d2 = ((points_unit[:, None, :] - truths_unit[None, :, :]) ** 2).sum(-1)
    w = np.exp(-0.5 * d2 / bandwidth**2)
    total = w.sum(axis=1)
    p = (w @ covered) / total
    n_eff = total**2 / (w**2).sum(axis=1)
    # a floor of one simulation's worth of binomial noise keeps p = 1 from claiming zero error
    sigma = np.sqrt(np.maximum(p * (1 - p), 1.0 / (n_eff + 1)) / n_eff)
    return p, sigma


def unit_cells(points_unit: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The cell (ix, iy) of each point of the unit square (n, 2) on an nx x ny grid over it."""
    nx, ny = shape
    return (
        np.clip((points_unit[:, 0] * nx).astype(int), 0, nx - 1),
        np.clip((points_unit[:, 1] * ny).astype(int), 0, ny - 1),
    )


def binned_coverage(
    truths_unit: np.ndarray, covered: np.ndarray, bins: int
) -> dict[str, np.ndarray]:
    """Coverage in ``bins`` x ``bins`` cells of the unit square: fraction, count and the 68 %
    Clopper-Pearson interval of each (nan where a cell holds no simulation)."""
    ix, iy = unit_cells(truths_unit, (bins, bins))
    n = np.zeros((bins, bins), int)
    k = np.zeros((bins, bins), int)
    np.add.at(n, (ix, iy), 1)
    np.add.at(k, (ix, iy), np.asarray(covered, int))
    fraction = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    low, high = np.full((bins, bins), np.nan), np.full((bins, bins), np.nan)
    for i, j in zip(*np.nonzero(n)):
        low[i, j], high[i, j] = binomial_interval(int(k[i, j]), int(n[i, j]))
    return {"fraction": fraction, "n": n, "low": low, "high": high}


def gaussian_neyman_threshold(level: float) -> float:
    """The exact Neyman critical value of t for a 2D Gaussian likelihood: chi2_2 quantile / 2
    (t is half of -2 ln lambda)."""
    return 0.5 * float(stats.chi2.ppf(level, 2))
