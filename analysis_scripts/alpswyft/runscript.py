"""Reading the variables of a run script.

A run script (``cluster_runs/run.sh``) is a file of plain shell assignments that starts with
``set -a``: bash evaluates it (quotes, ``$HOME``, line continuations) and exports every variable it
assigns, and the orchestrator it calls inherits them. This module decides which variables belong
to the run: the names the script assigns at the start of a line. Their values are taken from the
environment, that is, exactly as bash evaluated them.

A run script of the original pipeline exports nothing and ends in an "Execution" block that builds
an argument string and calls the original orchestrator. Given to the orchestrator directly, it is
evaluated here without the lines that call an orchestrator (``python -m alpswyft.runscript
--exports SCRIPT`` prints its variables as ``export`` lines for the orchestrator to take).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
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


#: Lines that start a pipeline: this one's ``exec`` line, or the original's call of its orchestrator.
_LAUNCH = re.compile(r"^(?:[ \t]*exec .*|.*run_swyft_analysis\w*\.sh.*)$", re.MULTILINE)


def evaluate_run_script(path: Path) -> dict[str, str]:
    """The variables of a run script as bash evaluates them, without the line that starts the
    pipeline: a run's configuration for tools outside the orchestrator (benchmarks, notebooks) and
    for run scripts of the original pipeline."""
    path = Path(path).resolve()
    body = "set -a\n" + _LAUNCH.sub("", path.read_text())  # the original's scripts export nothing
    result = subprocess.run(["bash", "-c", body + "\nenv -0"], capture_output=True, text=True, cwd=path.parent)
    if result.returncode != 0:
        raise PipelineError(f"{path} does not evaluate: {result.stderr.strip()}")
    environ = dict(item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    return read_run_script(path, environ)


def main() -> None:
    parser = argparse.ArgumentParser(description="Print a run script's variables as export lines.")
    parser.add_argument("--exports", type=Path, required=True, metavar="SCRIPT")
    args = parser.parse_args()
    try:
        variables = evaluate_run_script(args.exports)
    except PipelineError as error:
        raise SystemExit(f"ERROR: {error}") from None
    for name, value in variables.items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
