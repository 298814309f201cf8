#!/usr/bin/env python
"""Print the (grid point, round) pairs still to run, one 'G R' line each, in order."""

from alpswyft import cli
from alpswyft.pipeline import plan


def main(tree):
    for grid_point, round_ in plan(tree):
        print(grid_point, round_)


args = cli.stage_parser(__doc__).parse_args()
cli.run(main, cli.tree(args.run_dir))
