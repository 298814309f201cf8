"""Forward models of the expected spectrum.

:data:`MODELS` maps each value of the run-script variable ``model`` to the number of parameter-table
rows it needs and the factory that builds it from a RunConfig (``None`` where this version does not provide it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from alpswyft.physics.toy import ToyLine, ToyPoly, ToySine


@dataclass(frozen=True)
class ModelInfo:
    n_params: int
    factory: Callable | None
    description: str


MODELS: dict[str, ModelInfo] = {
    "": ModelInfo(18, None, "ALP signature in the NGC 1275 spectrum"),
    "spectral_fit": ModelInfo(18, None, "intrinsic spectrum only, no ALP mixing"),
    "spectral_fit_log": ModelInfo(18, None, "spectral_fit with every parameter in log10"),
    "toy_line": ModelInfo(2, ToyLine.from_config, "y = a x + b"),
    "toy_poly": ModelInfo(3, ToyPoly.from_config, "y = a x^2 + b x + c"),
    "toy_sine": ModelInfo(6, ToySine.from_config, "y = a x + b + (c x + d) sin(e x + f)"),
}
