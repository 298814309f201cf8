#!/usr/bin/env python
"""Check a finished run's limits where they would go wrong: the exclusion rates of the no-effect
cells (where the ALP changes no bin by more than --threshold) and of truths simulated just inside
the median limit (--n-obs observations at each of --points points, the other parameters from
their prior). Prints a table and writes val_output/limit_checks_gridpoint_<g>.json."""

from alpswyft import cli
from alpswyft.limit_checks import check_run

parser = cli.stage_parser(__doc__)
parser.add_argument("--grid-point", type=int, default=0)
parser.add_argument(
    "--n-obs", type=int, default=200, help="observations per near-limit truth (default 200)"
)
parser.add_argument("--points", type=int, default=5, help="near-limit truths (default 5)")
parser.add_argument(
    "--threshold", type=float, default=1e-3, help="largest relative change of a no-effect cell"
)
args = parser.parse_args()
cli.run(
    check_run,
    cli.context(args.run_dir).tree,
    args.grid_point,
    args.n_obs,
    args.points,
    args.threshold,
)
