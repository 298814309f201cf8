"""Reading a run script's variables."""

import subprocess

import pytest

from alpswyft.errors import PipelineError
from alpswyft.runscript import assigned_names, read_run_script
from conftest import RUN_SH


def test_assigned_names_in_order():
    text = 'set -a\n# a=comment\nrun_name=x\n  export model=toy_line\nhyperparams="--a (int) : 1 \\\n  --b (int) : 2"\nrun_name=y\n'
    assert assigned_names(text) == ["run_name", "model", "hyperparams"]


def test_values_come_from_bash(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text('set -a\nbase=/data\nIRF_file="$base/irf.fits"\nhyperparams="--x (int) : 1, \\\n   2"\n')
    env = subprocess.run(
        ["bash", "-c", f'source "{script}"; env -0'], capture_output=True, check=True
    ).stdout.decode()
    environ = dict(item.split("=", 1) for item in env.split("\0") if "=" in item)
    variables = read_run_script(script, environ)
    assert variables["IRF_file"] == "/data/irf.fits"
    assert variables["hyperparams"] == "--x (int) : 1,    2"


def test_not_exported_variables_are_reported(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("run_name=x\n")
    with pytest.raises(PipelineError, match="set -a"):
        read_run_script(script, {})


def test_shipped_run_script_names():
    names = assigned_names(RUN_SH.read_text())
    assert {"run_name", "model", "POI_indices", "hyperparams", "n_sim_train"} <= set(names)
    assert [n for n in names if n.startswith("param")] == [f"param{i}" for i in range(1, 19)]
