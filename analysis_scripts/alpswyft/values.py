"""Parameter values a user gives (``ALPSim``, ``run.infer``, ``extra_observations``), checked where
they enter: numbers only, inside the parameter's physical domain, and a warning for a value many
decades away from the table's range, which is how a unit slip shows (``g=3e-11`` where the unit
column says 1e-11 GeV^-1).

A model declares the domains of its parameters in an optional class attribute ``domains``,
``{name: (">" or ">=", bound)}`` in physical units (the ALP model: m > 0, g >= 0, ...); a row in
log10 (``log?`` = 1) needs a positive physical value whatever the model says.
"""

from __future__ import annotations

import difflib
import sys
import warnings

import numpy as np

from alpswyft.parameters import Parameter, unit_scale, unit_text
from analysis_core.errors import ConfigError

#: Decades beyond the table's range (its box and its Obs. and Null values) that are taken as a slip.
FAR_DECADES = 3


def numbers(name: str, value, unit: str) -> np.ndarray:
    """``value`` as a float array; text (``m='10 neV'``) is refused with the unit expected."""
    text = isinstance(value, str | bytes) or any(
        isinstance(v, str | bytes | np.str_) for v in np.ravel(np.asarray(value, dtype=object))
    )
    if not text:
        try:
            return np.asarray(value, float)
        except (TypeError, ValueError):
            pass
    raise ConfigError(name, value, f"a number or an array of numbers {in_units(unit)}, not text")


def in_units(unit: str) -> str:
    """``in 10⁻¹¹ GeV⁻¹`` for a message, or ``without a unit``."""
    text = unit_text(unit)
    return f"in {text}" if text else "without a unit"


def value_text(value: float, unit: str) -> str:
    """A value with its unit as it reads (``3 × 10⁻¹¹ GeV⁻¹``, ``25 μG``, ``2.1``)."""
    text = unit_text(unit)
    joint = " × " if unit_scale(unit) != 1 else " "
    return f"{value:.4g}{joint}{text}" if text else f"{value:.4g}"


def warn(message: str) -> None:
    """A warning that points at the user's line: the first caller outside the package."""
    frame, level = sys._getframe(0), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        ("alpswyft", "analysis_core")
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, stacklevel=level)


def check_domains(parameters: list[Parameter], theta: np.ndarray, domains: dict) -> None:
    """Refuse physical vectors (n, n_parameters) outside a parameter's physical domain, naming the
    parameter, the value and the unit."""
    theta = np.atleast_2d(theta)
    for i, p in enumerate(parameters):
        column = theta[:, i]
        bad = ~np.isfinite(column)
        if bad.any():
            raise ConfigError(p.name, column[bad][0], f"a finite number {in_units(p.unit)}")
        rule = (">", 0.0) if p.log else domains.get(p.name)
        if rule is None:
            continue
        op, bound = rule
        bad = column <= bound if op == ">" else column < bound
        if bad.any():
            what = {">": "larger than", ">=": "at least"}[op]
            why = " (its row is in log10)" if p.log else ""
            raise ConfigError(
                p.name,
                value_text(column[bad][0], p.unit),
                f"{p.name} must be {what} {bound:g}{why}",
            )


def far_outside(p: Parameter, value: float) -> str | None:
    """Why a physical ``value`` of free parameter ``p`` reads as a slip, or None: more than
    :data:`FAR_DECADES` decades beyond its box and its Obs. and Null values (log rows), or as many
    box widths (linear rows); with a suggestion when the value divided by the unit's scale lies in
    the box."""
    if not p.free or not np.isfinite(value):
        return None
    lo, hi = (min(p.bounds[0], p.obs, p.null), max(p.bounds[1], p.obs, p.null))
    if p.log:
        if value <= 0:
            return None
        x, margin = np.log10(value), FAR_DECADES
    else:
        x, margin = value, (10**FAR_DECADES) * max(hi - lo, abs(hi), abs(lo), 1e-300)
    if lo - margin <= x <= hi + margin:
        return None
    box = (10.0 ** np.array(p.bounds)) if p.log else np.array(p.bounds)
    unit = unit_text(p.unit)
    why = (
        f"{p.name} = {value:g} is far outside its prior box [{box[0]:.3g}, {box[1]:.3g}]"
        f"{' ' + unit if unit else ''}"
    )
    scale = unit_scale(p.unit)
    if scale != 1:
        scaled = value / scale
        inside = (
            p.bounds[0] <= (np.log10(scaled) if p.log and scaled > 0 else scaled) <= p.bounds[1]
        )
        if inside:
            why += f"; did you mean {p.name}={scaled:.3g} (× {unit})?"
    return why


def warn_far_outside(parameters: list[Parameter], theta: np.ndarray) -> None:
    """Warn once per parameter whose values (physical vectors (n, n_parameters)) read as a slip."""
    theta = np.atleast_2d(theta)
    for i, p in enumerate(parameters):
        for value in np.unique(theta[:, i])[:1000]:
            why = far_outside(p, float(value))
            if why:
                warn(why)
                break


def warn_outside_box(free: list[Parameter], truth: np.ndarray, what: str = "the truth") -> None:
    """Warn for each free parameter whose table-space value in ``truth`` (n_free,) lies outside
    its prior box: no posterior on the box can hold it."""
    for p, x in zip(free, np.asarray(truth, float)):
        lo, hi = p.bounds
        if not lo <= x <= hi:
            shown = (lambda v: 10.0**v) if p.log else (lambda v: v)
            warn(
                f"{what} {p.name} = {value_text(shown(x), p.unit)} lies outside the prior box "
                f"[{shown(lo):.4g}, {shown(hi):.4g}]: the posterior on the box cannot hold it"
            )


def table_value(p: Parameter, name: str, text: str) -> tuple[float, str | None]:
    """The table-space value (log10 where the row is) of one named value of ``extra_observations``,
    read as :class:`~alpswyft.sim.ALPSim` reads its keywords, and a note on how it was read, or None.

    ``m=10`` is physical (10 neV); ``log10(m)=1`` is log10. The earlier form gave a log row's
    value in log10 without saying so (``m=1`` for 10 neV): a value that is only sensible that way
    (not positive, or many decades from the table's range, while inside the box as a log10) is read
    so, and a value that is sensible both ways is read as physical; both with a note.
    """
    value = float(text)
    if name.startswith("log10("):
        return (value if p.log else 10.0**value), None
    if not p.log:
        return value, None
    as_log10_inside = p.bounds[0] <= value <= p.bounds[1]
    physical_sensible = value > 0 and far_outside(p, value) is None
    if physical_sensible:
        note = None
        if as_log10_inside:
            note = (
                f"{p.name}={text} is read in physical units, {value_text(value, p.unit)} "
                f"(log10 = {np.log10(value):.4g}); for {value_text(10.0**value, p.unit)}, as "
                f"the earlier form read it, write {p.name}={10.0**value:.4g} or log10({p.name})={text}"
            )
        return float(np.log10(value)), note
    if as_log10_inside:
        return value, (
            f"{p.name}={text} is read as log10({p.name}) = {text}, i.e. "
            f"{value_text(10.0**value, p.unit)}, the earlier form: write "
            f"{p.name}={10.0**value:.4g} (physical) or log10({p.name})={text}"
        )
    if value <= 0:
        raise ConfigError(
            p.name, value, f"{p.name} must be larger than 0 (or give log10({p.name})=...)"
        )
    return float(np.log10(value)), None


def suggest(name: str, candidates) -> str:
    """``; did you mean 'alpha'?`` against ``candidates``, or nothing."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
