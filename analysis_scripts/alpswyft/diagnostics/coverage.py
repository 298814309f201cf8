"""Coverage: the calibration of the 1D and 2D marginals on simulations no round trained on.

The last ``n_sim_coverage`` simulations of the last round's training store are inferred against
``n_draws`` rows of its prior bank (``DRP_coverage_parameters``). Per marginal: the HPD mass of the
truth (swyft's z-z coverage) and TARP's f against random and data-dependent references, with the
uninformative baseline (the prior itself, equal weights), which is calibrated by construction.
"""

from __future__ import annotations

import numpy as np

from alpswyft.coverage import (
    CoverageResult,
    data_references,
    empirical_coverage,
    hpd_masses,
    tarp_fractions,
    unit_cube,
)
from alpswyft.diagnostics.base import Diagnostic, Progress, ValidationInputs
from alpswyft.run import RunContext
from alpswyft.stores import read_store

REFERENCE_SETS = ("random", "data")


def marginals(config, network) -> list[tuple[str, tuple[int, ...], int, int]]:
    """(name, POI positions, estimator index, column) of every marginal the network estimates,
    1D first: the estimator outputs of :func:`~alpswyft.inference.logratios_for_features`."""
    names = config.poi_names
    out, estimator = [], 0
    if network.estimator_1d is not None:
        out += [(names[i], (i,), estimator, i) for i in range(len(names))]
        estimator += 1
    if network.estimator_2d is not None:
        out += [
            (f"{names[i]}-{names[j]}", (i, j), estimator, k)
            for k, (i, j) in enumerate(network.pairs)
        ]
    return out


class Coverage(Diagnostic):
    """HPD (z-z, p-p) and TARP coverage of every marginal: :class:`~alpswyft.coverage.CoverageResult`."""

    name = "coverage"
    missing = "no coverage results: set n_sim_coverage > 0"

    def compute(self, inputs: ValidationInputs) -> dict | None:
        import torch

        from alpswyft.inference import logratios_for_features, observation_features

        config, simulator = inputs.config, inputs.simulator
        network, g = inputs.network, inputs.grid_point
        if config.simulation.n_sim_coverage == 0:
            print("n_sim_coverage = 0: no coverage simulations, no coverage test")
            return None
        requests = inputs.requests
        n_draws, n_coverage, start = config.coverage_draws
        first = config.n_train_round(inputs.round) + start  # the coverage block follows training
        sims = read_store(
            requests["train"].path, ["params", *simulator.observed_nodes], first, first + n_coverage
        )
        bank = read_store(requests["prior"].path, ["params"], 0, n_draws)["params"].astype(float)
        poi = config.physics.POI_indices
        poi_box = inputs.box[poi]
        bank_unit = unit_cube(bank[:, poi], poi_box)
        truth_unit = unit_cube(sims["params"][:, poi].astype(float), poi_box)
        params = np.concatenate([bank, sims["params"][:1]])  # the last row: each truth in turn
        features = observation_features(network, {k: sims[k] for k in simulator.observed_nodes})
        margs = marginals(config, network)
        rng = np.random.default_rng(config.simulation.sim_seed + 7919 * g)
        references = {
            "random": [rng.uniform(size=(n_coverage, len(m[1]))) for m in margs],
            "data": [data_references(sims["data"], len(m[1]), rng) for m in margs],
        }
        masses = np.zeros((len(margs), n_coverage))
        f = np.zeros((len(REFERENCE_SETS), len(margs), n_coverage))
        f_baseline = np.zeros((len(margs), n_coverage))
        print(
            f"coverage: {n_coverage} simulations (rows {first}..{first + n_coverage - 1} of "
            f"{requests['train'].path.name}, never trained on) against {n_draws} posterior draws"
        )
        progress = Progress("coverage simulations", n_coverage)
        params = torch.as_tensor(params, dtype=torch.float32, device=network.device)  # once
        truths = torch.as_tensor(sims["params"], dtype=torch.float32, device=network.device)
        for i in range(n_coverage):
            params[-1] = truths[i]
            out = logratios_for_features(network, features[i], params)
            for k, (_, positions, estimator, column) in enumerate(margs):
                logratios = out[estimator][:, column]
                masses[k, i] = hpd_masses(logratios[-1:], logratios[None, :-1])[0]
                weights = np.exp(logratios[:-1] - logratios[:-1].max())[None]
                samples, truth = bank_unit[:, positions], truth_unit[i : i + 1, positions]
                for r, name in enumerate(REFERENCE_SETS):
                    f[r, k, i] = tarp_fractions(
                        samples, truth, references[name][k][i : i + 1], weights
                    )[0]
                f_baseline[k, i] = tarp_fractions(
                    samples, truth, references["random"][k][i : i + 1]
                )[0]
            progress(i + 1)

        result = CoverageResult.from_statistics(
            [m[0] for m in margs], REFERENCE_SETS, masses, f, f_baseline
        )
        result.save(inputs.tree, g)
        return self.summary(result, config.validation.credibility_levels, n_draws)

    @staticmethod
    def summary(result: CoverageResult, levels, n_draws: int) -> dict:
        """The summary entry: per marginal, the HPD coverage at ``levels`` with its 1 sigma band
        and the KS p-values of TARP's f (each reference set, and the baseline)."""
        tarp_p, baseline_p = result.ks_pvalues()
        summary = {"n_coverage": result.n_simulations, "n_draws": n_draws, "marginals": {}}
        for k, name in enumerate(result.marginals):
            at_levels = empirical_coverage(result.masses[k], np.array(levels))
            entry = summary["marginals"][name] = {
                "hpd": {
                    f"{c:g}": {"empirical": float(e), "band_1sigma": [float(lo), float(hi)]}
                    for c, e, lo, hi in zip(
                        levels, at_levels["empirical"], at_levels["low"], at_levels["high"]
                    )
                },
                "tarp_ks_pvalue": {
                    reference: float(tarp_p[r, k])
                    for r, reference in enumerate(result.reference_sets)
                },
                "baseline_ks_pvalue": float(baseline_p[k]),
            }
            print(
                f"  {name:>12}: HPD coverage "
                + ", ".join(f"{c}: {v['empirical']:.3f}" for c, v in entry["hpd"].items())
                + "; TARP KS p-value "
                + ", ".join(f"{r} {p:.2g}" for r, p in entry["tarp_ks_pvalue"].items())
            )
        return summary

    def figures(self, run: RunContext, grid_point: int) -> dict:
        from alpswyft import plots

        result = CoverageResult.load(run.tree, grid_point)
        if result is None:
            return {}
        return {
            "coverage_zz": plots.coverage_zz(run, grid_point, result),
            "tarp": plots.tarp(run, grid_point, result),
        }
