"""Forward models of the observed spectrum.

:data:`MODELS` maps each value of the run-script variable ``model`` to the number of parameter-table
rows it needs, the factory that builds it from a configuration and its set-up arrays, and the
function that computes those arrays once per configuration (``None`` if it needs none).

A model has ``shapes`` (its nodes other than ``params``), ``expected(theta, rng)`` (a dict with at
least ``exp``, from physical parameters (n, n_params)), ``noise(exp, rng)`` (``data``) and
``features(data)`` (nodes derived from ``data``, e.g. ``power``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from alpswyft.physics import observation, toy


@dataclass(frozen=True)
class ModelInfo:
    n_params: int
    factory: Callable
    description: str
    prepare: Callable | None = None


MODELS: dict[str, ModelInfo] = {
    "": ModelInfo(18, observation.ALPModel, "ALP signature in the NGC 1275 spectrum", observation.prepare),
    "spectral_fit": ModelInfo(18, observation.ALPModel, "intrinsic spectrum only (P_gg = 1)", observation.prepare),
    "spectral_fit_log": ModelInfo(
        18, observation.ALPModel, "spectral_fit with every parameter in log10", observation.prepare
    ),
    "toy_line": ModelInfo(2, toy.ToyLine.from_config, "y = a x + b"),
    "toy_poly": ModelInfo(3, toy.ToyPoly.from_config, "y = a x^2 + b x + c"),
    "toy_sine": ModelInfo(6, toy.ToySine.from_config, "y = a x + b + (c x + d) sin(e x + f)"),
}
ALP_MODELS = ("", "spectral_fit", "spectral_fit_log")
