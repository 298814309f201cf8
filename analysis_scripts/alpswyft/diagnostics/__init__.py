"""The validation diagnostics of a grid point's last-round network.

Each is a :class:`~alpswyft.diagnostics.base.Diagnostic`: ``compute(inputs)`` writes its saved
results (frozen dataclasses with ``save`` / ``load`` beside their statistics:
:class:`~alpswyft.coverage.CoverageResult`, :class:`~alpswyft.limits.LimitResult`,
:class:`~alpswyft.limits.LimitCoverageResult`, :class:`~alpswyft.classical.ClassicalLimits`) and
returns its entry of ``validation_gridpoint_<g>.json``; ``figures(run, g)`` draws it from what it
saved. The validation stage (:mod:`alpswyft.stages.validate`) runs :data:`DIAGNOSTICS` in order
over one :class:`~alpswyft.diagnostics.base.ValidationInputs` (the expected-limit simulations and
the network's features of them are read once); the report draws each one's figures from its saved
results. A new diagnostic is one class, appended to :data:`DIAGNOSTICS`.
"""

from __future__ import annotations

from alpswyft.diagnostics.base import Diagnostic, ValidationInputs
from alpswyft.diagnostics.classical_limits import ClassicalAnalysis
from alpswyft.diagnostics.coverage import Coverage
from alpswyft.diagnostics.expected_limits import ExpectedLimits
from alpswyft.diagnostics.frequentist_limits import FrequentistLimits

#: The diagnostics in the order they run (the frequentist limits extend the expected limits, and
#: the classical analysis is compared with both).
DIAGNOSTICS: tuple[Diagnostic, ...] = (
    Coverage(),
    ExpectedLimits(),
    FrequentistLimits(),
    ClassicalAnalysis(),
)


def diagnostic(name: str) -> Diagnostic:
    """The diagnostic of a summary entry (``coverage``, ``expected_limits``, ``frequentist``,
    ``classical``)."""
    for d in DIAGNOSTICS:
        if d.name == name:
            return d
    raise KeyError(f"no diagnostic {name!r}: one of {', '.join(d.name for d in DIAGNOSTICS)}")


__all__ = [
    "DIAGNOSTICS",
    "ClassicalAnalysis",
    "Coverage",
    "Diagnostic",
    "ExpectedLimits",
    "FrequentistLimits",
    "ValidationInputs",
    "diagnostic",
]
