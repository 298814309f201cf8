"""Figures of a run, drawn from its files (computation lives elsewhere).

Each function takes a :class:`~alpswyft.results.RunTree` and returns a matplotlib figure; the
notebook shows them and saves them as PNG into ``val_output/``.
"""

from __future__ import annotations

import csv

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from alpswyft.pipeline import load_config, load_record
from alpswyft.results import RunTree

CREDIBILITY = (0.68, 0.95)


def mock_observation(tree: RunTree):
    """The mock observation: for ALP models counts per reconstructed bin (observed, expected with
    and without ALPs, background) and P_gg; for toy models the curve and its noisy realisation."""
    config = load_config(tree)
    obs = np.load(tree.true_obs)
    if "pgg" not in obs:
        fig, ax = plt.subplots(figsize=(7, 3.6))
        from alpswyft.physics.toy import bin_centers

        x = bin_centers(config.emin, config.emax, config.nbins, config.geometry)
        ax.plot(x, obs["exp"], label="expected (exp)")
        ax.plot(x, obs["data"], ".", label="observed (data)")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend()
        fig.tight_layout()
        return fig
    from alpswyft.pipeline import simulator_for

    model = simulator_for(tree, config).model
    y0 = model.null_level
    e_reco, e_true = model.response.e_reco, model.response.e_true
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 7), sharex=True)
    top.step(e_reco, 10 ** (obs["data"] + y0), where="mid", color="k", label="observed counts (mock)")
    top.plot(e_reco, 10 ** (obs["exp"] + y0), color="C1", label="expected, at the Obs. values")
    top.plot(e_reco, 10 ** (obs["null_exp"] + y0), "--", color="C0", label="expected, no ALP (Null values)")
    example = _alp_example(config, model)
    if example is not None:
        label, counts, pgg = example
        top.plot(e_reco, counts, color="C3", lw=1, label=f"expected with an ALP, {label}")
    top.plot(e_reco, model.response.background, ":", color="C2", label="background in the ON region")
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
    fig.suptitle(f"Mock observation of NGC 1275, {config.livetime:g} h")
    fig.tight_layout()
    return fig


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
    counts, pgg = model.counts(v, np.random.default_rng(config.obs_seed))
    return f"m = {v[0]:.3g} neV, g = {v[1]:.3g}e-11/GeV", counts, pgg


def _label(config, i: int) -> str:
    p = config.table.free[i]
    return f"log10 {p.name} [{p.unit}]" if p.log else f"{p.name} [{p.unit}]"


def _rounds(tree: RunTree, grid_point: int):
    """(round, posterior npz) for each finished round of a grid point."""
    config = load_config(tree)
    record = load_record(tree, config)
    for entry in record.rounds(grid_point):
        path = tree.posterior(entry["round"], grid_point)
        if entry.get("status") == "done" and path.exists():
            yield entry, np.load(path)


def analytic_posterior(tree: RunTree):
    """(mean, covariance) over the free parameters where the run's posterior is known exactly:
    toy_line / toy_poly with Gaussian noise, every parameter free, linear and uniform; else None."""
    from alpswyft.physics import MODELS

    config = load_config(tree)
    if MODELS[config.model].prepare is not None:
        return None
    model = MODELS[config.model].factory(config)
    exact = (
        hasattr(model, "design_matrix")
        and config.noise == "gauss"
        and all(p.free and not p.log and p.prior.kind == "U" for p in config.table.parameters)
    )
    if not exact:
        return None
    from alpswyft.physics.toy import linear_gaussian_posterior

    return linear_gaussian_posterior(model.design_matrix(), np.load(tree.true_obs)["data"], config.noise_sigma)


def posteriors_1d(tree: RunTree, grid_point: int = 0):
    """1D marginal posteriors of every round, with each round's box and the true value."""
    config = load_config(tree)
    n_poi = len(config.POI_indices)
    fig, axes = plt.subplots(1, n_poi, figsize=(4.5 * n_poi, 3.6), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, config.n_rounds))
    for entry, post in _rounds(tree, grid_point):
        if "density_1d" not in post:
            continue
        r = entry["round"]
        for k, ax in enumerate(axes[0]):
            centres = 0.5 * (post["edges_1d"][k][1:] + post["edges_1d"][k][:-1])
            ax.plot(centres, post["density_1d"][k], color=colors[r], label=f"round {r}")
            lo, hi = entry["truncated_bounds"][config.POI_indices[k]]
            ax.axvline(lo, color=colors[r], ls=":", lw=1)
            ax.axvline(hi, color=colors[r], ls=":", lw=1)
    exact = analytic_posterior(tree)
    for k, ax in enumerate(axes[0]):
        i = config.POI_indices[k]
        lo, hi = config.table.initial_bounds[i]
        if exact is not None:
            mean, sd = exact[0][i], np.sqrt(exact[1][i, i])
            x = np.linspace(lo, hi, 400)
            ax.plot(x, np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * np.sqrt(2 * np.pi)), "k--", lw=1, label="exact")
        ax.axvline(config.table.obs[i], color="crimson", lw=1.5, label="truth")
        ax.set_xlim(lo, hi)
        ax.set_xlabel(_label(config, i))
        ax.set_ylabel("posterior density")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("1D marginal posteriors per round (dotted: truncated box for the next round)"
                 + ("; dashed: exact posterior" if exact is not None else ""))
    fig.tight_layout()
    return fig


def credible_levels(density: np.ndarray, levels=CREDIBILITY) -> list[float]:
    """Density thresholds of the highest-density regions holding ``levels`` of the mass."""
    flat = np.sort(density.ravel())[::-1]
    mass = np.cumsum(flat)
    mass /= mass[-1]
    return [float(flat[min(np.searchsorted(mass, q), len(flat) - 1)]) for q in levels]


def posteriors_2d(tree: RunTree, grid_point: int = 0):
    """2D marginal posteriors of the last finished round (68 % and 95 % regions), with every
    round's box and the true value."""
    config = load_config(tree)
    rounds = list(_rounds(tree, grid_point))
    if not rounds or "density_2d" not in rounds[-1][1]:
        return None
    last, post = rounds[-1]
    pairs = post["pairs"]
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.8 * len(pairs), 4.2), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, config.n_rounds))
    box = post["box"]
    for ax, (i, j), density in zip(axes[0], pairs, post["density_2d"]):
        x = np.linspace(*box[i], density.shape[0] + 1)
        y = np.linspace(*box[j], density.shape[1] + 1)
        xc, yc = 0.5 * (x[1:] + x[:-1]), 0.5 * (y[1:] + y[:-1])
        ax.pcolormesh(x, y, density.T, cmap="Greys", shading="flat")
        levels = sorted(set(credible_levels(density)))
        if len(levels) > 1 or levels[0] > 0:
            contour = ax.contour(xc, yc, density.T, levels=levels, colors=["C0", "C1"][: len(levels)])
            ax.clabel(contour, fmt={lv: f"{q:.0%}" for lv, q in zip(levels, CREDIBILITY[::-1])}, fontsize=8)
        fi, fj = config.POI_indices[i], config.POI_indices[j]
        for entry, _ in rounds:
            b = np.array(entry["bounds"])
            ax.add_patch(
                Rectangle((b[fi][0], b[fj][0]), b[fi][1] - b[fi][0], b[fj][1] - b[fj][0],
                          fill=False, ls="--", lw=1, color=colors[entry["round"]], label=f"box of round {entry['round']}")
            )
        ax.plot(config.table.obs[fi], config.table.obs[fj], "*", color="crimson", ms=12, label="truth")
        ax.set_xlabel(_label(config, fi))
        ax.set_ylabel(_label(config, fj))
        ax.set_xlim(*config.table.initial_bounds[fi])
        ax.set_ylim(*config.table.initial_bounds[fj])
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle(f"2D marginal posteriors of round {last['round']} (68 % and 95 % regions)")
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


def training_curves(tree: RunTree, grid_point: int = 0):
    """Training (per logged step) and validation (per epoch) loss of each round."""
    config = load_config(tree)
    fig, axes = plt.subplots(1, config.n_rounds, figsize=(4.5 * config.n_rounds, 3.4), squeeze=False)
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
