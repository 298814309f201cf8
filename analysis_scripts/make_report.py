#!/usr/bin/env python
"""Report stage: execute analysis_results.ipynb against a run folder and render it to HTML (also
on its own, later, e.g. for another grid point or round, or on an archived trial: an
archive/trial__N folder is only read, its report goes to <run>/reports/trial__N/ or --output)."""

from pathlib import Path

from alpswyft import cli
from alpswyft.report import execute

parser = cli.stage_parser(__doc__)
parser.add_argument(
    "--grid-point", type=int, default=0, help="the grid point the figures show (default 0)"
)
parser.add_argument(
    "--round",
    type=int,
    default=None,
    help="the round of the corner plot and the workbench cells (default: the last)",
)
parser.add_argument(
    "--output",
    type=Path,
    default=None,
    help="write the notebook, HTML and figures to this folder and nothing into the run folder",
)
args = parser.parse_args()
cli.run(execute, cli.context(args.run_dir), args.grid_point, args.round, args.output)
