"""The SLURM back-end: submit job arrays with sbatch, wait for their real final states, resubmit.

Job states come from ``scontrol show job`` (works without an accounting database) and, when the
controller has forgotten a job, from ``sacct``. A task counts as done only when its ``is_done``
check passes (for simulation chunks: the store says the chunk is written), whatever SLURM reports.
Unfinished tasks are resubmitted up to ``max_attempts`` times (a failed node, NODE_FAIL; a job
preempted by one of higher priority, PREEMPTED; a time limit, TIMEOUT; ...), then the run stops with
the final state and exit code of each failed task. A task that ran out of memory (OUT_OF_MEMORY, or
killed by SLURM's memory sampling) is not resubmitted, as it would run out again: the run stops at
once naming the memory setting, the task's limit and the memory it reached. A task SLURM requeues
itself (its ``JobRequeue``) is waited for. Ctrl-C or SIGTERM while waiting cancels the jobs.

Job scripts and SLURM logs are written inside the run folder.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from analysis_core.errors import PipelineError

FINISHED = {
    "COMPLETED",
    "FAILED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "CANCELLED",
    "NODE_FAIL",
    "BOOT_FAIL",
    "DEADLINE",
    "REVOKED",
}


@dataclass
class Resources:
    """sbatch options of one kind of job (the run script's partition_*, max_time_*, ...)."""

    job_name: str
    partition: str = ""
    account: str = ""
    time: str = ""  # dd-hh:mm:ss
    mem_per_cpu_gb: int = 0
    qos: str = ""
    gpus: int = 0
    cpus_per_task: int = 1
    extra: list[str] = field(default_factory=list)  # further sbatch options (``sbatch_extra``)
    setup: str = ""  # a shell line run before each task (``job_setup``, e.g. ``module load ...``)
    memory_setting: str = ""  # the run-script variable behind mem_per_cpu_gb, for the messages
    time_setting: str = ""  # the one behind time

    def directives(self) -> list[str]:
        options = [f"--job-name={self.job_name}", f"--cpus-per-task={self.cpus_per_task}"]
        for flag, value in (
            ("partition", self.partition),
            ("account", self.account),
            ("time", self.time),
            ("qos", self.qos),
        ):
            if value:
                options.append(f"--{flag}={value}")
        if self.mem_per_cpu_gb:
            options.append(f"--mem-per-cpu={self.mem_per_cpu_gb}G")
        if self.gpus:
            options.append(f"--gpus={self.gpus}")
        return options + list(self.extra)


def _run(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise PipelineError(
            f"'{command[0]}' is not installed: the SLURM back-end needs the SLURM client commands"
        ) from None
    if result.returncode != 0:
        raise PipelineError(
            f"{' '.join(command[:2])} failed: {result.stderr.strip() or result.stdout.strip()}"
        )
    return result.stdout


#: job-script lines that print a failed task's peak memory, read from its cgroup (v1, else v2), for
#: the out-of-memory message (SLURM kills the biggest process in the cgroup; the script lives on)
PEAK_MEMORY_ON_FAILURE = [
    "peak_memory() {",
    "  local group file",
    "  group=$(sed -n 's/^[0-9]*:memory://p; s/^0:://p' /proc/self/cgroup | head -n 1)",
    "  for file in /sys/fs/cgroup/memory$group/memory.max_usage_in_bytes"
    " /sys/fs/cgroup$group/memory.peak; do",
    '    if [ -r "$file" ]; then echo "peak memory of this task: $(cat "$file") bytes" >&2; return; fi',
    "  done",
    "}",
    "trap 'status=$?; if [ $status -ne 0 ]; then peak_memory || true; fi; exit $status' EXIT",
]


def task_log(log_dir: Path, task_id: str) -> Path:
    """The output file of a task: ``task_id`` its SLURM id (``123_4``, ``123``) or the pattern."""
    return log_dir / f"slurm-{task_id}.out"


def write_script(
    path: Path, resources: Resources, log_dir: Path, commands: list[str], array: str | None
) -> Path:
    """A batch script whose tasks run ``commands[$SLURM_ARRAY_TASK_ID]`` (or ``commands[0]``)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    lines = ["#!/bin/bash"]
    lines += [f"#SBATCH {option}" for option in resources.directives()]
    lines.append(f"#SBATCH --output={task_log(log_dir, '%A_%a' if array else '%j')}")
    if array:
        lines.append(f"#SBATCH --array={array}")
    lines.append("set -euo pipefail")
    lines += PEAK_MEMORY_ON_FAILURE
    if resources.setup:
        lines.append(resources.setup)
    lines += ["task=${SLURM_ARRAY_TASK_ID:-0}", "case $task in"]
    lines += [f"  {i}) {command} ;;" for i, command in enumerate(commands)]
    lines += ['  *) echo "no command for task $task" >&2; exit 2 ;;', "esac", ""]
    path.write_text("\n".join(lines))
    path.chmod(0o755)
    return path


def submit(script: Path) -> str:
    return _run(["sbatch", "--parsable", str(script)]).strip().split(";")[0]


def states(job_id: str) -> dict[int, tuple[str, str]]:
    """Task index -> (state, exit code) of a job or job array; empty if SLURM knows nothing yet."""
    result = subprocess.run(
        ["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True
    )
    found: dict[int, tuple[str, str]] = {}
    for line in result.stdout.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        task = fields.get("ArrayTaskId", "0")
        if not task.isdigit():  # pending remainder of an array, e.g. "1-3"
            for part in re.findall(r"\d+(?:-\d+)?", task):
                lo, _, hi = part.partition("-")
                for i in range(int(lo), int(hi or lo) + 1):
                    found[i] = ("PENDING", "0:0")
            continue
        found[int(task)] = (fields.get("JobState", "UNKNOWN"), fields.get("ExitCode", "?"))
    if not found:
        found.update(_sacct_states(job_id))
    return found


def _sacct_states(job_id: str) -> dict[int, tuple[str, str]]:
    result = subprocess.run(
        ["sacct", "-n", "-P", "-X", "-o", "JobID,State,ExitCode", "-j", job_id],
        capture_output=True,
        text=True,
    )
    found = {}
    for line in result.stdout.splitlines():
        job, state, code = (line.split("|") + ["", "", ""])[:3]
        task = job.split("_")[1] if "_" in job else "0"
        if task.isdigit():
            found[int(task)] = (state.split()[0] if state else "UNKNOWN", code)
    return found


def cancel(job_ids: list[str]) -> None:
    if job_ids:
        subprocess.run(["scancel", *job_ids], capture_output=True)


def poll_interval() -> float:
    """Seconds between two queries of the job states: ``SLURM_POLL_S`` in the environment, else 5."""
    value = os.environ.get("SLURM_POLL_S", "5")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise PipelineError(f"SLURM_POLL_S = {value!r}: expected a number of seconds above 0")
    return seconds


def wait(
    job_id: str, n_tasks: int, poll: float | None = None, timeout: float | None = None
) -> dict[int, tuple[str, str]]:
    """Wait until every task of the job is in a final state, asking every ``poll`` s (default:
    :func:`poll_interval`); returns their states."""
    poll = poll or poll_interval()
    start = time.monotonic()
    unknown_since = None
    while True:
        current = states(job_id)
        if len(current) >= n_tasks and all(state in FINISHED for state, _ in current.values()):
            return current
        if not current:  # forgotten by the controller and no accounting: treat as finished
            unknown_since = unknown_since or time.monotonic()
            if time.monotonic() - unknown_since > 3 * poll:
                return {i: ("UNKNOWN", "?") for i in range(n_tasks)}
        if timeout is not None and time.monotonic() - start > timeout:
            raise PipelineError(f"SLURM job {job_id} did not finish within {timeout:.0f} s")
        time.sleep(poll)


def run_tasks(
    commands: list[str],
    is_done: Callable[[int], bool],
    resources: Resources,
    job_dir: Path,
    max_attempts: int = 3,
    poll: float | None = None,
    describe: Callable[[int], str] = lambda i: f"task {i}",
) -> None:
    """Run each command as a task of a job array until ``is_done(task)``; resubmit the others.

    Raises PipelineError naming the tasks that never finished, with their last state and exit code.
    """
    todo = [i for i in range(len(commands)) if not is_done(i)]
    submitted: list[str] = []

    def on_signal(signum, frame):
        cancel(submitted)
        raise PipelineError(
            f"interrupted (signal {signum}); cancelled the SLURM jobs {', '.join(submitted)}"
        )

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        last: dict[int, tuple[str, str]] = {}
        for attempt in range(1, max_attempts + 1):
            if not todo:
                return
            script = write_script(
                job_dir / f"{resources.job_name}_attempt{attempt}.sh",
                resources,
                job_dir / "logs",
                [commands[i] for i in todo],
                array=f"0-{len(todo) - 1}" if len(todo) > 1 else None,
            )
            job_id = submit(script)
            submitted.append(job_id)
            print(
                f"submitted SLURM job {job_id} ({resources.job_name}, {len(todo)} task(s), attempt {attempt})",
                flush=True,
            )
            final = wait(job_id, len(todo), poll)
            last = {todo[k]: final.get(k, ("UNKNOWN", "?")) for k in range(len(todo))}
            ids = {i: f"{job_id}_{k}" if len(todo) > 1 else job_id for k, i in enumerate(todo)}
            logs = {i: task_log(job_dir / "logs", ids[i]) for i in todo}
            failed = [i for i in todo if not is_done(i)]
            texts = {i: _read(logs[i]) for i in failed}
            out_of_memory = {
                i: memory_reached(ids[i], texts[i])
                for i in failed
                if ran_out_of_memory(last[i][0], texts[i])
            }
            if out_of_memory:
                raise PipelineError(_out_of_memory(resources, out_of_memory, describe, logs))
            for i in failed:
                state, code = last[i]
                print(
                    f"  {describe(i)}: {state}{_why(state, resources)} (exit code {code}); "
                    f"{'resubmitting' if attempt < max_attempts else 'giving up'}"
                    f" (attempt {attempt} of slurm_max_attempts = {max_attempts})"
                )
            todo = failed
        if todo:
            details = "; ".join(
                f"{describe(i)}: {last[i][0]} (exit code {last[i][1]})" for i in todo
            )
            raise PipelineError(
                f"{len(todo)} SLURM task(s) of {resources.job_name} failed {max_attempts} times: {details}. "
                f"Logs: {job_dir / 'logs'}"
            )
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _why(state: str, resources: Resources) -> str:
    if state == "NODE_FAIL":
        return " (its node failed)"
    if state == "PREEMPTED":
        return " (preempted by a job of higher priority)"
    if state == "TIMEOUT":
        setting = f"{resources.time_setting} = " if resources.time_setting else ""
        return f" (over its time limit, {setting}{resources.time or 'the partition default'})"
    return ""


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def ran_out_of_memory(state: str, log_text: str) -> bool:
    """Whether a task was killed for memory: OUT_OF_MEMORY (the cgroup's limit), or SLURM's memory
    sampling (``JobAcctGatherParams=OverMemoryKill``), which ends it FAILED and says so in its log
    (``log_text``)."""
    return (
        state == "OUT_OF_MEMORY"
        or "Exceeded job memory limit" in log_text
        or "oom-kill event" in log_text
    )


def memory_reached(task_id: str, log_text: str) -> int | None:
    """The memory a task reached, in bytes: from SLURM's kill message in its log (memory sampling),
    the job script's cgroup line (:data:`PEAK_MEMORY_ON_FAILURE`), else sacct's MaxRSS (with
    accounting)."""
    found = [int(n) for n in re.findall(r"exceeded memory limit \((\d+) >", log_text)]
    found += [int(n) for n in re.findall(r"peak memory of this task: (\d+) bytes", log_text)]
    if found:
        return max(found)
    try:
        result = subprocess.run(
            ["sacct", "-n", "-P", "-o", "MaxRSS", "-j", task_id],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    sizes = [
        float(m[1]) * units[m[2]]
        for m in re.finditer(r"^([\d.]+)([KMGT]?)$", result.stdout, flags=re.MULTILINE)
    ]
    return int(max(sizes)) if result.returncode == 0 and sizes else None


def _out_of_memory(
    resources: Resources,
    reached: dict[int, int | None],
    describe: Callable[[int], str],
    logs: dict[int, Path],
) -> str:
    setting = resources.memory_setting or "the job's memory (--mem-per-cpu)"
    if resources.mem_per_cpu_gb:
        limit = (
            f"its limit being {resources.mem_per_cpu_gb * resources.cpus_per_task} GB ({setting} "
            f"= {resources.mem_per_cpu_gb} GB per CPU × {resources.cpus_per_task} CPU)"
        )
    else:
        limit = "with no memory requested (the partition's default)"
    details = "; ".join(
        describe(i) + (f" reached {size / 2**30:.2f} GB" if size else "")
        for i, size in list(reached.items())[:3]
    ) + (f"; and {len(reached) - 3} more" if len(reached) > 3 else "")
    return (
        f"{len(reached)} SLURM task(s) of {resources.job_name} ran out of memory, {limit}: "
        f"{details}. Raise {setting} in the run script and run it again (what is done is kept); "
        f"not resubmitted, as it would run out again. Log: {logs[next(iter(reached))]}"
    )


def shell_command(*arguments) -> str:
    return " ".join(shlex.quote(str(a)) for a in arguments)
