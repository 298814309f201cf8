"""The tutorial notebook executes in place (papermill) on the shipped IRF, every cell runs and its
figures are drawn, the last section on the store of an ALP run (simulated only, to be quick)."""

from __future__ import annotations

import json

import pytest
from alp_config import alp_variables
from conftest import REPO, configure_in_process

TUTORIAL = REPO / "analysis_scripts" / "notebooks" / "tutorial.ipynb"

pytestmark = pytest.mark.slow


def test_the_tutorial_runs_and_draws_its_figures(tmp_path, monkeypatch):
    import papermill

    from alpswyft.stages.rounds import run_rounds

    tree = configure_in_process(
        tmp_path,
        monkeypatch,
        alp_variables(
            train="0", n_truncations="0", n_sim_train="120", n_prior_samples="200", n_jobs_sim="1"
        ),
    )
    run_rounds(tree)
    output = tmp_path / "tutorial.ipynb"
    papermill.execute_notebook(
        str(TUTORIAL),
        str(output),
        parameters={"run_dir": str(tree.root), "n_study": 20},
        cwd=str(TUTORIAL.parent),
        kernel_name="python3",
        progress_bar=False,
    )
    cells = [c for c in json.loads(output.read_text())["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in cells)
    outputs = [o for c in cells for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 9
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert "100 training spectra" in text and "20 spectra in" in text
    # the notebook in the repository carries no outputs: the HTML rendering holds them
    assert not [
        o
        for c in json.loads(TUTORIAL.read_text())["cells"]
        if c["cell_type"] == "code"
        for o in c["outputs"]
    ]
