"""The validation stage: calibration and expected limits of each grid point's last-round network.

- Coverage: the last ``n_sim_coverage`` simulations of the last round's training store, which no
  round ever trained on, are inferred against ``n_draws`` rows of the last round's prior bank
  (``DRP_coverage_parameters``). Per 1D and 2D marginal: the HPD mass of the truth (swyft's z-z
  coverage) and TARP's f against random and data-dependent references, with the uninformative
  baseline (the prior itself, equal weights), which is calibrated by construction.
- Expected limits: the ``n_sim_explim`` simulations at the Obs. POI values; each plane's 2D
  marginal is evaluated at 2 x 2 points per cell of a 50 x 50 grid over the initial box, times the
  pair's prior density on the round's box, and the exclusions are counted one observation at a
  time (:mod:`alpswyft.limits`). With ``n_truncations`` > 0, the false exclusions are those the
  last round makes and round 0 (untruncated prior) does not; with ``fixed_nuisance_limits``, the
  fixed-nuisance network's limit is counted on the same observations.

Results go to ``val_output/``: ``coverage_gridpoint_<g>.npz``, ``expected_limits_gridpoint_<g>.npz``,
``validation_gridpoint_<g>.json`` (the summary, with the network's SHA-256 so that a re-run skips
finished work) and the figures as PNG.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np

from alpswyft import classical as cl
from alpswyft.config import check_classical
from alpswyft.coverage import (
    CREDIBILITY_GRID,
    data_references,
    empirical_coverage,
    hpd_masses,
    tarp_coverage,
    tarp_fractions,
    unit_cube,
)
from alpswyft.inference import PlanePosteriors
from alpswyft.limits import (
    TRUTH_WORDS,
    ExclusionCounter,
    binomial_interval,
    connected_regions,
    limit_depth,
    percent,
    plane_edges,
    truth_exclusion,
)
from alpswyft.neyman import CriticalValues, neighbour_count
from alpswyft.results import RunTree
from alpswyft.run import RunContext
from alpswyft.stores import read_store
from analysis_core.errors import ConfigError
from analysis_core.files import load_npz, read_json, save_npz, write_json

#: Masses (neV) at which the depth of the (m, g) expected limit is reported.
DEPTH_MASSES = (1.0, 10.0, 100.0)
REFERENCE_SETS = ("random", "data")


def validate(run: RunContext | RunTree) -> None:
    """Validate the last round of every grid point that finished it (skipping those already
    validated with the same network)."""
    run = RunContext.of(run)
    tree, config = run.tree, run.config
    if config.simulate_only:
        print("simulate=1 train=0: nothing is trained, so nothing is validated")
        return
    record = run.record
    last = config.n_truncations
    points = [
        g
        for g in range(config.start_grid_test_at_count, len(config.grid))
        if record.is_done(g, last)
    ]
    if not points:
        print("no grid point has finished its last round: nothing to validate")
        return
    for g in points:
        if not tree.network(last, g).is_file():  # e.g. train=0 with a record from an earlier trial
            print(
                f"grid point {g}: this trial holds no network of round {last} "
                f"({tree.network(last, g).name}): not validated"
            )
            continue
        summary_path = tree.validation_summary(g)
        digest = _network_digest(tree.network(last, g), config.hash)
        if summary_path.is_file() and read_json(summary_path).get("network_sha256") == digest:
            print(f"grid point {g}: already validated with this network ({summary_path.name})")
            continue
        print(f"\ngrid point {g}: validating {tree.network(last, g).relative_to(tree.root)}")
        network = run.network(last, g)
        summary = {"grid_point": g, "round": last, "network_sha256": digest}
        summary["coverage"] = _coverage(run, record, network, g)
        summary["expected_limits"] = _expected_limits(run, record, network, g)
        summary["frequentist"] = _frequentist(run, record, network, g)
        summary["classical"] = _classical(run, record, g)
        _save_figures(run, g, summary)
        write_json(summary_path, summary)
        print(f"grid point {g}: results in {tree.val_output.relative_to(tree.root)}/")


def _network_digest(path, config_hash: str) -> str:
    return hashlib.sha256(path.read_bytes() + config_hash.encode()).hexdigest()[:16]


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


class _Progress:
    """One line at every tenth of a loop, readable in output.log."""

    def __init__(self, title: str, total: int):
        self.title, self.total, self.start = title, total, time.monotonic()
        self.marks = {-(-k * total // 10) for k in range(1, 11)}  # ceil(k total / 10)

    def __call__(self, done: int) -> None:
        if done in self.marks:
            print(
                f"  {self.title}: {done}/{self.total} ({time.monotonic() - self.start:.0f} s)",
                flush=True,
            )


def _coverage(run: RunContext, record, network, g: int) -> dict | None:
    tree, config, simulator = run.tree, run.config, run.simulator
    import torch

    from alpswyft.inference import logratios_for_features, observation_features

    if config.n_sim_coverage == 0:
        print("n_sim_coverage = 0: no coverage simulations, no coverage test")
        return None
    last = config.n_truncations
    box = record.bounds(g, last)
    requests = run.store_requests(g, last, box)
    n_draws, n_coverage, start = config.coverage_draws
    first = config.n_train_round(last) + start  # the coverage block follows the training rows
    sims = read_store(
        requests["train"].path, ["params", *simulator.observed_nodes], first, first + n_coverage
    )
    bank = read_store(requests["prior"].path, ["params"], 0, n_draws)["params"].astype(float)
    poi = config.POI_indices
    poi_box = box[poi]
    bank_unit = unit_cube(bank[:, poi], poi_box)
    truth_unit = unit_cube(sims["params"][:, poi].astype(float), poi_box)
    params = np.concatenate([bank, sims["params"][:1]])  # the last row is replaced by each truth
    features = observation_features(network, {k: sims[k] for k in simulator.observed_nodes})
    margs = marginals(config, network)
    rng = np.random.default_rng(config.sim_seed + 7919 * g)
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
    progress = _Progress("coverage simulations", n_coverage)
    params = torch.as_tensor(
        params, dtype=torch.float32, device=network.device
    )  # to the device once
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
            f_baseline[k, i] = tarp_fractions(samples, truth, references["random"][k][i : i + 1])[0]
        progress(i + 1)

    curves = [empirical_coverage(m, CREDIBILITY_GRID) for m in masses]
    tarps = [
        [tarp_coverage(f[r, k]) for k in range(len(margs))] for r in range(len(REFERENCE_SETS))
    ]
    baselines = [tarp_coverage(f_baseline[k]) for k in range(len(margs))]
    save_npz(
        tree.validation_data("coverage", g),
        marginals=np.array([m[0] for m in margs]),
        masses=masses,
        reference_sets=np.array(REFERENCE_SETS),
        tarp_f=f,
        baseline_f=f_baseline,
        **{f"hpd_{key}": np.array([c[key] for c in curves]) for key in curves[0] if key != "n"},
        alpha=CREDIBILITY_GRID,
        tarp_ecp=np.array([[t["ecp"] for t in row] for row in tarps]),
        tarp_low=np.array([[t["low"] for t in row] for row in tarps]),
        tarp_high=np.array([[t["high"] for t in row] for row in tarps]),
        baseline_ecp=np.array([t["ecp"] for t in baselines]),
    )
    summary = {"n_coverage": n_coverage, "n_draws": n_draws, "marginals": {}}
    for k, (name, *_rest) in enumerate(margs):
        levels = empirical_coverage(masses[k], np.array(config.credibility_levels))
        summary["marginals"][name] = {
            "hpd": {
                f"{c:g}": {"empirical": float(e), "band_1sigma": [float(lo), float(hi)]}
                for c, e, lo, hi in zip(
                    config.credibility_levels, levels["empirical"], levels["low"], levels["high"]
                )
            },
            "tarp_ks_pvalue": {
                name_r: float(tarps[r][k]["ks_pvalue"]) for r, name_r in enumerate(REFERENCE_SETS)
            },
            "baseline_ks_pvalue": float(baselines[k]["ks_pvalue"]),
        }
        hpd = summary["marginals"][name]["hpd"]
        print(
            f"  {name:>12}: HPD coverage "
            + ", ".join(f"{c}: {v['empirical']:.3f}" for c, v in hpd.items())
            + "; TARP KS p-value "
            + ", ".join(
                f"{r} {p:.2g}" for r, p in summary["marginals"][name]["tarp_ks_pvalue"].items()
            )
        )
    return summary


def _plane_counters(config, record, g) -> list[ExclusionCounter]:
    """One empty counter per ``prediction_pairs`` plane (:func:`~alpswyft.limits.plane_edges`
    over the initial box), with the Obs. values as the truth."""
    truth = config.table.obs[config.POI_indices]
    edges = plane_edges(config, np.array(record.data["initial_bounds"]))
    return [
        ExclusionCounter(
            x, y, config.credibility_levels, (truth[i], truth[j]), _is_mg_plane(config, i, j)
        )
        for (x, y), (i, j) in zip(edges, config.prediction_pairs)
    ]


def _frequentist(run: RunContext, record, network, g: int) -> dict | None:
    """The Neyman and CLs limits of every plane (:mod:`alpswyft.frequentist`): calibration, null
    hypothesis, coverage maps, expected limits and the run's own observations."""
    tree, config, simulator = run.tree, run.config, run.simulator
    from alpswyft import frequentist as fq
    from alpswyft.inference import observation_features

    if not config.with_neyman or network.estimator_2d is None:
        if config.neyman_methods and config.with_limit_planes:
            print("no frequentist limits: n_sim_explim = 0 and no real observation")
        return None
    last = config.n_truncations
    box = np.asarray(record.bounds(g, last), float)
    requests = run.store_requests(g, last, box)
    nodes = simulator.observed_nodes
    levels, methods = config.credibility_levels, ("frequentist", "cls", "hpd")
    methods = tuple(m for m in methods if m != "cls" or config.n_null)
    counters = _plane_counters(config, record, g)
    planes = [
        fq.PlaneStatistic(config, network, pair, c.edges_x, c.edges_y, box)
        for pair, c in zip(config.prediction_pairs, counters)
    ]
    k = neighbour_count(config.n_calibration, levels)
    sims = read_store(requests["calibration"].path, ["params", *nodes])
    print(
        f"frequentist limits: {len(sims['params'])} calibration simulations (never trained on), "
        f"critical values from their {k} nearest neighbours (tricube weights)"
    )
    calibrations = [
        fq.calibrate(
            config,
            plane,
            sims,
            nodes,
            _Progress(f"calibration, plane {'-'.join(_names(config, pair))}", len(sims["params"])),
        )
        for plane, pair in zip(planes, config.prediction_pairs)
    ]
    criticals = [CriticalValues(*c, k) for c in calibrations]
    null_maps = [None] * len(planes)
    if config.n_null:
        null = read_store(requests["null"].path, nodes)
        features = observation_features(network, null)
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
    for ex, pair in zip(exclusions, config.prediction_pairs):
        inside, name = ~ex.plane.outside, "-".join(_names(config, pair))
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
                f"{lv}: {v['coverage']:.3f} (smallest of {fq.COVERAGE_BINS}x{fq.COVERAGE_BINS} "
                f"bins {v['bin_min']:.3f}, "
                f"68 % interval {v['bin_min_interval_68'][0]:.3f}-{v['bin_min_interval_68'][1]:.3f})"
                for lv, v in loo.items()
            )
        )

    if config.n_limit_coverage:
        cov = read_store(requests["limit_coverage"].path, ["params", *nodes])
        features = observation_features(network, {key: cov[key] for key in nodes})
        print(
            f"coverage of the confidence sets: {len(features)} simulations with the truth over the plane"
        )
        arrays, cov_summary = {}, {}
        for ex, pair in zip(exclusions, config.prediction_pairs):
            truths_unit, covered = fq.coverage_indicators(
                ex, cov, features, _Progress("limit coverage", len(features))
            )
            plane_arrays, cov_summary["-".join(_names(config, pair))] = fq.coverage_summary(
                truths_unit, covered, levels, ex.plane
            )
            for key, value in plane_arrays.items():
                arrays.setdefault(key, []).append(value)
            arrays.setdefault("truths_unit", []).append(truths_unit)
        save_npz(
            tree.validation_data("limit_coverage", g),
            levels=np.array(levels),
            methods=np.array(methods),
            edges_x=np.array([c.edges_x for c in counters]),
            edges_y=np.array([c.edges_y for c in counters]),
            **{key: np.array(v) for key, v in arrays.items()},
        )
        summary["coverage"] = cov_summary
        for plane_name, entry in cov_summary.items():
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

    observations = _own_observations(tree, config, nodes)
    sets = {}
    for name, nodes_of in observations.items():
        features = observation_features(network, nodes_of)
        sets[name] = [[ex(ex.plane.logratios(f)[0]) for f in features] for ex in exclusions]
    if sets:
        save_npz(
            tree.validation_data("confidence_sets", g),
            levels=np.array(levels),
            methods=np.array(methods),
            edges_x=np.array([c.edges_x for c in counters]),
            edges_y=np.array([c.edges_y for c in counters]),
            **{
                f"{name}_{m}": np.array([[obs[m] for obs in plane] for plane in per_plane])
                for name, per_plane in sets.items()
                for m in methods
            },
        )

    if config.n_sim_explim:
        explim = read_store(requests["explim"].path, nodes)
        features = observation_features(network, explim)
        tested = tuple(
            m for m in methods if m != "hpd"
        )  # HPD's maps are the expected-limit stage's
        by_method = {
            m: [
                ExclusionCounter(c.edges_x, c.edges_y, levels, c.truth, c.truth_where == "row")
                for c in counters
            ]
            for m in tested
        }
        kept = np.zeros((len(planes), len(features), len(planes[0].x)), np.float32)
        # a truth inside the plane is tested at its own point, not at its cell's centre
        truth_points = [c.truth if c.truth_where == "cell" else None for c in counters]
        truth_hits = np.zeros((len(planes), len(methods), len(levels), len(features)), bool)
        progress = _Progress("frequentist expected limits", len(features))
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
        path = tree.validation_data("expected_limits", g)
        result = dict(np.load(path)) if path.is_file() else {}
        for m in tested:
            result[f"fraction_{m}"] = np.array([c.fraction for c in by_method[m]])
            result[f"excluded_area_{m}"] = np.array([c.areas for c in by_method[m]])
        result["methods"] = np.array(tested)
        save_npz(path, **result)
        maps_path = tree.validation_data("expected_limits_logratios", g)
        maps = dict(np.load(maps_path)) if maps_path.is_file() else {}
        save_npz(maps_path, **maps, logratios_centres=kept)
        for p, pair in enumerate(config.prediction_pairs):
            entry = {}
            for k_level, level in enumerate(levels):
                entry[f"{level:g}"] = {
                    m: _limit_summary(
                        config,
                        by_method[m][p],
                        k_level,
                        (config.POI_indices[pair[0]], config.POI_indices[pair[1]]),
                    )
                    for m in tested
                }
                if truth_points[p] is not None:
                    for m_index, m in enumerate(methods):
                        hits = int(truth_hits[p, m_index, k_level].sum())
                        low, high = binomial_interval(hits, len(features))
                        entry[f"{level:g}"].setdefault(m, {})["truth_point_exclusion"] = {
                            "excluded": hits,
                            "n": len(features),
                            "fraction": hits / len(features),
                            "interval_68": [low, high],
                            "allowed": round(1 - level, 10),
                        }
            summary["pairs"]["-".join(_names(config, pair))] = entry
            for level, per_method in entry.items():
                print(
                    f"  {'-'.join(_names(config, pair))} at {percent(float(level))}: median excluded fraction "
                    + ", ".join(
                        f"{m} {v['excluded_area_median']:.3f}"
                        for m, v in per_method.items()
                        if m in tested
                    )
                    + "; the truth excluded in "
                    + ", ".join(
                        f"{m} {v.get('truth_point_exclusion', v.get('truth_exclusion'))['excluded']}"
                        f"/{len(features)}"
                        for m, v in per_method.items()
                    )
                )
    return summary


def _classical(run: RunContext, record, g: int, n_observations: int | None = None) -> dict | None:
    """The classical likelihood analysis of the mock observations (:mod:`alpswyft.classical`; the
    first ``n_observations`` of them if given): each scanned over a grid of the (m, g) box with
    MAGIC's fits, thresholds from pseudo-experiments and Wilks', the expected limits of both, and
    what they cost."""

    tree, config, simulator = run.tree, run.config, run.simulator
    if not config.classical_limits:
        return None
    last = config.n_truncations
    requests = run.store_requests(g, last, np.asarray(record.bounds(g, last), float))
    model = simulator.model
    counts = cl.observation_counts(
        model,
        read_store(requests["explim"].path, [k for k in ("data", "n_off") if k in model.shapes]),
    )
    counts = counts[:n_observations]
    # an observation= run: the real ON/OFF observation gets its own limit beside the expected one
    observed = (
        np.concatenate([model.observed_on, model.observed_off]).astype(float)
        if getattr(model, "on_off", False)
        else None
    )
    bins, n_toys, lattice = config.classical_grid, config.classical_toys, config.classical_lattice
    print(
        f"classical limits: {len(counts)} mock observations on a {bins[0]} x {bins[1]} grid of the (m, g) box, "
        f"{config.classical_realisations} field realisations"
        + (
            f" (with {', '.join(config.table.free_names[i] for i in cl.field_parameters(config))} from the prior)"
            if config.classical_field == "prior" and cl.field_parameters(config)
            else ""
        )
        + (
            f", thresholds from {n_toys} pseudo-experiments at each of {lattice} x {lattice} points"
            if n_toys and lattice
            else f", Wilks' thresholds, {n_toys} pseudo-experiments at each cell along the Wilks line"
            if n_toys
            else ", Wilks' thresholds"
        ),
        flush=True,
    )
    progress = {}

    def report(what, done, total):
        progress.setdefault(what, _Progress(f"classical {what}", total))(done)

    limits = cl.expected_limits(
        model,
        config,
        counts,
        bins,
        config.classical_realisations,
        n_toys,
        lattice,
        config.sim_seed,
        report,
        config.classical_field,
        observed=observed,
    )
    limits.save(
        tree.validation_data("classical_limits", g), levels=np.array(config.credibility_levels)
    )
    summary = cl.summary(limits, config)
    cost = limits.seconds
    print(
        f"  cost: survival bank {cost['survival_bank']:.0f} s, observations {cost['observations']:.0f} s"
        + (
            f", pseudo-experiments {cost['pseudo_experiments']:.0f} s"
            if "pseudo_experiments" in cost
            else ""
        )
        + (
            f", limit-line truths {cost['limit_line_truths']:.0f} s"
            if "limit_line_truths" in cost
            else ""
        )
        + (
            f", calibrated line {cost['calibrated_line']:.0f} s"
            if "calibrated_line" in cost
            else ""
        )
        + f" ({cost['fits_per_second']:,.0f} fits/s)"
    )
    for row in summary.get("wilks_line_truths", []):
        print(
            f"  a truth on the Wilks {percent(limits.line['level'])} line (m {row['m']:g} neV, "
            f"g {row['g']:.3g}e-11 /GeV) "
            f"excluded by Wilks' test in {row['excluded']}/{row['n']} pseudo-experiments "
            f"(allowed {row['allowed']:.0%}; "
            f"median TS {row['ts_median']:.1f})"
        )
    for m, g_limit in summary.get("calibrated_on_the_line", {}).items():
        print(
            f"  {percent(limits.line['level'])} median limit at {m} neV with each cell's own pseudo-experiments "
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
                f"  {percent(float(level))} {method}: the real observation's g limit (1e-11 /GeV) "
                + ", ".join(
                    f"{m} neV {'none' if v is None else f'{v:.3g}'}" for m, v in depths.items()
                )
            )
    loaded = cl.with_network(tree, g)
    if loaded is not None:  # beside the network's expected limits of the same observations
        level = max(config.credibility_levels)
        rows = cl.compare_with_network(loaded[1], config, limits, level, pair=loaded[2])
        summary["comparison"] = {f"{level:g}": rows}
        print(cl.comparison_table(rows, level))
    return summary


def classical_limits(
    run: RunContext | RunTree, grid_point: int = 0, n_observations: int | None = None, **settings
) -> dict:
    """The classical analysis of a finished run's mock observations (the first ``n_observations``
    if given), as ``classical_limits=1`` would have made it, with ``settings`` (``classical_bins``,
    ``classical_realisations``, ``classical_toys``, ``classical_lattice``, ``classical_field``) in
    place of the run's: writes
    ``classical_limits_gridpoint_<g>.npz``, the comparison figure and the summary's ``classical``
    entry, and prints the comparison with the network's limits. Returns the summary entry."""

    run = RunContext.of(run)
    tree, config = run.tree, run.config
    if isinstance(settings.get("classical_bins"), str):
        settings["classical_bins"] = [int(v) for v in settings["classical_bins"].split(",")]
    config = config.model_copy(
        update={"classical_limits": True, **{k: v for k, v in settings.items() if v is not None}}
    )
    check_classical(config)
    if n_observations is not None and n_observations < 1:
        raise ConfigError("observations", n_observations, "at least 1 mock observation")
    run = RunContext(tree, config)  # the run's variables with the given settings
    entry = _classical(run, run.record, grid_point, n_observations)
    summary_path = tree.validation_summary(grid_point)
    summary = read_json(summary_path) if summary_path.is_file() else {}
    summary["classical"] = entry
    _save_figures(tree, grid_point, {"coverage": None, "expected_limits": None, "classical": entry})
    write_json(summary_path, summary)
    return entry


def _names(config, pair) -> tuple[str, str]:
    return config.poi_names[pair[0]], config.poi_names[pair[1]]


def _own_observations(tree, config, nodes) -> dict[str, dict]:
    """The run's own observations as node batches: ``observation`` (the mock or real one) and
    ``extra`` (the extra observations), where they exist."""

    out = {}
    if tree.true_obs.is_file():
        true_obs = load_npz(tree.true_obs)
        out["observation"] = {k: np.asarray(true_obs[k])[None] for k in nodes}
    if config.extra_observations and tree.extra_obs.is_file():
        extra = load_npz(tree.extra_obs)
        out["extra"] = {k: np.asarray(extra[k]) for k in nodes}
    return out


def _expected_limits(run: RunContext, record, network, g: int) -> dict | None:
    tree, config, simulator = run.tree, run.config, run.simulator
    why_not = (
        "n_sim_explim = 0"
        if config.n_sim_explim == 0
        else "prediction_pairs is empty (with a single POI there is no plane)"
        if not config.prediction_pairs
        else "the network has no 2D marginals (restricted_posterior=1)"
        if network.estimator_2d is None
        else None
    )
    if why_not:
        print(f"{why_not}: no expected limits")
        return None
    last = config.n_truncations
    requests = run.store_requests(g, last, record.bounds(g, last))
    sims = read_store(requests["explim"].path, simulator.observed_nodes)
    truth = config.table.obs[config.POI_indices]
    counters = _plane_counters(config, record, g)
    planes = PlanePosteriors(config, network, sims, record.bounds(g, last), counters)
    fixed = None
    if config.with_fixed_nuisances and tree.fixed_network(g).is_file():
        fixed_network = run.network(last, g, fixed_nuisances=True)
        fixed = PlanePosteriors(
            config, fixed_network, sims, record.bounds(g, last), counters, config.limit_pois
        )
        fixed_counters = [
            ExclusionCounter(c.edges_x, c.edges_y, c.levels, c.truth, c.truth_where == "row")
            for c in counters
        ]
    reference = None
    if last > 0 and tree.network(0, g).is_file():
        reference = PlanePosteriors(
            config,
            run.network(0, g),
            sims,
            record.bounds(g, 0),
            counters,
        )
    n = len(sims["data"])
    print(
        f"expected limits: {n} simulations at the Obs. POI values, the posterior on {planes.n_points} points per plane"
        + (", false exclusions against round 0" if reference else "")
        + (", and with the nuisances fixed" if fixed else "")
    )
    progress = _Progress("expected-limit simulations", n)
    for s in range(n):
        excluded_reference = [None] * len(counters) if reference is None else reference.excluded(s)
        for counter, excluded, against in zip(counters, planes.excluded(s), excluded_reference):
            counter.add(excluded, against)
        if fixed is not None:
            for counter, excluded in zip(fixed_counters, fixed.excluded(s)):
                counter.add(excluded)
        progress(s + 1)

    names, poi = config.poi_names, config.POI_indices
    save_npz(
        tree.validation_data("expected_limits", g),
        pairs=np.array(config.prediction_pairs),
        pair_names=np.array([[names[i], names[j]] for i, j in config.prediction_pairs]),
        levels=np.array(config.credibility_levels),
        edges_x=np.array([c.edges_x for c in counters]),
        edges_y=np.array([c.edges_y for c in counters]),
        fraction=np.array([c.fraction for c in counters]),
        false_fraction=np.array([c.false_fraction for c in counters]),
        excluded_area=np.array([c.areas for c in counters]),
        truth=truth,
        n=np.array(n),
        with_reference=np.array(reference is not None),
        **(
            {}
            if fixed is None
            else {
                "fraction_fixed": np.array([c.fraction for c in fixed_counters]),
                "excluded_area_fixed": np.array([c.areas for c in fixed_counters]),
            }
        ),
    )
    # every simulation's 2D log-ratio maps: the limits at other levels without the networks
    points = [c.points() for c in counters]
    save_npz(
        tree.validation_data("expected_limits_logratios", g),
        points_x=np.array([x for x, _ in points]),
        points_y=np.array([y for _, y in points]),
        prior=planes.priors,
        edges_x=np.array([c.edges_x for c in counters]),
        edges_y=np.array([c.edges_y for c in counters]),
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
    for p, (counter, (i, j)) in enumerate(zip(counters, config.prediction_pairs)):
        pair = (names[i], names[j])
        entry = {}
        for k, level in enumerate(config.credibility_levels):
            entry[f"{level:g}"] = {
                **_limit_summary(config, counter, k, (poi[i], poi[j])),
                "false_exclusion_max": float(counter.false_fraction[k].max())
                if reference
                else None,
                "false_exclusion_area": float(np.mean(counter.false_fraction[k] > 0))
                if reference
                else None,
            }
            if fixed:
                entry[f"{level:g}"]["fixed_nuisances"] = _limit_summary(
                    config, fixed_counters[p], k, (poi[i], poi[j])
                )
        summary["pairs"]["-".join(pair)] = entry
        for label, key in (("", None), (" (nuisances fixed)", "fixed_nuisances")):
            if key and not fixed:
                continue
            print(
                f"  {'-'.join(pair)}{label}: median excluded fraction of the plane "
                + ", ".join(
                    f"{lv}: {(v[key] if key else v)['excluded_area_median']:.3f}"
                    for lv, v in entry.items()
                )
            )
            for level, v in entry.items():
                t = (v[key] if key else v)["truth_exclusion"]
                print(
                    f"  {'-'.join(pair)}{label} at {percent(float(level))}: the {TRUTH_WORDS[t['truth_cells']]}"
                    f" excluded in {t['excluded']}/{t['n']} simulations"
                    f" (calibrated: at most {100 * t['allowed']:.3g} "
                    f"%{'' if t['consistent'] else '; EXCLUDED TOO OFTEN'})"
                )
    return summary


def _is_mg_plane(config, i: int, j: int) -> bool:
    """Whether POI positions (i, j) are the (m, g) plane of an ALP table, log10 axes."""
    x, y = (config.table.free[config.POI_indices[k]] for k in (i, j))
    return (x.name, y.name) == ("m", "g") and x.log and y.log


def _limit_summary(config, counter: ExclusionCounter, k: int, columns: tuple[int, int]) -> dict:
    """One level's expected limit on the plane of the free parameters ``columns``: excluded area
    (median and 68 % band), the truth's exclusion, the number of connected regions of the median
    limit and, on the (m, g) plane of log10 axes, its depth (g in the table's unit) at DEPTH_MASSES."""
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


def _save_figures(run: RunContext | RunTree, g: int, summary: dict) -> None:
    import matplotlib.pyplot as plt

    from alpswyft import plots
    from alpswyft.report import save_figure

    run = RunContext.of(run)  # one context for every figure
    tree = run.tree
    figures = {}
    if summary["coverage"] is not None:
        figures["coverage_zz"] = plots.coverage_zz(run, g)
        figures["tarp"] = plots.tarp(run, g)
    if summary["expected_limits"] is not None:
        figures["expected_limits"] = plots.expected_limits(run, g)
        if summary["expected_limits"]["false_exclusions_against"]:
            figures["false_exclusions"] = plots.false_exclusions(run, g)
    if summary.get("frequentist") and summary["frequentist"].get("coverage"):
        figures["limit_coverage"] = plots.limit_coverage(run, g)
    if summary.get("classical"):
        figures["classical_comparison"] = plots.classical_comparison(run, g)
    for name, fig in figures.items():
        if fig is None:
            continue
        save_figure(fig, tree, f"{name}_gridpoint_{g}")
        plt.close(fig)
