#!/usr/bin/env python
"""Report stage: execute analysis_results.ipynb against a run folder and render it to HTML (also
on its own, later, e.g. for another grid point)."""

from alpswyft import cli
from alpswyft.report import execute

parser = cli.stage_parser(__doc__)
parser.add_argument("--grid-point", type=int, default=0, help="the grid point the figures show (default 0)")
args = parser.parse_args()
cli.run(execute, cli.tree(args.run_dir), args.grid_point)
