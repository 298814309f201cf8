"""A real one-node SLURM cluster (slurmctld, slurmd, munge) for the tests, in a temporary folder.

Needs Debian's ``slurm-wlm`` and ``munge`` (``environments/system_packages.sh`` installs them, as
``.ci/run`` does); without them the SLURM tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path


class Unavailable(Exception):
    pass


def check_available() -> None:
    if not (shutil.which("slurmctld") and shutil.which("munged")):
        raise Unavailable(
            "slurm-wlm and munge are not installed (environments/system_packages.sh installs them)"
        )
    if os.geteuid() != 0:
        raise Unavailable("the test cluster's daemons run as root, and this process is not root")


def _start_munge(folder: Path) -> int | None:
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_bytes(os.urandom(1024))
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
    run_dir = Path("/run/munge")
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
        return None  # a munged is already running
    subprocess.run(["munged", "--force"], capture_output=True, check=True)
    pid_file = run_dir / "munged.pid"
    for _ in range(50):
        if pid_file.exists():
            return int(pid_file.read_text().split()[0])
        time.sleep(0.1)
    raise Unavailable("munged did not start")


#: how the cluster enforces each job's memory: the kernel's cgroup limit (a task over it ends
#: OUT_OF_MEMORY), else SLURM's sampling of the task's processes every second (it ends FAILED, its log
#: saying "Exceeded job memory limit"), for machines whose cgroups SLURM cannot use
MEMORY_ENFORCEMENT = {
    "cgroup": [
        "ProctrackType=proctrack/cgroup",
        "TaskPlugin=task/cgroup",
        "JobAcctGatherType=jobacct_gather/cgroup",
    ],
    "linuxproc": [
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/linux",
        "JobAcctGatherParams=OverMemoryKill",
    ],
}
CGROUP_CONF = (
    "CgroupPlugin=autodetect\nConstrainRAMSpace=yes\nConstrainSwapSpace=yes\nAllowedSwapSpace=0\n"
)


class SlurmCluster:
    """``memory_enforcement``: the first of :data:`MEMORY_ENFORCEMENT` that runs a job here
    (``SLURM_TEST_MEMORY`` in the environment picks one)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.conf = folder / "slurm.conf"
        self.pids: list[int] = []
        self.memory_enforcement = ""

    @property
    def host(self) -> str:
        return socket.gethostname()

    def start(self) -> SlurmCluster:
        check_available()
        munged = _start_munge(self.folder)
        if munged:
            self.pids.append(munged)
        chosen = os.environ.get("SLURM_TEST_MEMORY", "")
        if chosen and chosen not in MEMORY_ENFORCEMENT:
            raise Unavailable(f"SLURM_TEST_MEMORY = {chosen!r}: expected cgroup or linuxproc")
        modes = [chosen] if chosen else list(MEMORY_ENFORCEMENT)
        why = ""
        for mode in modes:
            try:
                self._start_daemons(mode)
                self.memory_enforcement = mode
                return self
            except Unavailable as error:
                why += f"{mode}: {error}; "
                self._stop_daemons()
        self.stop()
        raise Unavailable(why)

    def _start_daemons(self, mode: str) -> None:
        host = self.host
        memory_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
        shutil.rmtree(self.folder / "state", ignore_errors=True)
        for sub in ("state", "spool"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        (self.folder / "cgroup.conf").write_text(CGROUP_CONF)
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=alpswyft-test",
                    f"SlurmctldHost={host}",
                    "SlurmUser=root",
                    "AuthType=auth/munge",
                    # a requeued job waits this long before it starts again (default 120 s)
                    "AuthInfo=cred_expire=10",
                    f"StateSaveLocation={self.folder / 'state'}",
                    f"SlurmdSpoolDir={self.folder / 'spool'}",
                    f"SlurmctldPidFile={self.folder / 'slurmctld.pid'}",
                    f"SlurmdPidFile={self.folder / 'slurmd.pid'}",
                    f"SlurmctldLogFile={self.folder / 'slurmctld.log'}",
                    f"SlurmdLogFile={self.folder / 'slurmd.log'}",
                    *MEMORY_ENFORCEMENT[mode],
                    "JobAcctGatherFrequency=task=1",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "AccountingStorageType=accounting_storage/none",
                    "MpiDefault=none",
                    # a node set DOWN (the node-failure tests) stays down until RESUMEd
                    "ReturnToService=1",
                    "MinJobAge=600",
                    "KillWait=2",
                    "OverTimeLimit=0",
                    "SchedulerParameters=sched_interval=1",
                    # a job of the 'urgent' partition preempts (cancels) those of 'normal'
                    "PreemptType=preempt/partition_prio",
                    "PreemptMode=CANCEL",
                    # one CPU more than the cores: the time-limit test's task sleeps in it while the
                    # other tests run (config_overrides: slurmd does not drain the node for it)
                    "SlurmdParameters=config_overrides",
                    f"NodeName={host} CPUs={(os.cpu_count() or 1) + 1} RealMemory={memory_mb} State=UNKNOWN",
                    f"PartitionName=normal Nodes={host} Default=YES MaxTime=INFINITE State=UP PriorityTier=1",
                    f"PartitionName=urgent Nodes={host} Default=NO MaxTime=INFINITE State=UP PriorityTier=2",
                    "",
                ]
            )
        )
        env = self.environ()
        for daemon in ("slurmctld", "slurmd"):
            (self.folder / f"{daemon}.pid").unlink(missing_ok=True)
            result = subprocess.run(
                [daemon, "-f", str(self.conf)], capture_output=True, text=True, env=env
            )
            if result.returncode != 0:
                raise Unavailable(f"{daemon} did not start: {result.stderr[-500:]}")
        for daemon in ("slurmctld", "slurmd"):
            pid_file = self.folder / f"{daemon}.pid"
            for _ in range(100):
                if pid_file.exists() and pid_file.read_text().strip():
                    self.pids.append(int(pid_file.read_text()))
                    break
                time.sleep(0.1)
        for _ in range(60):
            out = subprocess.run(
                ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env
            ).stdout
            if out.strip().splitlines()[:1] == ["idle"]:
                break
            time.sleep(0.5)
        else:
            raise Unavailable("the SLURM node did not become idle")
        try:
            probe = subprocess.run(
                [
                    "sbatch",
                    "--wait",
                    "--mem-per-cpu=100M",
                    f"--output={self.folder / 'probe.out'}",
                    "--wrap",
                    "true",
                ],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            raise Unavailable("a probe job did not finish within 60 s") from None
        if probe.returncode != 0:
            raise Unavailable(f"a probe job failed: {probe.stderr[-300:]}")

    def environ(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def scontrol(self, *arguments: str) -> None:
        subprocess.run(
            ["scontrol", *arguments], check=True, capture_output=True, env=self.environ()
        )

    def _stop_daemons(self) -> None:
        """Stop slurmctld and slurmd (not munged) and wait until they are gone (their ports free)."""
        subprocess.run(["scancel", "--user", "root"], capture_output=True, env=self.environ())
        for daemon in ("slurmd", "slurmctld"):
            pid_file = self.folder / f"{daemon}.pid"
            if not (pid_file.exists() and pid_file.read_text().strip()):
                continue
            pid = int(pid_file.read_text())
            if pid in self.pids:
                self.pids.remove(pid)
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.1)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        subprocess.run(["scancel", "--user", "root"], capture_output=True, env=self.environ())
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        time.sleep(1)


def running(job_name: str) -> list[str]:
    out = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%i %j"], capture_output=True, text=True
    ).stdout
    return [line.split()[0] for line in out.splitlines() if job_name in line]


class Fault(threading.Thread):
    """A thread that runs ``action()`` once a task of ``job_name`` runs (and ``marker`` exists);
    ``join`` raises what it raised, or that no such task ran within two minutes."""

    def __init__(self, job_name: str, action, marker: Path | None = None):
        super().__init__(daemon=True)
        self.job_name, self.action, self.marker = job_name, action, marker
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            for _ in range(240):
                if running(self.job_name) and (self.marker is None or self.marker.exists()):
                    self.action()
                    return
                time.sleep(0.5)
            raise AssertionError(f"no task of {self.job_name} ran within 120 s")
        except BaseException as error:  # re-raised in the test by join
            self.error = error

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


def fail_the_node(cluster, down_s: float = 15.0):
    """The node DOWN (its running jobs end NODE_FAIL, or are requeued), RESUMEd ``down_s`` later."""

    def action():
        cluster.scontrol("update", f"nodename={cluster.host}", "state=down", "reason=test")
        time.sleep(down_s)
        cluster.scontrol("update", f"nodename={cluster.host}", "state=resume")

    return action
