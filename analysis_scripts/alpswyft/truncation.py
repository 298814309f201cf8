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

from pathlib import Path

import numpy as np

from analysis_core.errors import ConfigError
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

    Returns:
        (n_poi, 2) [min, max] of the values whose log-ratio exceeds max + ln(threshold).
    """
    keep = logratios > logratios.max(axis=0) + np.log(threshold)
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
        return cls(path, config.table.initial_bounds, config.table.free_names, config.POI_indices)

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
            "POI_indices": self.data.get("POI_indices") == config.POI_indices,
        }
        here = {
            "free_parameters": config.table.free_names,
            "initial_bounds": bounds.tolist(),
            "POI_indices": config.POI_indices,
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
