#!/usr/bin/env python
"""The README's workbench figures, from two finished runs of the default (``sim_seed`` 0 and 1).

Usage: .venv/bin/python docs/make_figures.py [RUN_SEED0] [RUN_SEED1]
(defaults: cluster_runs/analysis_results/alp_default and .../alp_default_seed1, e.g. made with
``./cluster_runs/run.sh run_name=alp_default_seed1 sim_seed=1``). Writes docs/*.png.
"""

import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import alpswyft  # noqa: E402

DOCS = Path(__file__).resolve().parent
RESULTS = DOCS.parent / "cluster_runs" / "analysis_results"


def main(path_a: Path, path_b: Path) -> None:
    run = alpswyft.open_run(path_a)
    post = run.infer(run.sim.observe(m=10, g=3.2, seed=1))  # m in neV, g in 1e-11 /GeV: an ALP
    post.plot_2d(pairs=[("m", "g")]).savefig(
        DOCS / "workbench_infer.png", dpi=110, bbox_inches="tight"
    )
    shutil.copy(
        run.path / "val_output" / "extra_observations_gridpoint_0.png",
        DOCS / "extra_observations.png",
    )
    run.plot_expected_limits((0.68, 0.95, 0.9973)).savefig(
        DOCS / "credibility_levels.png", dpi=110, bbox_inches="tight"
    )
    comparison = alpswyft.compare_runs(run, alpswyft.open_run(path_b))
    comparison.plot(labels=("sim_seed 0", "sim_seed 1")).savefig(
        DOCS / "compare_runs.png", dpi=110, bbox_inches="tight"
    )
    print(f"figures written to {DOCS}")


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:3]]
    defaults = [RESULTS / "alp_default", RESULTS / "alp_default_seed1"]
    main(*(paths + defaults[len(paths) :]))
