"""Reading the variables of a run script.

A run script (``cluster_runs/run.sh``) is a file of plain shell assignments that starts with
``set -a``: bash evaluates it (quotes, ``$HOME``, line continuations) and exports every variable it
assigns, and the orchestrator it calls inherits them. This module decides which variables belong
to the run: the names the script assigns at the start of a line. Their values are taken from the
environment, that is, exactly as bash evaluated them.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from alpswyft.errors import PipelineError

_ASSIGNMENT = re.compile(r"^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=", re.MULTILINE)


def assigned_names(text: str) -> list[str]:
    """Names assigned at the start of a line, in order of first appearance."""
    return list(dict.fromkeys(_ASSIGNMENT.findall(text)))


def read_run_script(path: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The run script's variables with the values bash gave them (from ``environ``)."""
    environ = os.environ if environ is None else environ
    names = assigned_names(Path(path).read_text())
    absent = [name for name in names if name not in environ]
    if absent:
        raise PipelineError(
            f"{path}: the variables {', '.join(absent)} are assigned but not exported. A run script "
            "must start with 'set -a' and be started directly (./run.sh), not through the "
            "orchestrator alone."
        )
    return {name: environ[name] for name in names}


def evaluate_run_script(path: Path) -> dict[str, str]:
    """The variables of a run script as bash evaluates them, without its ``exec`` line: a run's
    configuration for tools outside the orchestrator (benchmarks, notebooks)."""
    path = Path(path).resolve()
    body = re.sub(r"^exec .*$", "", path.read_text(), flags=re.MULTILINE)
    result = subprocess.run(["bash", "-c", body + "\nenv -0"], capture_output=True, text=True, cwd=path.parent)
    if result.returncode != 0:
        raise PipelineError(f"{path} does not evaluate: {result.stderr.strip()}")
    environ = dict(item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    return read_run_script(path, environ)
