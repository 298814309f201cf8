#!/usr/bin/env bash
# POLAR background model and transient-interval search: the orchestrator.
#
# Usage: run_polar_analysis.sh RUN_SCRIPT [name=value ...]   (called by the last line of
# cluster_runs/run_polar.sh, which exports its variables). name=value sets a variable of the run
# script (config=..., run_name=...) or overrides a configuration key (train.max_epochs=5);
# polar_analysis.py tells them apart and refuses unknown keys. Sets up .venv, then runs every stage
# in one process; everything printed goes to <run folder>/output.log as well.
set -Eeuo pipefail

run_script=$(realpath "${1:?usage: $0 RUN_SCRIPT [name=value ...]}")
shift
for assignment in "$@"; do
    if [[ $assignment =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
        export "$assignment"  # a variable of the run script, e.g. run_name, which the run folder needs here
    fi
done
repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
results_parent_dir=$(realpath -m "${results_parent_dir:-$(dirname "$run_script")/analysis_results}")
run_dir=$results_parent_dir/${run_name:?run_name is not set in $run_script}
export results_parent_dir PYTHONUNBUFFERED=1 MPLBACKEND=Agg

if ! mkdir -p "$run_dir" 2>/dev/null || [[ ! -w $run_dir ]]; then
    echo "ERROR: the run folder $run_dir cannot be created or written to; set results_parent_dir or run_name." >&2
    exit 1
fi
exec 8>>"$results_parent_dir/.$run_name.lock"
if ! flock -w 10 8; then
    echo "ERROR: run '$run_name' is already running; wait for it to finish, or use another run_name." >&2
    exit 1
fi

"$repo_dir/environments/bootstrap.sh"
exec > >(exec tee -a "$run_dir/output.log") 2>&1
cp "$run_script" "$run_dir/"
"$repo_dir/.venv/bin/python" "$repo_dir/analysis_scripts/polar_analysis.py" --run-script "$run_script" "$@"
echo "Finished: open $run_dir/polar_report.html"
