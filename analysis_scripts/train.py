#!/usr/bin/env python
"""Training stage: train one round's network, infer the mock observation, truncate the box."""

from alpswyft import cli
from alpswyft.pipeline import train_round

args = cli.stage_parser(__doc__, with_round=True).parse_args()
cli.run(train_round, cli.tree(args.run_dir), args.grid_point, args.round)
