#!/usr/bin/env python
"""The README's MAGIC-like figures and ratio table, from a finished run of cluster_runs/magic_like.sh.

Usage: .venv/bin/python docs/make_magic_figures.py [RUN] (default:
cluster_runs/analysis_results/magic_like). Writes docs/magic_like*.png and prints the table.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from alpswyft import plots, report  # noqa: E402
from alpswyft.results import RunTree  # noqa: E402

DOCS = Path(__file__).resolve().parent
RESULTS = DOCS.parent / "cluster_runs" / "analysis_results"


def main(run_dir: Path) -> None:
    tree = RunTree(run_dir)
    plots.against_published(tree, label="MAGIC").savefig(DOCS / "magic_like.png", dpi=100, bbox_inches="tight")
    plots.mock_observation(tree).savefig(DOCS / "magic_like_states.png", dpi=80, bbox_inches="tight")
    print(report.published_comparison(tree, label="MAGIC"))
    print(f"figures written to {DOCS}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS / "magic_like")
