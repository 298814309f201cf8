#!/usr/bin/env python
"""The README's figures of the frequentist limits, from the shipped default's run folder: the
expected limits (Neyman, with CLs and HPD beside it) and the coverage maps of the three methods.

Usage: .venv/bin/python docs/make_limit_figures.py [RUN] (default: cluster_runs/analysis_results/alp_default).
Writes docs/expected_limits.png, docs/limit_coverage.png and, where the run has classical limits,
docs/classical_comparison.png (with their table).
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from alpswyft import plots, report  # noqa: E402
from alpswyft.results import RunTree  # noqa: E402

DOCS = Path(__file__).resolve().parent


def main(run_dir: Path) -> None:
    tree = RunTree(run_dir)
    plots.expected_limits(tree).savefig(DOCS / "expected_limits.png", dpi=80, bbox_inches="tight")
    plots.limit_coverage(tree).savefig(DOCS / "limit_coverage.png", dpi=70, bbox_inches="tight")
    classical = plots.classical_comparison(tree)
    if (
        classical is not None
    ):  # with classical_limits=1, or analysis_scripts/classical_limits.py run on it
        classical.savefig(DOCS / "classical_comparison.png", dpi=85, bbox_inches="tight")
        print(report.classical_comparison(tree))
    print(f"figures written to {DOCS}")


if __name__ == "__main__":
    main(
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else DOCS.parent / "cluster_runs" / "analysis_results" / "alp_default"
    )
