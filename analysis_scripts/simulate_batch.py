#!/usr/bin/env python
"""Simulation stage: fill the stores of one round and grid point (here, or as SLURM jobs); with
--kind and --chunk, simulate that one chunk (the body of a SLURM simulation task)."""

from alpswyft import cli
from alpswyft.stages.simulate import simulate_chunk, simulate_round
from alpswyft.stores import KINDS

parser = cli.stage_parser(__doc__, with_round=True)
parser.add_argument("--kind", choices=list(KINDS), help="one store kind (with --chunk)")
parser.add_argument("--chunk", type=int, help="one chunk of that store")
args = parser.parse_args()
if args.chunk is None:
    cli.run(simulate_round, cli.context(args.run_dir), args.grid_point, args.round)
else:
    cli.run(
        simulate_chunk,
        cli.context(args.run_dir),
        args.grid_point,
        args.round,
        args.kind,
        args.chunk,
    )
