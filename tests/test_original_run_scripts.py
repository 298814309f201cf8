"""The real run scripts of the original's studies (../shared/data/original_run_scripts/, read in
place, never copied) configure unmodified, with overrides only for what cannot exist here; the
warnings name what was mapped or ignored."""

from __future__ import annotations

import json
import re

import pytest
from conftest import SHARED, notebook_errors

from alpswyft.runscript import evaluate_run_script
from analysis_core.errors import PipelineError

SCRIPTS = SHARED / "data" / "original_run_scripts"
NAMES = sorted(p.name for p in SCRIPTS.glob("*.sh")) if SCRIPTS.is_dir() else []

pytestmark = pytest.mark.requires_data(SCRIPTS.relative_to(SHARED))

#: What cannot exist on this machine: the original user's store of an earlier run.
HERE = {"grid_informed_power.sh": {"use_old_sims": "0"}}


def configure_original(script, tmp_path, monkeypatch, overrides: dict[str, str]):
    """The configuration stage as the orchestrator runs it on a script that exports nothing: its
    variables evaluated by bash, the overrides exported on top."""
    from alpswyft.stages.configure import configure

    for name, value in {**evaluate_run_script(script, tuple(overrides)), **overrides}.items():
        monkeypatch.setenv(name, value)
    return configure(script, tmp_path / "analysis_results", overrides=tuple(overrides))


@pytest.mark.parametrize("name", NAMES)
def test_every_original_script_configures(name, tmp_path, monkeypatch):
    script = SCRIPTS / name
    overrides = HERE.get(name, {})
    if name == "flare0_confident3_old.sh":  # n_sim_train=10_000, 10_00, ... unquoted: unset in bash
        with pytest.raises(
            PipelineError,
            match="line 155, 'n_sim_train=10_000, 10_00, 100_000, 1_000_000', is not "
            "one assignment.*Quote the value",
        ):
            evaluate_run_script(script)
        overrides = {"n_sim_train": "10_000, 10_00, 100_000, 1_000_000"}
    tree = configure_original(script, tmp_path, monkeypatch, overrides)
    provenance = json.loads(tree.config.read_text())
    warnings = "\n".join(provenance["warnings"])
    assert "conda_env is obsolete and ignored" in warnings
    assert (
        "IRF_file: /IRFs/CTA/Prod5-North" in warnings
        and "the shipped copy of the same file is used" in warnings
    )
    assert (
        "is the original pipeline's network_power.py; this pipeline's equivalent head 'power' is used"
        in warnings
    )
    assert provenance["overrides"] == overrides
    if "agnostic" in name:  # the original's main prior family: zero bounds and overlapping kL, kH
        assert "restricted to kL < kH, drawn by rejection" in warnings
        assert "the range starts at 0, an open bound" in warnings
    assert tree.true_obs.is_file() and tree.setup.is_file()


def test_a_script_with_one_poi_and_a_leftover_prediction_pairs_configures(tmp_path, monkeypatch):
    """A user's script of the same kind: flare0_agnostic.sh with a single POI, its template's
    prediction_pairs="(0,1)" left in place, which the original ran (with one POI it drew no pair)."""
    text = (SCRIPTS / "flare0_agnostic.sh").read_text()
    text, n = re.subn(r'^POI_indices="[^"]*"', 'POI_indices="  2  "', text, flags=re.MULTILINE)
    assert n == 1 and re.search(r'^prediction_pairs="\s*\(0,1\)', text, flags=re.MULTILINE)
    script = tmp_path / "one_poi.sh"
    script.write_text(text)
    tree = configure_original(script, tmp_path, monkeypatch, {})
    provenance = json.loads(tree.config.read_text())
    assert provenance["variables"]["prediction_pairs"] == []
    assert any("unused with one POI" in w for w in provenance["warnings"])


def test_a_store_of_another_machine_is_named(tmp_path, monkeypatch):
    with pytest.raises(
        PipelineError, match="use_old_sims = '/home/gertwk/.*': no such store on this machine"
    ):
        configure_original(SCRIPTS / "grid_informed_power.sh", tmp_path, monkeypatch, {})


#: A reduced size for the original's production scripts, given as command-line overrides.
REDUCED = {
    "simulate": "1",
    "train": "1",  # the scripts were committed set to re-report their last run
    "on_cluster": "local",
    "n_jobs_sim": "2",
    "n_truncations": "1",
    "n_sim_train": "160",
    "n_sim_coverage": "30",
    "n_sim_explim": "6",
    "n_prior_samples": "2000",
    "nbins_etrue": "90",
    "max_epochs": "3",
    "DRP_coverage_parameters": "500, 30, 0, 0, 1",
    "POI_indices": "0,1",
    "limit_method": "hpd",
    "hyperparams": "--learning_rate (float) : 5e-3 --stopping_patience (int) : 2 --blocks (int) : 1 "
    "--features (int) : 16 --dropout (float) : 0.1 --data_features (int) : 8 --power_features (int) : 2",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["flare0_agnostic.sh"])
def test_an_original_script_runs_end_to_end_at_reduced_size(name, tmp_path):
    """Through the real orchestrator, the script unmodified, reduced by overrides: the agnostic
    prior (its kL < kH restriction active, zero lower bounds) with the power network. (The
    informed scripts differ only in their truncated-normal priors, which every script's
    configuration above draws, and the priors' tests sample.)"""
    import os
    import subprocess

    import numpy as np
    from conftest import ORCHESTRATOR

    overrides = {**REDUCED, "results_parent_dir": str(tmp_path)}
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    result = subprocess.run(
        [str(ORCHESTRATOR), str(SCRIPTS / name), *(f"{k}={v}" for k, v in overrides.items())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    provenance = json.loads((run_dir / "config.json").read_text())
    config = provenance["variables"]
    assert not notebook_errors(run_dir / "analysis_results.ipynb")
    summary = json.loads((run_dir / "val_output" / "validation_gridpoint_0.json").read_text())
    assert summary["round"] == 1 and summary["coverage"]["n_coverage"] == 30
    free = [p for p in provenance["parameters"] if p["bounds"] is not None]
    names = [p["name"] for p in free]
    kl, kh = names.index("Max_turb"), names.index("min_turb")
    import zarr

    # every store the validation reads (coverage simulations, prior bank) holds the restricted prior
    for store in (
        "store_round_1_gridpoint_0",
        "store_prior_round_1_gridpoint_0",
        "store_explim_round_1_gridpoint_0",
    ):
        params = zarr.open_group(str(run_dir / "sim_output" / "store" / store), mode="r")[
            "data/params"
        ][:]
        assert np.all(params[:, kl] < params[:, kh]), store
    log = (run_dir / "output.log").read_text()
    if name == "flare0_agnostic.sh":
        assert len(free) == 17 and "restricted to kL < kH, drawn by rejection" in log  # all but E0
        print(
            f"\n{name}: {len(free)} free parameters; "
            + re.search(r"\(([\d.]+ % of the draws in the prior box are rejected)\)", log)[1]
        )
    assert config["n_sim_train"] == [160] and provenance["overrides"]["n_sim_train"] == "160"
