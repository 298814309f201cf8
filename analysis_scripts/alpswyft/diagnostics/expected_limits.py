"""Expected limits: how often the network's posterior excludes each cell of the planes.

The ``n_sim_explim`` simulations at the Obs. POI values; each plane's 2D marginal is evaluated at
2 x 2 points per cell of a 50 x 50 grid over the initial box, times the pair's prior density on the
round's box, and the exclusions are counted one observation at a time (:mod:`alpswyft.limits`).
With ``n_truncations`` > 0, the false exclusions are those the last round makes and round 0
(untruncated prior) does not; with ``fixed_nuisance_limits``, the fixed-nuisance network's limit is
counted on the same observations.
"""

from __future__ import annotations

import numpy as np

from alpswyft.diagnostics.base import Diagnostic, Progress, ValidationInputs
from alpswyft.limits import (
    TRUTH_WORDS,
    ExclusionCounter,
    LimitResult,
    connected_regions,
    limit_depth,
    percent,
    truth_exclusion,
)
from alpswyft.run import RunContext
from analysis_core.files import save_npz

#: Masses (neV) at which the depth of the (m, g) expected limit is reported.
DEPTH_MASSES = (1.0, 10.0, 100.0)


def limit_summary(config, counter: ExclusionCounter, k: int, columns: tuple[int, int]) -> dict:
    """One level's expected limit on the plane of the free parameters ``columns``: excluded area
    (median and 68 % band), the truth's exclusion, the number of connected regions of the median
    limit and, on the (m, g) plane of log10 axes, its depth (g in the table's unit) at
    :data:`DEPTH_MASSES`."""
    areas = np.array(counter.areas)[:, k]
    truth_excluded = truth_exclusion(counter, k)
    median = counter.fraction[k] >= 0.5
    entry = {
        "excluded_area_median": float(np.median(areas)),
        "excluded_area_band_68": [float(q) for q in np.quantile(areas, [0.16, 0.84])],
        "median_regions": connected_regions(median),
        "truth_cell_excluded": truth_excluded["fraction"]
        if truth_excluded["truth_in_plane"]
        else None,
        "truth_exclusion": truth_excluded,
    }
    x, y = (config.table.free[c] for c in columns)
    if (x.name, y.name) == ("m", "g") and x.log and y.log:
        depths = {
            f"{m:g}": limit_depth(median, counter.edges_x, counter.edges_y, np.log10(m))
            for m in DEPTH_MASSES
        }
        entry["g_limit_at_m"] = {
            m: None if d is None else float(10.0**d) for m, d in depths.items()
        }
    return entry


def copy_counters(counters: list[ExclusionCounter]) -> list[ExclusionCounter]:
    """Empty counters on the same planes, levels and truths."""
    return [
        ExclusionCounter(c.edges_x, c.edges_y, c.levels, c.truth, c.truth_where == "row")
        for c in counters
    ]


class ExpectedLimits(Diagnostic):
    """The HPD expected limits of the planes, their false exclusions against round 0 and the
    fixed-nuisance network's: :class:`~alpswyft.limits.LimitResult`, and every simulation's
    log-ratio maps (``expected_limits_logratios_gridpoint_<g>.npz``)."""

    name = "expected_limits"
    missing = "no expected limits: set n_sim_explim > 0 and prediction_pairs (2D marginals needed)"

    def compute(self, inputs: ValidationInputs) -> dict | None:
        from alpswyft.inference import PlanePosteriors

        run, config, tree = inputs.run, inputs.config, inputs.tree
        network, g = inputs.network, inputs.grid_point
        why_not = (
            "n_sim_explim = 0"
            if config.simulation.n_sim_explim == 0
            else "prediction_pairs is empty (with a single POI there is no plane)"
            if not config.validation.prediction_pairs
            else "the network has no 2D marginals (restricted_posterior=1)"
            if network.estimator_2d is None
            else None
        )
        if why_not:
            print(f"{why_not}: no expected limits")
            return None
        last, sims = inputs.round, inputs.explim
        counters = inputs.plane_counters()
        planes = PlanePosteriors(
            config, network, sims, inputs.box, counters, features=inputs.explim_features
        )
        fixed = None
        if config.with_fixed_nuisances and tree.fixed_network(g).is_file():
            fixed_network = run.network(last, g, fixed_nuisances=True)
            fixed = PlanePosteriors(
                config, fixed_network, sims, inputs.box, counters, config.limit_pois
            )
            fixed_counters = copy_counters(counters)
        reference = None
        if last > 0 and tree.network(0, g).is_file():
            reference = PlanePosteriors(
                config, run.network(0, g), sims, inputs.record.bounds(g, 0), counters
            )
        n = len(sims["data"])
        print(
            f"expected limits: {n} simulations at the Obs. POI values, the posterior on "
            f"{planes.n_points} points per plane"
            + (", false exclusions against round 0" if reference else "")
            + (", and with the nuisances fixed" if fixed else "")
        )
        progress = Progress("expected-limit simulations", n)
        for s in range(n):
            against = [None] * len(counters) if reference is None else reference.excluded(s)
            for counter, excluded, other in zip(counters, planes.excluded(s), against):
                counter.add(excluded, other)
            if fixed is not None:
                for counter, excluded in zip(fixed_counters, fixed.excluded(s)):
                    counter.add(excluded)
            progress(s + 1)

        names, poi = config.poi_names, config.physics.POI_indices
        fraction = {"hpd": np.array([c.fraction for c in counters])}
        excluded_area = {"hpd": np.array([c.areas for c in counters])}
        if fixed is not None:
            fraction["fixed"] = np.array([c.fraction for c in fixed_counters])
            excluded_area["fixed"] = np.array([c.areas for c in fixed_counters])
        result = LimitResult(
            pairs=np.array(config.validation.prediction_pairs),
            pair_names=np.array(
                [[names[i], names[j]] for i, j in config.validation.prediction_pairs]
            ),
            levels=np.array(config.validation.credibility_levels),
            edges_x=np.array([c.edges_x for c in counters]),
            edges_y=np.array([c.edges_y for c in counters]),
            truth=config.table.obs[poi],
            n=n,
            with_reference=reference is not None,
            fraction=fraction,
            excluded_area=excluded_area,
            false_fraction=np.array([c.false_fraction for c in counters]),
        )
        result.save(tree, g)
        inputs.results[self.name] = result
        # every simulation's 2D log-ratio maps: the limits at other levels without the networks
        points = [c.points() for c in counters]
        save_npz(
            tree.validation_data("expected_limits_logratios", g),
            points_x=np.array([x for x, _ in points]),
            points_y=np.array([y for _, y in points]),
            prior=planes.priors,
            edges_x=result.edges_x,
            edges_y=result.edges_y,
            logratios=planes.kept,
            **({} if fixed is None else {"logratios_fixed": fixed.kept}),
        )
        summary = {
            "n_explim": n,
            "n_points": planes.n_points,
            "false_exclusions_against": "round 0" if reference else None,
            "fixed_nuisances": [config.table.free_names[i] for i in config.nuisance_indices]
            if fixed
            else None,
            "pairs": {},
        }
        for p, (counter, (i, j)) in enumerate(zip(counters, config.validation.prediction_pairs)):
            pair = "-".join((names[i], names[j]))
            entry = {}
            for k, level in enumerate(config.validation.credibility_levels):
                entry[f"{level:g}"] = {
                    **limit_summary(config, counter, k, (poi[i], poi[j])),
                    "false_exclusion_max": float(counter.false_fraction[k].max())
                    if reference
                    else None,
                    "false_exclusion_area": float(np.mean(counter.false_fraction[k] > 0))
                    if reference
                    else None,
                }
                if fixed:
                    entry[f"{level:g}"]["fixed_nuisances"] = limit_summary(
                        config, fixed_counters[p], k, (poi[i], poi[j])
                    )
            summary["pairs"][pair] = entry
            self._print(pair, entry, bool(fixed))
        return summary

    @staticmethod
    def _print(pair: str, entry: dict, fixed: bool) -> None:
        for label, key in (("", None), (" (nuisances fixed)", "fixed_nuisances")):
            if key and not fixed:
                continue
            print(
                f"  {pair}{label}: median excluded fraction of the plane "
                + ", ".join(
                    f"{lv}: {(v[key] if key else v)['excluded_area_median']:.3f}"
                    for lv, v in entry.items()
                )
            )
            for level, v in entry.items():
                t = (v[key] if key else v)["truth_exclusion"]
                print(
                    f"  {pair}{label} at {percent(float(level))}: the "
                    f"{TRUTH_WORDS[t['truth_cells']]} excluded in {t['excluded']}/{t['n']} "
                    f"simulations (calibrated: at most {100 * t['allowed']:.3g} "
                    f"%{'' if t['consistent'] else '; EXCLUDED TOO OFTEN'})"
                )

    def figures(self, run: RunContext, grid_point: int) -> dict:
        from alpswyft import plots

        result = LimitResult.load(run.tree, grid_point)
        if result is None:
            return {}
        figures = {"expected_limits": plots.expected_limits(run, grid_point, result=result)}
        if result.with_reference:
            figures["false_exclusions"] = plots.false_exclusions(run, grid_point, result)
        return figures
