"""The analysis report: text summaries and the executed notebook of a run.

The template ``analysis_scripts/notebooks/analysis_results.ipynb`` is executed with papermill
against a run folder and saved there, with its outputs, as ``analysis_results.ipynb`` and rendered
to ``analysis_results.html``; the figures also go to ``val_output/`` as PNG. It can be re-executed
on its own: ``python analysis_scripts/make_report.py <run folder> [--grid-point G]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alpswyft import classical as cl
from alpswyft.datasets.onoff import OnOffSpectrum, describe
from alpswyft.diagnostics import diagnostic
from alpswyft.frequentist import COVERAGE_BINS
from alpswyft.limits import (
    TRUTH_WORDS,
    depth_ratios,
    mg_plane,
    percent,
    published_limits,
    quoted_method,
)
from alpswyft.neyman import METHOD_WORDS, gaussian_neyman_threshold
from alpswyft.results import RunTree
from alpswyft.run import RunContext
from analysis_core.errors import PipelineError
from analysis_core.files import read_json
from analysis_core.notebooks import render_html

TEMPLATE = Path(__file__).resolve().parents[1] / "notebooks" / "analysis_results.ipynb"


def configuration_summary(run: RunContext | RunTree) -> str:
    """The run's model, rounds and parameter table as text."""
    run = RunContext.of(run)
    tree = run.tree
    provenance = read_json(tree.config)
    config = run.config
    physics, simulation = config.physics, config.simulation
    lines = [
        f"run '{config.run_name}', trial {provenance['trial']}, configuration hash {provenance['config_hash']}",
        f"model {physics.model!r}, noise {physics.noise}, {physics.nbins} bins on "
        f"[{physics.emin:g}, {physics.emax:g}]",
        f"{config.n_rounds} rounds, training simulations per round {simulation.n_sim_train}, "
        f"prior bank {simulation.n_prior_samples}, grid points {len(config.grid)}",
        "",
        f"{'row':>5} {'name':>12} {'free':>5} {'bounds / value':>22} {'obs':>9} {'log':>4} {'prior':>12} {'POI':>4}",
    ]
    poi = {config.physics.POI_indices[k]: k for k in range(len(config.physics.POI_indices))}
    free_index = 0
    for p in config.table.parameters:
        if p.free:
            where = f"[{p.bounds[0]:g}, {p.bounds[1]:g}]"
            is_poi = "yes" if free_index in poi else ""
            free_index += 1
        else:
            where, is_poi = f"{p.value:g}", ""
        obs = "" if p.obs is None else f"{p.obs:g}"
        lines.append(
            f"{p.variable:>5} {p.name:>12} {'yes' if p.free else 'no':>5} {where:>22} {obs:>9} "
            f"{int(p.log):>4} {str(p.prior):>12} {is_poi:>4}"
        )
    for warning in provenance.get("warnings", []):
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def truncation_table(run: RunContext | RunTree, grid_point: int = 0) -> str:
    """Box, posterior mean and standard deviation of each POI per round."""
    run = RunContext.of(run)
    config = run.config
    record = run.record
    lines = [
        f"{'round':>5} {'POI':>10} {'box':>24} {'next box':>24} {'mean':>10} {'std':>9} {'val_loss':>9}"
    ]
    for entry in record.rounds(grid_point):
        for i, name in zip(config.physics.POI_indices, config.poi_names):
            post = entry["posterior"].get(name, {})
            box, new = entry["bounds"][i], entry["truncated_bounds"][i]
            lines.append(
                f"{entry['round']:>5} {name:>10} {f'[{box[0]:+.3g}, {box[1]:+.3g}]':>24} "
                f"{f'[{new[0]:+.3g}, {new[1]:+.3g}]':>24} {post.get('mean', float('nan')):>10.4g} "
                f"{post.get('std', float('nan')):>9.3g} {_loss(entry):>9s}"
            )
    return "\n".join(lines)


def _loss(entry: dict) -> str:
    """A round's best validation loss, or 'loaded' for a network reused without training."""
    loss = entry["training"].get("best_val_loss")
    return "loaded" if loss is None else f"{loss:+.4f}"


def observation_summary(run: RunContext | RunTree) -> str | None:
    """A real observation's runs (livetimes, offsets, ON radii), its counts per bin and their
    significance; None for a mock observation."""
    run = RunContext.of(run)

    model = run.simulator.model
    if not getattr(model, "on_off", False):
        return None
    spectrum = OnOffSpectrum.from_arrays(model.observation, model.response.e_reco_edges)
    return f"{describe(model.observation)}\n\n{spectrum.table()}"


def classical_comparison(
    run: RunContext | RunTree, grid_point: int = 0, level: float = 0.95
) -> str | None:
    """The network's median expected limits against the classical analysis's on the same mock
    observations (``classical_limits=1``), with MAGIC's published contour, at the comparison
    masses, then the classical thresholds and what the classical analysis cost; None without
    both results."""
    run = RunContext.of(run)
    tree = run.tree

    loaded = cl.with_network(tree, grid_point)
    if loaded is None:
        return None
    (limits, result, pair), config = loaded, run.config
    rows = cl.compare_with_network(result, config, limits, level, pair=pair)
    on_off = bool(config.physics.observation)
    lines = [
        cl.comparison_table(rows, level),
        "network: read at the centre of the lowest excluded cell; classical: MAGIC's fits and combination "
        f"(the 6th best of {limits.n_realisations} realisations; "
        + (
            "WStat, the OFF expectation of each bin profiled"
            if on_off
            else "Poisson, the background known"
        )
        + "), interpolated between cell centres; ratio: the network's quoted limit over the classical one",
    ]
    if limits.observed:
        method = "toys" if limits.thresholds is not None else "wilks"
        observed = limits.observed_at(level, "quantile", method)
        lines.append(
            f"the real observation's classical limit at {percent(level)} ({method} thresholds), g [1e-11 /GeV]: "
            + ", ".join(
                f"{m} neV {'none' if v is None else f'{v:.3g}'}" for m, v in observed.items()
            )
        )
    if limits.thresholds is not None:
        errors = limits.thresholds.errors(level)
        n_toys = limits.thresholds.ts["quantile"].shape[1]
        lines.append(
            f"thresholds at {percent(level)}: {errors['range'][0]:.2f}-{errors['range'][1]:.2f} from {n_toys} "
            f"pseudo-experiments at each of {len(limits.thresholds.axes[0])} x {len(limits.thresholds.axes[1])} "
            f"points (bootstrap sigma {errors['bootstrap_sigma_median']:.2f} median, "
            f"{errors['bootstrap_sigma_max']:.2f} largest), Wilks' chi2_2 {cl.stats.chi2.ppf(level, 2):.2f}"
        )
    if limits.calibrated:
        for k, m in enumerate(limits.calibrated["masses"]):
            steps = [
                f"{10**g:.3g}: threshold {c:.1f}, excluded in {f:.0%}"
                for g, c, f in zip(
                    limits.calibrated["g"][k],
                    limits.calibrated["threshold"][k],
                    limits.calibrated["fraction"][k],
                )
                if np.isfinite(g)
            ]
            lines.append(f"calibrated along the line at {m:g} neV, cells g = " + "; ".join(steps))
    for row in limits.line_exclusion():
        lines.append(
            f"a truth on the Wilks line at {row['m']:g} neV (g {row['g']:.3g}): excluded by Wilks' test in "
            f"{row['excluded']}/{row['n']} pseudo-experiments (a calibrated test: at most {row['allowed']:.0%})"
        )
    seconds = dict(limits.seconds)
    rate = seconds.pop("fits_per_second", None)
    lines.append(
        "cost (wall s): "
        + ", ".join(f"{k.replace('_', ' ')} {v:,.0f}" for k, v in seconds.items())
        + ("" if rate is None else f" ({rate:,.0f} fits/s)")
    )
    return "\n".join(lines)


def published_comparison(
    run: RunContext | RunTree,
    grid_point: int = 0,
    label: str = "MAGIC",
    level: float = 0.95,
    method: str | None = None,
) -> str | None:
    """The median expected limit at ``level`` against a published contour (``label``, e.g. MAGIC's),
    per mass column where either exists: both depths and their ratio; None without an (m, g)
    expected-limit plane."""
    run = RunContext.of(run)
    tree = run.tree

    plane = mg_plane(tree.validation_data("expected_limits", grid_point))
    if plane is None:
        return None
    result, pair = plane
    config = run.config
    method = method or quoted_method(config, result)
    rows = depth_ratios(result, config, pair, level, label, method)
    lines = [
        f"median expected limit ({method}) at {percent(level)}, read at its cells' centres, "
        f"against {label}'s published, observed contour (g in 1e-11 / GeV)",
        f"{'m (neV)':>9} {'g, this run':>12} {f'g, {label}':>12} {'ratio':>7}",
    ]
    for row in (r for r in rows if r["g_published"] is not None):
        ours = "-" if row["g_limit"] is None else f"{row['g_limit']:.3g}"
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        lines.append(f"{row['m']:>9.3g} {ours:>12} {row['g_published']:>12.3g} {ratio:>7}")
    for name, key in (("this run's limit", "g_limit"), (f"{label}'s contour", "g_published")):
        masses = [r["m"] for r in rows if r[key] is not None]
        lines.append(
            f"{name} spans m = {masses[0]:.3g}-{masses[-1]:.3g} neV"
            if masses
            else f"{name}: none on this plane"
        )
    both = [r for r in rows if r["ratio"] is not None]
    if both:
        best = min(both, key=lambda r: r["g_published"])
        lines.append(
            f"at {label}'s deepest mass bin (m = {best['m']:.3g} neV): ratio {best['ratio']:.2f}"
        )
    return "\n".join(lines)


def grid_summary(run: RunContext | RunTree) -> str:
    """Best validation loss of every round of every grid point, with its hyperparameters."""
    record = RunContext.of(run).record
    lines = [f"{'grid point':>10}  {'val_loss per round':<30}  hyperparameters"]
    for key, point in sorted(record.data["grid_points"].items(), key=lambda item: int(item[0])):
        losses = "  ".join(f"{_loss(r):>7s}" for r in point["rounds"])
        lines.append(f"{key:>10}  {losses:<30}  {point['hyperparams']}")
    return "\n".join(lines)


def save_figure(fig, where: RunTree | Path, name: str) -> Path:
    """Save ``fig`` as ``<name>.png`` into ``where``: a folder, or a run's ``val_output/``."""
    folder = where.val_output if isinstance(where, RunTree) else Path(where)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=110)
    return path


def diagnostic_figures(
    run: RunContext | RunTree, grid_point: int, name: str, folder: RunTree | Path | None = None
) -> dict:
    """The figures of one diagnostic (:mod:`alpswyft.diagnostics`: ``coverage``,
    ``expected_limits``, ``frequentist``, ``classical``) drawn from its saved results and saved as
    ``<figure>_gridpoint_<g>.png`` into ``folder`` (default: the run's ``val_output/``); where the
    run has none, prints what makes them and returns an empty dict."""
    run = RunContext.of(run)
    found = diagnostic(name)
    figures = found.figures(run, grid_point)
    if not save_figures(figures, run.tree if folder is None else folder, grid_point):
        print(found.missing)
    return {stem: fig for stem, fig in figures.items() if fig is not None}


def save_figures(figures: dict, where: RunTree | Path, grid_point: int) -> list[Path]:
    """Save each figure of ``{stem: figure or None}`` as ``<stem>_gridpoint_<g>.png`` into
    ``where`` (:func:`save_figure`); the files written."""
    return [
        save_figure(fig, where, f"{stem}_gridpoint_{grid_point}")
        for stem, fig in figures.items()
        if fig is not None
    ]


def is_archived(run: RunContext | RunTree) -> bool:
    """Whether the folder is an archived trial (``<run>/archive/trial__N``), which is never written."""
    run = RunContext.of(run)
    tree = run.tree
    return tree.root.parent.name == "archive" and tree.root.name.startswith("trial__")


def report_folder(run: RunContext | RunTree, output: Path | None = None) -> Path | None:
    """Where the report of ``tree`` goes: ``output`` if given; for an archived trial
    ``<run>/reports/trial__N/`` (beside the archive, never in it); else None (the run folder)."""
    run = RunContext.of(run)
    tree = run.tree
    if output is not None:
        return Path(output).resolve()
    if is_archived(run):
        return tree.root.parents[1] / "reports" / tree.root.name
    return None


def execute(
    run: RunContext | RunTree,
    grid_point: int = 0,
    round_: int | None = None,
    output: Path | None = None,
) -> Path | None:
    """Execute the template against the run folder for one grid point (and ``round_``, default
    the last) and render it to HTML; a failing cell fails the report (the partly executed notebook
    is kept for inspection). An archived trial, or any run with ``output``, is only read: the
    notebook, its HTML and its figures go to :func:`report_folder`."""
    run = RunContext.of(run)
    tree = run.tree
    import papermill

    if not tree.config.exists():
        raise PipelineError(f"{tree.root} is not a run folder (no config.json)")
    if run.config.simulate_only:
        print(
            "simulate=1 train=0: the stores are filled and the trial stays open; run the same run script "
            "with simulate=0 train=1 (or simulate=1 train=1) to train on them: that run resumes this trial"
        )
        return None
    folder = report_folder(run, output)
    notebook = tree.notebook if folder is None else folder / tree.notebook.name
    notebook.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        str(TEMPLATE),
        str(notebook),
        parameters={
            "run_dir": str(tree.root),
            "grid_point": grid_point,
            "round_number": round_,
            "output_dir": None if folder is None else str(folder),
        },
        cwd=str(notebook.parent),
        kernel_name="python3",
        progress_bar=False,
    )
    print(f"executed notebook: {notebook}")
    html = render_html(notebook)
    print(f"rendered to HTML: {html}")
    if folder is None:
        tree.mark_finished(notebook=tree.notebook.name)
    print(f"\nFinished analysis: open {notebook}")
    return notebook


def validation_summary(run: RunContext | RunTree, grid_point: int = 0) -> str:
    """The validation results of a grid point as text: HPD coverage at the run's credibility levels
    with 1 sigma bands, TARP KS p-values, expected-limit areas; or why there are none."""
    run = RunContext.of(run)
    tree = run.tree
    path = tree.validation_summary(grid_point)
    if not path.is_file():
        return f"no validation results for grid point {grid_point} ({path.name} is missing)"
    summary = read_json(path)
    lines = []
    coverage = summary["coverage"]
    if coverage is None:
        lines.append("coverage: none (n_sim_coverage = 0)")
    else:
        lines.append(
            f"coverage: {coverage['n_coverage']} simulations never trained on, "
            f"{coverage['n_draws']} posterior draws each"
        )
        levels = next(iter(coverage["marginals"].values()))["hpd"] if coverage["marginals"] else {}
        lines.append(
            f"{'marginal':>12} "
            + " ".join(f"{'HPD ' + percent(float(lv)):>22}" for lv in levels)
            + f" {'TARP p (random, data)':>24} {'prior p':>8}"
        )
        for name, m in coverage["marginals"].items():
            hpd = [
                f"{v['empirical']:.3f} [{v['band_1sigma'][0]:.3f}, {v['band_1sigma'][1]:.3f}]"
                for v in m["hpd"].values()
            ]
            tarp_p = ", ".join(f"{p:.2g}" for p in m["tarp_ks_pvalue"].values())
            lines.append(
                f"{name:>12} "
                + " ".join(f"{h:>22}" for h in hpd)
                + f" {tarp_p:>24} {m['baseline_ks_pvalue']:>8.2g}"
            )
    limits = summary["expected_limits"]
    if limits is None:
        lines.append(
            "expected limits: none (n_sim_explim = 0, no prediction_pairs or no 2D marginals)"
        )
    else:
        lines.append(
            f"expected limits: {limits['n_explim']} mock observations, the posterior on {limits['n_points']} points "
            "per plane; "
            f"false exclusions against {limits['false_exclusions_against'] or 'nothing (one round)'}"
        )
        if limits.get("fixed_nuisances"):
            lines.append(
                f"nuisances fixed: a second network with {', '.join(limits['fixed_nuisances'])} at their Obs. "
                "values, on the same mock observations"
            )
        for pair, levels in limits["pairs"].items():
            for level, v in levels.items():
                false = (
                    ""
                    if v["false_exclusion_max"] is None
                    else f", false exclusions up to {v['false_exclusion_max']:.1%} per cell"
                )
                lines.append(f"{pair:>12} at {percent(float(level))}: {_limit_line(v)}{false}")
                if "fixed_nuisances" in v:
                    lines.append(f"{'':>12}  nuisances fixed: {_limit_line(v['fixed_nuisances'])}")
    lines += _frequentist_lines(summary.get("frequentist"))
    return "\n".join(lines)


def _frequentist_lines(freq: dict | None) -> list[str]:
    """The frequentist part of the validation summary: calibration, coverage at every point,
    expected limits per method."""
    if freq is None:
        return [
            "frequentist limits: none (limit_method=hpd, or no expected limits and no real observation)"
        ]
    lines = [
        f"frequentist limits: critical values from {freq['n_calibration']} calibration simulations "
        f"(never trained on; the {freq['k']} nearest to each point, {freq.get('kernel', 'uniform')} weights)"
        + (
            f", CLs against {freq['n_null']} simulations of the null hypothesis"
            if freq["n_null"]
            else ""
        )
    ]
    for plane, per_level in freq["critical_values"].items():
        lines.append(
            f"{plane:>12} critical value of t (min, median, max over the plane): "
            + "; ".join(
                f"{percent(float(lv))} {q[0]:.2f}, {q[1]:.2f}, {q[2]:.2f} (Wilks: {_wilks(float(lv)):.2f})"
                for lv, q in per_level.items()
            )
        )
    for plane, per_level in freq.get("leave_one_out", {}).items():
        lines.append(
            f"{plane:>12} the calibration's leave-one-out coverage (overall; smallest of "
            f"{COVERAGE_BINS}x{COVERAGE_BINS} bins): "
            + "; ".join(
                f"{percent(float(lv))} {v['coverage']:.3f}; {v['bin_min']:.3f} [{v['bin_min_interval_68'][0]:.3f}, "
                f"{v['bin_min_interval_68'][1]:.3f}]"
                for lv, v in per_level.items()
            )
        )
    for plane, per_method in freq.get("coverage", {}).items():
        for method, per_level in per_method.items():
            lines.append(
                f"{plane:>12} coverage, {METHOD_WORDS[method]}: "
                + "; ".join(
                    f"{percent(float(lv))} {v['coverage']:.3f} [{v['interval_68'][0]:.3f}, {v['interval_68'][1]:.3f}], "
                    f"smallest {v['smooth_min']:.3f} ± {v['smooth_min_sigma']:.3f}, "
                    f"{100 * v['area_below_2sigma']:.0f} % of the "
                    "plane below nominal − 2σ"
                    for lv, v in per_level.items()
                )
            )
    for plane, per_level in freq.get("pairs", {}).items():
        for level, per_method in per_level.items():
            for method, v in per_method.items():
                if "excluded_area_median" not in v:
                    continue
                point = v.get("truth_point_exclusion")
                truth = (
                    ""
                    if point is None
                    else (
                        f"; the truth itself excluded in {point['excluded']}/{point['n']} "
                        f"(calibrated: at most {100 * point['allowed']:.3g} %)"
                    )
                )
                lines.append(
                    f"{plane:>12} at {percent(float(level))}, {METHOD_WORDS[method]}: {_limit_line(v)}{truth}"
                )
    return lines


def _wilks(level: float) -> float:

    return gaussian_neyman_threshold(level)


def _limit_line(v: dict) -> str:
    """An expected limit as text: area, connected regions, depth and the truth's exclusion."""
    t = v.get("truth_exclusion")
    truth = (
        ""
        if t is None
        else (
            f", {TRUTH_WORDS[t.get('truth_cells', 'cell' if t['truth_in_plane'] else 'nearest cell')]} excluded in "
            f"{t['excluded']}/{t['n']} "
            f"[{t['interval_68'][0]:.1%}, {t['interval_68'][1]:.1%}] (calibrated: at most {100 * t['allowed']:.3g} %"
            f"{'' if t['consistent'] else '; EXCLUDED TOO OFTEN'})"
        )
    )
    regions = "" if "median_regions" not in v else f" in {v['median_regions']} connected region(s)"
    depth = (
        ""
        if "g_limit_at_m" not in v
        else ", g limit "
        + ", ".join(
            f"{'none' if g is None else f'{g:.2g}'} at {m} neV"
            for m, g in v["g_limit_at_m"].items()
        )
    )
    return f"median excluded fraction of the plane {v['excluded_area_median']:.3f}{regions}{depth}{truth}"


def published_sources() -> str:
    """The published exclusions drawn on the (m, g) expected-limit maps and posteriors, with their
    sources."""
    papers = {e["label"]: e["reference"] for e in published_limits()}
    return "\n".join(
        [f"- {label}: {reference}" for label, reference in papers.items()]
        + [
            "(contours: the AxionLimits compilation, C. O'Hare, https://github.com/cajohare/AxionLimits, MIT)"
        ]
    )
