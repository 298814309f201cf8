"""Reading a run script's variables."""

import subprocess

import pytest
from conftest import RUN_SH

from alpswyft.runscript import assigned_names, read_run_script
from analysis_core.errors import PipelineError


def test_assigned_names_in_order():
    text = (
        "set -a\n# a=comment\nrun_name=x\n  export model=toy_line\n"
        'hyperparams="--a (int) : 1 \\\n  --b (int) : 2"\nrun_name=y\n'
    )
    assert assigned_names(text) == ["run_name", "model", "hyperparams"]


def test_values_come_from_bash(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text(
        'set -a\nbase=/data\nIRF_file="$base/irf.fits"\nhyperparams="--x (int) : 1, \\\n   2"\n'
    )
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


ORIGINAL_EXECUTION = """
# Running analysis
$analysis_scripts_location/run_swyft_analysis_truncation.sh \\
"\\
config_file=$0 ;\\
run_name=$run_name  ;\\
model_params=$param1+$param2+\\
$param3 ;\\
n_sim_train=$n_sim_train=int ;\\
"

#running_states=$running_states ;\\
"""


def test_the_originals_execution_block_is_not_part_of_the_variables(tmp_path):
    """The original's scripts end in a call of its orchestrator with a quoted argument string over
    many lines of name=value pairs: none of them is a variable of the run."""
    from alpswyft.runscript import evaluate_run_script

    script = tmp_path / "original.sh"
    script.write_text(
        'run_name="study"\nn_sim_train=10_000\nparam1=" [0, 1] | 0 | 0 | 0 | U | a | 1 "\n'
        + ORIGINAL_EXECUTION
        + "after=1\n"
    )
    variables = evaluate_run_script(script)
    assert variables == {
        "run_name": "study",
        "n_sim_train": "10_000",
        "param1": " [0, 1] | 0 | 0 | 0 | U | a | 1 ",
        "after": "1",
    }


def test_an_unquoted_list_is_named_with_what_to_write(tmp_path):
    from alpswyft.runscript import evaluate_run_script

    script = tmp_path / "original.sh"
    script.write_text("run_name=x\nn_sim_train=10_000, 10_00, 100_000    # per round\n")
    with pytest.raises(
        PipelineError,
        match="line 2, 'n_sim_train=10_000, 10_00, 100_000', is not one assignment: "
        "bash takes '10_00,' as a command.*n_sim_train=\"10_000, 10_00, 100_000\"",
    ):
        evaluate_run_script(script)
