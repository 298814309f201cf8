"""Shared fixtures: a valid toy configuration, and run scripts made from the shipped one."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RUN_SH = REPO / "cluster_runs" / "run.sh"
TOY_SH = REPO / "cluster_runs" / "toy_line.sh"
ORCHESTRATOR = REPO / "analysis_scripts" / "run_swyft_analysis_truncation.sh"


def toy_variables(**overrides) -> dict[str, str]:
    """Raw run-script variables of a small valid toy_line run."""
    variables = {
        "run_name": "unit",
        "model": "toy_line",
        "noise": "gauss",
        "noise_sigma": "1.0",
        "nbins": "50",
        "emin": "-1",
        "emax": "1",
        "POI_indices": "0,1",
        "param1": " [-3, 3] | 0.7  | 0 | 0 | U | a | 1 ",
        "param2": " [-3, 3] | -0.3 | 0 | 0 | U | b | 1 ",
        "n_truncations": "1",
        "n_sim_train": "3_000",
        "hyperparams": "--learning_rate (float) : 5e-3 --stopping_patience (int) : 6 "
        "--blocks (int) : 2 --features (int) : 64 --dropout (float) : 0.1",
    }
    variables.update(overrides)
    return variables


def notebook_errors(path: Path) -> list[dict]:
    """The error outputs of an executed notebook's code cells."""
    import json

    cells = json.loads(Path(path).read_text())["cells"]
    return [
        output
        for cell in cells
        if cell["cell_type"] == "code"
        for output in cell["outputs"]
        if output["output_type"] == "error"
    ]


def folder_snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time: equal snapshots mean
    nothing was written (a check that holds for root, whom permissions do not stop)."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.fixture
def variables():
    return toy_variables()


def write_run_script(directory: Path, template: Path = TOY_SH, **overrides: str) -> Path:
    """A copy of a shipped run script (default: cluster_runs/toy_line.sh) with some variables
    replaced, calling this repository's orchestrator; results go to ``directory/analysis_results``."""
    text = template.read_text()
    for name, value in overrides.items():
        # the assignment with its backslash-continued lines
        text, n = re.subn(
            rf"^{name}=(?:.*\\\n)*.*$",
            lambda _, name=name, value=value: f"{name}={value}",
            text,
            flags=re.MULTILINE,
        )
        if n == 0:
            text = text.replace("\nexec ", f"\n{name}={value}\nexec ", 1)
    text = re.sub(
        r"^exec .*$", f'exec "{ORCHESTRATOR}" "${{BASH_SOURCE[0]}}" "$@"', text, flags=re.MULTILINE
    )
    path = directory / "run.sh"
    path.write_text(text)
    path.chmod(0o755)
    return path


def configure_in_process(base: Path, monkeypatch, variables: dict[str, str]):
    """The configuration stage in this process, on a run script in ``base`` holding ``variables``
    (as the orchestrator calls it after bash has exported them). Returns the run's RunTree."""
    from alpswyft.stages.configure import configure

    script = base / "run.sh"
    script.write_text("".join(f"{name}=\n" for name in variables))
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return configure(script, base / "analysis_results")


def run_rounds(tree, finish: bool = True) -> list[tuple[int, int]]:
    """The planned rounds' simulation and training stages in this process; marks the trial
    finished (as the report stage does) unless ``finish`` is false. Returns the planned pairs."""
    from alpswyft.stages.rounds import run_rounds as run

    pairs = run(tree)
    if finish:
        tree.mark_finished()
    return pairs


def validated_toy_run(base: Path, **overrides: str):
    """A toy_line run (``toy_variables(**overrides)``) configured, simulated, trained and validated
    in this process, in ``base``: the RunTree of a finished validation stage."""
    from alpswyft.stages.validate import validate

    monkeypatch = pytest.MonkeyPatch()
    tree = configure_in_process(base, monkeypatch, toy_variables(**overrides))
    run_rounds(tree, finish=False)
    monkeypatch.undo()
    validate(tree)
    return tree


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` read-only while the block runs: immutable (chattr +i) for root, whom permission bits
    do not stop; without write permission for other users. Skips where neither is possible."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make {path} read-only here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def pytest_runtest_setup(item):
    """``requires_data(*paths)``: skips unless each path exists under ../shared (default: the folder);
    ``gpu``: skips unless numba sees a CUDA device."""
    for mark in item.iter_markers("requires_data"):
        for relative in mark.args or ("",):
            if not (SHARED / relative).exists():
                pytest.skip(f"{Path('../shared') / relative} is not present")
    if item.get_closest_marker("gpu"):
        from alpswyft.physics import gpu

        if not gpu.available():
            pytest.skip("no CUDA device")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A running one-node SLURM cluster; SLURM_CONF points the client commands at it."""
    from slurm_cluster import SlurmCluster, Unavailable

    try:
        cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    except Unavailable as why:
        pytest.skip(f"no SLURM cluster: {why}")
    # SLURM_POLL_S: the pipelines' jobs are seconds long here, so their states are asked for every second
    settings = {"SLURM_CONF": str(cluster.conf), "SLURM_POLL_S": "1"}
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    yield cluster
    cluster.stop()
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def chromium():
    """The path of a headless Chromium (installed when missing and possible)."""
    from browser import Unavailable, executable

    try:
        return executable()
    except Unavailable as why:
        pytest.skip(f"no Chromium: {why}")
