#!/usr/bin/env python
"""The measured error of the frequentist critical values: the calibration store's leave-one-out
coverage (each simulation tested with the critical value of the others) for the construction's
estimator (the k nearest, tricube weighted) and for equal weights, at each confidence level.

Usage: .venv/bin/python docs/compare_critical_values.py [RUN] (default: cluster_runs/analysis_results/alp_default).
Prints, per plane, level and estimator: the overall coverage, the smallest smoothed coverage on
the plane (the coverage map's kernel) and the share of the plane below nominal - 2 sigma, and
the coverage on the ridges where t's quantile is largest (the 10 % of the store with the largest
100-neighbour quantile), where a too-wide neighbourhood under-covers.
"""

import sys
from pathlib import Path

import numpy as np

from alpswyft import neyman
from alpswyft.results import RunTree

GRID = 25  # points per axis where the smoothed coverage is evaluated


def estimators(n: int, levels) -> dict[str, tuple[int, str]]:
    k = neyman.neighbour_count(n, levels)
    return {
        f"tricube, k = {k} (the construction)": (k, "tricube"),
        f"equal weights, k = {k}": (k, "uniform"),
        f"equal weights, k = {n // 20} (5 %)": (n // 20, "uniform"),
    }


def main(run_dir: Path) -> None:
    tree = RunTree(run_dir)
    data = np.load(tree.validation_data("limit_calibration", 0))
    levels = tuple(float(v) for v in np.load(tree.validation_data("limit_coverage", 0))["levels"])
    centres = (np.arange(GRID) + 0.5) / GRID
    points = np.stack(np.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2)
    for p, (truths, t) in enumerate(zip(data["truths_unit"], data["statistic"])):
        print(f"plane {p}: {len(t)} calibration simulations")
        probe = neyman.CriticalValues(truths, t, 100, "uniform")
        local = probe.quantile(probe.neighbours(truths, leave_out_nearest=True), min(levels))
        ridge = local >= np.quantile(local, 0.9)
        for level in levels:
            for name, (k, kernel) in estimators(len(t), levels).items():
                covered = neyman.CriticalValues(truths, t, k, kernel).leave_one_out_covered(level)
                smooth, sigma = neyman.smooth_coverage(truths, covered, points)
                below = np.mean(smooth < level - 2 * sigma)
                print(
                    f"  {level:g}  {name:36s} coverage {covered.mean():.3f}, smallest {smooth.min():.3f} "
                    f"+- {sigma[np.argmin(smooth)]:.3f}, {100 * below:.0f} % of the plane below nominal - 2 sigma, "
                    f"on the ridges {covered[ridge].mean():.3f} +- {np.sqrt(level * (1 - level) / ridge.sum()):.3f}"
                )


if __name__ == "__main__":
    main(
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parent.parent
        / "cluster_runs"
        / "analysis_results"
        / "alp_default"
    )
