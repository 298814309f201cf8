"""Frequentist limits: the Neyman and CLs constructions of every plane (:mod:`alpswyft.frequentist`).

Critical values from the calibration store (never trained on), the null hypothesis's maps for
CLs, the coverage of the confidence sets over each plane (:class:`~alpswyft.limits.LimitCoverageResult`),
the confidence sets of the run's own observations, and the expected limits of the calibrated
methods on the expected-limit simulations, added to the :class:`~alpswyft.limits.LimitResult`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from alpswyft.diagnostics.base import Diagnostic, Progress, ValidationInputs
from alpswyft.diagnostics.expected_limits import copy_counters, limit_summary
from alpswyft.limits import LimitCoverageResult, LimitResult, binomial_interval, percent
from alpswyft.neyman import CriticalValues, neighbour_count
from alpswyft.run import RunContext
from alpswyft.stores import read_store
from analysis_core.files import load_npz, save_npz


def own_observations(tree, config, nodes) -> dict[str, dict]:
    """The run's own observations as node batches: ``observation`` (the mock or real one) and
    ``extra`` (the extra observations), where they exist."""
    out = {}
    if tree.true_obs.is_file():
        true_obs = load_npz(tree.true_obs)
        out["observation"] = {k: np.asarray(true_obs[k])[None] for k in nodes}
    if config.validation.extra_observations and tree.extra_obs.is_file():
        extra = load_npz(tree.extra_obs)
        out["extra"] = {k: np.asarray(extra[k]) for k in nodes}
    return out


class FrequentistLimits(Diagnostic):
    """The calibrated limits of ``limit_method`` (``frequentist``, ``cls``)."""

    name = "frequentist"
    missing = (
        "no coverage maps: set n_sim_limit_coverage > 0 (with limit_method frequentist or cls)"
    )

    def compute(self, inputs: ValidationInputs) -> dict | None:
        from alpswyft import frequentist as fq
        from alpswyft.inference import observation_features

        config, network, tree, g = inputs.config, inputs.network, inputs.tree, inputs.grid_point
        if not config.with_neyman or network.estimator_2d is None:
            if config.neyman_methods and config.with_limit_planes:
                print("no frequentist limits: n_sim_explim = 0 and no real observation")
            return None
        requests, nodes = inputs.requests, inputs.simulator.observed_nodes
        levels = config.validation.credibility_levels
        methods = tuple(m for m in ("frequentist", "cls", "hpd") if m != "cls" or config.n_null)
        counters = inputs.plane_counters()
        planes = [
            fq.PlaneStatistic(config, network, pair, c.edges_x, c.edges_y, inputs.box)
            for pair, c in zip(config.validation.prediction_pairs, counters)
        ]
        k = neighbour_count(config.n_calibration, levels)
        sims = read_store(requests["calibration"].path, ["params", *nodes])
        print(
            f"frequentist limits: {len(sims['params'])} calibration simulations (never trained "
            f"on), critical values from their {k} nearest neighbours (tricube weights)"
        )
        calibrations = [
            fq.calibrate(
                config,
                plane,
                sims,
                nodes,
                Progress(f"calibration, plane {'-'.join(inputs.names(pair))}", len(sims["params"])),
            )
            for plane, pair in zip(planes, config.validation.prediction_pairs)
        ]
        criticals = [CriticalValues(*c, k) for c in calibrations]
        null_maps = [None] * len(planes)
        if config.n_null:
            features = observation_features(network, read_store(requests["null"].path, nodes))
            print(f"CLs: {len(features)} simulations of the null hypothesis")
            null_maps = [fq.statistic_maps(plane, features) for plane in planes]
        fq.save_calibration(
            tree.validation_data("limit_calibration", g),
            planes,
            criticals,
            None if not config.n_null else null_maps,
        )
        exclusions = [
            fq.Exclusions(plane, critical, levels, methods, nm)
            for plane, critical, nm in zip(planes, criticals, null_maps)
        ]
        summary = {
            "methods": list(methods),
            "n_calibration": len(sims["params"]),
            "k": k,
            "kernel": criticals[0].kernel,
            "n_null": config.n_null,
            "critical_values": {},
            "leave_one_out": {},
            "pairs": {},
        }
        for ex, pair in zip(exclusions, config.validation.prediction_pairs):
            inside, name = ~ex.plane.outside, "-".join(inputs.names(pair))
            summary["critical_values"][name] = {
                f"{level:g}": [
                    float(q)
                    for q in np.quantile(
                        ex.critical.quantile(ex.neighbours, level)[inside], [0.0, 0.5, 1.0]
                    )
                ]
                for level in levels
            }
            summary["leave_one_out"][name] = loo = fq.leave_one_out_summary(ex.critical, levels)
            print(
                f"  {name}: the calibration's leave-one-out coverage "
                + ", ".join(
                    f"{lv}: {v['coverage']:.3f} (smallest of {fq.COVERAGE_BINS}x{fq.COVERAGE_BINS}"
                    f" bins {v['bin_min']:.3f}, 68 % interval {v['bin_min_interval_68'][0]:.3f}-"
                    f"{v['bin_min_interval_68'][1]:.3f})"
                    for lv, v in loo.items()
                )
            )
        if config.n_limit_coverage:
            summary["coverage"] = self._coverage(inputs, exclusions, counters, methods)
        self._confidence_sets(inputs, exclusions, counters, methods)
        if config.simulation.n_sim_explim:
            summary["pairs"] = self._expected(inputs, exclusions, counters, methods)
        return summary

    @staticmethod
    def _coverage(inputs, exclusions, counters, methods) -> dict:
        """The coverage of the confidence sets over each plane, on the limit-coverage store."""
        from alpswyft import frequentist as fq
        from alpswyft.inference import observation_features

        config, nodes = inputs.config, inputs.simulator.observed_nodes
        cov = read_store(inputs.requests["limit_coverage"].path, ["params", *nodes])
        features = observation_features(inputs.network, {key: cov[key] for key in nodes})
        print(
            f"coverage of the confidence sets: {len(features)} simulations with the truth over "
            "the plane"
        )
        maps, truths, summary = {m: {} for m in methods}, [], {}
        for ex, pair in zip(exclusions, config.validation.prediction_pairs):
            truths_unit, covered = fq.coverage_indicators(
                ex, cov, features, Progress("limit coverage", len(features))
            )
            plane_arrays, summary["-".join(inputs.names(pair))] = fq.coverage_summary(
                truths_unit, covered, config.validation.credibility_levels, ex.plane
            )
            for method, plane_maps in plane_arrays.items():
                for name, value in plane_maps.items():
                    maps[method].setdefault(name, []).append(value)
            truths.append(truths_unit)
        LimitCoverageResult(
            levels=np.array(config.validation.credibility_levels),
            methods=methods,
            edges_x=np.array([c.edges_x for c in counters]),
            edges_y=np.array([c.edges_y for c in counters]),
            truths_unit=np.array(truths),
            maps={m: {name: np.array(v) for name, v in maps[m].items()} for m in methods},
        ).save(inputs.tree, inputs.grid_point)
        for plane_name, entry in summary.items():
            for method, per_level in entry.items():
                print(
                    f"  {plane_name} {method}: coverage "
                    + ", ".join(
                        f"{lv}: {v['coverage']:.3f} (smallest on the plane "
                        f"{v['smooth_min']:.3f} +- {v['smooth_min_sigma']:.3f}, "
                        f"{100 * v['area_below_2sigma']:.0f} % of it below nominal - 2 sigma)"
                        for lv, v in per_level.items()
                    )
                )
        return summary

    @staticmethod
    def _confidence_sets(inputs, exclusions, counters, methods) -> None:
        """The confidence sets of the run's own observations (``confidence_sets_gridpoint_<g>``)."""
        from alpswyft.inference import observation_features

        observations = own_observations(inputs.tree, inputs.config, inputs.simulator.observed_nodes)
        sets = {}
        for name, nodes_of in observations.items():
            features = observation_features(inputs.network, nodes_of)
            sets[name] = [[ex(ex.plane.logratios(f)[0]) for f in features] for ex in exclusions]
        if sets:
            save_npz(
                inputs.tree.validation_data("confidence_sets", inputs.grid_point),
                levels=np.array(inputs.config.validation.credibility_levels),
                methods=np.array(methods),
                edges_x=np.array([c.edges_x for c in counters]),
                edges_y=np.array([c.edges_y for c in counters]),
                **{
                    f"{name}_{m}": np.array([[obs[m] for obs in plane] for plane in per_plane])
                    for name, per_plane in sets.items()
                    for m in methods
                },
            )

    @staticmethod
    def _expected(inputs, exclusions, counters, methods) -> dict:
        """The calibrated methods' expected limits on the expected-limit simulations, added to the
        grid point's :class:`~alpswyft.limits.LimitResult` (HPD's are the expected-limit
        diagnostic's), with the truth's own exclusion where it lies inside a plane."""
        config, tree, g = inputs.config, inputs.tree, inputs.grid_point
        levels, features = config.validation.credibility_levels, inputs.explim_features
        tested = tuple(m for m in methods if m != "hpd")
        by_method = {m: copy_counters(counters) for m in tested}
        kept = np.zeros((len(exclusions), len(features), len(exclusions[0].plane.x)), np.float32)
        # a truth inside the plane is tested at its own point, not at its cell's centre
        truth_points = [c.truth if c.truth_where == "cell" else None for c in counters]
        truth_hits = np.zeros((len(exclusions), len(methods), len(levels), len(features)), bool)
        progress = Progress("frequentist expected limits", len(features))
        for s, f in enumerate(features):
            for p, ex in enumerate(exclusions):
                cells, at_truth = ex.plane.logratios(f, truth_points[p])
                kept[p, s] = cells
                for m, excluded in ex(kept[p, s].astype(float)).items():
                    if m in by_method:
                        by_method[m][p].add(excluded)
                if truth_points[p] is not None:
                    for m_index, hit in enumerate(
                        ex.at_point(cells, at_truth, truth_points[p]).values()
                    ):
                        truth_hits[p, m_index, :, s] = hit
            progress(s + 1)
        result = inputs.results.get("expected_limits")
        if result is None:  # computed by an earlier validation of this network
            result = LimitResult.load(tree, g)
        for m in tested:
            result = result.with_method(
                m,
                np.array([c.fraction for c in by_method[m]]),
                np.array([c.areas for c in by_method[m]]),
            )
        result = replace(result, methods=tested)
        result.save(tree, g)
        inputs.results["expected_limits"] = result
        maps_path = tree.validation_data("expected_limits_logratios", g)
        maps = load_npz(maps_path) if maps_path.is_file() else {}
        save_npz(maps_path, **maps, logratios_centres=kept)

        pairs = {}
        n = len(features)
        for p, pair in enumerate(config.validation.prediction_pairs):
            name, entry = "-".join(inputs.names(pair)), {}
            columns = (config.physics.POI_indices[pair[0]], config.physics.POI_indices[pair[1]])
            for k_level, level in enumerate(levels):
                entry[f"{level:g}"] = {
                    m: limit_summary(config, by_method[m][p], k_level, columns) for m in tested
                }
                if truth_points[p] is not None:
                    for m_index, m in enumerate(methods):
                        hits = int(truth_hits[p, m_index, k_level].sum())
                        low, high = binomial_interval(hits, n)
                        entry[f"{level:g}"].setdefault(m, {})["truth_point_exclusion"] = {
                            "excluded": hits,
                            "n": n,
                            "fraction": hits / n,
                            "interval_68": [low, high],
                            "allowed": round(1 - level, 10),
                        }
            pairs[name] = entry
            for level, per_method in entry.items():
                print(
                    f"  {name} at {percent(float(level))}: median excluded fraction "
                    + ", ".join(
                        f"{m} {v['excluded_area_median']:.3f}"
                        for m, v in per_method.items()
                        if m in tested
                    )
                    + "; the truth excluded in "
                    + ", ".join(
                        f"{m} {v.get('truth_point_exclusion', v.get('truth_exclusion'))['excluded']}"
                        f"/{n}"
                        for m, v in per_method.items()
                    )
                )
        return pairs

    def figures(self, run: RunContext, grid_point: int) -> dict:
        from alpswyft import plots

        result = LimitCoverageResult.load(run.tree, grid_point)
        return (
            {}
            if result is None
            else {"limit_coverage": plots.limit_coverage(run, grid_point, result)}
        )
