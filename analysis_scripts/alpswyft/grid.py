"""The hyperparameter grid of the ``hyperparams`` variable (``--name (type) : v1, v2 ...``).

``hyperparams`` holds entries ``--<name> (<type>) : <v1>, <v2>, ...`` with ``<type>`` one of
``int``, ``float``, ``str``. The grid is the Cartesian product of the value lists in the order
written, so the last hyperparameter varies fastest; grid points are numbered 0, 1, ... in that
order.
"""

from __future__ import annotations

import itertools
import re

from analysis_core.errors import ConfigError

_TYPES = {"int": int, "float": float, "str": str}
_ENTRY = re.compile(r"^(\w+)\((\w+)\):(.+)$")
_EXAMPLE = "--learning_rate (float) : 5e-3, 5e-4"


def parse_hyperparams(text: str) -> dict[str, list]:
    """Parse the ``hyperparams`` string into an ordered ``{name: [values]}`` dict."""
    compact = re.sub(r"\s+", "", text)
    if not compact:
        return {}
    if not compact.startswith("--"):
        raise ConfigError("hyperparams", text, f"entries must start with '--', e.g. {_EXAMPLE}")
    grid: dict[str, list] = {}
    for entry in compact[2:].split("--"):
        match = _ENTRY.match(entry)
        if not match:
            raise ConfigError(
                "hyperparams",
                entry,
                f"each entry must read '--name (type) : v1, v2', e.g. {_EXAMPLE}",
            )
        name, type_name, values = match.groups()
        if type_name not in _TYPES:
            raise ConfigError(
                "hyperparams", entry, f"type of {name} must be one of int, float, str"
            )
        if name in grid:
            raise ConfigError("hyperparams", entry, f"{name} is given twice")
        try:
            grid[name] = [_TYPES[type_name](v) for v in values.split(",")]
        except ValueError:
            raise ConfigError(
                "hyperparams", entry, f"every value of {name} must be a valid {type_name}"
            ) from None
    return grid


def grid_points(grid: dict[str, list]) -> list[dict]:
    """All grid points, numbered with the last hyperparameter varying fastest."""
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*grid.values())]
