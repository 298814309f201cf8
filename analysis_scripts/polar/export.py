"""Predictions, intersections and clusters to ROOT files (uproot, as the original) and to CSV.

- ``polar_results.root``: trees ``predictions``, ``intersections``, ``clusters`` (this pipeline's);
- ``pred_nf1rate.root`` and ``cluster_inter_nf1rate.root``: the original's products in its layout,
  which the collaboration's ROOT macros read: the tree ``pred_nf1rate`` (``unix_time``, and
  ``pred_rate`` in float32 with one entry per target) over every row, and the trees
  ``cluster_inter_nf1rate`` (excesses) and ``negative_cluster_inter_nf1rate`` (deficits) at the
  highest threshold of the search, of **2 entries**: entry 0 the interval starts, entry 1 their
  ends (unix time, s), as a fixed-size ``double[n]`` branch per combination found. A combination is
  named by the **positions of its targets** in ``data.targets`` (``2_3`` for the third and fourth
  target: rate[5] and rate[6] in the original's configuration), and ``#_inter_more_i`` holds the
  intervals seen in more than i targets (a combination or level without intervals has no branch,
  as ROOT has no ``double[0]``; a sign without any has no tree);
- ``intersection_counts.csv`` and ``.tex``: the number of intervals per combination and sign.

ROOT trees hold numbers only: the part of the split is coded 0 train, 1 val, 2 test, 3 none; a cluster's
target is its ``channel`` (-1 for a target that is an expression) and its position ``target`` in
``data.targets``; the targets of an intersection are bit masks (``channel_mask``: bit c for channel c;
``target_mask``: bit j for the j-th target); the name of a matched event is in the CSV.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from analysis_core.files import write_text
from polar.data import target_names
from polar.intervals import more_than

PARTS = ("train", "val", "test", "none")


def _columns(rows: list[dict], names: list[str]) -> dict[str, np.ndarray]:
    return {name: np.array([row[name] for row in rows], dtype=np.float64) for name in names}


def write(path: Path, predictions: dict, intervals: dict) -> None:
    path = Path(path)
    names = target_names(predictions)
    part = np.select(
        [predictions["part"] == name for name in PARTS], np.arange(len(PARTS)), -1
    ).astype(np.int32)
    trees = {
        "predictions": {
            "unix_time": predictions["unix_time"],
            "rate": predictions["rate"].astype(np.float32),
            "rate_err": predictions["rate_err"].astype(np.float32),
            "rate_pred": predictions["predicted"].astype(np.float32),
            "part": part,
            "grb_masked": predictions["grb_masked"].astype(np.int32),
        },
        "intersections": {
            **_columns(
                intervals["intersections"], ["sign", "k", "t_start", "t_stop", "n_channels", "peak"]
            ),
            **_masks([row["channels"].split() for row in intervals["intersections"]], names),
        },
        "clusters": {
            "channel": np.array(
                [_channel(row["channel"]) for row in intervals["clusters"]], dtype=np.int32
            ),
            "target": np.array(
                [names.index(row["channel"]) for row in intervals["clusters"]], dtype=np.int32
            ),
            **_columns(
                intervals["clusters"],
                [
                    "sign",
                    "k",
                    "t_start",
                    "t_stop",
                    "n_bins",
                    "length_s",
                    "integral",
                    "significance",
                    "peak",
                ],
            ),
        },
    }
    write_trees(path, trees)

    write_original(path.parent, predictions, intervals)
    write_counts(path.parent, intervals["combination_counts"])
    write_csv(path.with_name("intersections.csv"), intervals["intersections"])
    write_csv(path.with_name("clusters.csv"), intervals["clusters"])
    header = ["unix_time", "part"] + [
        f"{kind}_{t}" for kind in ("rate", "rate_err", "rate_pred") for t in names
    ]
    table = np.column_stack(
        [
            predictions["unix_time"],
            part,
            predictions["rate"],
            predictions["rate_err"],
            predictions["predicted"],
        ]
    )
    np.savetxt(
        path.with_name("predictions.csv"),
        table,
        delimiter=",",
        header=",".join(header),
        comments="",
        fmt="%.6f",
    )


def _channel(name: str) -> int:
    """The channel number of a target's name; -1 for an expression target."""
    return int(name) if name.isdigit() else -1


def _masks(involved: list[list[str]], names: list[str]) -> dict[str, np.ndarray]:
    """Bit masks of the targets involved in each intersection: by channel number (bit c:
    channel c; expression targets have none) and by position in the configuration (bit j)."""
    return {
        "channel_mask": np.array(
            [sum(1 << _channel(n) for n in row if n.isdigit()) for row in involved], dtype=np.int64
        ),
        "target_mask": np.array(
            [sum(1 << names.index(n) for n in row) for row in involved], dtype=np.int64
        ),
    }


def write_original(folder: Path, predictions: dict, intervals: dict) -> None:
    """``pred_nf1rate.root`` and ``cluster_inter_nf1rate.root`` (see the module docstring)."""
    write_trees(
        folder / "pred_nf1rate.root",
        {
            "pred_nf1rate": {
                "unix_time": predictions["unix_time"],
                "pred_rate": predictions["predicted"].astype(np.float32),
            }
        },
    )
    k = max(float(key) for key in intervals["combination_counts"])
    levels = [more_than(i) for i in range(predictions["predicted"].shape[1])]
    trees = {}
    for tree, sign in (("cluster_inter_nf1rate", 1), ("negative_cluster_inter_nf1rate", -1)):
        chosen = sorted(
            (c for c in intervals["combinations"] if c["k"] == k and c["sign"] == sign),
            key=lambda c: c["t_start"],
        )
        found = list(dict.fromkeys(c["positions"] for c in chosen if c["positions"] not in levels))
        found += [level for level in levels if any(c["positions"] == level for c in chosen)]
        trees[tree] = {
            name: np.array(
                [
                    [c["t_start"] for c in chosen if c["positions"] == name],
                    [c["t_stop"] for c in chosen if c["positions"] == name],
                ],
                dtype=np.float64,
            ).reshape(2, -1)
            for name in found  # exact combinations by first occurrence, then the levels
        }
    empty = [tree for tree, branches in trees.items() if not branches]
    if empty:  # ROOT has no tree without branches
        print(f"export: no intervals at {k:g} sigma for {', '.join(empty)}: the tree is left out")
    write_trees(folder / "cluster_inter_nf1rate.root", {t: b for t, b in trees.items() if b})


def write_counts(folder: Path, counts: dict[str, dict[str, dict[str, int]]]) -> None:
    """The intervals per combination and sign at each threshold, as CSV and as a LaTeX table."""
    rows = [
        {"k": k, "combination": name, **per_sign}
        for k, table in counts.items()
        for name, per_sign in table.items()
    ]
    write_csv(folder / "intersection_counts.csv", rows)
    lines = []
    for k, table in counts.items():
        lines += [
            f"% intervals per channel combination at {k} sigma",
            r"\begin{tabular}{lrr}",
            r"\hline",
            r"combination & positive & negative \\",
            r"\hline",
        ]
        for name, per_sign in table.items():
            label = (
                f"more than {name.rsplit('_', 1)[1]}"
                if name.startswith("#")
                else name.replace("_", r"\_")
            )
            lines.append(f"{label} & {per_sign['positive']} & {per_sign['negative']} \\\\")
        lines += [r"\hline", r"\end{tabular}", ""]
    write_text(folder / "intersection_counts.tex", "\n".join(lines))


def write_trees(path: Path, trees: dict[str, dict[str, np.ndarray]]) -> None:
    """TTrees (not RNTuples, which uproot writes by default) of fixed-size branches, written to a
    temporary name and renamed."""
    import uproot

    partial = Path(path).with_suffix(".root.partial")
    with uproot.recreate(partial) as f:
        for name, branches in trees.items():
            tree = f.mktree(name, {k: _branch_type(v) for k, v in branches.items()})
            if branches and len(next(iter(branches.values()))):
                tree.extend(branches)
    partial.replace(path)


def _branch_type(values: np.ndarray) -> np.dtype:
    """uproot's branch type: a numpy dtype with the per-entry shape (``double[n]`` for (entries, n))."""
    return np.dtype((values.dtype, values.shape[1:]))


def write_csv(path: Path, rows: list[dict]) -> None:
    """``rows`` (dicts with the same keys) as CSV with a header, written atomically; an empty file
    for no rows."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_text(path, buffer.getvalue())
