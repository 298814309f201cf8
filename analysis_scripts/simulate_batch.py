#!/usr/bin/env python
"""Simulation stage: fill the training and prior-bank stores of one round and grid point."""

from alpswyft import cli
from alpswyft.pipeline import simulate_round

args = cli.stage_parser(__doc__, with_round=True).parse_args()
cli.run(simulate_round, cli.tree(args.run_dir), args.grid_point, args.round)
