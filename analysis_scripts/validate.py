#!/usr/bin/env python
"""Validation stage: coverage (HPD, TARP) and expected limits of each grid point's last round."""

from alpswyft import cli
from alpswyft.stages.validate import validate

args = cli.stage_parser(__doc__).parse_args()
cli.run(validate, cli.context(args.run_dir))
