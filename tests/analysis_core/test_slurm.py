"""The SLURM back-end against a real one-node cluster (slurmctld, slurmd, munge)."""

import subprocess
import threading
import time

import pytest

from analysis_core import slurm
from analysis_core.errors import PipelineError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def timed_out_task(slurm_cluster, tmp_path_factory):
    """A task past its one-second time limit, started before the module's first test: SLURM ends it
    only at its periodic time-limit check (a minute or more), so the other tests run meanwhile.
    The back-end, in a process of its own, sees TIMEOUT and resubmits; the last test checks it."""
    import sys

    folder = tmp_path_factory.mktemp("timeout")
    marker, done = folder / "first_attempt", folder / "done_0"
    command = f"if [ ! -e {marker} ]; then touch {marker}; sleep 600; fi; touch {done}"
    code = (
        "from pathlib import Path; from analysis_core import slurm\n"
        "short = slurm.Resources(job_name='timeout', time='00-00:00:01', mem_per_cpu_gb=1)\n"
        f"slurm.run_tasks([{command!r}], lambda i: Path({str(done)!r}).exists(), short, "
        f"Path({str(folder / 'jobs')!r}), poll=2)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    yield process, folder, time.monotonic()
    if process.poll() is None:
        process.kill()


def resources(name, **extra):
    return slurm.Resources(job_name=name, time="00-00:05:00", mem_per_cpu_gb=1, **extra)


def test_tasks_run_and_complete(slurm_cluster, tmp_path):
    commands = [f"echo {i} > {tmp_path}/done_{i}" for i in range(3)]
    slurm.run_tasks(
        commands,
        lambda i: (tmp_path / f"done_{i}").exists(),
        resources("ok"),
        tmp_path / "jobs",
        poll=1,
    )
    assert all((tmp_path / f"done_{i}").exists() for i in range(3))
    assert list((tmp_path / "jobs" / "logs").glob("slurm-*.out"))


def test_cancelled_task_is_resubmitted(slurm_cluster, tmp_path):
    """Task 1 sleeps on its first attempt; we scancel it; the back-end sees CANCELLED and resubmits."""
    marker = tmp_path / "first_attempt"
    commands = [
        f"touch {tmp_path}/done_0",
        f"if [ ! -e {marker} ]; then touch {marker}; sleep 300; fi; touch {tmp_path}/done_1",
    ]

    def cancel_the_sleeper():
        for _ in range(120):
            if marker.exists():
                break
            time.sleep(0.5)
        time.sleep(1)
        out = subprocess.run(["squeue", "-h", "-o", "%i %j"], capture_output=True, text=True).stdout
        ids = [line.split()[0] for line in out.splitlines() if "cancelme" in line]
        subprocess.run(["scancel", *ids])

    thread = threading.Thread(target=cancel_the_sleeper)
    thread.start()
    slurm.run_tasks(
        commands,
        lambda i: (tmp_path / f"done_{i}").exists(),
        resources("cancelme"),
        tmp_path / "jobs",
        poll=1,
    )
    thread.join()
    assert (tmp_path / "done_1").exists()
    assert (tmp_path / "jobs" / "cancelme_attempt2.sh").exists()


def test_task_failing_every_time_stops_with_its_state(slurm_cluster, tmp_path):
    with pytest.raises(
        PipelineError,
        match=r"1 SLURM task\(s\) of broken failed 2 times: task 0: FAILED \(exit code 3:0\)",
    ):
        slurm.run_tasks(
            ["exit 3"],
            lambda i: False,
            resources("broken"),
            tmp_path / "jobs",
            max_attempts=2,
            poll=1,
        )


def test_a_pipeline_in_slurm_mode_interrupted_cancels_its_jobs_and_resumes(slurm_cluster, tmp_path):
    """The shipped run.sh, reduced, with on_cluster=slurm and the log-parabola ALP-model variant
    (a model file, which every job loads from the run folder's copy): simulation chunks as job
    arrays and the training as a job, each with the extra sbatch option and the set-up line;
    SIGTERM while the simulation jobs run cancels them, and the same command resumes the trial to
    the end."""
    import json
    import os
    import shutil
    import signal

    from conftest import REPO, RUN_SH, write_run_script
    from test_end_to_end import run

    (tmp_path / "user_models").mkdir()
    shutil.copy(
        REPO / "cluster_runs" / "user_models" / "ngc1275_logparabola.py", tmp_path / "user_models"
    )
    script = write_run_script(
        tmp_path,
        template=RUN_SH,
        run_name="interrupted",
        model="user_models/ngc1275_logparabola.py",
        param4='"[2.1, 3.1] | 2.64 | 2.64 | 0 | U | alpha | none"',
        param6='"[0, 0.6] | 0.267 | 0.267 | 0 | U | beta | none"',
        on_cluster="slurm",
        n_sim_train="300",
        n_prior_samples="1_000",
        nbins_etrue="90",
        max_epochs="2",
        n_truncations="0",
        n_sim_coverage="0",
        n_sim_explim="0",
        n_jobs_sim="1",
        sbatch_extra='"--comment=alpswyft-test"',
        job_setup='"echo job set-up ran"',
    )
    process = subprocess.Popen(
        [str(script)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    log = tmp_path / "analysis_results" / "interrupted" / "output.log"
    for _ in range(600):
        if log.exists() and "submitted SLURM job" in log.read_text():
            break
        time.sleep(0.5)
    time.sleep(2)
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=120) != 0
    for _ in range(30):
        queue = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True).stdout
        if "ALP_simulations" not in queue:
            break
        time.sleep(1)
    assert "ALP_simulations" not in queue, queue
    for _ in range(20):  # the stage's last words reach the log just after the orchestrator exits
        if "cancelled the SLURM jobs" in log.read_text():
            break
        time.sleep(0.5)
    assert "cancelled the SLURM jobs" in log.read_text()

    result = run(script, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "resuming the unfinished trial 0" in log.read_text()
    run_dir = tmp_path / "analysis_results" / "interrupted"
    assert (
        log.read_text().count("submitted SLURM job") >= 3
    )  # the interrupted store, then the stores and the training
    for job in (
        "sim_output",
        "train_output",
    ):  # the extra sbatch option and the set-up line in every job
        scripts = list((run_dir / job / "slurm").glob("*.sh"))
        assert scripts and all("#SBATCH --comment=alpswyft-test" in p.read_text() for p in scripts)
        logs = list((run_dir / job / "slurm" / "logs").glob("slurm-*.out"))
        assert logs and all(p.read_text().startswith("job set-up ran") for p in logs)
    record = json.loads((run_dir / "truncation_record.json").read_text())
    assert [r["status"] for r in record["grid_points"]["0"]["rounds"]] == ["done"]
    assert record["free_parameters"][3] == "alpha" and (run_dir / "model.py").is_file()


def test_timed_out_task_is_resubmitted(timed_out_task):
    """Last in the module: the task of :func:`timed_out_task` timed out, was resubmitted and ran."""
    process, folder, start = timed_out_task
    output, _ = process.communicate(timeout=max(10.0, 400 - (time.monotonic() - start)))
    assert process.returncode == 0, output[-2000:]
    assert (folder / "done_0").exists() and (folder / "first_attempt").exists()
    assert (folder / "jobs" / "timeout_attempt2.sh").exists(), output[-2000:]
