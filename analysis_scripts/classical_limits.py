#!/usr/bin/env python
"""The classical likelihood analysis (MAGIC's method) of a finished ALP run's mock observations,
as classical_limits=1 makes it in the validation stage, with the grid, realisations and
pseudo-experiments given here: writes val_output/classical_limits_gridpoint_<g>.npz and
classical_comparison_gridpoint_<g>.png, and prints the network's limits against it."""

from functools import partial

from alpswyft import cli
from alpswyft.stages.validate import classical_limits

parser = cli.stage_parser(__doc__)
parser.add_argument("--grid-point", type=int, default=0)
parser.add_argument(
    "--bins",
    help="grid cells along m and g: one number or two (default: the run's classical_bins, 16)",
)
parser.add_argument("--realisations", type=int, help="field realisations (default 100)")
parser.add_argument(
    "--toys", type=int, help="pseudo-experiments per lattice point (0: Wilks only; default 20)"
)
parser.add_argument(
    "--lattice",
    type=int,
    help="lattice points per axis of the pseudo-experiments (default 3; 0: "
    "pseudo-experiments only at the cells along the Wilks line)",
)
parser.add_argument(
    "--observations", type=int, help="the first N of the run's mock observations (default: all)"
)
parser.add_argument(
    "--field",
    choices=("obs", "prior"),
    help="the field's free parameters (B0): at their Obs. values or from their prior (default obs)",
)
args = parser.parse_args()
cli.run(
    partial(
        classical_limits,
        n_observations=args.observations,
        classical_bins=args.bins,
        classical_realisations=args.realisations,
        classical_toys=args.toys,
        classical_lattice=args.lattice,
        classical_field=args.field,
    ),
    cli.context(args.run_dir),
    args.grid_point,
)
