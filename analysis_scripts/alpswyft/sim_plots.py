"""The figures of :class:`~alpswyft.sim.ALPSim`: spectra with noise bands, observed points, the null
hypothesis and P_gg, in counts, dN/dE or residuals; spectra made elsewhere on the same axes.

Noise bands are the 68 % and 95 % central intervals of 2000 noise realisations of the expected
spectrum (Poisson or Gaussian, as configured, drawn the way a simulation draws them). Observed
counts carry Gehrels' 1-sigma Poisson intervals (n - sqrt(n - 1/4), n + 1 + sqrt(n + 3/4)).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from analysis_core.errors import ConfigError

KINDS = ("counts", "dnde", "residual")
N_BAND_DRAWS = 2000
_YLABELS = {
    "counts": "counts per bin",
    "dnde": r"dN/dE  [GeV$^{-1}$ cm$^{-2}$ s$^{-1}$]",
    "residual": r"log$_{10}$(N / N$_{\rm null}$), floored",
}


def _check_kind(sim, kind: str, survival: bool = False) -> None:
    if kind not in KINDS:
        raise ConfigError("kind", kind, f"expected one of {', '.join(KINDS)}")
    if not sim.alp and kind == "dnde":
        raise ConfigError(
            "kind",
            kind,
            f"model {sim.config.physics.model!r} has no instrument response: use counts or residual",
        )
    if kind == "dnde" and not sim.switches["signal"]:
        raise ConfigError("kind", kind, "dN/dE needs the source counts (signal=True)")
    if survival and not sim.alp:
        raise ConfigError(
            "survival",
            survival,
            f"model {sim.config.physics.model!r} has no photon survival probability",
        )


def _axes(ax, survival: bool):
    """(spectrum axes, P_gg axes or None): the given ones, or a new figure."""
    if ax is not None:
        if isinstance(ax, tuple | list):
            return ax[0], (ax[1] if survival else None)
        if survival:
            raise ConfigError(
                "ax", ax, "with survival=True give the pair of axes an earlier plot returned"
            )
        return ax, None
    if survival:
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(7.5, 6.5), sharex=True, height_ratios=(2.2, 1)
        )
        fig.subplots_adjust(hspace=0.06)
        return top, bottom
    return plt.subplots(figsize=(7.5, 4.5))[1], None


def _dnde_factor(sim, vectors: np.ndarray) -> np.ndarray:
    """Counts per unit dN/dE in each reconstructed bin, (n, nbins): the source counts of the
    intrinsic spectrum (P_gg = 1) over its dN/dE at the bin centre."""
    model = sim.model
    signal = (
        model.fold(vectors, np.ones((len(vectors), len(model.response.e_true))))
        - model.response.background
    )
    return signal / model.intrinsic(vectors, sim.x)


def _values(sim, counts: np.ndarray, kind: str, vectors: np.ndarray, floor) -> np.ndarray:
    """Counts (ALP models: per bin; toys: the curve itself) as the plotted quantity."""
    if kind == "residual" and sim.alp:
        return sim.model.residual(counts, floor)
    if kind == "residual":
        return counts - sim.model.expected(sim.null_params[None], np.random.default_rng(0))["exp"]
    if kind == "dnde":
        return (counts - sim.model.response.background) / _dnde_factor(sim, vectors)
    return counts


def _noise_draws(sim, exp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noisy counts (ALP models) or data (others) for one expected spectrum, (N_BAND_DRAWS, nbins)."""
    exp = np.repeat(exp[None], N_BAND_DRAWS, axis=0)
    if sim.alp:
        return sim.model.observed_counts(exp, rng)
    return sim.simulator.add_noise(exp, rng)["data"]


def _gehrels(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    low = np.where(counts > 0, counts - np.sqrt(np.clip(counts - 0.25, 0, None)), 0.0)
    return low, counts + 1.0 + np.sqrt(counts + 0.75)


def plot(sim, theta, *, kind, null, survival, observed, bands, seed, ax, color, label, log, params):
    """:meth:`ALPSim.plot`."""
    _check_kind(sim, kind, survival)
    rng = np.random.default_rng(seed)
    vectors = sim.theta(theta, log, **params)
    spectrum = sim.spectrum_of(vectors, rng)
    top, bottom = _axes(ax, survival)
    overlay = ax is not None
    x, n = sim.x, len(vectors)
    # what is plotted lives in count space for ALP models and in node space for the others
    expected = spectrum.counts if sim.alp else spectrum.exp
    y = _values(sim, expected, kind, vectors, sim.config.physics.floor_exp)
    if n == 1:
        line = top.plot(
            x, y[0], color=color, lw=1.6, label=label or legend_label(sim, vectors[0], params)
        )[0]
    else:
        alpha = float(np.clip(5.0 / n, 0.03, 0.6))
        lines = top.plot(x, y.T, color=color or "C0", lw=0.8, alpha=alpha)
        lines[0].set_label(label or f"{n} spectra")
        line = lines[0]
    color = line.get_color()
    if n == 1 and (bands or observed):
        draws = _noise_draws(sim, spectrum.exp[0], rng)
        floor = sim.config.physics.floor_obs
        if bands:
            q = np.percentile(
                _values(sim, draws, kind, vectors, floor), [2.275, 15.87, 84.13, 97.725], axis=0
            )
            step = "mid" if sim.alp else None  # bins of energy; a toy's points are a curve
            top.fill_between(x, q[0], q[3], color=color, alpha=0.12, lw=0, step=step)
            top.fill_between(
                x,
                q[1],
                q[2],
                color=color,
                alpha=0.25,
                lw=0,
                step=step,
                label=None if overlay else "68 % / 95 % noise bands",
            )
        if observed:
            _draw_observed(sim, top, draws, spectrum, kind, vectors, rng, color, overlay)
    if null:
        _draw_null(sim, top, bottom, kind)
    if bottom is not None:
        bottom.plot(
            sim.energy_true,
            spectrum.pgg.T,
            color=color,
            lw=1.2 if n == 1 else 0.8,
            alpha=1.0 if n == 1 else float(np.clip(5.0 / n, 0.03, 0.6)),
        )
    _decorate(sim, top, bottom, kind)
    return (top, bottom) if survival else top


def _draw_observed(sim, ax, draws, spectrum, kind, vectors, rng, color, overlay) -> None:
    x = sim.x
    if not sim.alp:
        data = sim.simulator.add_noise(spectrum.exp, rng)["data"][0]
        ax.errorbar(
            x,
            _values(sim, data[None], kind, vectors, None)[0],
            yerr=draws.std(axis=0),
            fmt="o",
            ms=3,
            color=color,
            mfc="white",
            lw=0.8,
            label=None if overlay else "one realisation",
        )
        return
    counts = sim.model.observed_counts(spectrum.exp, rng)[0]
    low, high = _gehrels(counts)
    floor = sim.config.physics.floor_obs
    y, y_low, y_high = (_values(sim, c[None], kind, vectors, floor)[0] for c in (counts, low, high))
    if kind == "counts":  # zero counts would vanish on a log axis: drawn at the bottom edge instead
        y_low = np.where(counts > 0, y_low, np.nan)
    ax.errorbar(
        x,
        y,
        yerr=[np.clip(y - y_low, 0, None), np.clip(y_high - y, 0, None)],
        fmt="o",
        ms=3,
        color=color,
        mfc="white",
        lw=0.8,
        label=None if overlay else "one realisation (Gehrels 1 sigma)",
    )


def _draw_null(sim, top, bottom, kind) -> None:
    vectors = sim.null_params[None]
    if sim.alp:
        counts = sim.model.null_counts[None]
    else:
        counts = sim.model.expected(vectors, np.random.default_rng(0))["exp"]
    top.plot(
        sim.x,
        _values(sim, counts, kind, vectors, sim.config.physics.floor_exp)[0],
        "--",
        color="k",
        lw=1,
        label="null hypothesis (Null values)",
    )
    if bottom is not None and sim.setup is not None and "null_pgg" in sim.setup:
        bottom.plot(sim.energy_true, sim.setup["null_pgg"], "--", color="k", lw=1)


def _decorate(sim, top, bottom, kind) -> None:
    if sim.alp:
        top.set_xscale("log")
        if kind != "residual":
            top.set_yscale("log")
        top.set_ylabel(_YLABELS[kind])
        bottom_axis = bottom if bottom is not None else top
        bottom_axis.set_xlabel("reconstructed energy [GeV]" if bottom is None else "energy [GeV]")
        if bottom is not None:
            bottom.set_ylabel(r"P$_{\gamma\gamma}$")
            bottom.set_xscale("log")
            bottom.set_ylim(0, 1.05)
    else:
        top.set_xlabel("x")
        top.set_ylabel("y" if kind == "counts" else "y - y(Null values)")
    top.legend(fontsize=8)
    if sim.alp:
        model = f" (model {sim.config.physics.model})" if sim.config.physics.model else ""
        title = f"NGC 1275{model} observed with CTA for {sim.config.physics.livetime:g} h"
    else:
        title = sim.simulator.model_info.description.replace("``", "").rstrip(".")
    top.figure.suptitle(title, fontsize=10)


def plot_spectra(sim, exp, data, *, kind, residuals, ax, color, label, alpha):
    """:meth:`ALPSim.plot_spectra`."""
    _check_kind(sim, kind)
    if exp is None and data is None:
        raise ConfigError("exp, data", None, "give the spectra to draw (rows of exp and/or data)")
    ax = ax if ax is not None else plt.subplots(figsize=(7.5, 4.5))[1]
    vectors = sim.defaults[None]  # dN/dE: the default spectrum's response
    for name, rows in (("exp", exp), ("data", data)):
        if rows is None:
            continue
        rows = np.atleast_2d(np.asarray(rows, float))
        counts = sim.counts_of(rows) if residuals else rows
        floor = sim.config.physics.floor_exp if name == "exp" else sim.config.physics.floor_obs
        y = _values(sim, counts, kind, vectors, floor)
        shade = float(np.clip(5.0 / len(rows), 0.05, 1.0)) if alpha is None else alpha
        if name == "exp":
            drawn = ax.plot(sim.x, y.T, color=color or "0.4", lw=0.8, alpha=shade)
        else:
            drawn = ax.plot(sim.x, y.T, "o", ms=2.5, color=color or "k", alpha=shade)
        what = "expected spectra" if name == "exp" else "observations"
        drawn[0].set_label(label or f"{len(rows)} stored {what}")
    _decorate(sim, ax, None, kind)
    return ax


#: How the units of the ALP table read in a legend.
UNITS = {
    "e-11GeV^{-1}": "× 1e-11/GeV",
    "muG": "μG",
    "kpc^{-1}": "/kpc",
    "TeV^{-1}cm^{-2}s^{-1}": "/(TeV cm² s)",
    "1e-3cm^{-3}": "× 1e-3/cm³",
    "1": "",
    "none": "",
}


def legend_label(sim, vector: np.ndarray, names=()) -> str:
    """The parameters ``names`` (default: those that differ from the defaults) of ``vector``, for a legend."""
    shown = [sim.names.index(n) for n in names] or [
        i
        for i, (v, d) in enumerate(zip(vector, sim.defaults))
        if not np.isclose(v, d, rtol=1e-9, atol=0)
    ]
    if not shown:
        return "default parameters"
    units = [UNITS.get(unit, unit) for unit in sim.units]
    return ", ".join(f"{sim.names[i]} = {vector[i]:.3g} {units[i]}".rstrip() for i in shown)
