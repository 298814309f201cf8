"""The back-end meeting the scheduler's failures on the real test cluster: a node that fails under
SLURM's own requeue, a job preempted by one of higher priority, a task out of memory. (A node
failing without requeue: ``tests/stages/test_simulate_on_slurm.py``.) After ``test_slurm.py``,
whose time-limit task must not see the node go down."""

from __future__ import annotations

import re
import subprocess

import pytest
from slurm_cluster import Fault, fail_the_node

from analysis_core import slurm
from analysis_core.errors import PipelineError

pytestmark = pytest.mark.slow


def resources(name, **extra):
    return slurm.Resources(job_name=name, time="00-00:05:00", mem_per_cpu_gb=1, **extra)


def sleeper(folder, name: str = "") -> str:
    """A command that sleeps on its first run and finishes on the next."""
    marker, done = folder / f"first_attempt{name}", folder / f"done{name}"
    return f"if [ ! -e {marker} ]; then touch {marker}; sleep 300; fi; touch {done}"


def test_a_node_failure_with_slurms_own_requeue_is_waited_for(slurm_cluster, tmp_path, capsys):
    """SLURM's default (JobRequeue) puts the tasks of a failed node back in the queue: the back-end
    waits for them and submits nothing more."""
    thread = Fault("requeued", fail_the_node(slurm_cluster), tmp_path / "first_attempt1")
    slurm.run_tasks(
        [sleeper(tmp_path, "0"), sleeper(tmp_path, "1")],
        lambda i: (tmp_path / f"done{i}").exists(),
        resources("requeued"),
        tmp_path / "jobs",
        poll=1,
    )
    thread.join()
    assert (tmp_path / "done0").exists() and (tmp_path / "done1").exists()
    assert not (tmp_path / "jobs" / "requeued_attempt2.sh").exists()
    assert capsys.readouterr().out.count("submitted SLURM job") == 1


def test_a_preempted_task_is_resubmitted(slurm_cluster, tmp_path, capsys):
    """A job of the higher-priority partition takes the whole node: the running task ends PREEMPTED
    (PreemptMode=CANCEL) and is resubmitted."""

    def preempt():
        subprocess.run(
            ["sbatch", "--partition=urgent", "--exclusive", "--mem=100M", "--output=/dev/null"]
            + ["--job-name=urgent", "--wrap", "sleep 2"],
            check=True,
            capture_output=True,
        )

    thread = Fault("preemptible", preempt, tmp_path / "first_attempt0")
    slurm.run_tasks(
        [sleeper(tmp_path, "0")],
        lambda i: (tmp_path / "done0").exists(),
        resources("preemptible"),
        tmp_path / "jobs",
        poll=1,
    )
    thread.join()
    assert "task 0: PREEMPTED (preempted by a job of higher priority)" in capsys.readouterr().out
    assert (tmp_path / "done0").exists()
    assert (tmp_path / "jobs" / "preemptible_attempt2.sh").exists()


def test_a_task_out_of_memory_stops_at_once_naming_the_setting(slurm_cluster, tmp_path):
    """A task over its memory (1.5 GB of 1 GB) stops the run at once naming the run-script variable
    and the memory the task reached (cgroup: its peak; SLURM's sampling: the size it killed at); it
    is not resubmitted, and the task that finished is kept."""
    hungry = 'python3 -c "import time; b = bytearray(1536 * 2**20); time.sleep(3)"'
    with pytest.raises(PipelineError) as error:
        slurm.run_tasks(
            [f"touch {tmp_path}/done0", hungry],
            lambda i: (tmp_path / f"done{i}").exists(),
            resources("hungry", memory_setting="max_memory_sim"),
            tmp_path / "jobs",
            poll=1,
        )
    message = str(error.value)
    assert re.search(
        r"1 SLURM task\(s\) of hungry ran out of memory, its limit being 1 GB \(max_memory_sim = 1 GB "
        r"per CPU × 1 CPU\): task 1 reached (0\.9\d|1\.\d\d) GB\. Raise max_memory_sim in the run "
        r"script",
        message,
    ), (slurm_cluster.memory_enforcement, message)
    assert "not resubmitted" in message and (tmp_path / "done0").exists()
    assert not (tmp_path / "jobs" / "hungry_attempt2.sh").exists()
