"""The classical likelihood analysis of the expected-limit simulations (:mod:`alpswyft.classical`).

Each mock observation is scanned over a grid of the (m, g) box with MAGIC's fits, with thresholds
from pseudo-experiments and Wilks', giving the expected limits of both and what they cost, beside
the network's limits of the same observations.
"""

from __future__ import annotations

import numpy as np

from alpswyft import classical as cl
from alpswyft.diagnostics.base import Diagnostic, Progress, ValidationInputs
from alpswyft.limits import percent
from alpswyft.run import RunContext
from alpswyft.stores import read_store


class ClassicalAnalysis(Diagnostic):
    """MAGIC's method on the run's mock observations (``classical_limits=1``; the first
    ``n_observations`` of them if given): :class:`alpswyft.classical.ClassicalLimits`."""

    name = "classical"
    missing = "no classical limits: set classical_limits=1 (or run analysis_scripts/classical_limits.py on this run)"

    def __init__(self, n_observations: int | None = None):
        self.n_observations = n_observations

    def compute(self, inputs: ValidationInputs) -> dict | None:
        config, tree, g = inputs.config, inputs.tree, inputs.grid_point
        if not config.validation.classical_limits:
            return None
        model = inputs.simulator.model
        counts = cl.observation_counts(
            model,
            read_store(
                inputs.requests["explim"].path,
                [k for k in ("data", "n_off") if k in model.shapes],
            ),
        )
        counts = counts[: self.n_observations]
        # an observation= run: the real ON/OFF observation gets its own limit beside the expected
        observed = (
            np.concatenate([model.observed_on, model.observed_off]).astype(float)
            if getattr(model, "on_off", False)
            else None
        )
        bins, n_toys, lattice = (
            config.classical_grid,
            config.validation.classical_toys,
            config.validation.classical_lattice,
        )
        field = cl.field_parameters(config)
        print(
            f"classical limits: {len(counts)} mock observations on a {bins[0]} x {bins[1]} grid of "
            f"the (m, g) box, {config.validation.classical_realisations} field realisations"
            + (
                f" (with {', '.join(config.table.free_names[i] for i in field)} from the prior)"
                if config.validation.classical_field == "prior" and field
                else ""
            )
            + (
                f", thresholds from {n_toys} pseudo-experiments at each of {lattice} x {lattice} "
                "points"
                if n_toys and lattice
                else f", Wilks' thresholds, {n_toys} pseudo-experiments at each cell along the "
                "Wilks line"
                if n_toys
                else ", Wilks' thresholds"
            ),
            flush=True,
        )
        progress = {}

        def report(what, done, total):
            progress.setdefault(what, Progress(f"classical {what}", total))(done)

        limits = cl.expected_limits(
            model,
            config,
            counts,
            bins,
            config.validation.classical_realisations,
            n_toys,
            lattice,
            config.simulation.sim_seed,
            report,
            config.validation.classical_field,
            observed=observed,
        )
        limits.save(
            tree.validation_data("classical_limits", g),
            levels=np.array(config.validation.credibility_levels),
        )
        summary = cl.summary(limits, config)
        self._print(limits, summary)
        loaded = cl.with_network(tree, g)
        if loaded is not None:  # beside the network's expected limits of the same observations
            level = max(config.validation.credibility_levels)
            rows = cl.compare_with_network(loaded[1], config, limits, level, pair=loaded[2])
            summary["comparison"] = {f"{level:g}": rows}
            print(cl.comparison_table(rows, level))
        return summary

    @staticmethod
    def _print(limits, summary: dict) -> None:
        cost = limits.seconds
        parts = {
            "pseudo_experiments": "pseudo-experiments",
            "limit_line_truths": "limit-line truths",
            "calibrated_line": "calibrated line",
        }
        print(
            f"  cost: survival bank {cost['survival_bank']:.0f} s, observations "
            f"{cost['observations']:.0f} s"
            + "".join(f", {words} {cost[key]:.0f} s" for key, words in parts.items() if key in cost)
            + f" ({cost['fits_per_second']:,.0f} fits/s)"
        )
        line = percent(limits.line["level"]) if limits.line else None
        for row in summary.get("wilks_line_truths", []):
            print(
                f"  a truth on the Wilks {line} line (m {row['m']:g} neV, "
                f"g {row['g']:.3g}e-11 /GeV) excluded by Wilks' test in {row['excluded']}/"
                f"{row['n']} pseudo-experiments (allowed {row['allowed']:.0%}; "
                f"median TS {row['ts_median']:.1f})"
            )
        for m, g_limit in summary.get("calibrated_on_the_line", {}).items():
            print(
                f"  {line} median limit at {m} neV with each cell's own pseudo-experiments "
                f"(searched from the Wilks line): "
                + ("none" if g_limit is None else f"g {g_limit:.3g}e-11 /GeV")
            )
        for level, entry in summary["levels"].items():
            for method, depths in entry.items():
                print(
                    f"  {percent(float(level))} {method}: median expected g limit (1e-11 /GeV) "
                    + ", ".join(
                        f"{m} neV {'none' if v is None else f'{v:.3g}'}"
                        for m, v in depths["median"].items()
                    )
                )
        for level, entry in summary.get("observed", {}).items():
            for method, depths in entry.items():
                print(
                    f"  {percent(float(level))} {method}: the real observation's g limit "
                    "(1e-11 /GeV) "
                    + ", ".join(
                        f"{m} neV {'none' if v is None else f'{v:.3g}'}" for m, v in depths.items()
                    )
                )

    def figures(self, run: RunContext, grid_point: int) -> dict:
        from alpswyft import plots

        figure = plots.classical_comparison(run, grid_point)
        return {} if figure is None else {"classical_comparison": figure}
