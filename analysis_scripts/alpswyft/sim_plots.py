"""The figures of :class:`~alpswyft.sim.ALPSim`: spectra with noise bands, observed points, the null
hypothesis and P_gg, in counts, dN/dE or residuals; spectra made elsewhere on the same axes.

Noise bands are the 68 % and 95 % central intervals of 2000 noise realisations of the expected
spectrum (Poisson or Gaussian, as configured, drawn the way a simulation draws them). Observed
counts carry Gehrels' 1-sigma Poisson intervals (n - sqrt(n - 1/4), n + 1 + sqrt(n + 3/4)).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.artist import ArtistInspector
from matplotlib.cbook import normalize_kwargs
from matplotlib.lines import Line2D

from alpswyft.config import PHYSICS_VARIABLES
from alpswyft.models import is_model_file
from alpswyft.values import suggest, value_text
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


#: The keywords of :meth:`ALPSim.plot` besides parameters and matplotlib's line properties.
PLOT_OPTIONS = (
    "theta",
    "kind",
    "null",
    "survival",
    "observed",
    "bands",
    "seed",
    "ax",
    "color",
    "label",
    "log",
    "observed_style",
)
_LINE = ArtistInspector(Line2D)
#: matplotlib's Line2D properties and their aliases (``linestyle``, ``ls``, ``alpha``, ...)
LINE_PROPERTIES = frozenset(_LINE.get_setters()) | {
    alias for aliases in _LINE.aliasd.values() for alias in aliases
}


def split_keywords(sim, keywords: dict) -> tuple[dict, dict]:
    """(parameters by name, matplotlib line properties) of :meth:`ALPSim.plot`'s other keywords;
    anything else is refused with the closest names among parameters, options and properties."""
    params = {k: v for k, v in keywords.items() if k in sim.names}
    style = {k: v for k, v in keywords.items() if k not in params and k in LINE_PROPERTIES}
    for name in sorted(set(keywords) - set(params) - set(style)):
        if name in PHYSICS_VARIABLES or name in sim.switches:
            why = f"a setting of the simulator, not of a plot: use sim.configure({name}=...)"
        else:
            why = (
                f"neither a parameter of model {sim.config.physics.model!r} "
                f"({', '.join(sim.names)}), an option of plot() nor a matplotlib line property"
                + suggest(name, [*sim.names, *PLOT_OPTIONS, *LINE_PROPERTIES])
            )
        raise ConfigError(name, keywords[name], why)
    return params, style


def _style(defaults: dict, given: dict | None) -> dict:
    """Line properties: ``given`` (aliases allowed) over ``defaults``."""
    return {**normalize_kwargs(defaults, Line2D), **normalize_kwargs(given or {}, Line2D)}


def plot(
    sim,
    theta,
    *,
    kind,
    null,
    survival,
    observed,
    bands,
    seed,
    ax,
    color,
    label,
    log,
    observed_style,
    params,
):
    """:meth:`ALPSim.plot`."""
    params, style = split_keywords(sim, params)
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
        label = label or legend_label(sim, vectors[0], params)
        line = top.plot(x, y[0], **_style(dict(color=color, lw=1.6, label=label), style))[0]
    else:
        shade = float(np.clip(5.0 / n, 0.03, 0.6))
        label = label or f"{n} spectra"
        lines = top.plot(x, y.T, **_style(dict(color=color or "C0", lw=0.8, alpha=shade), style))
        lines[0].set_label(label)
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
                label=None if overlay else "68 % / 95 % noise bands",  # the line's colour
            )
        if observed:
            points = _style(
                dict(
                    marker="o",
                    ls="none",
                    ms=3,
                    color=color,
                    mfc="white",
                    lw=0.8,
                    label=f"{label}: one realisation" if overlay else "one realisation",
                ),
                observed_style,
            )
            _draw_observed(sim, top, draws, spectrum, kind, vectors, rng, points)
    if null:
        _draw_null(sim, top, bottom, kind)
    if bottom is not None:
        bottom.plot(
            sim.energy_true,
            spectrum.pgg.T,
            **_style(
                dict(
                    color=color,
                    lw=1.2 if n == 1 else 0.8,
                    alpha=1.0 if n == 1 else float(np.clip(5.0 / n, 0.03, 0.6)),
                ),
                {k: v for k, v in style.items() if k != "label"},
            ),
        )
    _decorate(sim, top, bottom, kind, title=not overlay)
    return (top, bottom) if survival else top


def _draw_observed(sim, ax, draws, spectrum, kind, vectors, rng, points: dict) -> None:
    x = sim.x
    if not sim.alp:
        data = sim.simulator.add_noise(spectrum.exp, rng)["data"][0]
        ax.errorbar(
            x, _values(sim, data[None], kind, vectors, None)[0], yerr=draws.std(axis=0), **points
        )
        return
    counts = sim.model.observed_counts(spectrum.exp, rng)[0]
    low, high = _gehrels(counts)
    floor = sim.config.physics.floor_obs
    y, y_low, y_high = (_values(sim, c[None], kind, vectors, floor)[0] for c in (counts, low, high))
    if kind == "counts":  # zero counts would vanish on a log axis: drawn at the bottom edge instead
        y_low = np.where(counts > 0, y_low, np.nan)
    if points.get("label") == "one realisation":
        points["label"] = "one realisation (Gehrels 1 sigma)"
    ax.errorbar(x, y, yerr=[np.clip(y - y_low, 0, None), np.clip(y_high - y, 0, None)], **points)


def _draw_null(sim, top, bottom, kind, counts=None) -> None:
    """The null hypothesis: the simulator's, or ``counts`` (residual rows as the stores hold them)."""
    vectors = sim.null_params[None]
    if counts is not None:
        counts = sim.counts_of(sim.spectrum_rows("null", counts))[:1]
    elif sim.alp:
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


def _decorate(sim, top, bottom, kind, title: bool = True) -> None:
    """Axes scales and labels, the legend, and (``title``: on a figure of its own) the title."""
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
    if title:
        top.figure.suptitle(figure_title(sim), fontsize=10)


def figure_title(sim) -> str:
    """What a simulator's figure shows: the source, the model, the instrument; "background only"
    without the source counts, "no ALP" for a model without ALP mixing."""
    if not sim.alp:
        return sim.simulator.model_info.description.replace("``", "").rstrip(".")
    name = sim.config.physics.model
    name = Path(name).name if is_model_file(name) else name
    model = f" (model {name})" if name else ""
    seen = f"observed with CTA for {sim.config.physics.livetime:g} h"
    if not sim.switches["signal"]:
        return f"Background only (no source counts), {seen}"
    no_alp = "" if sim.model.with_alp else ", no ALP"
    return f"NGC 1275{model}{no_alp} {seen}"


def plot_spectra(sim, exp, data, *, over, kind, residuals, null, pgg, ax, color, label, alpha):
    """:meth:`ALPSim.plot_spectra`; ``over``: the observation's ``data`` row, or None."""
    _check_kind(sim, kind, survival=pgg is not None)
    if exp is None and data is None:
        raise ConfigError("exp, data", None, "give the spectra to draw (rows of exp and/or data)")
    if pgg is not None:
        pgg = sim.spectrum_rows("pgg", pgg, len(sim.energy_true), "true-energy bin")
    top, bottom = _axes(ax, pgg is not None)
    vectors = sim.defaults[None]  # dN/dE: the default spectrum's response
    cases = [
        ("exp", exp, residuals, color, label, alpha),
        ("data", data, residuals, color, label, alpha),
        ("over", over, True, "crimson", "observation", 1.0),
    ]
    zeros_labelled = False
    for name, rows, stored, row_color, row_label, row_alpha in cases:
        if rows is None:
            continue
        rows = sim.spectrum_rows(name, rows)
        observed = name != "exp"
        counts = sim.counts_of(rows, observed=observed) if stored else rows
        floor = sim.config.physics.floor_obs if observed else sim.config.physics.floor_exp
        y = _values(sim, counts, kind, vectors, floor)
        shade = float(np.clip(5.0 / len(rows), 0.05, 1.0)) if row_alpha is None else row_alpha
        what = "observations" if observed else "expected spectra"
        text = row_label or f"{len(rows)} stored {what}"
        if not observed:
            drawn = top.plot(sim.x, y.T, color=row_color or "0.4", lw=0.8, alpha=shade)
            drawn[0].set_label(text)
            continue
        # 0 counts would vanish on a log axis: drawn as upper limits instead
        zero = (counts == 0) if sim.alp and kind == "counts" else np.zeros(np.shape(y), bool)
        shown = np.where(zero, np.nan, y)
        drawn = top.plot(sim.x, shown.T, "o", ms=2.5, color=row_color or "k", alpha=shade)
        drawn[0].set_label(text)
        if np.any(zero):  # 0 counts: Gehrels' 1-sigma upper limit, 1.84 counts
            bins = np.nonzero(zero)
            top.plot(
                sim.x[bins[1]],
                np.full(len(bins[0]), _gehrels(np.zeros(1))[1][0]),
                "v",
                ms=3.5,
                color=drawn[0].get_color(),
                alpha=shade,
                label=None if zeros_labelled else "0 counts (1 sigma upper limit)",
            )
            zeros_labelled = True
    if null:
        _draw_null(sim, top, bottom, kind, counts=None if null is True else null)
    if pgg is not None:
        bottom.plot(sim.energy_true, pgg.T, color=color or "C3", lw=1.0)
    _decorate(sim, top, bottom, kind, title=ax is None)
    return (top, bottom) if pgg is not None else top


def legend_label(sim, vector: np.ndarray, names=()) -> str:
    """The parameters ``names`` (default: those that differ from the defaults) of ``vector``, for a legend."""
    shown = [sim.names.index(n) for n in names] or [
        i
        for i, (v, d) in enumerate(zip(vector, sim.defaults))
        if not np.isclose(v, d, rtol=1e-9, atol=0)
    ]
    if sim.alp and not sim.switches["signal"]:
        return "background only"
    if not shown:
        no_alp = sim.alp and np.allclose(vector[:2], sim.null_params[:2], rtol=1e-9, atol=0)
        return "default parameters (no ALP)" if no_alp else "default parameters"
    return ", ".join(f"{sim.names[i]} = {value_text(vector[i], sim.units[i])}" for i in shown)
