"""The real run scripts of the original's studies (../shared/data/original_run_scripts/, read in
place, never copied) configure unmodified, with overrides only for what cannot exist here; the
warnings name what was mapped or ignored."""

from __future__ import annotations

import json

import pytest

from alpswyft.errors import PipelineError
from alpswyft.runscript import evaluate_run_script
from conftest import SHARED

SCRIPTS = SHARED / "data" / "original_run_scripts"
NAMES = sorted(p.name for p in SCRIPTS.glob("*.sh")) if SCRIPTS.is_dir() else []

pytestmark = pytest.mark.skipif(not NAMES, reason="../shared/data/original_run_scripts is not present")

#: What cannot exist on this machine: the original user's store of an earlier run.
HERE = {"grid_informed_power.sh": {"use_old_sims": "0"}}


def configure_original(script, tmp_path, monkeypatch, overrides: dict[str, str]):
    """The configuration stage as the orchestrator runs it on a script that exports nothing: its
    variables evaluated by bash, the overrides exported on top."""
    from alpswyft.pipeline import configure

    for name, value in {**evaluate_run_script(script, tuple(overrides)), **overrides}.items():
        monkeypatch.setenv(name, value)
    return configure(script, tmp_path / "analysis_results", overrides=tuple(overrides))


@pytest.mark.parametrize("name", NAMES)
def test_every_original_script_configures(name, tmp_path, monkeypatch):
    script = SCRIPTS / name
    overrides = HERE.get(name, {})
    if name == "flare0_confident3_old.sh":  # n_sim_train=10_000, 10_00, ... unquoted: unset in bash
        with pytest.raises(PipelineError, match="line 155, 'n_sim_train=10_000, 10_00, 100_000, 1_000_000', is not "
                           "one assignment.*Quote the value"):
            evaluate_run_script(script)
        overrides = {"n_sim_train": "10_000, 10_00, 100_000, 1_000_000"}
    tree = configure_original(script, tmp_path, monkeypatch, overrides)
    provenance = json.loads(tree.config.read_text())
    warnings = "\n".join(provenance["warnings"])
    assert "conda_env is obsolete and ignored" in warnings
    assert "IRF_file: /IRFs/CTA/Prod5-North" in warnings and "the shipped copy of the same file is used" in warnings
    assert "is the original pipeline's network_power.py; this pipeline's equivalent head 'power' is used" in warnings
    assert provenance["overrides"] == overrides
    if "agnostic" in name:  # the original's main prior family: zero bounds and overlapping kL, kH
        assert "restricted to kL < kH, drawn by rejection" in warnings
        assert "the range starts at 0, an open bound" in warnings
    assert tree.true_obs.is_file() and tree.setup.is_file()


def test_a_store_of_another_machine_is_named(tmp_path, monkeypatch):
    with pytest.raises(PipelineError, match="use_old_sims = '/home/gertwk/.*': no such store on this machine"):
        configure_original(SCRIPTS / "grid_informed_power.sh", tmp_path, monkeypatch, {})
