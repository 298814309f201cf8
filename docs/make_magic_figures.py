#!/usr/bin/env python
"""The README's figures of real and MAGIC-like observations, from two finished runs:
cluster_runs/magic_like.sh, and run.sh on the MAGIC run (README, "Real observations").

Usage: .venv/bin/python docs/make_magic_figures.py [MAGIC_LIKE_RUN] [OBSERVATION_RUN] (defaults:
cluster_runs/analysis_results/magic_like and .../magic_run). Writes docs/magic_like*.png and
docs/observed_spectrum.png, and prints the ratio table.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from alpswyft import plots, report  # noqa: E402
from alpswyft.results import RunTree  # noqa: E402

DOCS = Path(__file__).resolve().parent
RESULTS = DOCS.parent / "cluster_runs" / "analysis_results"


def main(run_dir: Path, observation_run: Path) -> None:
    plots.observed_spectrum(RunTree(observation_run)).savefig(DOCS / "observed_spectrum.png", dpi=90, bbox_inches="tight")
    tree = RunTree(run_dir)
    plots.against_published(tree, label="MAGIC").savefig(DOCS / "magic_like.png", dpi=100, bbox_inches="tight")
    plots.mock_observation(tree).savefig(DOCS / "magic_like_states.png", dpi=80, bbox_inches="tight")
    print(report.published_comparison(tree, label="MAGIC"))
    print(f"figures written to {DOCS}")


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:3]]
    defaults = [RESULTS / "magic_like", RESULTS / "magic_run"]
    main(*(paths + defaults[len(paths):]))
