"""Executes the tutorial notebook into ``docs/tutorial.ipynb``, the copy the documentation site
shows with its outputs. Its last section reads the store of an ALP run, so a small one (the
shipped ``cluster_runs/run.sh``, simulated only) is made in a temporary folder first.

Usage: .venv/bin/python docs/execute_tutorial.py      (a few minutes on 2 cores)
"""

import subprocess
import tempfile
from pathlib import Path

import papermill

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "analysis_scripts" / "notebooks" / "tutorial.ipynb"
#: the shipped run, simulated only and small: the tutorial's last section draws its store
SMALL_RUN = {
    "run_name": "tutorial_store",
    "train": "0",
    "n_truncations": "0",
    "n_sim_train": "120",
    "n_prior_samples": "200",
    "n_jobs_sim": "1",
    "n_sim_coverage": "0",
    "n_sim_explim": "0",
    "n_sim_limit_coverage": "0",
    "n_sim_calibration": "0",
    "n_sim_null": "0",
    "limit_method": "hpd",
    "fixed_nuisance_limits": "0",
    "extra_observations": "",
}

with tempfile.TemporaryDirectory() as tmp:
    overrides = [
        f"{name}={value}" for name, value in {**SMALL_RUN, "results_parent_dir": tmp}.items()
    ]
    subprocess.run([str(REPO / "cluster_runs" / "run.sh"), *overrides], check=True)
    papermill.execute_notebook(
        str(TUTORIAL),
        str(REPO / "docs" / "tutorial.ipynb"),
        parameters={"run_dir": str(Path(tmp) / SMALL_RUN["run_name"])},
        cwd=str(TUTORIAL.parent),
        kernel_name="python3",
    )
print("docs/tutorial.ipynb written")
