"""Shared start-up of the entry scripts: argument parsing and error reporting."""

from __future__ import annotations

import argparse
import errno
import sys
import warnings
from pathlib import Path

from alpswyft.errors import PipelineError
from alpswyft.results import RunTree


def stage_parser(description: str, with_round: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("run_dir", type=Path, help="the run folder, analysis_results/<run_name>")
    if with_round:
        parser.add_argument("--grid-point", type=int, required=True)
        parser.add_argument("--round", type=int, required=True)
    return parser


def run(main, *args) -> None:
    """Call ``main(*args)``; a PipelineError becomes one message on stderr and exit status 2."""
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    try:
        main(*args)
    except PipelineError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:  # a full disk, in whatever stage: one line instead of a traceback
        if error.errno != errno.ENOSPC:
            raise
        from alpswyft.stores import disk_full

        folder = next((a.root for a in args if isinstance(a, RunTree)), Path.cwd())
        print(f"ERROR: {disk_full(error.filename or folder)}", file=sys.stderr)
        sys.exit(2)


def call(function):
    """``function()``, with a PipelineError reported as by :func:`run`."""
    result = []
    run(lambda: result.append(function()))
    return result[0]


def tree(path: Path) -> RunTree:
    return RunTree(path.resolve())
