#!/usr/bin/env python
"""Training stage: train one round's network, infer the mock observation, truncate the box (here,
or as a SLURM job when on_cluster is slurm/fox; --here runs it in this process)."""

from alpswyft import cli
from alpswyft.stages.train import train_round, train_round_on_slurm

parser = cli.stage_parser(__doc__, with_round=True)
parser.add_argument("--here", action="store_true", help="train in this process even in SLURM mode")
args = parser.parse_args()
run = cli.context(args.run_dir)
on_slurm = not args.here and cli.call(lambda: run.config.uses_slurm)
cli.run(train_round_on_slurm if on_slurm else train_round, run, args.grid_point, args.round)
