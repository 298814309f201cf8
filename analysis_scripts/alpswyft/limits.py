"""Expected limits: how often each cell of a POI plane is excluded under mock observations.

For each expected-limit simulation (POIs pinned at their Obs. values, nuisance parameters drawn
from the box) the 2D marginal posterior of a POI pair is evaluated on a fixed grid: its ratio r
times the pair's prior density at 2 x 2 points per cell. (A histogram of the weighted prior bank
would carry the bank's sampling noise: with a nearly flat posterior its emptiest cells, the same
in every simulation, would be "excluded".) The cells outside the highest-density region of
credibility c are excluded at level c. Counting exclusions over the simulations gives the
exclusion fraction of every cell: the median expected limit is its 0.5 contour, the 1 and 2 sigma
bands lie between its 0.16/0.84 and 0.023/0.977 contours. Nothing
larger than one simulation's points is ever held: the maps are accumulated one observation at a
time.

A false exclusion is a cell that one analysis excludes and a reference analysis (e.g. the
untruncated round 0) does not, on the same observation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import stats

from alpswyft.results import SavedResult
from analysis_core.files import load_npz

#: the credibility levels of a run that does not set ``credibility_levels``, and of its figures
LEVELS = (0.68, 0.95)

#: cells per axis of the expected-limit maps of a plane (over the initial box)
LIMIT_BINS = 50


def plane_edges(config, initial_bounds=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The cell edges (x, y) of each ``prediction_pairs`` plane: :data:`LIMIT_BINS` cells per axis
    over the initial box (``initial_bounds``, default the table's), in table space."""
    box = config.table.initial_bounds if initial_bounds is None else np.asarray(initial_bounds)
    initial = box[config.physics.POI_indices]
    return [
        (np.linspace(*initial[i], LIMIT_BINS + 1), np.linspace(*initial[j], LIMIT_BINS + 1))
        for i, j in config.validation.prediction_pairs
    ]


def percent(level: float) -> str:
    """A credibility level as people write it: 0.68 -> '68 %', 0.9973 -> '99.73 %'."""
    return f"{100 * level:.4g} %"


#: Evaluation points per cell and axis of an expected-limit plane.
SUBCELLS = 2
#: Exclusion fractions that bound the median and the 1 and 2 sigma expected-limit bands.
BAND_FRACTIONS = (0.023, 0.159, 0.5, 0.841, 0.977)
#: The published exclusion contours (AxionLimits' tables) and what each one is.
PUBLISHED = Path(__file__).resolve().parent / "data" / "axion_limits"
#: The top of a region that closes upwards (1e-11 GeV^-1 units): far above any plot.
_G_TOP = 1e11


def hpd_excluded(density: np.ndarray, levels=LEVELS) -> np.ndarray:
    """Cells outside the highest-density region of each credibility level.

    ``density`` (nx, ny) is any non-negative histogram; returns bool (n_levels, nx, ny). The
    region of level c is the smallest set of highest cells holding at least c of the mass.
    """
    flat = np.asarray(density, dtype=float).ravel()
    order = np.argsort(-flat, kind="stable")
    cumulative = np.cumsum(flat[order])
    cumulative /= cumulative[-1]
    excluded = np.ones((len(levels), flat.size), dtype=bool)
    for k, level in enumerate(levels):
        n_inside = min(int(np.searchsorted(cumulative, level)) + 1, flat.size)
        excluded[k, order[:n_inside]] = False
    return excluded.reshape(len(levels), *np.shape(density))


class ExclusionCounter:
    """Exclusion counts of one POI pair on a fixed grid, accumulated one observation at a time.

    Arguments: ``edges_x``, ``edges_y``: the grid's bin edges along the pair's first and second
    POI (in the parameters' own units, log10 where the table says so); ``levels``: credibility
    levels.
    """

    def __init__(
        self,
        edges_x: np.ndarray,
        edges_y: np.ndarray,
        levels=LEVELS,
        truth=None,
        no_signal_below_y: bool = False,
    ):
        self.edges_x, self.edges_y = np.asarray(edges_x, float), np.asarray(edges_y, float)
        self.levels = tuple(levels)
        shape = (len(self.levels), len(self.edges_x) - 1, len(self.edges_y) - 1)
        self.counts = np.zeros(shape, dtype=np.int64)
        self.false_counts = np.zeros(shape, dtype=np.int64)
        self.areas: list[np.ndarray] = []
        self.n = 0
        self.truth = truth
        self.truth_cells, self.truth_where = (
            (None, None)
            if truth is None
            else truth_cells(self.edges_x, self.edges_y, truth, no_signal_below_y)
        )
        self.truth_hits: list[
            np.ndarray
        ] = []  # per observation and level: whether the truth was excluded

    def points(self, subcells: int = SUBCELLS) -> tuple[np.ndarray, np.ndarray]:
        """The plane's evaluation points: ``subcells`` x ``subcells`` midpoints per cell, flattened
        (x, y) arrays of (nx * s) * (ny * s) values, x slowest."""

        def midpoints(edges):
            fine = np.linspace(edges[0], edges[-1], (len(edges) - 1) * subcells + 1)
            return 0.5 * (fine[1:] + fine[:-1])

        x, y = np.meshgrid(midpoints(self.edges_x), midpoints(self.edges_y), indexing="ij")
        return x.ravel(), y.ravel()

    def excluded_on_points(
        self, logratios: np.ndarray, prior: np.ndarray, subcells: int = SUBCELLS
    ) -> np.ndarray:
        """Excluded cells (n_levels, nx, ny) for one observation from its 2D log-ratios at
        :meth:`points` and the prior density there: each cell's posterior mass is the sum of
        r x prior over its points. Cells without prior mass (outside a truncated box) are
        excluded."""
        nx, ny = len(self.edges_x) - 1, len(self.edges_y) - 1
        weights = np.exp(logratios - np.max(logratios)) * prior
        density = weights.reshape(nx, subcells, ny, subcells).sum(axis=(1, 3))
        return hpd_excluded(density, self.levels)

    def add(self, excluded: np.ndarray, reference: np.ndarray | None = None) -> None:
        """Count one observation's exclusions, and its false exclusions against ``reference``."""
        self.counts += excluded
        if reference is not None:
            self.false_counts += excluded & ~reference
        self.areas.append(excluded.mean(axis=(1, 2)))
        if self.truth_cells is not None:
            self.truth_hits.append(excluded[:, self.truth_cells].all(axis=1))
        self.n += 1

    @property
    def fraction(self) -> np.ndarray:
        return self.counts / max(self.n, 1)

    @property
    def false_fraction(self) -> np.ndarray:
        return self.false_counts / max(self.n, 1)

    def cell_of(self, point) -> tuple[int, int] | None:
        """Grid indices of ``point`` (x, y), or None outside the grid."""
        i = np.searchsorted(self.edges_x, point[0], side="right") - 1
        j = np.searchsorted(self.edges_y, point[1], side="right") - 1
        inside = 0 <= i < len(self.edges_x) - 1 and 0 <= j < len(self.edges_y) - 1
        return (int(i), int(j)) if inside else None


def connected_regions(mask: np.ndarray) -> int:
    """Number of connected regions (cells touching by a side or a corner) of a boolean map."""
    from scipy import ndimage

    return int(ndimage.label(mask, structure=np.ones((3, 3)))[1])


def limit_depth(
    excluded: np.ndarray, edges_x: np.ndarray, edges_y: np.ndarray, x: float, at: str = "edge"
) -> float | None:
    """How far down the excluded region reaching the top of the plane extends at ``x``: the lower
    edge (``at="edge"``) or the centre (``at="centre"``: the weakest coupling whose own cell is
    excluded, the conservative reading) of the lowest cell of the column's uninterrupted excluded
    run from the top (a limit excludes strong couplings); None where the top cell is allowed or
    ``x`` is off the plane. ``excluded`` is (nx, ny), indexed like :class:`ExclusionCounter`'s maps."""
    i = np.searchsorted(edges_x, x, side="right") - 1
    if not 0 <= i < len(edges_x) - 1:
        return None
    column = np.asarray(excluded[i], bool)
    allowed = np.flatnonzero(~column)
    if column.size == 0 or not column[-1]:
        return None
    lowest = 0 if allowed.size == 0 else allowed[-1] + 1
    if at == "centre":
        return float(0.5 * (edges_y[lowest] + edges_y[lowest + 1]))
    if at != "edge":
        raise ValueError(f"at={at!r}: expected 'edge' or 'centre'")
    return float(edges_y[lowest])


def binomial_interval(k: int, n: int, level: float = 0.68) -> tuple[float, float]:
    """Clopper-Pearson interval of a binomial fraction k/n at ``level`` (exact, conservative)."""
    if n == 0:
        return 0.0, 1.0
    alpha = 1.0 - level
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def fractions_from_maps(maps: dict, levels, key: str = "logratios") -> np.ndarray:
    """Exclusion fractions (n_planes, n_levels, nx, ny) at ``levels`` from the expected-limit
    stage's kept log-ratio maps (``expected_limits_logratios_gridpoint_*.npz``; ``key``:
    ``logratios`` or ``logratios_fixed``): the same counting as the stage, at any levels."""
    out = []
    for p in range(len(maps[key])):
        counter = ExclusionCounter(maps["edges_x"][p], maps["edges_y"][p], levels)
        for logratios in maps[key][p]:
            counter.add(counter.excluded_on_points(logratios.astype(float), maps["prior"][p]))
        out.append(counter.fraction)
    return np.array(out)


def truth_cells(edges_x: np.ndarray, edges_y: np.ndarray, truth, no_signal_below_y: bool = False):
    """The cells (mask (nx, ny)) that stand for the truth of a plane, and how (``cell``,
    ``nearest cell`` or ``row``). A truth inside the plane is its cell; one outside, the nearest
    cell. With ``no_signal_below_y`` (the (m, g) plane: below the box's coupling there is no ALP
    whatever the mass), a truth below the plane is every cell of the weakest-coupling row: the
    no-ALP hypothesis is excluded only when all of them are."""
    nx, ny = len(edges_x) - 1, len(edges_y) - 1
    mask = np.zeros((nx, ny), dtype=bool)
    if no_signal_below_y and truth[1] < edges_y[0]:
        mask[:, 0] = True
        return mask, "row"
    i = int(np.clip(np.searchsorted(edges_x, truth[0], side="right") - 1, 0, nx - 1))
    j = int(np.clip(np.searchsorted(edges_y, truth[1], side="right") - 1, 0, ny - 1))
    mask[i, j] = True
    inside = edges_x[0] <= truth[0] < edges_x[-1] and edges_y[0] <= truth[1] < edges_y[-1]
    return mask, "cell" if inside else "nearest cell"


def truth_exclusion(counter: ExclusionCounter, level_index: int) -> dict:
    """How often the expected-limit simulations exclude the truth (its cells, see
    :func:`truth_cells`) at one credibility level: for a calibrated limit at most 1 - level, which
    the 68 % interval must reach."""
    k = int(sum(hits[level_index] for hits in counter.truth_hits))
    level = counter.levels[level_index]
    low, high = binomial_interval(k, counter.n)
    return {
        "excluded": k,
        "n": counter.n,
        "fraction": k / max(counter.n, 1),
        "interval_68": [low, high],
        "allowed": round(1.0 - level, 10),
        "consistent": low <= 1.0 - level,
        "truth_in_plane": counter.truth_where == "cell",
        "truth_cells": counter.truth_where,
    }


#: How a report names the truth's cells (:func:`truth_cells`).
TRUTH_WORDS = {
    "cell": "truth's cell",
    "nearest cell": "truth's nearest cell",
    "row": "no-ALP truth (every cell of the weakest coupling)",
}


def linear_gaussian_exclusion(
    points: np.ndarray, truth: np.ndarray, covariance: np.ndarray, level: float
) -> np.ndarray:
    """Probability that each 2D ``point`` is excluded at ``level``, for a Gaussian posterior of
    fixed ``covariance`` centred on an estimate distributed as N(truth, covariance) (a
    linear-Gaussian model with a flat prior).

    The HPD region is the ellipse of Mahalanobis radius^2 q = chi2_2.ppf(level) around the
    estimate; the point's squared distance to the estimate is noncentral chi2_2 with noncentrality
    lambda = its Mahalanobis distance^2 to the truth, so P(excluded) = 1 - ncx2.cdf(q, 2, lambda).
    """
    delta = np.asarray(points, dtype=float) - np.asarray(truth, dtype=float)
    noncentrality = np.einsum("...i,ij,...j->...", delta, np.linalg.inv(covariance), delta)
    return stats.ncx2.sf(stats.chi2.ppf(level, 2), 2, np.maximum(noncentrality, 1e-12))


def published_limits() -> list[dict]:
    """The published exclusion regions of the (m, g) plane, with their sources
    (``data/axion_limits/published_limits.json``): each entry's ``m`` (neV) and ``g``
    (1e-11 GeV^-1) are the vertices of its region, closed (``closure`` 'above': upwards)."""
    index = json.loads((PUBLISHED / "published_limits.json").read_text())
    limits = []
    for entry in index["limits"]:
        m_ev, g_gev = np.loadtxt(PUBLISHED / entry["file"], comments="#", unpack=True)
        m, g = m_ev * 1e9, g_gev * 1e11
        if entry["closure"] == "above":
            m, g = np.r_[m, m[-1], m[0]], np.r_[g, _G_TOP, _G_TOP]
        limits.append({**entry, "m": m, "g": g})
    return limits


def published_depth(
    m_nev: float, label: str = "MAGIC", regions: list[dict] | None = None
) -> float | None:
    """The lower edge (1e-11 GeV^-1) of the published regions whose label starts with ``label`` at
    mass ``m_nev`` (neV): the weakest coupling they exclude there; None where none reaches it.
    ``regions``: :func:`published_limits` read once by a caller that asks for many masses."""
    from matplotlib.path import Path as Polygon

    g = np.geomspace(1e-4, 1e5, 4000)
    points = np.column_stack([np.full_like(g, np.log10(m_nev)), np.log10(g)])
    inside = np.zeros_like(g, bool)
    for entry in published_limits() if regions is None else regions:
        if entry["label"].startswith(label):
            inside |= Polygon(
                np.column_stack([np.log10(entry["m"]), np.log10(entry["g"])])
            ).contains_points(points)
    return float(g[inside][0]) if inside.any() else None


def mg_plane(path: Path) -> tuple[LimitResult, int] | None:
    """An expected-limit file (``expected_limits_gridpoint_*.npz``) and the index of its (m, g)
    plane; None without the file or the plane."""
    if not Path(path).is_file():
        return None
    result = LimitResult.from_arrays(load_npz(path))
    names = [tuple(p) for p in result.pair_names]
    return (result, names.index(("m", "g"))) if ("m", "g") in names else None


def limit_fraction(result, method: str) -> np.ndarray:
    """The exclusion fractions (n_planes, n_levels, nx, ny) of ``method`` (``hpd``,
    ``frequentist`` or ``cls``) in an expected-limit file's arrays."""
    key = "fraction" if method == "hpd" else f"fraction_{method}"
    if key not in result:
        raise KeyError(f"no {method} expected limits in this run (limit_method, n_sim_calibration)")
    return result[key]


def quoted_method(config, result) -> str:
    """The limit a run quotes: the first of its ``limit_method`` whose maps ``result`` holds (HPD
    where none is)."""
    return next(
        (m for m in config.validation.limit_method if m == "hpd" or f"fraction_{m}" in result),
        "hpd",
    )


def depth_ratios(
    result,
    config,
    pair: int = 0,
    level: float = 0.95,
    label: str = "MAGIC",
    method: str | None = None,
    at: str = "centre",
) -> list[dict]:
    """Per mass column of an expected-limit plane (m, g): the median expected limit's depth at
    ``level`` (the lowest g of the excluded region reaching the top, read at the centre of its
    lowest cell, or with ``at="edge"`` at its lower edge) of ``method`` (default: the run's quoted
    one), the published one (:func:`published_depth`) and their ratio, in neV and 1e-11 GeV^-1;
    ``result`` is the layout of ``expected_limits_gridpoint_*.npz``. Columns where neither limit
    exists are left out."""
    i, j = (config.physics.POI_indices[k] for k in result["pairs"][pair])
    pm, pg = config.table.free[i], config.table.free[j]
    k = int(np.argmin(np.abs(np.asarray(result["levels"]) - level)))
    median = (
        np.asarray(limit_fraction(result, method or quoted_method(config, result))[pair, k]) >= 0.5
    )
    ex, ey = result["edges_x"][pair], result["edges_y"][pair]
    rows, regions = [], published_limits()
    for lo, hi in zip(ex[:-1], ex[1:]):
        centre = 0.5 * (lo + hi)
        m = 10**centre if pm.log else centre
        ours = limit_depth(median, ex, ey, centre, at=at)
        ours = None if ours is None else float(10**ours if pg.log else ours)
        published = published_depth(m, label, regions)
        if ours is not None or published is not None:
            rows.append(
                {
                    "m": float(m),
                    "g_limit": ours,
                    "g_published": published,
                    "ratio": None if ours is None or published is None else ours / published,
                }
            )
    return rows


def _method_key(name: str, method: str) -> str:
    """The file's key of one method's map: ``fraction`` for HPD, ``fraction_<method>`` otherwise
    (``fixed`` is the fixed-nuisance network's HPD limit)."""
    return name if method == "hpd" else f"{name}_{method}"


@dataclass(frozen=True, eq=False)
class LimitResult(SavedResult):
    """The expected limits of a run's ``prediction_pairs`` planes
    (``expected_limits_gridpoint_<g>.npz``) from ``n`` mock observations at the Obs. values.

    ``fraction[method]`` (plane, level, nx, ny): how often ``method`` excludes each cell, for
    ``hpd`` (the network's posterior), ``fixed`` (the fixed-nuisance network, HPD) and the
    calibrated ``frequentist`` and ``cls``; ``excluded_area[method]`` (plane, observation, level):
    the excluded fraction of each plane; ``false_fraction`` (plane, level, nx, ny): how often the
    last round excludes a cell that round 0 does not (``with_reference``; None where not kept). ``pairs`` are positions
    within POI_indices, ``edges_x`` / ``edges_y`` the cells' edges in table space, ``truth`` the
    POIs' Obs. values; ``methods`` the calibrated methods whose maps were added."""

    KIND = "expected_limits"

    pairs: np.ndarray
    pair_names: np.ndarray
    levels: np.ndarray
    edges_x: np.ndarray
    edges_y: np.ndarray
    truth: np.ndarray
    n: int
    with_reference: bool
    fraction: Mapping[str, np.ndarray]
    excluded_area: Mapping[str, np.ndarray]
    false_fraction: np.ndarray | None
    methods: tuple[str, ...] = ()

    def with_method(
        self, method: str, fraction: np.ndarray, excluded_area: np.ndarray
    ) -> LimitResult:
        """The result with one more method's maps, on the same observations."""
        return replace(
            self,
            fraction={**self.fraction, method: fraction},
            excluded_area={**self.excluded_area, method: excluded_area},
        )

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "pairs": self.pairs,
            "pair_names": self.pair_names,
            "levels": self.levels,
            "edges_x": self.edges_x,
            "edges_y": self.edges_y,
            "fraction": self.fraction["hpd"],
            **({} if self.false_fraction is None else {"false_fraction": self.false_fraction}),
            "excluded_area": self.excluded_area["hpd"],
            "truth": self.truth,
            "n": np.array(self.n),
            "with_reference": np.array(self.with_reference),
        }
        for method in self.fraction:
            if method != "hpd":
                out[_method_key("fraction", method)] = self.fraction[method]
                out[_method_key("excluded_area", method)] = self.excluded_area[method]
        if self.methods:
            out["methods"] = np.array(self.methods)
        return out

    @classmethod
    def from_arrays(cls, arrays) -> LimitResult:
        methods = ["hpd"] + [k[len("fraction_") :] for k in arrays if k.startswith("fraction_")]
        return cls(
            pairs=arrays["pairs"],
            pair_names=arrays["pair_names"],
            levels=arrays["levels"],
            edges_x=arrays["edges_x"],
            edges_y=arrays["edges_y"],
            truth=arrays["truth"],
            n=int(arrays["n"]),
            with_reference=bool(arrays["with_reference"]),
            fraction={m: arrays[_method_key("fraction", m)] for m in methods},
            excluded_area={m: arrays[_method_key("excluded_area", m)] for m in methods},
            false_fraction=arrays.get("false_fraction"),
            methods=tuple(str(m) for m in arrays.get("methods", ())),
        )


#: The maps of each method in a :class:`LimitCoverageResult`.
COVERAGE_MAPS = ("smooth", "sigma", "binned", "binned_low", "binned_high", "binned_n", "covered")


@dataclass(frozen=True, eq=False)
class LimitCoverageResult(SavedResult):
    """The coverage of the confidence sets over each plane (``limit_coverage_gridpoint_<g>.npz``),
    from simulations with their truths spread over it: per method, ``maps[method]`` holds
    :data:`COVERAGE_MAPS` (plane, level, ...): ``covered`` (plane, level, simulation) whether the
    set held the truth, ``smooth`` / ``sigma`` its kernel-smoothed fraction and error on the
    cells, ``binned*`` the same in coarse bins (:func:`alpswyft.frequentist.coverage_summary`);
    ``truths_unit`` (plane, simulation, 2) the truths in the plane's unit square."""

    KIND = "limit_coverage"

    levels: np.ndarray
    methods: tuple[str, ...]
    edges_x: np.ndarray
    edges_y: np.ndarray
    truths_unit: np.ndarray
    maps: Mapping[str, Mapping[str, np.ndarray]]

    @property
    def n_simulations(self) -> int:
        return self.maps[self.methods[0]]["covered"].shape[-1]

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "levels": self.levels,
            "methods": np.array(self.methods),
            "edges_x": self.edges_x,
            "edges_y": self.edges_y,
            **{f"{name}_{m}": self.maps[m][name] for m in self.methods for name in COVERAGE_MAPS},
            "truths_unit": self.truths_unit,
        }

    @classmethod
    def from_arrays(cls, arrays) -> LimitCoverageResult:
        methods = tuple(str(m) for m in arrays["methods"])
        return cls(
            levels=arrays["levels"],
            methods=methods,
            edges_x=arrays["edges_x"],
            edges_y=arrays["edges_y"],
            truths_unit=arrays["truths_unit"],
            maps={m: {name: arrays[f"{name}_{m}"] for name in COVERAGE_MAPS} for m in methods},
        )
