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

from analysis_core.errors import PipelineError

_ASSIGNMENT = re.compile(r"^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=", re.MULTILINE)


def assigned_names(text: str) -> list[str]:
    """Names assigned at the start of a line, in order of first appearance."""
    return list(dict.fromkeys(_ASSIGNMENT.findall(text)))


def read_run_script(
    path: Path, environ: dict[str, str] | None = None, given: tuple[str, ...] = ()
) -> dict[str, str]:
    """The run script's variables with the values bash gave them (from ``environ``); the command
    that starts a pipeline (and the argument string the original's passes) is not part of them.
    Names in ``given`` come from the command line and need not be set by the script."""
    environ = os.environ if environ is None else environ
    body = without_launch(Path(path).read_text())
    names = assigned_names(body)
    absent = [name for name in names if name not in environ and name not in given]
    split = [problem for name in absent for problem in _split_assignments(body, name)]
    if split:
        raise PipelineError(f"{path}: " + "; ".join(split))
    if absent:
        raise PipelineError(
            f"{path}: the variables {', '.join(absent)} are assigned but not exported. A run script "
            "must start with 'set -a' and be started directly (./run.sh), not through the "
            "orchestrator alone."
        )
    return {name: environ[name] for name in names if name in environ}


def _split_assignments(body: str, name: str) -> list[str]:
    """Assignments of ``name`` that bash does not read as one (an unquoted value with spaces, such
    as ``n_sim_train=10_000, 10_00``: bash runs ``10_00,`` as a command with the variable set for
    it alone, so the variable stays unset)."""
    problems = []
    for number, line in enumerate(body.splitlines(), 1):
        if not re.match(rf"^[ \t]*(?:export[ \t]+)?{name}=", line):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if len(words) > 1 and words[0].startswith(f"{name}="):
            code = line.split("#")[0].strip()
            problems.append(
                f"line {number}, {code!r}, is not one assignment: bash takes {words[1]!r} as a command "
                f'and leaves {name} unset. Quote the value: {name}="{code.split("=", 1)[1]}"'
            )
    return problems


#: The line that starts a pipeline: this one's ``exec`` line, or the original's call of its
#: orchestrator (continued over the following lines by backslashes and a quoted argument string).
_LAUNCH = re.compile(r"^(?:[ \t]*exec .*|.*run_swyft_analysis\w*\.sh.*)$")


def without_launch(text: str) -> str:
    """``text`` without the commands that start a pipeline, each with all its continuation lines."""
    lines, out, k = text.splitlines(keepends=True), [], 0
    while k < len(lines):
        if not _LAUNCH.match(lines[k].rstrip("\n")):
            out.append(lines[k])
            k += 1
            continue
        command = ""
        while k < len(lines):
            command += lines[k]
            k += 1
            if not _continues(command):
                break
        out.append("\n")  # keep the line count for messages
    return "".join(out)


def _continues(command: str) -> bool:
    """Whether a shell command goes on after this text: an open quote, or a final backslash."""
    quote, escaped, comment, previous = None, False, False, "\n"
    for char in command:
        if comment:
            comment = char != "\n"
        elif escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote is None and char in "'\"":
            quote = char
        elif char == quote:
            quote = None
        elif quote is None and char == "#" and previous.isspace():
            comment = True
        previous = char
    return quote is not None or command.rstrip("\n").endswith("\\")


def evaluate_run_script(path: Path, given: tuple[str, ...] = ()) -> dict[str, str]:
    """The variables of a run script as bash evaluates them, without the line that starts the
    pipeline: a run's configuration for tools outside the orchestrator (benchmarks, notebooks) and
    for run scripts of the original pipeline."""
    path = Path(path).resolve()
    body = "set -a\n" + without_launch(path.read_text())  # the original's scripts export nothing
    result = subprocess.run(
        ["bash", "-c", body + "\nenv -0"], capture_output=True, text=True, cwd=path.parent
    )
    if result.returncode != 0:
        raise PipelineError(f"{path} does not evaluate: {result.stderr.strip()}")
    environ = dict(item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    return read_run_script(path, environ, given)


def main() -> None:
    parser = argparse.ArgumentParser(description="Print a run script's variables as export lines.")
    parser.add_argument("--exports", type=Path, required=True, metavar="SCRIPT")
    parser.add_argument(
        "--given", nargs="*", default=[], metavar="NAME", help="variables set on the command line"
    )
    args = parser.parse_args()
    try:
        variables = evaluate_run_script(args.exports, tuple(args.given))
    except PipelineError as error:
        raise SystemExit(f"ERROR: {error}") from None
    for name, value in variables.items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
