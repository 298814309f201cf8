"""Checks of a run's limits where a limit goes wrong when it is wrong.

- **No-effect cells** (:func:`no_effect_cells`): where the ALP changes no bin of the expected counts by
  more than a relative ``threshold`` (computed with the run's simulator, over field realisations),
  a method may exclude a cell only at its size: the Neyman test in 1 - level of the observations,
  CLs almost never.
- **Truths near the limit** (:func:`exclusion_rates`, :func:`near_limit_points`): observations
  simulated **at** points just inside the median expected limit, with every other free parameter
  drawn from its prior (the run's last box), each tested at its own truth: a calibrated method
  excludes it in at most 1 - level of them.

``analysis_scripts/check_limits.py`` runs both on a finished run and writes
``val_output/limit_checks_gridpoint_<g>.json``.
"""

from __future__ import annotations

import numpy as np

from alpswyft import neyman
from alpswyft.limits import binomial_interval, limit_fraction, quoted_method
from analysis_core.errors import PipelineError
from analysis_core.files import write_json


def no_effect_cells(
    sim,
    config,
    pair: tuple[int, int],
    edges_x,
    edges_y,
    threshold: float = 1e-3,
    n_fields: int = 4,
    seed: int = 0,
) -> np.ndarray:
    """Cells (nx, ny) of a plane whose centre changes no bin of the expected counts by more than
    ``threshold`` relative to the no-ALP counts, in each of ``n_fields`` field realisations (the
    other parameters at their Obs. values)."""
    x, y = neyman.cell_centres(np.asarray(edges_x), np.asarray(edges_y))
    fi, fj = config.physics.POI_indices[pair[0]], config.physics.POI_indices[pair[1]]
    free = np.tile(config.table.obs, (len(x), 1))
    free[:, fi], free[:, fj] = x, y
    theta = config.table.physical(free)
    rng = np.random.default_rng(seed)
    largest = np.zeros(len(x))
    for _ in range(n_fields):
        spectrum = sim.expected(theta=theta, rng=rng)
        null = np.asarray(spectrum.null_counts, float)
        change = np.abs(np.asarray(spectrum.counts, float) - null) / np.maximum(null, 1e-300)
        largest = np.maximum(largest, change.max(axis=-1))
    return (largest <= threshold).reshape(len(edges_x) - 1, len(edges_y) - 1)


def near_limit_points(
    result, plane: int, level_index: int, method: str, n_points: int = 5
) -> list[tuple[float, float]]:
    """Up to ``n_points`` points just inside the median expected limit of ``method``: in mass
    columns spread over those where the limit reaches down from the top of the plane, the centre
    of the lowest excluded cell (table units)."""
    median = np.asarray(limit_fraction(result, method)[plane, level_index]) >= 0.5
    ex, ey = result["edges_x"][plane], result["edges_y"][plane]
    columns = []
    for i, column in enumerate(median):
        if column[-1]:
            allowed = np.flatnonzero(~column)
            lowest = 0 if allowed.size == 0 else allowed[-1] + 1
            if lowest > 0:  # the limit ends inside the plane
                columns.append((i, lowest))
    if not columns:
        return []
    picks = [
        columns[k]
        for k in np.unique(np.linspace(0, len(columns) - 1, n_points).round().astype(int))
    ]
    return [(0.5 * (ex[i] + ex[i + 1]), 0.5 * (ey[j] + ey[j + 1])) for i, j in picks]


def exclusion_rates(
    run,
    points,
    n_obs: int,
    levels,
    methods,
    pair: tuple[int, int] | None = None,
    seed: int = 0,
    progress=None,
) -> list[dict]:
    """For each point (x, y) of a ``prediction_pairs`` plane (table units): ``n_obs`` observations
    simulated at it with every other free parameter drawn from its prior on the last round's box,
    and how often each method excludes the point itself at each level, with 68 % Clopper-Pearson
    intervals."""
    from alpswyft.inference import observation_features

    config = run.config
    pair = tuple(pair or config.validation.prediction_pairs[0])
    methods = tuple(
        m for m in methods if m != "cls" or "cls" in config.validation.limit_method
    )  # CLs: null simulations
    exclusions = run.frequentist_test(pair, tuple(levels), methods)
    plane, network, box = exclusions.plane, exclusions.plane.network, exclusions.plane.box
    rng = np.random.default_rng(seed)
    out = []
    for x, y in points:
        free = config.table.sample(box, n_obs, rng)
        free[:, plane.fi], free[:, plane.fj] = x, y
        spectra = run.sim.observe(theta=config.table.physical(free), rng=rng)
        nodes = {k: np.asarray(spectra.nodes[k]) for k in run.sim.simulator.observed_nodes}
        features = observation_features(network, nodes)
        hits = {m: np.zeros((len(levels), n_obs), bool) for m in methods}
        for s in range(n_obs):
            cells, at_point = plane.logratios(features[s], (x, y))
            for method, excluded in exclusions.at_point(cells, at_point, (x, y)).items():
                hits[method][:, s] = excluded
        entry = {"point": [float(x), float(y)], "n": n_obs, "rates": {}}
        for method, h in hits.items():
            entry["rates"][method] = {}
            for k, level in enumerate(levels):
                count = int(h[k].sum())
                low, high = binomial_interval(count, n_obs)
                entry["rates"][method][f"{level:g}"] = {
                    "excluded": count,
                    "fraction": count / n_obs,
                    "interval_68": [low, high],
                    "allowed": round(1 - level, 10),
                }
        out.append(entry)
        if progress is not None:
            progress(len(out))
    return out


def no_effect_truths(tree, grid_point: int, plane: int, quiet: np.ndarray, levels) -> dict | None:
    """How often each method's set excludes the limit-coverage truths that lie in no-effect cells
    (``quiet``, nx x ny), each tested at its own truth with the other parameters from their prior:
    {method: {level: {excluded, n, fraction, interval_68}}}; None without limit-coverage simulations."""
    path = tree.validation_data("limit_coverage", grid_point)
    if not path.is_file():
        return None
    data = np.load(path)
    inside = quiet[neyman.unit_cells(data["truths_unit"][plane], quiet.shape)]
    n = int(inside.sum())
    if not n:
        return None
    out = {}
    for method in (str(m) for m in data["methods"]):
        out[method] = {}
        for k, level in enumerate(levels):
            excluded = int((~data[f"covered_{method}"][plane][k][inside]).sum())
            out[method][f"{level:g}"] = {
                "excluded": excluded,
                "n": n,
                "fraction": excluded / n,
                "interval_68": list(binomial_interval(excluded, n)),
            }
    return out


def check_run(
    tree,
    grid_point: int = 0,
    n_obs: int = 200,
    n_points: int = 5,
    threshold: float = 1e-3,
    seed: int = 0,
) -> dict:
    """Both checks on a finished run's (m, g)-like planes: the exclusion rates of the expected-limit
    maps in the no-effect cells, and of truths just inside the quoted method's median limit at
    the highest level; printed and written to ``val_output/limit_checks_gridpoint_<g>.json``."""
    from alpswyft.workbench import open_run

    run = open_run(tree.root, grid_point)
    config = run.config
    path = tree.validation_data("expected_limits", grid_point)
    if not path.is_file() or not tree.validation_data("limit_calibration", grid_point).is_file():
        raise PipelineError(
            f"{tree.root}: no frequentist expected limits to check (limit_method, n_sim_explim)"
        )
    result = dict(np.load(path))
    levels = [float(v) for v in result["levels"]]
    methods = [m for m in ("frequentist", "cls", "hpd") if m == "hpd" or f"fraction_{m}" in result]
    quoted = quoted_method(config, result)
    report = {"grid_point": grid_point, "threshold": threshold, "n_obs": n_obs, "planes": {}}
    for p, pair in enumerate(config.validation.prediction_pairs):
        name = "-".join(config.poi_names[k] for k in pair)
        quiet = no_effect_cells(
            run.sim, config, pair, result["edges_x"][p], result["edges_y"][p], threshold, seed=seed
        )
        entry = {"no_effect_fraction_of_plane": float(quiet.mean()), "no_effect_cells": {}}
        print(
            f"{name}: {quiet.sum()} of {quiet.size} cells change no bin by more than {threshold:g} (relative)"
        )
        for method in methods:
            fraction = limit_fraction(result, method)[p]
            entry["no_effect_cells"][method] = (
                {
                    f"{lv:g}": {
                        "mean": float(fraction[k][quiet].mean()),
                        "max": float(fraction[k][quiet].max()),
                    }
                    for k, lv in enumerate(levels)
                }
                if quiet.any()
                else None
            )
            if quiet.any():
                print(
                    f"  {method:>11}: the expected-limit simulations exclude them in "
                    + ", ".join(
                        f"{100 * lv:.4g} %: {v['mean']:.3f} on average, {v['max']:.3f} at most"
                        for lv, v in zip(levels, entry["no_effect_cells"][method].values())
                    )
                )
        entry["no_effect_truths"] = no_effect_truths(tree, grid_point, p, quiet, levels)
        if entry["no_effect_truths"]:
            print(
                f"  {name} limit-coverage truths in them (other parameters from their prior), excluded: "
                + "; ".join(
                    f"{m} " + ", ".join(f"{v['fraction']:.3f} of {v['n']}" for v in per.values())
                    for m, per in entry["no_effect_truths"].items()
                )
            )
        points = near_limit_points(result, p, len(levels) - 1, quoted, n_points)
        print(
            f"  {len(points)} truths just inside the median {quoted} limit at {100 * levels[-1]:.4g} %, "
            f"{n_obs} observations each (other parameters from their prior):"
        )
        rates = exclusion_rates(run, points, n_obs, levels, methods, pair, seed)
        for row in rates:
            print(
                f"    {config.poi_names[pair[0]]} = {row['point'][0]:.3g}, "
                f"{config.poi_names[pair[1]]} = {row['point'][1]:.3g}: "
                + "; ".join(
                    f"{m} " + ", ".join(f"{v['fraction']:.3f}" for v in per.values())
                    for m, per in row["rates"].items()
                ),
                flush=True,
            )
        entry["near_limit"] = rates
        report["planes"][name] = entry
    write_json(tree.validation_data("limit_checks", grid_point).with_suffix(".json"), report)
    return report
