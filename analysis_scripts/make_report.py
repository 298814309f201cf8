#!/usr/bin/env python
"""Report stage: execute analysis_results.ipynb against a run folder (also on its own, later)."""

from alpswyft import cli
from alpswyft.report import execute

args = cli.stage_parser(__doc__).parse_args()
cli.run(execute, cli.tree(args.run_dir))
