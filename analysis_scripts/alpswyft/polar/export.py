"""Predictions, intersections and clusters to one ROOT file (uproot, as the original) and to CSV.

ROOT trees hold numbers only: the part of the split is coded 0 train, 1 val, 2 test, 3 none; the channels
of an intersection are a bit mask (bit c set: channel c involved); the name of a matched event is in
the CSV.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

PARTS = ("train", "val", "test", "none")


def _columns(rows: list[dict], names: list[str]) -> dict[str, np.ndarray]:
    return {name: np.array([row[name] for row in rows], dtype=np.float64) for name in names}


def write(path: Path, predictions: dict, intervals: dict) -> None:
    path = Path(path)
    part = np.select([predictions["part"] == name for name in PARTS], np.arange(len(PARTS)), -1).astype(np.int32)
    trees = {
        "predictions": {
            "unix_time": predictions["unix_time"], "rate": predictions["rate"].astype(np.float32),
            "rate_err": predictions["rate_err"].astype(np.float32), "rate_pred": predictions["predicted"].astype(np.float32),
            "part": part, "grb_masked": predictions["grb_masked"].astype(np.int32),
        },
        "intersections": {
            **_columns(intervals["intersections"], ["sign", "k", "t_start", "t_stop", "n_channels", "peak"]),
            "channel_mask": np.array([sum(1 << int(c) for c in row["channels"].split()) for row in intervals["intersections"]],
                                     dtype=np.int64),
        },
        "clusters": _columns(intervals["clusters"], ["channel", "sign", "k", "t_start", "t_stop", "n_bins", "length_s", "integral",
                                                    "significance", "peak"]),
    }
    write_trees(path, trees)

    _write_csv(path.with_name("intersections.csv"), intervals["intersections"])
    _write_csv(path.with_name("clusters.csv"), intervals["clusters"])
    targets = [int(t) for t in predictions["targets"]]
    header = ["unix_time", "part"] + [f"{kind}_{t}" for kind in ("rate", "rate_err", "rate_pred") for t in targets]
    table = np.column_stack([predictions["unix_time"], part, predictions["rate"], predictions["rate_err"], predictions["predicted"]])
    np.savetxt(path.with_name("predictions.csv"), table, delimiter=",", header=",".join(header), comments="", fmt="%.6f")


def write_trees(path: Path, trees: dict[str, dict[str, np.ndarray]]) -> None:
    """TTrees (not RNTuples, which uproot writes by default) of fixed-size branches, written to a
    temporary name and renamed."""
    import uproot

    partial = Path(path).with_suffix(".root.partial")
    with uproot.recreate(partial) as f:
        for name, branches in trees.items():
            tree = f.mktree(name, {k: np.dtype((v.dtype, v.shape[1:])) for k, v in branches.items()})
            if len(next(iter(branches.values()))):
                tree.extend(branches)
    partial.replace(path)


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        path.write_text("")
        return
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
