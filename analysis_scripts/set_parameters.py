#!/usr/bin/env python
"""Configuration stage: validate the run script's variables, start a trial, write config.json and
the mock observation. Nothing is written when a variable is invalid."""

import argparse
from pathlib import Path

from alpswyft import cli
from alpswyft.stages.configure import configure

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument(
    "--run-script", type=Path, required=True, help="the run script (its variables are exported)"
)
parser.add_argument(
    "--results-dir", type=Path, required=True, help="parent folder of the run folders"
)
parser.add_argument(
    "--early-log", type=Path, help="log written so far; becomes the trial's output.log"
)
parser.add_argument(
    "--overrides",
    nargs="*",
    default=[],
    metavar="NAME",
    help="variables given on the command line (their values are exported)",
)
args = parser.parse_args()
cli.run(configure, args.run_script, args.results_dir, args.early_log, args.overrides)
