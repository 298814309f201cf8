"""Truncation of the prior box and the truncation record.

After round r, the mock observation's 1D marginal log-ratios are evaluated on the round's prior
bank; for each POI the new bound is the [min, max] of the bank values whose log-ratio exceeds
``max + ln(threshold)`` (threshold 1e-6, swyft's ``get_rect_bounds``). Round r+1 simulates in the
original box with each POI's entry replaced by its truncated bound; nuisance parameters keep their
original box.

The record (``truncation_record.json``) holds, per grid point and round, the box used, the box
produced, training figures and a posterior summary per POI: readable, small, and enough to plot the
history; the binned posteriors themselves are in ``train_output/posteriors/*.npz``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alpswyft.results import RunTree, SavedResult
from analysis_core.errors import ConfigError, PipelineError
from analysis_core.files import read_json, write_json

THRESHOLD = 1e-6
FORMAT = "alpswyft.truncation_record/1"


def rect_bounds(
    logratios: np.ndarray, values: np.ndarray, threshold: float = THRESHOLD
) -> np.ndarray:
    """Rectangular bounds from 1D log-ratios.

    Arguments:
        logratios: (N, n_poi) log-ratios of the prior-bank samples.
        values: (N, n_poi) the corresponding parameter values.
        threshold: the ratio to the largest one below which a sample is cut away.

    Returns:
        (n_poi, 2) [min, max] of the values whose log-ratio exceeds max + ln(threshold).
    """
    keep = logratios > logratios.max(axis=0) + np.log(threshold)
    empty = np.flatnonzero(~keep.any(axis=0))
    if len(empty):
        why = (
            "its log-ratios are NaN or inf: the network did not train (see its training log)"
            if not np.isfinite(logratios[:, empty]).all()
            else f"none lies within ln({threshold:g}) of the largest"
        )
        raise PipelineError(
            f"the truncation keeps no prior sample for the POI(s) at position(s) "
            f"{', '.join(map(str, empty))}: {why}. Train again with a lower learning_rate, "
            "more simulations or more epochs, or set n_truncations=0 to infer without truncating"
        )
    return np.array([[v[k].min(), v[k].max()] for v, k in zip(values.T, keep.T)])


def normalised_weights(logratios: np.ndarray) -> np.ndarray:
    """Posterior weights of prior samples, exp(logratio) normalised to sum to one per column."""
    w = np.exp(logratios - logratios.max(axis=0))
    return w / w.sum(axis=0)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, q) -> np.ndarray:
    order = np.argsort(values)
    cdf = np.cumsum(weights[order])
    cdf /= cdf[-1]
    return np.interp(q, cdf, values[order])


def summarise_1d(logratios: np.ndarray, values: np.ndarray, names: list[str]) -> dict:
    """Weighted mean, standard deviation and quantiles of each 1D marginal posterior."""
    weights = normalised_weights(logratios)
    summary = {}
    for name, v, w in zip(names, values.T, weights.T):
        mean = float(np.sum(w * v))
        q = weighted_quantiles(v, w, [0.025, 0.16, 0.5, 0.84, 0.975])
        summary[name] = {
            "mean": mean,
            "std": float(np.sqrt(np.sum(w * (v - mean) ** 2))),
            "quantiles": dict(zip(["2.5%", "16%", "50%", "84%", "97.5%"], map(float, q))),
            "effective_samples": float(1.0 / np.sum(w**2)),
        }
    return summary


def bounds_from_pairs(logratios_2d, values, pairs, n_poi: int) -> np.ndarray:
    """The truncated bounds (n_poi, 2) of a network with 2D marginals only: each POI keeps the
    union of its pairs' bounds (``pairs`` as POI positions (i, j))."""
    bounds = np.full((n_poi, 2), [np.inf, -np.inf])
    for k, (i, j) in enumerate(pairs):
        pair_bounds = rect_bounds(
            np.repeat(logratios_2d[:, k : k + 1], 2, axis=1), values[:, [i, j]]
        )
        for axis, b in zip((i, j), pair_bounds):
            bounds[axis] = [min(bounds[axis][0], b[0]), max(bounds[axis][1], b[1])]
    return bounds


def print_truncation(config, old, new, initial) -> None:
    """The POIs' boxes before (``old``) and after (``new``) a round, and against the prior box."""
    print("truncation (threshold 1e-6 on the 1D marginals):")
    for i in config.physics.POI_indices:
        p = config.table.free[i]
        width = lambda b, i=i: b[i][1] - b[i][0]  # noqa: E731
        print(
            f"  {p.name:>12s} [{old[i][0]:+.4g}, {old[i][1]:+.4g}] -> [{new[i][0]:+.4g}, {new[i][1]:+.4g}]"
            f"  ({100 * (1 - width(new) / width(old)):.1f}% smaller than this round's box,"
            f" {100 * (1 - width(new) / width(initial)):.1f}% smaller than the prior)"
        )


class TruncationRecord:
    """Boxes and summaries per grid point and round, stored as JSON."""

    def __init__(
        self, path: Path, initial_bounds: np.ndarray, free_names: list[str], poi_indices: list[int]
    ):
        self.path = Path(path)
        if self.path.exists():
            self.data = read_json(self.path)
        else:
            self.data = {
                "format": FORMAT,
                "threshold": THRESHOLD,
                "free_parameters": free_names,
                "POI_indices": poi_indices,
                "initial_bounds": np.asarray(initial_bounds).tolist(),
                "grid_points": {},
            }

    @classmethod
    def for_config(cls, path: Path, config) -> TruncationRecord:
        return cls(
            path, config.table.initial_bounds, config.table.free_names, config.physics.POI_indices
        )

    @classmethod
    def load(cls, path: Path) -> TruncationRecord:
        """An existing record file, as it is."""
        if not Path(path).is_file():
            raise FileNotFoundError(path)
        return cls(path, None, [], [])

    def check_compatible(self, config) -> None:
        """ConfigError (``use_old_truncations``) unless the record was made for the same free
        parameters, prior box and POIs as ``config``."""
        bounds = np.asarray(config.table.initial_bounds, dtype=float)
        recorded = np.asarray(self.data.get("initial_bounds", []), dtype=float)
        same = {
            "free_parameters": self.data.get("free_parameters") == config.table.free_names,
            "initial_bounds": recorded.shape == bounds.shape and np.allclose(recorded, bounds),
            "POI_indices": self.data.get("POI_indices") == config.physics.POI_indices,
        }
        here = {
            "free_parameters": config.table.free_names,
            "initial_bounds": bounds.tolist(),
            "POI_indices": config.physics.POI_indices,
        }
        differences = [
            f"{key} {self.data.get(key)} there, {here[key]} here"
            for key, ok in same.items()
            if not ok
        ]
        if differences:
            raise ConfigError(
                "use_old_truncations",
                str(self.path),
                "the record belongs to another model: " + "; ".join(differences),
            )

    def trial_of(self, grid_point: int, round_: int) -> int | None:
        """The trial that recorded the round (None if it is not recorded)."""
        rounds = self.rounds(grid_point)
        return rounds[round_].get("trial") if round_ < len(rounds) else None

    def rounds(self, grid_point: int) -> list[dict]:
        return self.data["grid_points"].get(str(grid_point), {}).get("rounds", [])

    def is_done(self, grid_point: int, round_: int) -> bool:
        rounds = self.rounds(grid_point)
        return round_ < len(rounds) and rounds[round_].get("status") == "done"

    def bounds(self, grid_point: int, round_: int) -> np.ndarray:
        """The box (n_free, 2) that round ``round_`` simulates in."""
        if round_ == 0:
            return np.array(self.data["initial_bounds"])
        rounds = self.rounds(grid_point)
        if not self.is_done(grid_point, round_ - 1):
            raise RuntimeError(f"round {round_ - 1} of grid point {grid_point} has not finished")
        return np.array(rounds[round_ - 1]["truncated_bounds"])

    def set_round(self, grid_point: int, round_: int, entry: dict, hyperparams: dict) -> None:
        point = self.data["grid_points"].setdefault(
            str(grid_point), {"hyperparams": hyperparams, "rounds": []}
        )
        rounds = point["rounds"]
        if round_ > len(rounds):
            raise RuntimeError(
                f"round {round_} of grid point {grid_point} recorded before round {len(rounds)}"
            )
        entry = {"round": round_, **entry}
        del rounds[round_:]  # later rounds were truncated from this round's result: no longer valid
        rounds.append(entry)
        self.save()

    def save(self) -> None:
        write_json(self.path, self.data)


def reused_record(config, tree) -> TruncationRecord | None:
    """The truncation record ``use_old_truncations`` asks for (1: the newest one in the run folder
    or its archive; a path: that file, or a run/trial folder holding one), checked against the
    configuration; None for 0 or when there is none yet."""
    reuse = config.training.reuse_truncations
    if reuse.off:
        return None
    if reuse.latest:
        candidates = [tree.record, *(trial / tree.record.name for trial in tree.archived_trials())]
        source = next((p for p in candidates if p.is_file()), None)
        if source is None:
            print("use_old_truncations=1: no earlier truncation record; starting a fresh one")
            return None
    else:
        source = reuse.path if reuse.path.is_file() else reuse.path / tree.record.name
    record = TruncationRecord.load(source)
    record.check_compatible(config)
    return record


def import_record(tree, record: TruncationRecord) -> None:
    """Start the trial's truncation record from ``record``, with the binned posteriors beside it."""
    source = record.path
    posteriors = source.parent / "train_output" / "posteriors"
    record.path = tree.record
    record.save()
    tree.posteriors.mkdir(parents=True, exist_ok=True)
    for path in sorted(posteriors.glob("*.npz")):
        shutil.copy2(path, tree.posteriors / path.name)
    done = {g: len(p["rounds"]) for g, p in record.data["grid_points"].items()}
    print(f"use_old_truncations: continuing from {source} (finished rounds per grid point: {done})")


@dataclass(frozen=True, eq=False)
class RoundResult(SavedResult):
    """The mock observation's binned posterior after one round
    (``train_output/posteriors/posterior_round_<r>_gridpoint_<g>.npz``), on the round's ``box``
    of the POIs (n_poi, 2), in table space, with their names and Obs. values (``truth``): the 1D
    marginals ``density_1d`` (n_poi, bins) on ``edges_1d`` (n_poi, bins + 1) where the network has
    them, and the 2D ones ``density_2d`` (n_pairs, bins, bins) of ``pairs`` (positions within
    POI_indices) where it has those (:func:`alpswyft.inference.binned_posterior`)."""

    KIND = "posterior"

    box: np.ndarray
    poi_names: tuple[str, ...]
    truth: np.ndarray
    density_1d: np.ndarray | None = None
    edges_1d: np.ndarray | None = None
    density_2d: np.ndarray | None = None
    pairs: np.ndarray | None = None

    @classmethod
    def path(cls, tree: RunTree, *where: int) -> Path:
        return tree.posterior(*where)

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {"box": self.box, "poi_names": np.array(self.poi_names), "truth": self.truth}
        for key in ("density_1d", "edges_1d", "density_2d", "pairs"):
            if getattr(self, key) is not None:
                arrays[key] = getattr(self, key)
        return arrays

    @classmethod
    def from_arrays(cls, arrays) -> RoundResult:
        return cls(
            box=arrays["box"],
            poi_names=tuple(str(n) for n in arrays["poi_names"]),
            truth=arrays["truth"],
            **{k: arrays.get(k) for k in ("density_1d", "edges_1d", "density_2d", "pairs")},
        )
