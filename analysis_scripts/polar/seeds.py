"""The spread of a search over the seeds of its model (``train.seeds``): mean and standard
deviation over the seeds of each target's pull width, flagged rows and clusters, of the
intersections, and of the intervals per channel combination, as CSV and as a LaTeX table (the
original's tables over 10 seeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis_core.files import write_text
from polar.export import write_csv
from polar.intervals import combination_order

PER_TARGET = (
    "sigma",
    "flagged_positive",
    "flagged_negative",
    "clusters_positive",
    "clusters_negative",
)


def summary(intervals: list[dict]) -> list[dict]:
    """Rows (quantity, k, target or combination, mean, std, n_seeds) over the ``intervals.json``
    of each seed's search."""
    rows = []

    def add(quantity, k, what, values):
        values = np.asarray(values, float)
        rows.append(
            {
                "quantity": quantity,
                "k": k,
                "of": what,
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "n_seeds": len(values),
            }
        )

    for k in intervals[0]["thresholds"]:
        per_target = [run["thresholds"][k]["per_target"] for run in intervals]
        for target in per_target[0]:
            for quantity in PER_TARGET:
                add(
                    quantity,
                    k,
                    per_target[0][target].get("label", f"rate[{target}]"),
                    [p[target][quantity] for p in per_target],
                )
        for sign in ("positive", "negative"):
            add(
                f"intersections_{sign}",
                k,
                ">= min_channels",
                [run["thresholds"][k][f"n_{sign}"] for run in intervals],
            )
        combinations = sorted(
            {name for run in intervals for name in run["combination_counts"][k]},
            key=combination_order,
        )
        for name in combinations:
            for sign in ("positive", "negative"):
                add(
                    f"combination_{sign}",
                    k,
                    name,
                    [run["combination_counts"][k].get(name, {}).get(sign, 0) for run in intervals],
                )
    return rows


def write_summary(folder: Path, seeds: list[int], intervals: list[dict]) -> list[dict]:
    """``seed_summary.csv`` and ``seed_summary.tex`` in ``folder``; returns the rows."""
    rows = summary(intervals)
    write_csv(
        Path(folder) / "seed_summary.csv",
        [{**r, "mean": f"{r['mean']:.6g}", "std": f"{r['std']:.6g}"} for r in rows],
    )
    tex = [
        f"% mean and standard deviation over the seeds {', '.join(map(str, seeds))}",
        r"\begin{tabular}{llll}",
        r"\hline",
        r"quantity & $k$ & of & mean $\pm$ std \\",
        r"\hline",
    ]
    for r in rows:
        what = r["of"].replace("_", r"\_").replace("#", r"\#").replace(">=", r"$\geq$")
        tex.append(
            f"{r['quantity'].replace('_', ' ')} & {r['k']} & {what} & {r['mean']:.4g} $\\pm$ {r['std']:.2g} \\\\"
        )
    tex += [r"\hline", r"\end{tabular}", ""]
    write_text(Path(folder) / "seed_summary.tex", "\n".join(tex))
    print(
        f"seeds {', '.join(map(str, seeds))}: mean and spread in seed_summary.csv and seed_summary.tex"
    )
    return rows
