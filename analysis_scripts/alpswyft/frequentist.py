"""The validation stage's frequentist limits: the Neyman construction and CLs of
:mod:`alpswyft.neyman` applied to a run's last-round network.

For every ``prediction_pairs`` plane (50 x 50 cells over the initial box, as the HPD maps):

1. **calibration** (``store_calibration``, every free parameter from the last round's box, never
   trained on): t of each simulation at its own truth, whose k nearest neighbours (tricube
   weighted) give the critical values and p-values anywhere on the plane;
2. **null** (``store_null``, CLs only: the planes' POIs at their Null values): t at every cell;
3. **limit coverage** (``store_limit_coverage``, as the calibration): whether each method's set
   at each level holds the truth's cell, smoothed over the plane;
4. **expected limits** (``store_explim``) and the run's own observations (the mock or real one and
   the extra observations): the excluded cells of each method.

Cells outside the last round's box (after a truncation) are excluded by every method, as HPD does:
the truncation is the mock observation's, not part of the calibrated test.

Results: ``val_output/limit_calibration_gridpoint_<g>.npz`` (what the workbench needs to test new
observations: the calibration truths and t, k and the kernel, the null t maps), ``limit_coverage_gridpoint_<g>.npz``
(the coverage maps) and ``confidence_sets_gridpoint_<g>.npz`` (the run's observations); the
expected-limit maps join ``expected_limits_gridpoint_<g>.npz`` as ``fraction_<method>``.
"""

from __future__ import annotations

import numpy as np

from alpswyft import neyman
from alpswyft.limits import binomial_interval, hpd_excluded
from analysis_core.errors import ConfigError
from analysis_core.files import save_npz

#: Coarse bins per axis of the binned coverage map.
COVERAGE_BINS = 6


class PlaneStatistic:
    """A network's 2D marginal of one ``prediction_pairs`` plane at its cell centres (and at one
    more point per observation), and the test statistic t from it."""

    def __init__(
        self, config, network, pair: tuple[int, int], edges_x: np.ndarray, edges_y: np.ndarray, box
    ):
        import torch

        self.network = network
        self.column = network.pairs.index(tuple(pair))
        self.fi, self.fj = config.physics.POI_indices[pair[0]], config.physics.POI_indices[pair[1]]
        self.edges_x, self.edges_y = np.asarray(edges_x, float), np.asarray(edges_y, float)
        self.x, self.y = neyman.cell_centres(self.edges_x, self.edges_y)
        self.shape = (len(self.edges_x) - 1, len(self.edges_y) - 1)
        self.box = np.asarray(box, float)  # the last round's, all free parameters
        (lo_x, hi_x), (lo_y, hi_y) = self.box[self.fi], self.box[self.fj]
        self.outside = ~((self.x >= lo_x) & (self.x <= hi_x) & (self.y >= lo_y) & (self.y <= hi_y))
        px, py = config.table.free[self.fi].prior, config.table.free[self.fj].prior
        self.prior_at = lambda x, y: (
            px.density(np.asarray(x, float), lo_x, hi_x)
            * py.density(np.asarray(y, float), lo_y, hi_y)
        )
        self.prior = self.prior_at(self.x, self.y)
        rows = np.tile(
            config.table.obs, (len(self.x) + 1, 1)
        )  # the last row: a point of the observation's own
        rows[:-1, self.fi], rows[:-1, self.fj] = self.x, self.y
        self.rows = torch.as_tensor(rows, dtype=torch.float32, device=network.device)

    def unit(self, x, y) -> np.ndarray:
        return neyman.to_unit(x, y, self.edges_x, self.edges_y)

    def logratios(self, features, point=None) -> tuple[np.ndarray, float | None]:
        """Log-ratios of one observation (its head features) at the cell centres (-inf outside the
        box), and at ``point`` (x, y) if given."""
        from alpswyft.inference import logratios_for_features

        if point is not None:
            self.rows[-1, self.fi], self.rows[-1, self.fj] = float(point[0]), float(point[1])
        out = logratios_for_features(
            self.network, features, self.rows, with_1d=False, columns_2d=[self.column]
        )[0][:, 0]
        cells = np.where(self.outside, -np.inf, out[:-1])
        return cells, (None if point is None else float(out[-1]))

    def cell_index(self, x, y) -> np.ndarray:
        """Flat index of the cell holding each point (clipped to the plane)."""
        i = np.clip(np.searchsorted(self.edges_x, x, side="right") - 1, 0, self.shape[0] - 1)
        j = np.clip(np.searchsorted(self.edges_y, y, side="right") - 1, 0, self.shape[1] - 1)
        return i * self.shape[1] + j


def statistic_maps(plane: PlaneStatistic, features) -> np.ndarray:
    """t maps (n_obs, n_cells) of a batch of observations' features."""
    return neyman.statistic_map(np.array([plane.logratios(f)[0] for f in features]))


class Exclusions:
    """Each method's excluded cells of one plane from an observation's log-ratio map."""

    def __init__(
        self,
        plane: PlaneStatistic,
        critical: neyman.CriticalValues,
        levels,
        methods,
        null_maps: np.ndarray | None,
    ):
        self.plane, self.critical, self.levels, self.methods = (
            plane,
            critical,
            tuple(levels),
            tuple(methods),
        )
        self.null_maps = null_maps
        self.neighbours = critical.neighbours(plane.unit(plane.x, plane.y))

    def __call__(self, logratios: np.ndarray) -> dict[str, np.ndarray]:
        """{method: bool (n_levels, nx, ny)} for one observation's log-ratios at the cell centres."""
        t = neyman.statistic_map(logratios)
        out = {}
        for method in self.methods:
            if method == "hpd":
                out[method] = hpd_excluded(
                    self._density(logratios).reshape(self.plane.shape), self.levels
                )
            else:
                excluded = neyman.excluded_cells(
                    t,
                    self.neighbours,
                    self.critical,
                    self.levels,
                    method,
                    self.null_maps,
                    self.plane.outside,
                )
                out[method] = excluded.reshape(len(self.levels), *self.plane.shape)
        return out

    def at_point(
        self, logratios: np.ndarray, logratio_point: float, point
    ) -> dict[str, np.ndarray]:
        """{method: bool (n_levels,)}: whether each method's set excludes the point (x, y) itself
        (not its cell), from the log-ratios at the cell centres and at the point. CLs takes the
        null hypothesis' t distribution of the point's cell; HPD compares the point's density
        r x prior with the smallest density of the cells inside the region."""
        plane = self.plane
        t = neyman.statistic_at(logratios[None], np.array([logratio_point]))
        neighbours = self.critical.neighbours(plane.unit([point[0]], [point[1]]))
        out = {}
        for method in self.methods:
            if method == "frequentist":
                out[method] = np.array(
                    [t[0] > self.critical.quantile(neighbours, level)[0] for level in self.levels]
                )
            elif method == "cls":
                cell = plane.cell_index(point[0], point[1])
                p_theta = self.critical.pvalue(neighbours, t)[0]
                p_null = float(np.mean(self.null_maps[:, cell] >= t[0]))
                out[method] = np.array([p_theta < (1.0 - level) * p_null for level in self.levels])
            else:
                density = self._density(logratios)
                inside = ~hpd_excluded(density, self.levels)
                mine = float(
                    np.exp(logratio_point - np.max(logratios)) * plane.prior_at(point[0], point[1])
                )
                out[method] = np.array([mine < density[cells].min() for cells in inside])
        return out

    def _density(self, logratios: np.ndarray) -> np.ndarray:
        """r x prior at the cell centres, up to a constant: the HPD region's density."""
        return np.exp(logratios - np.max(logratios)) * self.plane.prior


def calibrate(
    config, plane: PlaneStatistic, sims: dict, observed_nodes, progress
) -> tuple[np.ndarray, np.ndarray]:
    """The calibration simulations' truths in the unit square (N, 2) and t at each truth (N,)."""
    from alpswyft.inference import observation_features

    features = observation_features(plane.network, {k: sims[k] for k in observed_nodes})
    truth = sims["params"].astype(float)[:, [plane.fi, plane.fj]]
    t = np.empty(len(truth))
    for s in range(len(truth)):
        cells, at_truth = plane.logratios(features[s], truth[s])
        t[s] = neyman.statistic_at(cells[None], np.array([at_truth]))[0]
        progress(s + 1)
    return plane.unit(truth[:, 0], truth[:, 1]), t


def coverage_indicators(
    exclusions: Exclusions, sims: dict, features, progress
) -> tuple[np.ndarray, dict]:
    """For the limit-coverage simulations: truths in the unit square (N, 2) and, per method,
    whether its set holds the truth itself (n_levels, N)."""
    plane = exclusions.plane
    truth = sims["params"].astype(float)[:, [plane.fi, plane.fj]]
    covered = {m: np.zeros((len(exclusions.levels), len(truth)), bool) for m in exclusions.methods}
    for s in range(len(truth)):
        cells, at_truth = plane.logratios(features[s], truth[s])
        for method, excluded in exclusions.at_point(cells, at_truth, truth[s]).items():
            covered[method][:, s] = ~excluded
        progress(s + 1)
    return plane.unit(truth[:, 0], truth[:, 1]), covered


def coverage_summary(
    truths_unit: np.ndarray, covered: dict, levels, plane: PlaneStatistic
) -> tuple[dict, dict]:
    """Coverage maps (smooth, with 1 sigma, and binned with Clopper-Pearson) of every method and
    level (by method, the maps of :data:`alpswyft.limits.COVERAGE_MAPS`), and their summary:
    overall coverage, the smallest smooth coverage and the fraction of the plane where it lies
    below level - 2 sigma."""
    points = plane.unit(plane.x, plane.y)
    arrays, summary = {}, {}
    for method, hits in covered.items():
        smooth, sigma, binned = [], [], []
        summary[method] = {}
        for k, level in enumerate(levels):
            p, s = neyman.smooth_coverage(truths_unit, hits[k], points)
            smooth.append(p.reshape(plane.shape))
            sigma.append(s.reshape(plane.shape))
            binned.append(neyman.binned_coverage(truths_unit, hits[k], COVERAGE_BINS))
            low, high = binomial_interval(int(hits[k].sum()), hits.shape[1])
            below = p < level - 2 * s
            summary[method][f"{level:g}"] = {
                "coverage": float(hits[k].mean()),
                "interval_68": [low, high],
                "smooth_min": float(p.min()),
                "smooth_min_sigma": float(s[np.argmin(p)]),
                "area_below_2sigma": float(below.mean()),
            }
        arrays[method] = {
            "smooth": np.array(smooth),
            "sigma": np.array(sigma),
            "binned": np.array([b["fraction"] for b in binned]),
            "binned_low": np.array([b["low"] for b in binned]),
            "binned_high": np.array([b["high"] for b in binned]),
            "binned_n": np.array([b["n"] for b in binned]),
            "covered": hits,
        }
    return arrays, summary


def save_calibration(
    path, planes: list[PlaneStatistic], criticals: list[neyman.CriticalValues], null_maps
) -> None:
    """What a later test of new observations needs (the workbench's ``confidence_set``)."""
    save_npz(
        path,
        edges_x=np.array([p.edges_x for p in planes]),
        edges_y=np.array([p.edges_y for p in planes]),
        truths_unit=np.array([c.truths_unit for c in criticals]),
        statistic=np.array([c.statistic for c in criticals]),
        k=np.array(criticals[0].k),
        kernel=np.array(criticals[0].kernel),
        **({} if null_maps is None else {"null_maps": np.array(null_maps, np.float32)}),
    )


def leave_one_out_summary(critical: neyman.CriticalValues, levels) -> dict:
    """The critical values' own check, on the calibration store: the coverage of each simulation
    by the critical value of the others, overall and in COVERAGE_BINS x COVERAGE_BINS bins (the
    smallest, with its 68 % interval)."""
    out = {}
    for level in levels:
        covered = critical.leave_one_out_covered(level)
        bins = neyman.binned_coverage(critical.truths_unit, covered, COVERAGE_BINS)
        worst = np.unravel_index(np.nanargmin(bins["fraction"]), bins["fraction"].shape)
        out[f"{level:g}"] = {
            "coverage": float(covered.mean()),
            "bin_min": float(bins["fraction"][worst]),
            "bin_min_interval_68": [float(bins["low"][worst]), float(bins["high"][worst])],
        }
    return out


def fractions_from_centres(
    logratios_centres: np.ndarray, calibration_path, levels, method: str
) -> np.ndarray:
    """Exclusion fractions (n_planes, n_levels, nx, ny) of ``method`` (frequentist or cls) at any
    ``levels`` from the kept log-ratio maps at the cell centres (plane, observation, cell; -inf
    outside the last round's box) and the run's calibration: the validation stage's counting
    without a network."""
    data = np.load(calibration_path)
    out = []
    for p, maps in enumerate(np.asarray(logratios_centres, float)):
        critical, null_maps = load_critical(calibration_path, p)
        if method == "cls" and null_maps is None:
            raise KeyError(
                "no CLs in this run: it simulated no null hypothesis (limit_method without cls)"
            )
        x, y = neyman.cell_centres(data["edges_x"][p], data["edges_y"][p])
        neighbours = critical.neighbours(
            neyman.to_unit(x, y, data["edges_x"][p], data["edges_y"][p])
        )
        shape = (len(data["edges_x"][p]) - 1, len(data["edges_y"][p]) - 1)
        total = np.zeros((len(levels), len(x)))
        for lr in maps:
            total += neyman.excluded_cells(
                neyman.statistic_map(lr),
                neighbours,
                critical,
                levels,
                method,
                null_maps,
                np.isneginf(lr),
            )
        out.append((total / max(len(maps), 1)).reshape(len(levels), *shape))
    return np.array(out)


def check_level(level: float, k: int, n_calibration: int) -> None:
    """A confidence level the calibration can serve: TAIL_COUNT neighbours beyond its critical
    value; ConfigError naming the calibration size it needs otherwise."""
    if not 0 < level < 1:
        raise ConfigError("level", level, "a confidence level strictly between 0 and 1, e.g. 0.95")
    if neyman.neighbours_needed([level]) > k:
        raise ConfigError(
            "level",
            level,
            f"this run's calibration has {k} neighbours per point ({n_calibration:_} "
            f"simulations), enough for levels up to {1 - neyman.TAIL_COUNT / k:.4g}; {level:g} needs "
            f"n_sim_calibration >= {neyman.calibration_size_needed([level]):_}",
        )


def load_critical(path, plane_index: int) -> tuple[neyman.CriticalValues, np.ndarray | None]:
    """The critical values of one plane, and its null t maps, from ``limit_calibration_gridpoint_<g>.npz``."""
    data = np.load(path)
    # files written before the tricube weights hold no kernel: their limits used equal weights
    kernel = str(data["kernel"]) if "kernel" in data else "uniform"
    critical = neyman.CriticalValues(
        data["truths_unit"][plane_index], data["statistic"][plane_index], int(data["k"]), kernel
    )
    null_maps = data["null_maps"][plane_index].astype(float) if "null_maps" in data else None
    return critical, null_maps
