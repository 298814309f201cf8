"""Figures of a run, drawn from its files (computation lives elsewhere).

Each function takes a :class:`~alpswyft.run.RunContext` (or a run folder) and returns a matplotlib
figure; the notebook shows them and saves them as PNG into ``val_output/``. The figures of a
validation result also take the result itself (``result=``, e.g. a
:class:`~alpswyft.coverage.CoverageResult` in memory) instead of reading the saved one.
"""

from __future__ import annotations

import csv

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Polygon, Rectangle

from alpswyft import classical as cl
from alpswyft.coverage import CoverageResult
from alpswyft.datasets.onoff import OnOffSpectrum, plot_excess
from alpswyft.limits import (
    BAND_FRACTIONS,
    LEVELS,
    LimitCoverageResult,
    LimitResult,
    depth_ratios,
    limit_depth,
    limit_fraction,
    mg_plane,
    percent,
    published_limits,
    quoted_method,
)
from alpswyft.models import resolve
from alpswyft.neyman import METHOD_WORDS
from alpswyft.physics.toy import bin_centers, linear_gaussian_posterior
from alpswyft.results import RunTree
from alpswyft.run import RunContext
from alpswyft.truncation import RoundResult
from analysis_core.errors import ConfigError, PipelineError


def mock_observation(run: RunContext | RunTree):
    """The mock observation: for ALP models counts per reconstructed bin (observed, expected with
    and without ALPs, background) and P_gg; for toy models the curve and its noisy realisation; a
    model with ``plot_observation(obs)`` (``magic_like``) draws it itself."""
    run = RunContext.of(run)
    tree = run.tree
    config = run.config
    obs = np.load(tree.true_obs)
    if "pgg" not in obs:
        fig, ax = plt.subplots(figsize=(7, 3.6))

        x = bin_centers(
            config.physics.emin, config.physics.emax, config.physics.nbins, config.geometry
        )
        ax.plot(x, obs["exp"], label="expected (exp)")
        ax.plot(x, obs["data"], ".", label="observed (data)")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend()
        fig.tight_layout()
        return fig
    model = run.simulator.model
    if hasattr(model, "plot_observation"):  # a model of several spectra draws its own
        return model.plot_observation(obs)
    y0 = model.null_level
    e_reco, e_true = model.response.e_reco, model.response.e_true
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 7), sharex=True)
    kind = "ON" if model.on_off else "mock"
    top.step(
        e_reco, 10 ** (obs["data"] + y0), where="mid", color="k", label=f"observed counts ({kind})"
    )
    top.plot(e_reco, 10 ** (obs["exp"] + y0), color="C1", label="expected, at the Obs. values")
    top.plot(
        e_reco,
        10 ** (obs["null_exp"] + y0),
        "--",
        color="C0",
        label="expected, no ALP (Null values)",
    )
    example = _alp_example(config, model)
    if example is not None:
        label, counts, pgg = example
        top.plot(e_reco, counts, color="C3", lw=1, label=f"expected with an ALP, {label}")
    top.plot(
        e_reco, model.response.background, ":", color="C2", label="background in the ON region"
    )
    top.set_yscale("log")
    top.set_ylabel("counts per bin")
    top.legend(fontsize=8)
    bottom.plot(e_true, obs["pgg"], color="C1", label="P_gg at the Obs. values")
    bottom.plot(e_true, obs["null_pgg"], "--", color="C0", label="P_gg without ALP (EBL only)")
    if example is not None:
        bottom.plot(e_true, pgg, color="C3", lw=1, label=f"P_gg with an ALP, {label}")
    bottom.set_xscale("log")
    bottom.set_xlabel("energy [GeV]")
    bottom.set_ylabel("photon survival probability")
    bottom.legend(fontsize=8)
    fig.suptitle(
        f"ON counts of NGC 1275, {float(model.observation['onoff_livetime_s']) / 3600:.3g} h"
        if model.on_off
        else f"Mock observation of NGC 1275, {config.physics.livetime:g} h"
    )
    fig.tight_layout()
    return fig


def observed_spectrum(run: RunContext | RunTree, grid_point: int = 0, n_fields: int = 32):
    """A real observation's excess counts per bin with their errors over the model's excess at the
    posterior mean of the last round (POIs at their 1D posterior means, the other free parameters
    at their Obs. values; averaged over ``n_fields`` cluster-field realisations), and the Li & Ma
    significance per bin; None for a mock observation."""
    run = RunContext.of(run)

    config = run.config
    model = run.simulator.model
    if not getattr(model, "on_off", False):
        return None
    spectrum = OnOffSpectrum.from_arrays(model.observation, model.response.e_reco_edges)
    theta = posterior_mean(run, grid_point)
    counts, _ = model.counts(
        np.repeat(config.table.physical(theta), n_fields, axis=0), np.random.default_rng(0)
    )
    fig = plot_excess(spectrum, counts.mean(axis=0) - model.response.background)
    names = ", ".join(f"{n} = {v:.3g}" for n, v in zip(config.table.free_names, theta[0]))
    fig.axes[0].set_title(
        f"NGC 1275; the model at the posterior mean (table units):\n{names}", fontsize=8
    )
    fig.tight_layout()
    return fig


def posterior_mean(run: RunContext | RunTree, grid_point: int = 0) -> np.ndarray:
    """The free parameters (1, n_free) in table space at the last round's posterior: the 1D posterior
    mean of each POI, the Obs. value of the others."""
    run = RunContext.of(run)
    config = run.config
    theta = config.table.obs[None].copy()
    rounds = run.record.rounds(grid_point)
    if rounds:
        for i, name in zip(config.physics.POI_indices, config.poi_names):
            theta[0, i] = rounds[-1]["posterior"].get(name, {}).get("mean", theta[0, i])
    return theta


def _alp_example(config, model):
    """Counts and P_gg for an illustrative ALP inside the prior box (m at the box centre, g at
    three quarters of its box), other parameters at their Obs. values; None without ALP mixing."""
    if not model.with_alp:
        return None
    table = config.table
    theta = table.obs.copy()
    names = table.free_names
    for name, fraction in (("m", 0.5), ("g", 0.75)):
        if name not in names:
            return None
        i = names.index(name)
        lo, hi = table.initial_bounds[i]
        theta[i] = lo + fraction * (hi - lo)
    v = table.physical(theta)[0]
    counts, pgg = model.counts(v, np.random.default_rng(config.physics.obs_seed))
    return f"m = {v[0]:.3g} neV, g = {v[1]:.3g}e-11/GeV", counts[0], pgg[0]


def axis_label(config, i: int) -> str:
    """The axis label of free parameter ``i``: its name and unit, ``log10`` where the table is."""
    return config.table.free[i].label


def _rounds(run: RunContext | RunTree, grid_point: int):
    """(record entry, :class:`~alpswyft.truncation.RoundResult`) of each finished round of a grid
    point."""
    run = RunContext.of(run)
    for entry in run.record.rounds(grid_point):
        if entry.get("status") == "done":
            result = RoundResult.load(run.tree, entry["round"], grid_point)
            if result is not None:
                yield entry, result


def analytic_posterior(run: RunContext | RunTree):
    """(mean, covariance) over the free parameters where the run's posterior is known exactly:
    toy_line / toy_poly with Gaussian noise, every parameter free, linear and uniform; else None."""
    run = RunContext.of(run)
    tree = run.tree

    config = run.config
    info = resolve(config.physics.model, copy=tree.model_file)
    if info.prepare is not None:
        return None
    model = info.build(config)
    exact = (
        hasattr(model, "design_matrix")
        and config.physics.noise == "gauss"
        and all(p.free and not p.log and p.prior.kind == "U" for p in config.table.parameters)
    )
    if not exact:
        return None

    return linear_gaussian_posterior(
        model.design_matrix(), np.load(tree.true_obs)["data"], config.physics.noise_sigma
    )


def posteriors_1d(run: RunContext | RunTree, grid_point: int = 0):
    """1D marginal posteriors of every round, with each round's box and the true value."""
    run = RunContext.of(run)
    config = run.config
    n_poi = len(config.physics.POI_indices)
    fig, axes = plt.subplots(1, n_poi, figsize=(4.5 * n_poi, 3.6), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, config.n_rounds))
    for entry, post in _rounds(run, grid_point):
        if "density_1d" not in post:
            continue
        r = entry["round"]
        for k, ax in enumerate(axes[0]):
            centres = 0.5 * (post["edges_1d"][k][1:] + post["edges_1d"][k][:-1])
            ax.plot(centres, post["density_1d"][k], color=colors[r], label=f"round {r}")
            lo, hi = entry["truncated_bounds"][config.physics.POI_indices[k]]
            ax.axvline(lo, color=colors[r], ls=":", lw=1)
            ax.axvline(hi, color=colors[r], ls=":", lw=1)
    exact = analytic_posterior(run)
    for k, ax in enumerate(axes[0]):
        i = config.physics.POI_indices[k]
        lo, hi = config.table.initial_bounds[i]
        if exact is not None:
            mean, sd = exact[0][i], np.sqrt(exact[1][i, i])
            x = np.linspace(lo, hi, 400)
            ax.plot(
                x,
                np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * np.sqrt(2 * np.pi)),
                "k--",
                lw=1,
                label="exact",
            )
        ax.axvline(config.table.obs[i], color="crimson", lw=1.5, label="truth")
        ax.set_xlim(lo, hi)
        ax.set_xlabel(axis_label(config, i))
        ax.set_ylabel("posterior density")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(
        "1D marginal posteriors per round (dotted: truncated box for the next round)"
        + ("; dashed: exact posterior" if exact is not None else "")
    )
    fig.tight_layout()
    return fig


def posteriors_1d_zoomed(run: RunContext | RunTree, grid_point: int = 0):
    """The 1D posteriors of every round on the last round's box (zoomed):
    what each round cut away from the initial box is shaded, darker for later rounds."""
    run = RunContext.of(run)
    config = run.config
    rounds = [(entry, post) for entry, post in _rounds(run, grid_point) if "density_1d" in post]
    if not rounds:
        return None
    n_poi = len(config.physics.POI_indices)
    fig, axes = plt.subplots(1, n_poi, figsize=(4.5 * n_poi, 3.6), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, config.n_rounds))
    last = np.asarray(rounds[-1][0]["bounds"])
    for k, ax in enumerate(axes[0]):
        i = config.physics.POI_indices[k]
        lo, hi = last[i]
        pad = 0.05 * (hi - lo)
        ax.set_xlim(lo - pad, hi + pad)
        for entry, post in rounds:
            r = entry["round"]
            centres = 0.5 * (post["edges_1d"][k][1:] + post["edges_1d"][k][:-1])
            ax.plot(centres, post["density_1d"][k], color=colors[r], label=f"round {r}")
            cut_lo, cut_hi = entry["truncated_bounds"][i]
            for a, b in ((lo - pad, cut_lo), (cut_hi, hi + pad)):
                if b > a:
                    ax.axvspan(a, b, color="grey", alpha=0.12, lw=0)
        if lo <= config.table.obs[i] <= hi:
            ax.axvline(config.table.obs[i], color="crimson", lw=1.5, label="truth")
        ax.set_xlabel(axis_label(config, i))
        ax.set_ylabel("posterior density")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("1D posteriors of every round on the last round's box (shaded: truncated away)")
    fig.tight_layout()
    return fig


def credible_levels(density: np.ndarray, levels=LEVELS) -> list[float]:
    """Density thresholds of the highest-density regions holding ``levels`` of the mass."""
    flat = np.sort(density.ravel())[::-1]
    mass = np.cumsum(flat)
    mass /= mass[-1]
    return [float(flat[min(np.searchsorted(mass, q), len(flat) - 1)]) for q in levels]


def _box(ax, bounds, fi, fj, **style) -> None:
    b = np.asarray(bounds)
    ax.add_patch(
        Rectangle(
            (b[fi][0], b[fj][0]), b[fi][1] - b[fi][0], b[fj][1] - b[fj][0], fill=False, **style
        )
    )


def _density_2d(ax, density, box_i, box_j, credibility=LEVELS) -> None:
    """A 2D posterior histogram with its highest-density contours at the ``credibility`` levels."""
    x = np.linspace(*box_i, density.shape[0] + 1)
    y = np.linspace(*box_j, density.shape[1] + 1)
    ax.pcolormesh(x, y, density.T, cmap="Greys", shading="flat")
    levels = sorted(set(credible_levels(density, credibility)))
    if len(levels) > 1 or levels[0] > 0:
        xc, yc = 0.5 * (x[1:] + x[:-1]), 0.5 * (y[1:] + y[:-1])
        colors = [f"C{k}" for k in range(len(levels))]
        contour = ax.contour(xc, yc, density.T, levels=levels, colors=colors)
        ax.clabel(
            contour,
            fmt={lv: percent(q) for lv, q in zip(levels, sorted(credibility, reverse=True))},
            fontsize=8,
        )


def posteriors_2d(run: RunContext | RunTree, grid_point: int = 0):
    """2D marginal posteriors round by round (68 % and 95 % regions), each with the round's box
    (dashed), the box it produced for the next round (dotted) and the true value (star)."""
    run = RunContext.of(run)
    config = run.config
    rounds = [(entry, post) for entry, post in _rounds(run, grid_point) if "density_2d" in post]
    if not rounds:
        return None
    pairs = rounds[-1][1]["pairs"]
    fig, axes = plt.subplots(
        len(rounds), len(pairs), figsize=(4.6 * len(pairs), 4.0 * len(rounds)), squeeze=False
    )
    for row, (entry, post) in zip(axes, rounds):
        for ax, (i, j), density in zip(row, pairs, post["density_2d"]):
            fi, fj = config.physics.POI_indices[i], config.physics.POI_indices[j]
            _density_2d(
                ax, density, post["box"][i], post["box"][j], config.validation.credibility_levels
            )
            _box(
                ax, entry["bounds"], fi, fj, ls="--", lw=1.2, color="C2", label="box of this round"
            )
            _box(
                ax,
                entry["truncated_bounds"],
                fi,
                fj,
                ls=":",
                lw=1.5,
                color="C3",
                label="box of the next round",
            )
            ax.plot(
                config.table.obs[fi],
                config.table.obs[fj],
                "*",
                color="crimson",
                ms=12,
                label="truth",
            )
            ax.set_xlabel(axis_label(config, fi))
            ax.set_ylabel(axis_label(config, fj))
            ax.set_xlim(*config.table.initial_bounds[fi])
            ax.set_ylim(*config.table.initial_bounds[fj])
            published_overlay(ax, config, fi, fj)
            ax.set_title(f"round {entry['round']}", fontsize=10)
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle(
        f"2D posteriors per round ({', '.join(map(percent, config.validation.credibility_levels))})"
    )
    fig.tight_layout()
    return fig


def corner(run: RunContext | RunTree, grid_point: int = 0, round_: int | None = None):
    """Corner plot of the last round (or ``round_``): 1D marginals on the diagonal, 2D marginals
    below it, on the round's box, with the true values."""
    run = RunContext.of(run)
    config = run.config
    rounds = [(e, p) for e, p in _rounds(run, grid_point) if round_ is None or e["round"] == round_]
    if not rounds:
        return None
    entry, post = rounds[-1]
    columns = list(config.physics.POI_indices)
    labels = [axis_label(config, i) for i in columns]
    return draw_corner(
        post,
        labels,
        columns,
        config,
        f"Round {entry['round']}: marginal posteriors on its box (red: truth)",
    )


def draw_corner(post, labels: list[str], columns: list[int], config, title: str):
    """Corner plot of binned marginals ``post`` (``box``, ``truth``, ``density_1d``/``edges_1d``,
    ``density_2d``/``pairs``, as in ``posterior_round_*.npz``) of the free parameters ``columns``.
    Pairs the network has no 2D marginal of (``restricted_posterior`` 1 or 3) are left out; each
    column is labelled under its lowest panel."""
    n = len(columns)
    fig, axes = plt.subplots(n, n, figsize=(2.8 * n + 1, 2.8 * n + 0.6), squeeze=False)
    pairs = [tuple(p) for p in post["pairs"]] if "pairs" in post else []
    box, truth = post["box"], post["truth"]
    shown = np.array(
        [[a == b and "density_1d" in post or (b, a) in pairs for b in range(n)] for a in range(n)]
    )
    for a in range(n):
        for b in range(n):
            ax = axes[a][b]
            if not shown[a, b]:
                ax.set_visible(False)
                continue
            if a == b:
                centres = 0.5 * (post["edges_1d"][a][1:] + post["edges_1d"][a][:-1])
                ax.plot(centres, post["density_1d"][a], color="k")
                if truth is not None:
                    ax.axvline(truth[a], color="crimson")
                ax.set_yticks([])
            else:
                _density_2d(
                    ax,
                    post["density_2d"][pairs.index((b, a))],
                    box[b],
                    box[a],
                    config.validation.credibility_levels,
                )
                if truth is not None:
                    ax.plot(truth[b], truth[a], "*", color="crimson", ms=10)
                ax.set_ylim(*box[a])
                published_overlay(ax, config, columns[b], columns[a])
                if not shown[a, :b].any():
                    ax.set_ylabel(labels[a])
            ax.set_xlim(*box[b])
            if not shown[a + 1 :, b].any():
                ax.set_xlabel(labels[b])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def draw_posteriors_1d(
    post, labels: list[str], axes=None, color: str = "k", label: str | None = None
):
    """The 1D marginals of binned ``post`` (see :func:`draw_corner`), the truth in red; ``axes``
    (an array of Axes) overlays onto an earlier figure. Returns the figure."""
    n = len(labels)
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
        axes = axes[0]
    axes = np.ravel(axes)
    for k, ax in enumerate(axes[:n]):
        centres = 0.5 * (post["edges_1d"][k][1:] + post["edges_1d"][k][:-1])
        ax.plot(centres, post["density_1d"][k], color=color, label=label if k == 0 else None)
        if post["truth"] is not None:
            ax.axvline(post["truth"][k], color="crimson", lw=1.2)
        ax.set_xlim(*post["box"][k])
        ax.set_xlabel(labels[k])
        ax.set_ylabel("posterior density")
    if label:
        axes[0].legend(fontsize=8)
    axes[0].figure.tight_layout()
    return axes[0].figure


def draw_posteriors_2d(post, labels: list[str], chosen: list[int], columns: list[int], config):
    """The 2D marginals ``chosen`` (indices into ``post["pairs"]``) of binned ``post`` with their
    regions at the run's credibility levels, the truth (star) and, on an (m, g) plane, the published limits."""
    fig, axes = plt.subplots(1, len(chosen), figsize=(4.6 * len(chosen), 4.0), squeeze=False)
    for ax, k in zip(axes[0], chosen):
        i, j = post["pairs"][k]
        _density_2d(
            ax,
            post["density_2d"][k],
            post["box"][i],
            post["box"][j],
            config.validation.credibility_levels,
        )
        if post["truth"] is not None:
            ax.plot(post["truth"][i], post["truth"][j], "*", color="crimson", ms=12, label="truth")
        ax.set_xlim(*post["box"][i])
        ax.set_ylim(*post["box"][j])
        ax.set_xlabel(labels[i])
        ax.set_ylabel(labels[j])
        if published_overlay(ax, config, columns[i], columns[j]):
            ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def extra_observations(run: RunContext | RunTree, grid_point: int = 0):
    """The last round's posteriors of the ``extra_observations`` beside the mock observation's:
    one row per observation, the 2D marginals of the ``prediction_pairs`` planes (published limits
    on (m, g)) and the 1D marginals of their POIs, each with its truth. None without extras."""
    run = RunContext.of(run)
    tree = run.tree
    path = tree.extra_posteriors(grid_point)
    rounds = list(_rounds(run, grid_point))
    if not path.is_file() or not rounds:
        return None
    config = run.config
    extra = np.load(path)
    mock = rounds[-1][1]
    poi = config.physics.POI_indices
    rows = [("mock observation", mock, mock["truth"])]
    for k, theta in enumerate(extra["params"]):
        post = {
            key: extra[key][k] for key in ("density_1d", "edges_1d", "density_2d") if key in extra
        }
        seed = int(extra["seed"][k])
        rows.append(
            (
                f"extra observation {k + 1} (seed {seed})",
                {**post, "pairs": extra["pairs"]},
                theta[poi],
            )
        )
    pairs = [tuple(p) for p in mock["pairs"]] if "pairs" in mock else []
    planes = [
        pairs.index(tuple(p)) for p in config.validation.prediction_pairs if tuple(p) in pairs
    ]
    singles = [k for k in config.limit_pois if "density_1d" in mock] or (
        list(range(len(poi))) if "density_1d" in mock else []
    )
    n_columns = len(planes) + len(singles)
    fig, axes = plt.subplots(
        len(rows), n_columns, figsize=(4.4 * n_columns, 3.8 * len(rows)), squeeze=False
    )
    box = mock["box"]
    for row, (title, post, truth) in zip(axes, rows):
        for ax, k in zip(row, planes):
            i, j = pairs[k]
            _density_2d(
                ax, post["density_2d"][k], box[i], box[j], config.validation.credibility_levels
            )
            ax.set_xlim(*box[i])
            ax.set_ylim(*box[j])
            published_overlay(ax, config, poi[i], poi[j])
            if box[i][0] <= truth[i] <= box[i][1] and box[j][0] <= truth[j] <= box[j][1]:
                ax.plot(truth[i], truth[j], "*", color="crimson", ms=12)
            ax.set_xlabel(axis_label(config, poi[i]))
            ax.set_ylabel(axis_label(config, poi[j]))
            ax.set_title(title, fontsize=10)
        for ax, k in zip(row[len(planes) :], singles):
            centres = 0.5 * (post["edges_1d"][k][1:] + post["edges_1d"][k][:-1])
            ax.plot(centres, post["density_1d"][k], color="k")
            if box[k][0] <= truth[k] <= box[k][1]:
                ax.axvline(truth[k], color="crimson")
            ax.set_xlim(*box[k])
            ax.set_xlabel(axis_label(config, poi[k]))
            ax.set_yticks([])
    fig.suptitle(
        "Posteriors of the extra observations beside the mock observation's (last round; red: truth)"
    )
    fig.tight_layout()
    return fig


def read_metrics(path) -> dict[str, list[tuple[float, float]]]:
    """(epoch or step, value) series per metric from a Lightning ``metrics.csv``."""
    series: dict[str, list] = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            for key in ("train_loss", "val_loss"):
                if row.get(key):
                    x = float(row["epoch"]) if key == "val_loss" else float(row["step"])
                    series.setdefault(key, []).append((x, float(row[key])))
    return series


def training_curves(run: RunContext | RunTree, grid_point: int = 0):
    """Training (per logged step) and validation (per epoch) loss of each round."""
    run = RunContext.of(run)
    tree = run.tree
    config = run.config
    fig, axes = plt.subplots(
        1, config.n_rounds, figsize=(4.5 * config.n_rounds, 3.4), squeeze=False
    )
    for r, ax in enumerate(axes[0]):
        path = tree.training_logs / f"round_{r}_gridpoint_{grid_point}" / "metrics.csv"
        if not path.exists():
            ax.set_title(f"round {r}: no training log")
            continue
        series = read_metrics(path)
        val = np.array(series.get("val_loss", []))
        train = np.array(series.get("train_loss", []))
        if len(val):
            steps_per_epoch = train[-1, 0] / max(val[-1, 0] + 1, 1) if len(train) else 1
            ax.plot((val[:, 0] + 1) * steps_per_epoch, val[:, 1], "o-", ms=3, label="validation")
        if len(train):
            ax.plot(train[:, 0], train[:, 1], alpha=0.6, label="training")
        ax.set_title(f"round {r}")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
    fig.suptitle("Training curves (loss relative to an untrained classifier)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- validation (val_output/)


def _saved(kind, run: RunContext, grid_point: int):
    """A grid point's saved result of ``kind`` (a :class:`~alpswyft.results.SavedResult`)."""
    result = kind.load(run.tree, grid_point)
    if result is None:
        raise PipelineError(
            f"{run.tree.root}: no {kind.KIND} results of grid point {grid_point} "
            f"({kind.path(run.tree, grid_point).name}); the validation stage writes them"
        )
    return result


def _grid(n: int, width: float = 3.8, height: float = 3.6):
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, axes[0]


COVERAGE_KINDS = ("zz", "pp")


def coverage_zz(
    run: RunContext | RunTree,
    grid_point: int = 0,
    result: CoverageResult | None = None,
    kinds=COVERAGE_KINDS,
    marginals=None,
):
    """Empirical against nominal HPD coverage per marginal, with the 1 sigma Jeffreys band, on
    swyft's z-score axis (``zz``) and as credibility (``pp``, swyft's ``plot_pp``): a calibrated
    posterior follows the diagonal, an overconfident one falls below it. ``kinds``: which of the
    two (default both, side by side); ``marginals``: names of the marginals drawn (default all,
    e.g. ``["m", "m-g"]``). ``result``: the grid point's saved one by default."""
    run = RunContext.of(run)
    config = run.config
    result = result or _saved(CoverageResult, run, grid_point)
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    bad = [k for k in kinds if k not in COVERAGE_KINDS] or ([] if kinds else ["(none)"])
    if bad:
        raise ConfigError("kind", bad[0], f"expected {' or '.join(COVERAGE_KINDS)}")
    names = list(result.marginals)
    chosen = names if marginals is None else [str(m) for m in np.atleast_1d(marginals)]
    unknown = [m for m in chosen if m not in names]
    if unknown:
        raise ConfigError(
            "marginals", unknown[0], f"the run's coverage has the marginals {', '.join(names)}"
        )
    hpd, width = result.hpd, len(kinds)
    per_row = min(len(chosen), 3 if width == 2 else 4)
    n_rows = -(-len(chosen) // per_row)
    fig, axes = plt.subplots(
        n_rows, width * per_row, figsize=(3.3 * width * per_row, 3.3 * n_rows), squeeze=False
    )
    for slot, name in enumerate(chosen):
        k = names.index(name)
        row, first = slot // per_row, width * (slot % per_row)
        panels = dict(zip(kinds, axes[row][first : first + width]))
        z, nominal = hpd["z_nominal"][k], hpd["nominal"][k]
        levels = np.asarray(config.validation.credibility_levels)
        if "zz" in panels:
            defined = hpd["empirical"][k] < 1  # z is infinite once every truth is inside
            _coverage_panel(
                panels["zz"],
                z,
                (hpd["z_low"][k], hpd["z_high"][k]),
                (z[defined], hpd["z_empirical"][k][defined]),
                np.interp(levels, nominal, z),
                top=3.5,
                color="C0",
                xlabel="nominal z",
                ylabel="empirical z",
                title=f"{name}: z–z",
            )
        if "pp" in panels:
            _coverage_panel(
                panels["pp"],
                nominal,
                (hpd["low"][k], hpd["high"][k]),
                (nominal, hpd["empirical"][k]),
                levels,
                top=1.0,
                color="C1",
                xlabel="nominal credibility",
                ylabel="empirical coverage",
                title=f"{name}: p–p",
            )
    for ax in axes.ravel()[width * len(chosen) :]:
        ax.set_visible(False)
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.suptitle(
        f"HPD coverage, {result.n_simulations} coverage simulations never trained on"
        f" (dashed: {' and '.join(map(percent, config.validation.credibility_levels))})"
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the title
    return fig


def _coverage_panel(ax, x, band, empirical, levels, *, top, color, **labels) -> None:
    """One panel of :func:`coverage_zz`: the 1 sigma ``band`` (low, high) on ``x``, the
    ``empirical`` curve (x, y), the diagonal up to ``top`` and the credibility ``levels`` dashed."""
    ax.fill_between(x, *band, color=color, alpha=0.3, lw=0)
    ax.plot(*empirical, color=color, label="empirical (1σ band)")
    ax.plot([0, top], [0, top], "k:", lw=1, label="nominal")
    for level in levels:
        ax.axvline(level, color="grey", lw=0.6, ls="--")
    ax.set(xlim=(0, top), ylim=(0, top), **labels)


def tarp(run: RunContext | RunTree, grid_point: int = 0, result: CoverageResult | None = None):
    """TARP expected coverage probability against credibility per marginal, for random and
    data-dependent references, and the uninformative baseline (the prior), which must lie on the
    diagonal. ``result``: the grid point's saved one by default."""
    result = result or _saved(CoverageResult, RunContext.of(run), grid_point)
    names, alpha = result.marginals, result.alpha
    fig, axes = _grid(len(names))
    for k, (ax, name) in enumerate(zip(axes, names)):
        for r, reference in enumerate(result.reference_sets):
            ax.fill_between(
                alpha,
                result.tarp_low[r, k],
                result.tarp_high[r, k],
                color=f"C{r}",
                alpha=0.25,
                lw=0,
            )
            ax.plot(alpha, result.tarp_ecp[r, k], color=f"C{r}", label=f"{reference} references")
        ax.plot(alpha, result.baseline_ecp[k], "--", color="grey", label="uninformative (prior)")
        ax.plot([0, 1], [0, 1], "k:", lw=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(str(name))
        ax.set_xlabel("credibility α")
        ax.set_ylabel("expected coverage")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("TARP (DRP) coverage with importance-weighted posterior draws")
    fig.tight_layout()
    return fig


#: One colour per published analysis, in the order of ``data/axion_limits/published_limits.json``.
_PUBLISHED_COLORS = {
    "MAGIC": "darkorange",
    "Fermi": "magenta",
    "H.E.S.S.": "teal",
    "Chandra": "royalblue",
    "CAST": "brown",
}


def published_overlay(ax, config, fi: int, fj: int) -> bool:
    """Draw the published exclusion regions on an (m, g) plane in the table's units (log10 where
    the table is); False if the pair is not (m, g) in neV and 1e-11 GeV^-1."""
    pm, pg = config.table.free[fi], config.table.free[fj]
    if (pm.name, pg.name) != ("m", "g") or "neV" not in pm.unit or "e-11" not in pg.unit:
        return False
    (xlo, xhi), (ylo, yhi) = ax.get_xlim(), ax.get_ylim()
    labelled = set()
    for entry in published_limits():
        x = np.log10(entry["m"]) if pm.log else entry["m"]
        y = np.log10(entry["g"]) if pg.log else entry["g"]
        color = next(
            (c for key, c in _PUBLISHED_COLORS.items() if entry["label"].startswith(key)), "grey"
        )
        label = "_nolegend_" if entry["label"] in labelled else entry["label"] + " (excluded)"
        labelled.add(entry["label"])
        ax.add_patch(
            Polygon(
                np.column_stack([x, y]),
                closed=True,
                fc=color,
                ec=color,
                alpha=0.22,
                lw=1.0,
                label=label,
            )
        )
    ax.set_xlim(xlo, xhi)
    ax.set_ylim(ylo, yhi)
    return True


def expected_limits(
    run: RunContext | RunTree,
    grid_point: int = 0,
    method: str | None = None,
    result: LimitResult | None = None,
):
    """Expected exclusion maps per prediction pair and confidence level: the fraction of mock
    observations (POIs at their Obs. values) in which ``method`` (default: the first of
    ``limit_method``) excludes each cell, as the median expected limit (solid) with its 1 and 2
    sigma bands (filled); the medians of the other methods of ``limit_method`` and of the
    fixed-nuisance network (HPD, ``fixed_nuisance_limits``) on the same observations as lines, and
    published exclusions for comparison. ``result``: the grid point's saved one by default."""
    run = RunContext.of(run)
    return draw_expected_limits(run.config, result or _saved(LimitResult, run, grid_point), method)


#: How the median of each limit method is drawn where it is not the main one.
_METHOD_LINES = {"frequentist": ("#762a83", "-."), "cls": ("#e08214", ":"), "hpd": ("0.35", "--")}


def draw_expected_limits(config, result, method: str | None = None):
    """The expected-limit maps of :func:`expected_limits` from ``result``: ``levels``, ``pairs``,
    ``edges_x``/``edges_y``, ``fraction`` (HPD), ``fraction_<method>``, ``fraction_fixed``,
    ``truth``, ``n`` (the layout of ``expected_limits_gridpoint_*.npz``)."""
    from matplotlib.lines import Line2D

    available = [
        m for m in config.validation.limit_method if m == "hpd" or f"fraction_{m}" in result
    ] or ["hpd"]
    method = method or quoted_method(config, result)
    others = [m for m in available if m != method]
    levels, pairs = result["levels"], result["pairs"]
    fig, axes = plt.subplots(
        len(pairs), len(levels), figsize=(5.2 * len(levels), 4.6 * len(pairs)), squeeze=False
    )
    band_colors = ["#f7f7f7", "#fee391", "#a1d99b", "#a1d99b", "#fee391", "#d9d9d9"]
    word = "credibility" if method == "hpd" else "confidence"
    for p, (i, j) in enumerate(pairs):
        fi, fj = config.physics.POI_indices[i], config.physics.POI_indices[j]
        ex, ey = result["edges_x"][p], result["edges_y"][p]
        xc, yc = 0.5 * (ex[1:] + ex[:-1]), 0.5 * (ey[1:] + ey[:-1])
        for k, level in enumerate(levels):
            ax = axes[p][k]
            fraction = limit_fraction(result, method)[p, k].T
            ax.contourf(
                xc,
                yc,
                fraction,
                levels=[0, *BAND_FRACTIONS, 1],
                colors=band_colors,
                extend="neither",
            )
            median = ax.contour(xc, yc, fraction, levels=[0.5], colors="k", linewidths=1.8)
            ax.clabel(median, fmt={0.5: "median"}, fontsize=8)
            ax.set_xlim(ex[0], ex[-1])
            ax.set_ylim(ey[0], ey[-1])
            with_fixed = "fraction_fixed" in result
            handles = [
                Line2D(
                    [],
                    [],
                    color="k",
                    lw=1.8,
                    label=f"median expected limit, {METHOD_WORDS[method]}"
                    + (", nuisances marginalised" if with_fixed else ""),
                ),
                Rectangle((0, 0), 1, 1, color="#a1d99b", label="68 % band"),
                Rectangle((0, 0), 1, 1, color="#fee391", label="95 % band"),
            ]
            for other in others:
                color, style = _METHOD_LINES[other]
                if limit_fraction(result, other)[p, k].max() >= 0.5:
                    ax.contour(
                        xc,
                        yc,
                        limit_fraction(result, other)[p, k].T,
                        levels=[0.5],
                        colors=color,
                        linewidths=1.5,
                        linestyles=style,
                    )
                handles.append(
                    Line2D(
                        [],
                        [],
                        color=color,
                        lw=1.5,
                        ls=style,
                        label=f"median, {METHOD_WORDS[other]}",
                    )
                )
            if with_fixed and result["fraction_fixed"][p, k].max() >= 0.5:
                ax.contour(
                    xc,
                    yc,
                    result["fraction_fixed"][p, k].T,
                    levels=[0.5],
                    colors="#2166ac",
                    linewidths=1.6,
                    linestyles="--",
                )
            if with_fixed:
                handles.append(
                    Line2D(
                        [],
                        [],
                        color="#2166ac",
                        lw=1.6,
                        ls="--",
                        label="median, nuisances fixed (HPD)",
                    )
                )
            if published_overlay(ax, config, fi, fj):
                handles += ax.get_legend_handles_labels()[0]
            truth = result["truth"]
            if ex[0] <= truth[i] <= ex[-1] and ey[0] <= truth[j] <= ey[-1]:
                ax.plot(truth[i], truth[j], "*", color="crimson", ms=12)
                handles.append(
                    Line2D([], [], marker="*", color="crimson", ls="", ms=10, label="truth (Obs.)")
                )
            ax.legend(handles=handles, fontsize=7, loc="lower left")
            ax.set_title(f"excluded at {percent(level)} {word}")
            ax.set_xlabel(axis_label(config, fi))
            ax.set_ylabel(axis_label(config, fj))
    fig.suptitle(
        f"Expected limits, {METHOD_WORDS[method]}: exclusion frequency over {int(result['n'])} "
        "mock observations at the Obs. values"
    )
    fig.tight_layout()
    return fig


def limit_coverage(
    run: RunContext | RunTree, grid_point: int = 0, result: LimitCoverageResult | None = None
):
    """Coverage of the confidence sets at every point of each plane: the kernel-smoothed fraction
    of simulations (truths over the plane, never trained on) whose set holds the truth, per method
    (columns) and plane and level (rows), hatched where it lies below level - 2 sigma; None
    without the limit-coverage simulations. ``result``: the grid point's saved one by default."""
    run = RunContext.of(run)
    result = result or LimitCoverageResult.load(run.tree, grid_point)
    if result is None:
        return None
    config, levels, methods = run.config, result.levels, result.methods
    rows = [
        (p, k) for p in range(len(config.validation.prediction_pairs)) for k in range(len(levels))
    ]
    fig, axes = plt.subplots(
        len(rows), len(methods), figsize=(4.6 * len(methods), 3.9 * len(rows)), squeeze=False
    )
    for row, (p, k) in enumerate(rows):
        i, j = config.validation.prediction_pairs[p]
        fi, fj = config.physics.POI_indices[i], config.physics.POI_indices[j]
        ex, ey = result.edges_x[p], result.edges_y[p]
        xc, yc = 0.5 * (ex[1:] + ex[:-1]), 0.5 * (ey[1:] + ey[:-1])
        level = levels[k]
        spread = min(0.15, max(0.05, 1.0 - level))
        for c, method in enumerate(methods):
            ax = axes[row][c]
            maps = result.maps[method]
            smooth, sigma = maps["smooth"][p, k], maps["sigma"][p, k]
            mesh = ax.pcolormesh(
                ex, ey, smooth.T, cmap="RdBu", vmin=level - 2 * spread, vmax=level + 2 * spread
            )
            below = (smooth < level - 2 * sigma).T.astype(float)
            if below.any():
                ax.contourf(xc, yc, below, levels=[0.5, 1.5], colors="none", hatches=["xxx"])
                ax.contour(xc, yc, below, levels=[0.5], colors="k", linewidths=0.8)
            covered = maps["covered"][p, k]
            ax.set_title(
                f"{METHOD_WORDS[method]}, {percent(level)}: {covered.mean():.3f} overall",
                fontsize=9,
            )
            ax.set_xlabel(axis_label(config, fi))
            ax.set_ylabel(axis_label(config, fj))
            fig.colorbar(mesh, ax=ax, label="coverage")
    fig.suptitle(
        f"Coverage of the confidence sets over the plane ({result.n_simulations} simulations "
        "never trained on; "
        "hatched: below nominal - 2σ)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def against_published(
    run: RunContext | RunTree,
    grid_point: int = 0,
    label: str = "MAGIC",
    level: float = 0.95,
    method: str | None = None,
):
    """The median expected limit at ``level`` with its 68 % band over a published contour
    (``label``), on axes in neV and 1e-11 GeV^-1, and below their ratio per mass column (the
    depths of :func:`alpswyft.limits.depth_ratios`); None without an (m, g) expected-limit plane."""
    run = RunContext.of(run)
    tree = run.tree

    plane = mg_plane(tree.validation_data("expected_limits", grid_point))
    if plane is None:
        return None
    (result, p), config = plane, run.config
    method = method or quoted_method(config, result)
    i, j = (config.physics.POI_indices[k] for k in result["pairs"][p])
    k = int(np.argmin(np.abs(result["levels"] - level)))

    def physical(values, parameter):
        return 10**values if parameter.log else values

    ex, ey = (
        physical(result["edges_x"][p], config.table.free[i]),
        physical(result["edges_y"][p], config.table.free[j]),
    )
    xc, yc = np.sqrt(ex[1:] * ex[:-1]), np.sqrt(ey[1:] * ey[:-1])
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6.4, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]}
    )
    fraction = limit_fraction(result, method)[p, k].T
    top.contourf(xc, yc, fraction, levels=[0.159, 0.841], colors=["#a1d99b"])
    top.contour(xc, yc, fraction, levels=[0.5], colors="k", linewidths=1.8)
    for entry in published_limits():
        if entry["label"].startswith(label):
            top.fill(entry["m"], entry["g"], fc="#d6604d", ec="#b2182b", alpha=0.35, lw=1)
    top.plot(
        [],
        [],
        color="k",
        lw=1.8,
        label=f"this run: median expected limit, {percent(result['levels'][k])}, {method}",
    )
    top.fill([], [], color="#a1d99b", label="its 68 % band")
    top.fill([], [], fc="#d6604d", alpha=0.35, label=f"{label}, published: observed (excluded)")
    top.set(xscale="log", yscale="log", ylim=(ey[0], ey[-1]), ylabel="g [1e-11 / GeV]")
    top.legend(fontsize=8, loc="lower right")
    rows = [
        r for r in depth_ratios(result, config, p, level, label, method) if r["ratio"] is not None
    ]
    bottom.axhspan(0.5, 2, color="0.9")
    bottom.axhline(1, color="0.5", lw=0.8)
    bottom.plot([r["m"] for r in rows], [r["ratio"] for r in rows], "o-", ms=3, color="k")
    bottom.set(
        xscale="log",
        yscale="log",
        xlabel="m [neV]",
        ylabel=f"g limit / {label}",
        xlim=(ex[0], ex[-1]),
    )
    ticks = [
        t
        for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50)
        if bottom.get_ylim()[0] <= t <= bottom.get_ylim()[1]
    ]
    bottom.set_yticks(ticks, [f"{t:g}" for t in ticks])
    bottom.minorticks_off()
    title = (
        f"expected: {int(result['n'])} mock observations without ALP; depth read at cell centres"
    )
    if config.physics.model == "magic_like":
        title += (
            "\nassumed: live times 2.4 / 2.4 / 36.5 h (flare, post-flare, low), one 20-min run's "
            "response and background for all of them"
        )
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def false_exclusions(
    run: RunContext | RunTree, grid_point: int = 0, result: LimitResult | None = None
):
    """Fraction of mock observations in which the last round excludes a cell that round 0
    (trained on the untruncated prior) does not exclude. ``result``: the grid point's saved one
    by default."""
    run = RunContext.of(run)
    config = run.config
    result = result or _saved(LimitResult, run, grid_point)
    levels, pairs = result.levels, result.pairs
    fig, axes = plt.subplots(
        len(pairs), len(levels), figsize=(5.0 * len(levels), 4.2 * len(pairs)), squeeze=False
    )
    for p, (i, j) in enumerate(pairs):
        fi, fj = config.physics.POI_indices[i], config.physics.POI_indices[j]
        for k, level in enumerate(levels):
            ax = axes[p][k]
            mesh = ax.pcolormesh(
                result.edges_x[p],
                result.edges_y[p],
                result.false_fraction[p, k].T,
                cmap="Reds",
                vmin=0,
                vmax=max(0.05, float(result.false_fraction[p].max())),
            )
            fig.colorbar(mesh, ax=ax, label="fraction of observations")
            ax.set_title(f"false exclusions at {percent(level)}")
            ax.set_xlabel(axis_label(config, fi))
            ax.set_ylabel(axis_label(config, fj))
    fig.suptitle("Cells excluded by the last round but not by round 0 (untruncated prior)")
    fig.tight_layout()
    return fig


def _shared_mocks_title(level: float, n_network: int, n_classical: int) -> str:
    """The comparison's title: how many of the same mock observations each method's median is over."""
    if n_network == n_classical:
        return f"Median expected limits at {percent(level)} over the same {n_network} mock observations without ALP"
    return (
        f"Median expected limits at {percent(level)}, mock observations without ALP:\n"
        f"the network's over {n_network}, the classical over the first {n_classical} of them"
    )


def classical_comparison(run: RunContext | RunTree, grid_point: int = 0, level: float = 0.95):
    """The network's median expected limits (each of its limit methods) against the classical
    analysis's on the same mock observations (MAGIC's fits and field combination; thresholds
    from pseudo-experiments, with their 68 % band, and Wilks'), over MAGIC's published contour,
    in neV and 1e-11 GeV^-1; below, the ratio network / classical per mass. None without the
    classical limits (``classical_limits=1``) or an (m, g) expected-limit plane."""
    run = RunContext.of(run)
    tree = run.tree

    loaded = cl.with_network(tree, grid_point)
    if loaded is None:
        return None
    (limits, result, p), config = loaded, run.config
    k = int(np.argmin(np.abs(result["levels"] - level)))
    level = float(result["levels"][k])
    ex, ey = 10 ** result["edges_x"][p], 10 ** result["edges_y"][p]
    xc, yc = np.sqrt(ex[1:] * ex[:-1]), np.sqrt(ey[1:] * ey[:-1])
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(7, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]}
    )
    for entry in published_limits():
        if entry["label"].startswith("MAGIC"):
            top.fill(entry["m"], entry["g"], fc="#d6604d", ec="#b2182b", alpha=0.3, lw=1)
    top.fill(
        [],
        [],
        fc="#d6604d",
        alpha=0.3,
        label="MAGIC, published (observed; other data and response)",
    )
    methods = [m for m in ("frequentist", "cls", "hpd") if m == "hpd" or f"fraction_{m}" in result]
    quoted = quoted_method(config, result)
    for method in methods:
        color, style = ("k", "-") if method == quoted else _METHOD_LINES[method]
        top.contour(
            xc,
            yc,
            limit_fraction(result, method)[p, k].T,
            levels=[0.5],
            colors=color,
            linewidths=1.7,
            linestyles=style,
        )
        top.plot([], [], color=color, ls=style, lw=1.7, label=f"network, {METHOD_WORDS[method]}")
    mx = 10 ** (0.5 * (limits.edges_x[1:] + limits.edges_x[:-1]))
    methods_c = ["toys", "wilks"] if limits.thresholds is not None else ["wilks"]
    for method in methods_c:
        expected = limits.expected(level, "quantile", method)
        g = np.where(np.isfinite(expected), 10.0**expected, np.nan)
        if method == methods_c[0]:
            top.fill_between(
                mx,
                g[1],
                np.nan_to_num(g[3], nan=ey[-1]),
                color="#92c5de",
                alpha=0.6,
                lw=0,
                label="classical, its 68 % band",
            )
        top.plot(
            mx,
            g[2],
            "o-" if method == "toys" else "s:",
            ms=3,
            color="#2166ac",
            lw=1.6,
            label="classical (MAGIC's method), "
            + (
                "thresholds from pseudo-experiments"
                if method == "toys"
                else "Wilks' χ²₂ thresholds"
            ),
        )
    if limits.calibrated:
        found = [(m, limits.calibrated_depth(float(m))) for m in limits.calibrated["masses"]]
        top.plot(
            [m for m, g in found if g],
            [g for m, g in found if g],
            "D",
            ms=7,
            mfc="#2166ac",
            mec="k",
            label="classical, each cell's own pseudo-experiments (searched from the Wilks line)",
        )
        for m, g in found:
            if g is None:
                top.annotate(
                    "no limit",
                    (m, ey[-1]),
                    xytext=(0, -14),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                    color="#2166ac",
                )
    top.set(
        xscale="log",
        yscale="log",
        ylim=(ey[0], ey[-1]),
        xlim=(ex[0], ex[-1]),
        ylabel="g [1e-11 / GeV]",
        title=_shared_mocks_title(level, int(result["n"]), limits.ts["quantile"].shape[0]),
    )
    top.legend(fontsize=7, loc="lower right")
    median = np.asarray(limit_fraction(result, quoted)[p, k]) >= 0.5
    network = [
        limit_depth(median, result["edges_x"][p], result["edges_y"][p], x, at="centre")
        for x in 0.5 * (limits.edges_x[1:] + limits.edges_x[:-1])
    ]
    bottom.axhspan(1 / 1.5, 1.5, color="0.9", label="within a factor 1.5")
    bottom.axhline(1, color="0.5", lw=0.8)
    for method in methods_c:
        classical = limits.expected(level, "quantile", method)[2]
        ratio = [
            np.nan if d is None or not np.isfinite(c) else 10 ** (d - c)
            for d, c in zip(network, classical)
        ]
        bottom.plot(
            mx,
            ratio,
            "o-" if method == "toys" else "s:",
            ms=3,
            color="k",
            label="against pseudo-experiment thresholds"
            if method == "toys"
            else "against Wilks' thresholds",
        )
    if limits.calibrated:
        pairs = [
            (
                m,
                limit_depth(
                    median, result["edges_x"][p], result["edges_y"][p], np.log10(m), at="centre"
                ),
                limits.calibrated_depth(float(m)),
            )
            for m in limits.calibrated["masses"]
        ]
        pairs = [(m, 10**d / g) for m, d, g in pairs if d is not None and g is not None]
        bottom.plot(
            [m for m, _ in pairs],
            [r for _, r in pairs],
            "D",
            ms=6,
            mfc="#2166ac",
            mec="k",
            label="against each cell's own pseudo-experiments",
        )
    bottom.set(
        xscale="log",
        yscale="log",
        xlabel="m [neV]",
        ylabel="g limit: network / classical",
        ylim=(0.1, 50),
    )
    ticks = [
        t for t in (0.2, 0.5, 1, 2, 5, 10, 20) if bottom.get_ylim()[0] <= t <= bottom.get_ylim()[1]
    ]
    bottom.set_yticks(ticks, [f"{t:g}" for t in ticks])
    bottom.minorticks_off()
    bottom.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def against_published_seeds(
    trees: list[RunContext | RunTree],
    grid_point: int = 0,
    label: str = "MAGIC",
    level: float = 0.95,
    method: str | None = None,
):
    """The median expected limits of runs that differ only in ``sim_seed`` (their simulations and
    training) over a published contour (``label``), with the band between the weakest and the
    strongest per mass column, and below each one's ratio to the published depth; the depths of
    :func:`alpswyft.limits.depth_ratios` (cell centres). Returns the figure and the rows (per
    mass: each run's g and the published one)."""
    runs = [RunContext.of(t) for t in trees]
    planes = [
        (mg_plane(r.tree.validation_data("expected_limits", grid_point)), r.config) for r in runs
    ]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6.6, 7.2), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]}
    )
    for entry in published_limits():
        if entry["label"].startswith(label):
            top.fill(entry["m"], entry["g"], fc="#d6604d", ec="#b2182b", alpha=0.3, lw=1)
    per_run = []
    for (result, p), config in planes:
        rows = depth_ratios(
            result, config, p, level, label, method or quoted_method(config, result)
        )
        per_run.append({r["m"]: r for r in rows})
        ms = [r["m"] for r in rows if r["g_limit"] is not None]
        top.plot(
            ms,
            [r["g_limit"] for r in rows if r["g_limit"] is not None],
            "-",
            lw=1.0,
            label=f"sim_seed={config.simulation.sim_seed}",
        )
        both = [r for r in rows if r["ratio"] is not None]
        bottom.plot([r["m"] for r in both], [r["ratio"] for r in both], "o-", ms=2.5, lw=0.9)
    masses = sorted(set().union(*per_run))
    table = [
        {
            "m": m,
            "g": [run.get(m, {}).get("g_limit") for run in per_run],
            "g_published": next((run[m]["g_published"] for run in per_run if m in run), None),
        }
        for m in masses
    ]
    band = [
        (row["m"], min(g), max(g))
        for row in table
        if (g := [v for v in row["g"] if v is not None]) and len(g) == len(trees)
    ]
    if band:
        m, low, high = map(np.array, zip(*band))
        top.fill_between(
            m, low, high, color="0.7", alpha=0.5, lw=0, label=f"between the {len(trees)} seeds"
        )
    top.fill([], [], fc="#d6604d", alpha=0.3, label=f"{label}, published: observed (excluded)")
    (result, p), config = planes[0]
    ey = 10 ** result["edges_y"][p]
    top.set(
        xscale="log",
        yscale="log",
        ylim=(ey[0], ey[-1]),
        ylabel="g [1e-11 / GeV]",
        title=f"this run: median expected limit at {percent(level)} over {int(result['n'])} mock observations "
        "without ALP, per seed",
    )
    top.title.set_fontsize(9)
    top.legend(fontsize=7, loc="lower right")
    bottom.axhspan(1 / 1.5, 1.5, color="0.9")
    bottom.axhline(1, color="0.5", lw=0.8)
    bottom.set(
        xscale="log",
        yscale="log",
        xlabel="m [neV]",
        ylabel=f"g limit / {label}",
        xlim=(10 ** result["edges_x"][p][0], 10 ** result["edges_x"][p][-1]),
    )
    ticks = [
        t for t in (0.2, 0.5, 1, 2, 5, 10) if bottom.get_ylim()[0] <= t <= bottom.get_ylim()[1]
    ]
    bottom.set_yticks(ticks, [f"{t:g}" for t in ticks])
    bottom.minorticks_off()
    if config.physics.model == "magic_like":
        fig.suptitle(
            "assumed: live times 2.4 / 2.4 / 36.5 h (flare, post-flare, low), one 20-min run's response and "
            "background for all of them; depths at cell centres",
            fontsize=8,
        )
    fig.tight_layout()
    return fig, table
