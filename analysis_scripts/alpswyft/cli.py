"""Start-up of the ALP stage scripts: the run-folder arguments, on the shared error reporting."""

from __future__ import annotations

import argparse
from pathlib import Path

from alpswyft.run import RunContext
from analysis_core.cli import call, run

__all__ = ["call", "context", "run", "stage_parser"]


def stage_parser(description: str, with_round: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("run_dir", type=Path, help="the run folder, analysis_results/<run_name>")
    if with_round:
        parser.add_argument("--grid-point", type=int, required=True)
        parser.add_argument("--round", type=int, required=True)
    return parser


def context(path: Path) -> RunContext:
    """The run folder ``path`` as the stages take it."""
    return RunContext(path.resolve())
