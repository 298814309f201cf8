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


class SlurmCluster:
    def __init__(self, folder: Path):
        self.folder = folder
        self.conf = folder / "slurm.conf"
        self.pids: list[int] = []

    def start(self) -> SlurmCluster:
        check_available()
        host = socket.gethostname()
        memory_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
        for sub in ("state", "spool"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=alpswyft-test",
                    f"SlurmctldHost={host}",
                    "SlurmUser=root",
                    "AuthType=auth/munge",
                    f"StateSaveLocation={self.folder / 'state'}",
                    f"SlurmdSpoolDir={self.folder / 'spool'}",
                    f"SlurmctldPidFile={self.folder / 'slurmctld.pid'}",
                    f"SlurmdPidFile={self.folder / 'slurmd.pid'}",
                    f"SlurmctldLogFile={self.folder / 'slurmctld.log'}",
                    f"SlurmdLogFile={self.folder / 'slurmd.log'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "AccountingStorageType=accounting_storage/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    "MinJobAge=600",
                    "KillWait=2",
                    "OverTimeLimit=0",
                    "SchedulerParameters=sched_interval=1",
                    # one CPU more than the cores: the time-limit test's task sleeps in it while the
                    # other tests run (config_overrides: slurmd does not drain the node for it)
                    "SlurmdParameters=config_overrides",
                    f"NodeName={host} CPUs={(os.cpu_count() or 1) + 1} RealMemory={memory_mb} State=UNKNOWN",
                    f"PartitionName=normal Nodes={host} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        munged = _start_munge(self.folder)
        if munged:
            self.pids.append(munged)
        env = self.environ()
        for daemon in ("slurmctld", "slurmd"):
            result = subprocess.run(
                [daemon, "-f", str(self.conf)], capture_output=True, text=True, env=env
            )
            if result.returncode != 0:
                self.stop()
                raise Unavailable(f"{daemon} did not start: {result.stderr[-500:]}")
        for pid_file in ("slurmctld.pid", "slurmd.pid"):
            for _ in range(100):
                if (self.folder / pid_file).exists() and (
                    self.folder / pid_file
                ).read_text().strip():
                    self.pids.append(int((self.folder / pid_file).read_text()))
                    break
                time.sleep(0.1)
        for _ in range(60):
            out = subprocess.run(
                ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env
            ).stdout
            if out.strip() in ("idle", "mix", "alloc"):
                return self
            time.sleep(0.5)
        self.stop()
        raise Unavailable("the SLURM node did not become idle")

    def environ(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def stop(self) -> None:
        subprocess.run(["scancel", "--user", "root"], capture_output=True, env=self.environ())
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        time.sleep(1)
