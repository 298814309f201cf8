"""What a diagnostic is, and what the diagnostics of one grid point share."""

from __future__ import annotations

import time
from functools import cached_property
from typing import ClassVar

import numpy as np

from alpswyft.limits import ExclusionCounter, plane_edges
from alpswyft.run import RunContext
from alpswyft.stores import read_store


class ValidationInputs:
    """What the diagnostics of one grid point's last round read, each read or computed once: the
    network, the round's box and stores, the expected-limit simulations and the network's features
    of them (shared by the expected, frequentist and classical limits), and the results the
    diagnostics before have made (``results``, by diagnostic name)."""

    def __init__(self, run: RunContext, grid_point: int, network):
        self.run, self.grid_point, self.network = run, grid_point, network
        self.tree, self.config, self.simulator = run.tree, run.config, run.simulator
        self.record = run.record
        self.round = self.config.training.n_truncations
        self.box = np.asarray(self.record.bounds(grid_point, self.round), float)
        self.results: dict[str, object] = {}

    @cached_property
    def requests(self) -> dict:
        """The last round's store requests (:meth:`alpswyft.run.RunContext.store_requests`)."""
        return self.run.store_requests(self.grid_point, self.round, self.box)

    @cached_property
    def explim(self) -> dict[str, np.ndarray]:
        """The observed nodes of the expected-limit simulations (POIs at their Obs. values)."""
        return read_store(self.requests["explim"].path, self.simulator.observed_nodes)

    @cached_property
    def explim_features(self):
        """The network's features of :attr:`explim`, one row per simulation."""
        from alpswyft.inference import observation_features

        return observation_features(self.network, self.explim)

    def names(self, pair) -> tuple[str, str]:
        """The POI names of a ``prediction_pairs`` entry."""
        return self.config.poi_names[pair[0]], self.config.poi_names[pair[1]]

    def plane_counters(self) -> list[ExclusionCounter]:
        """One empty counter per ``prediction_pairs`` plane (:func:`~alpswyft.limits.plane_edges`
        over the initial box), with the Obs. values as the truth."""
        config = self.config
        truth = config.table.obs[config.physics.POI_indices]
        edges = plane_edges(config, np.array(self.record.data["initial_bounds"]))
        return [
            ExclusionCounter(
                x,
                y,
                config.validation.credibility_levels,
                (truth[i], truth[j]),
                is_mg_plane(config, i, j),
            )
            for (x, y), (i, j) in zip(edges, config.validation.prediction_pairs)
        ]


def is_mg_plane(config, i: int, j: int) -> bool:
    """Whether POI positions (i, j) are the (m, g) plane of an ALP table, log10 axes."""
    x, y = (config.table.free[config.physics.POI_indices[k]] for k in (i, j))
    return (x.name, y.name) == ("m", "g") and x.log and y.log


class Diagnostic:
    """One statistic of a trained network: :meth:`compute` writes its saved results
    (:class:`~alpswyft.results.SavedResult`) and returns its entry of the grid point's summary
    (``validation_gridpoint_<g>.json``, under :attr:`name`), or None where the run has nothing to
    compute it on; :meth:`figures` draws it from the saved results."""

    #: its entry in the summary, and its name in the report
    name: ClassVar[str]
    #: what the report says where the run has none of its figures: what makes them
    missing: ClassVar[str]

    def compute(self, inputs: ValidationInputs) -> dict | None:
        raise NotImplementedError

    def figures(self, run: RunContext, grid_point: int) -> dict:
        """Its figures by file stem (``<stem>_gridpoint_<g>.png``), drawn from the saved results;
        empty where the run has none."""
        raise NotImplementedError


class Progress:
    """One line at every tenth of a loop, readable in output.log."""

    def __init__(self, title: str, total: int):
        self.title, self.total, self.start = title, total, time.monotonic()
        self.marks = {-(-k * total // 10) for k in range(1, 11)}  # ceil(k total / 10)

    def __call__(self, done: int) -> None:
        if done in self.marks:
            print(
                f"  {self.title}: {done}/{self.total} ({time.monotonic() - self.start:.0f} s)",
                flush=True,
            )
