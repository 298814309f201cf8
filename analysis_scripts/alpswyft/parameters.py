"""The parameter table and the priors.

Each row of the run script's table (``param1``, ``param2``, ...) is one string of seven
``|``-separated columns::

    bounds | obs | null | log? | prior | name | unit

- *bounds*: ``[low, high]`` makes the parameter free, a single number fixes it at that value
  (``:`` may replace ``,`` inside the brackets);
- *obs*: the value the mock observation is simulated at (free parameters);
- *null*: the value of the null-hypothesis spectrum (free parameters);
- *log?*: ``1`` if the columns hold log10 of the physical value, ``0`` if linear;
- *prior*: ``U`` (uniform on the bounds) or ``N(mu,sigma)`` (normal truncated to the bounds), in the
  same space as the bounds;
- *name* and *unit*: free text without whitespace (an empty unit reads as ``none``).

Free parameters are sampled and inferred in their table space (log10 where ``log?=1``);
:meth:`ParameterTable.physical` maps them to physical values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis_core.errors import ConfigError

COLUMNS = "bounds | obs | null | log? | prior | name | unit"
_NUMBER = r"[-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_BOUNDS = re.compile(rf"^\[\s*({_NUMBER})\s*[,:]\s*({_NUMBER})\s*\]$")
_NORMAL = re.compile(rf"^N\(\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\)$")


@dataclass(frozen=True)
class Prior:
    """A one-dimensional prior in table space: ``U`` or ``N(mu, sigma)`` truncated to a box."""

    kind: str  # "U" or "N"
    mu: float | None = None
    sigma: float | None = None

    def sample(self, low: float, high: float, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` values on ``[low, high]`` with the generator ``rng``."""
        if low == high:
            return np.full(n, low)
        if self.kind == "U":
            return rng.uniform(low, high, size=n)
        a, b = (low - self.mu) / self.sigma, (high - self.mu) / self.sigma
        return stats.truncnorm.rvs(a, b, loc=self.mu, scale=self.sigma, size=n, random_state=rng)

    def density(self, x: np.ndarray, low: float, high: float) -> np.ndarray:
        """The prior density on ``[low, high]`` at ``x`` up to a constant factor; 0 outside."""
        x = np.asarray(x, dtype=float)
        inside = (x >= low) & (x <= high)
        if self.kind == "U":
            return inside.astype(float)
        return np.where(inside, np.exp(-0.5 * ((x - self.mu) / self.sigma) ** 2), 0.0)

    def __str__(self) -> str:
        return "U" if self.kind == "U" else f"N({self.mu:g},{self.sigma:g})"


@dataclass(frozen=True)
class Parameter:
    """One row of the parameter table. ``row`` is the 1-based number of ``param<row>``."""

    row: int
    name: str
    unit: str
    log: bool
    prior: Prior
    bounds: tuple[float, float] | None = None  # free parameters
    value: float | None = None  # fixed parameters, in table space
    obs: float | None = None
    null: float | None = None

    @property
    def free(self) -> bool:
        return self.bounds is not None

    @property
    def variable(self) -> str:
        return f"param{self.row}"

    @property
    def label(self) -> str:
        """An axis label: the name, ``log10`` where the table is, and the unit as matplotlib
        renders it (``log10 g [$10^{-11}$ GeV$^{-1}$]``; no brackets for a unitless row)."""
        unit = unit_text(self.unit, tex=True)
        name = f"log10 {self.name}" if self.log else self.name
        return f"{name} [{unit}]" if unit else name

    def to_dict(self) -> dict:
        return {
            "row": self.row,
            "name": self.name,
            "unit": self.unit,
            "log": self.log,
            "prior": str(self.prior),
            "bounds": list(self.bounds) if self.bounds else None,
            "value": self.value,
            "obs": self.obs,
            "null": self.null,
        }


_SCALE = re.compile(r"^(\d*\.?\d*)e([-+]?\d+)")
_FACTOR = re.compile(r"([A-Za-z]+)(?:\^\{?([-+]?\d+)\}?)?")
_SUPERSCRIPTS = str.maketrans("-+0123456789", "⁻⁺⁰¹²³⁴⁵⁶⁷⁸⁹")


def unit_scale(unit: str) -> float:
    """The number a unit string starts with (``e-11GeV^{-1}``: 1e-11, ``1e-3cm^{-3}``: 1e-3),
    1 when it has none."""
    match = _SCALE.match(unit)
    return float(f"{match[1] or 1}e{match[2]}") if match else 1.0


def unit_text(unit: str, tex: bool = False) -> str:
    """A unit column as it reads: ``e-11GeV^{-1}`` as ``10⁻¹¹ GeV⁻¹`` (``tex``: matplotlib's
    mathtext, ``$10^{-11}$ GeV$^{-1}$``), ``muG`` as ``μG``; ``none`` and ``1`` as nothing. A unit
    that is not a product of powers of symbols is returned as written."""
    if unit in ("", "none", "1"):
        return ""
    scale, rest = _SCALE.match(unit), unit
    parts = []
    if scale:
        mantissa = scale[1] if scale[1] not in ("", "1") else ""
        power = str(int(scale[2]))
        exponent = f"$10^{{{power}}}$" if tex else f"10{power.translate(_SUPERSCRIPTS)}"
        parts.append(f"{mantissa} × {exponent}".lstrip(" ×") if mantissa else exponent)
        rest = unit[scale.end() :]
    factors = list(_FACTOR.finditer(rest))
    if "".join(f[0] for f in factors) != rest:
        return unit
    for factor in factors:
        symbol = re.sub(r"^mu(?=[A-Za-z])", "μ", factor[1])
        power = factor[2]
        if power is None:
            parts.append(symbol)
        elif tex:
            parts.append(f"{symbol}$^{{{int(power)}}}$")
        else:
            parts.append(symbol + str(int(power)).translate(_SUPERSCRIPTS))
    return " ".join(parts)


def _number(variable: str, column: str, text: str) -> float:
    if not re.fullmatch(_NUMBER, text):
        raise ConfigError(variable, text, f"column '{column}' must be a number")
    return float(text)


def parse_prior(variable: str, text: str) -> Prior:
    """Parse the prior column: ``U`` or ``N(mu,sigma)`` with ``sigma > 0``."""
    if text == "U":
        return Prior("U")
    match = _NORMAL.match(text)
    if not match:
        raise ConfigError(variable, text, "the prior column must be U or N(mu,sigma)")
    mu, sigma = float(match[1]), float(match[2])
    if sigma <= 0:
        raise ConfigError(variable, text, f"the prior's sigma must be > 0, got {sigma:g}")
    return Prior("N", mu, sigma)


def parse_row(row: int, text: str) -> tuple[Parameter, list[str]]:
    """Parse ``param<row>``; returns the parameter and warnings about ignored columns."""
    variable = f"param{row}"
    columns = [c.strip() for c in text.split("|")]
    if len(columns) != 7:
        raise ConfigError(
            variable, text, f"has {len(columns)} columns separated by '|', expected 7: {COLUMNS}"
        )
    bounds_text, obs_text, null_text, log_text, prior_text, name, unit = columns
    if not re.fullmatch(r"[A-Za-z_][\w.\-]*", name):
        raise ConfigError(variable, name, "the name column must be one word (letters, digits, _)")
    if re.search(r"\s", unit):
        raise ConfigError(variable, unit, "the unit column must be text without spaces")
    unit = unit or "none"  # older run scripts leave it empty for many rows
    if log_text not in ("0", "1"):
        raise ConfigError(variable, log_text, "the log? column must be 0 or 1")
    log = log_text == "1"
    prior = parse_prior(variable, prior_text)

    if bounds_text.startswith("["):
        match = _BOUNDS.match(bounds_text)
        if not match:
            raise ConfigError(variable, bounds_text, "bounds must be [low, high] with two numbers")
        low, high = float(match[1]), float(match[2])
        if not low < high:
            raise ConfigError(
                variable,
                bounds_text,
                f"bounds of {name} must satisfy low < high, got [{low:g}, {high:g}]",
            )
        obs = _number(variable, "obs", obs_text)
        null = _number(variable, "null", null_text)
        if prior.kind == "N" and not low <= prior.mu <= high:
            raise ConfigError(
                variable,
                prior_text,
                f"the prior mean of {name} lies outside its bounds [{low:g}, {high:g}]",
            )
        return Parameter(row, name, unit, log, prior, bounds=(low, high), obs=obs, null=null), []

    value = _number(variable, "bounds", bounds_text)
    warnings = []
    ignored = [
        (c, t) for c, t in (("obs", obs_text), ("null", null_text)) if t and t != bounds_text
    ]
    if ignored or prior.kind != "U":
        warnings.append(
            f"{variable} ({name}) is fixed at {value:g}; its obs, null and prior columns are ignored"
            + "".join(f" ({c}={t})" for c, t in ignored)
        )
    return Parameter(row, name, unit, log, prior, value=value), warnings


class ParameterTable:
    """The ordered parameter table: free parameters are sampled, fixed ones are constants.

    ``constraint`` (optional) maps physical parameter vectors (n, n_parameters) to a boolean mask
    of the allowed ones (the ALP model's kL < kH): the prior is then the product prior restricted
    to it, drawn by rejection, everywhere it is sampled (training stores, prior bank, coverage and
    expected-limit simulations).
    """

    #: Draws per accepted sample at which a restricted prior is refused as (almost) empty.
    MAX_REJECTION = 1000

    def __init__(self, parameters: list[Parameter], constraint=None):
        self.parameters = list(parameters)
        self.free = [p for p in self.parameters if p.free]
        self.constraint = constraint

    @property
    def free_names(self) -> list[str]:
        return [p.name for p in self.free]

    @property
    def initial_bounds(self) -> np.ndarray:
        """Prior box of the free parameters in table space, shape (n_free, 2)."""
        return np.array([p.bounds for p in self.free], dtype=float)

    @property
    def obs(self) -> np.ndarray:
        return np.array([p.obs for p in self.free], dtype=float)

    @property
    def null(self) -> np.ndarray:
        return np.array([p.null for p in self.free], dtype=float)

    def sample(self, bounds: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` free-parameter vectors from the table priors truncated to ``bounds`` (and
        restricted to the constraint, by rejection).

        Returns an array of shape (n, n_free) in table space.
        """
        out = self._draws(bounds, n, rng)
        if self.constraint is None:
            return out
        rejected, drawn = ~self.allowed(out), n
        while rejected.any():
            if drawn > self.MAX_REJECTION * n:
                raise ValueError(
                    f"fewer than 1 in {self.MAX_REJECTION} prior draws in the box {np.asarray(bounds).tolist()} "
                    "satisfy the model's constraint (kL < kH)"
                )
            k = int(rejected.sum())
            out[rejected] = self._draws(bounds, k, rng)
            drawn += k
            rejected[rejected] = ~self.allowed(out[rejected])
        return out

    def _draws(self, bounds, n: int, rng: np.random.Generator) -> np.ndarray:
        columns = [p.prior.sample(lo, hi, n, rng) for p, (lo, hi) in zip(self.free, bounds)]
        return np.stack(columns, axis=-1) if columns else np.empty((n, 0))

    def allowed(self, theta_free: np.ndarray) -> np.ndarray:
        """Which free-parameter vectors (n, n_free) the constraint allows (all without one)."""
        theta_free = np.atleast_2d(theta_free)
        if self.constraint is None:
            return np.ones(len(theta_free), bool)
        return np.asarray(self.constraint(self.physical(theta_free)), bool)

    def rejected_fraction(self, bounds: np.ndarray, n: int = 100_000, seed: int = 0) -> float:
        """The fraction of product-prior draws in ``bounds`` that the constraint rejects."""
        return float(1.0 - self.allowed(self._draws(bounds, n, np.random.default_rng(seed))).mean())

    def physical(self, theta_free: np.ndarray) -> np.ndarray:
        """Full parameter vectors in physical units from free values in table space.

        ``theta_free`` has shape (n, n_free); the result has shape (n, n_parameters), with fixed
        parameters inserted and every log10 entry exponentiated.
        """
        theta_free = np.atleast_2d(theta_free)
        full = np.empty((len(theta_free), len(self.parameters)))
        j = 0
        for i, p in enumerate(self.parameters):
            if p.free:
                column = theta_free[:, j]
                j += 1
            else:
                column = np.full(len(theta_free), p.value)
            full[:, i] = 10.0**column if p.log else column
        return full
