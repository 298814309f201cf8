"""Figures of the POLAR report; each returns its matplotlib figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from polar.data import target_labels, target_names
from polar.intervals import pulls

LOSS_LABELS = {
    "chi2": "chi-square per bin",
    "weighted_mse": "weighted MSE (Hz$^2$)",
    "mse": "MSE (Hz$^2$)",
}


def loss_curves(log_dir, loss: str = "chi2"):
    """Training and validation loss (``train.loss``) per epoch (all attempts of a resumed training)."""
    from polar.model import metrics

    rows = metrics(log_dir)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in ("train_loss", "val_loss"):
        points = [(int(r["epoch"]), float(r[key])) for r in rows if r.get(key)]
        if points:
            ax.plot(*zip(*points), marker="o", ms=3, label=key)
    ax.set(xlabel="epoch", ylabel=LOSS_LABELS[loss], yscale="log")
    ax.legend()
    fig.tight_layout()
    return fig


def light_curve(predictions, centre, half_width, channels=(0, 1, 6, 12), title=""):
    """Measured and predicted rates (Hz) around ``centre`` (unix s) for a few targets, by name
    (default: four channels; the first target if none of them is one)."""
    t = predictions["unix_time"]
    window = np.abs(t - centre) <= half_width
    names, labels = target_names(predictions), target_labels(predictions)
    shown = [names.index(str(c)) for c in channels if str(c) in names] or [0]
    fig, axes = plt.subplots(
        len(shown), 1, figsize=(8, 1.8 * len(shown) + 0.6), sharex=True, squeeze=False
    )
    for ax, j in zip(axes[:, 0], shown):
        ax.errorbar(
            t[window] - centre,
            predictions["rate"][window, j],
            predictions["rate_err"][window, j],
            fmt=".",
            ms=2,
            lw=0.5,
            color="0.4",
            label="measured",
        )
        ax.plot(
            t[window] - centre,
            predictions["predicted"][window, j],
            color="C3",
            lw=1.2,
            label="predicted",
        )
        ax.set_ylabel(labels[j])
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("time from the event (s)")
    fig.tight_layout()
    return fig


def pull_histograms(predictions, quiet, cores):
    """Pull histograms of every target channel on quiet rows, with the Gaussian cores fitted by the
    search (``intervals.json``: mu and sigma per channel)."""
    pull = pulls(predictions["rate"], predictions["predicted"], predictions["rate_err"])
    labels = target_labels(predictions)
    n = len(labels)
    cols = min(n, 5)
    fig, axes = plt.subplots(
        (n + cols - 1) // cols,
        cols,
        figsize=(2.6 * cols, 2.2 * ((n + cols - 1) // cols)),
        squeeze=False,
    )
    for ax, j in zip(axes.flat, range(n)):
        core, values = cores[j], pull[quiet, j]
        ax.hist(values, bins=120, range=(-6, 6), histtype="step", color="0.3")
        x = np.linspace(-6, 6, 300)
        mu, sigma = core["mu"], core["sigma"]
        norm = len(values) * 0.1 / (sigma * np.sqrt(2 * np.pi))  # 0.1: the bin width
        ax.plot(x, norm * np.exp(-0.5 * ((x - mu) / sigma) ** 2), color="C3", lw=1)
        ax.set(
            yscale="log", ylim=(0.5, None), title=f"{labels[j]}: mu {mu:+.2f}, sigma {sigma:.2f}"
        )
        ax.title.set_fontsize(8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.supxlabel("pull (measured - predicted) / rate_err; for an expression, its residual")
    fig.tight_layout()
    return fig


def cluster_length_vs_integral(clusters, k):
    """Length (s) and integral (the sum of the rate, Hz) of every cluster at threshold ``k``, by
    sign, as the original's explorer shows them."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    integrals = []
    for sign, colour in ((1, "C0"), (-1, "C1")):
        chosen = [c for c in clusters if c["k"] == k and c["sign"] == sign]
        integrals += [c["integral"] for c in chosen]
        ax.scatter(
            [c["length_s"] for c in chosen],
            [c["integral"] for c in chosen],
            s=6,
            color=colour,
            alpha=0.6,
            label=f"{'positive' if sign > 0 else 'negative'} ({len(chosen)})",
        )
    ax.set_xscale("symlog", linthresh=1)
    if integrals and min(integrals) > 0:  # a log axis needs data above zero
        ax.set_yscale("log")
    ax.set(
        xlabel="cluster length (s)",
        ylabel="integral: sum of the rate (Hz)",
        title=f"clusters at {k:g} sigma",
    )
    ax.legend()
    fig.tight_layout()
    return fig


def intersections_timeline(intersections, k, unix_time, truth=()):
    """The intersections at threshold ``k`` on a timeline (height: channels involved), with the
    injected transients or known GRBs as vertical marks."""
    t0 = unix_time[0]
    fig, ax = plt.subplots(figsize=(10, 3.2))
    for event in truth:
        ax.axvspan(
            (event.t_start - t0) / 3600, (event.t_stop - t0) / 3600, color="C2", alpha=0.25, lw=0
        )
    for i in intersections:
        if i["k"] != k:
            continue
        colour = "C0" if i["sign"] > 0 else "C1"
        ax.vlines(
            (i["t_start"] - t0) / 3600,
            0,
            i["sign"] * i["n_channels"],
            color=colour,
            lw=1.2,
            alpha=1.0 if i["match"] else 0.5,
        )
    ax.axhline(0, color="0.5", lw=0.5)
    ax.set(
        xlabel="hours from the first row",
        ylabel="channels (+ / -)",
        title=f"intersections at {k:g} sigma (green: injected or known events)",
    )
    fig.tight_layout()
    return fig


def gradient_histograms(jac, table, targets, features, target: int = 0, n: int = 6, pairs=None):
    """Histograms of the derivative of ``targets[target]`` with respect to its ``n`` most
    influential standardised features, or of the chosen ``pairs`` of (target, feature) names, with
    the Gaussian fitted to each core and its ±3σ lines, the mean and the median."""
    if pairs:
        by_pair = {(r["target"], r["feature"]): r for r in table}
        unknown = [pair for pair in pairs if tuple(pair) not in by_pair]
        if unknown:
            raise ValueError(
                f"no derivative of {unknown[0]}: targets are {', '.join(targets)}, "
                f"features {', '.join(features)}"
            )
        rows = [by_pair[tuple(pair)] for pair in pairs]
    else:
        rows = sorted(
            (r for r in table if r["target"] == targets[target]), key=lambda r: -abs(r["mean"])
        )[:n]
    fig, axes = plt.subplots(1, len(rows), figsize=(3.0 * len(rows), 2.8), squeeze=False)
    for ax, row in zip(axes[0], rows):
        values = jac[:, targets.index(row["target"]), features.index(row["feature"])]
        counts, edges, _ = ax.hist(values, bins=80, color="0.7")
        x = np.linspace(edges[0], edges[-1], 300)
        if row["fit_sigma"] > 0:
            peak = counts.max()
            ax.plot(
                x,
                peak * np.exp(-0.5 * ((x - row["fit_mean"]) / row["fit_sigma"]) ** 2),
                color="C3",
                lw=1,
            )
            for side in (-3, 3):
                ax.axvline(
                    row["fit_mean"] + side * row["fit_sigma"],
                    color="C3",
                    lw=0.8,
                    ls=":",
                    label="core ±3σ" if side < 0 else None,
                )
        ax.axvline(row["mean"], color="k", lw=1, label="mean")
        ax.axvline(row["median"], color="C0", lw=1, ls="--", label="median")
        ax.set(
            title=f"{row['target']} / {row['feature']}\n"
            f"mean {row['mean']:+.3g} ({row['significance']:+.0f} sigma)",
            yscale="log",
        )
        ax.title.set_fontsize(9)
    axes[0][0].legend(fontsize=7)
    fig.supxlabel("d target / d feature (Hz per training standard deviation)")
    fig.tight_layout()
    return fig


def profile_maps(measured, predicted, x_edges, y_edges, x_name, y_name, target):
    """The mean measured and the mean predicted rate per cell over two features, one colour scale."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    finite = np.concatenate([measured[np.isfinite(measured)], predicted[np.isfinite(predicted)]])
    limits = np.percentile(finite, [1, 99]) if finite.size else (0, 1)
    for ax, values, title in ((axes[0], measured, "measured"), (axes[1], predicted, "predicted")):
        image = ax.pcolormesh(
            x_edges, y_edges, values.T, vmin=limits[0], vmax=limits[1], shading="flat"
        )
        ax.set(xlabel=x_name, title=f"mean {title} {target}")
    axes[0].set_ylabel(y_name)
    fig.colorbar(image, ax=axes, label=f"{target} (Hz)")
    return fig


def prediction_vs_target(predictions, j: int = 0):
    """Predicted against measured rate of target ``j`` over the validation rows, with the training
    rows behind them: the whole range and 2 x 2 zooms on quarters of it (the original's visualizer)."""
    rate, predicted, part = (
        predictions["rate"][:, j],
        predictions["predicted"][:, j],
        predictions["part"],
    )
    name = target_labels(predictions)[j]
    fig = plt.figure(figsize=(11, 4.6))
    whole = fig.add_subplot(1, 2, 1)
    zooms = [fig.add_subplot(2, 4, k) for k in (3, 4, 7, 8)]
    edges = np.quantile(rate[part == "val"], [0.0, 0.25, 0.5, 0.75, 1.0])
    for ax, (lo, hi) in zip([whole, *zooms], [(edges[0], edges[-1]), *zip(edges[:-1], edges[1:])]):
        for chosen, colour, label in (
            (part == "train", "0.75", "training"),
            (part == "val", "C0", "validation"),
        ):
            inside = chosen & (rate >= lo) & (rate <= hi)
            ax.scatter(
                rate[inside], predicted[inside], s=1, color=colour, label=label, rasterized=True
            )
        ax.plot([lo, hi], [lo, hi], color="C3", lw=0.8)
        ax.set(xlim=(lo, hi), ylim=(lo, hi))
        ax.tick_params(labelsize=7)
    whole.set(
        xlabel=f"measured {name}",
        ylabel=f"predicted {name}",
        title="validation rows over the training rows",
    )
    whole.legend(markerscale=8, fontsize=8)
    fig.tight_layout()
    return fig


def prediction_vs_time(predictions, j: int = 0, zoom_h: float = 2.0, centre: float | None = None):
    """The measured and predicted rate of target ``j`` on the validation rows against time: the
    whole run, and a zoom of ``zoom_h`` hours around ``centre`` (unix s; default: the middle of the
    validation rows), the training rows' predictions there too (the original's visualizer)."""
    t, part = predictions["unix_time"], predictions["part"]
    rate, predicted = predictions["rate"][:, j], predictions["predicted"][:, j]
    name = target_labels(predictions)[j]
    val = part == "val"
    centre = float(np.median(t[val])) if centre is None else float(centre)
    hours = (t - t[0]) / 3600
    fig, (whole, zoom) = plt.subplots(2, 1, figsize=(11, 5.6))
    whole.plot(hours[val], rate[val], ".", ms=1.5, color="0.45", label="measured", rasterized=True)
    whole.plot(
        hours[val], predicted[val], ".", ms=1.5, color="C0", label="predicted", rasterized=True
    )
    window = np.abs(t - centre) <= zoom_h * 1800
    whole.axvspan(
        *(((centre - t[0]) / 3600) + np.array([-0.5, 0.5]) * zoom_h), color="C1", alpha=0.15
    )
    whole.set(xlabel="hours from the first row", ylabel=f"{name} (Hz)", title="validation rows")
    whole.legend(markerscale=6, fontsize=8)
    minutes = (t[window] - centre) / 60
    zoom.errorbar(
        minutes[val[window]],
        rate[window][val[window]],
        predictions["rate_err"][window, j][val[window]],
        fmt=".",
        ms=3,
        color="0.45",
        lw=0.6,
        label="measured (validation)",
    )
    zoom.plot(minutes, predicted[window], "-", color="C0", lw=0.8, label="predicted (every row)")
    zoom.set(
        xlabel=f"minutes from {centre:.0f} (unix s)",
        ylabel=f"{name} (Hz)",
        title=f"zoom: {zoom_h:g} h",
    )
    zoom.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pull_vs_time(predictions, core: dict, k: float, j: int = 0):
    """The pull of target ``j`` against time, the +-k sigma lines about the fitted mean, and its
    histogram at the side with the fitted Gaussian."""
    pull = pulls(predictions["rate"], predictions["predicted"], predictions["rate_err"])[:, j]
    t = predictions["unix_time"]
    fig, (ax, side) = plt.subplots(
        1, 2, figsize=(11, 3.2), sharey=True, gridspec_kw={"width_ratios": [5, 1]}
    )
    ax.plot((t - t[0]) / 3600, pull, ",", color="0.3", rasterized=True)
    mu, sigma = core["mu"], core["sigma"]
    for level in (mu - k * sigma, mu + k * sigma):
        ax.axhline(level, color="C3", lw=0.8)
        side.axhline(level, color="C3", lw=0.8)
    ax.set(
        xlabel="hours from the first row",
        ylabel=f"pull of {target_labels(predictions)[j]}",
        title=f"+-{k:g} sigma about mu {mu:+.2f} (sigma {sigma:.2f})",
    )
    finite = pull[np.isfinite(pull)]
    margin = (k + 1) * sigma  # the lines always show
    y = np.linspace(
        max(min(finite.min(), mu - margin), -12), min(max(finite.max(), mu + margin), 12), 400
    )
    side.hist(np.clip(pull, y[0], y[-1]), bins=120, orientation="horizontal", color="0.6", log=True)
    width = (y[-1] - y[0]) / 120
    side.plot(
        len(pull) * width / (sigma * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((y - mu) / sigma) ** 2),
        y,
        color="C3",
        lw=1,
    )
    side.set(xlabel="rows", xlim=(0.5, None))
    ax.set_ylim(y[0], y[-1])
    fig.tight_layout()
    return fig
