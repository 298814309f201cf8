#!/usr/bin/env python
"""Training stage: train one round's network, infer the mock observation, truncate the box (here,
or as a SLURM job when on_cluster is slurm/fox; --here runs it in this process)."""

from alpswyft import cli
from alpswyft.pipeline import load_config, train_round, train_round_on_slurm

parser = cli.stage_parser(__doc__, with_round=True)
parser.add_argument("--here", action="store_true", help="train in this process even in SLURM mode")
args = parser.parse_args()
tree = cli.tree(args.run_dir)
on_slurm = not args.here and cli.call(lambda: load_config(tree).uses_slurm)
cli.run(train_round_on_slurm if on_slurm else train_round, tree, args.grid_point, args.round)
