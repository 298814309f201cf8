#!/usr/bin/env python
"""Rounds stage: simulate and train every (grid point, round) still to do, in order."""

from alpswyft import cli
from alpswyft.stages.rounds import run_rounds

args = cli.stage_parser(__doc__).parse_args()
cli.run(run_rounds, cli.context(args.run_dir))
