#!/usr/bin/env bash
# ALP inference with truncated marginal neural ratio estimation (swyft 0.4.5): the orchestrator.
#
# Usage: run_swyft_analysis_truncation.sh RUN_SCRIPT [name=value ...]
#   Called by the last line of a run script (cluster_runs/run.sh), which exports its variables;
#   or directly with a run script written for the original pipeline (see docs/guide/original_pipeline.md, "Run scripts of
#   the original pipeline"). name=value arguments override the script's variables.
#
# Stages, in order; the first that fails stops the run with its name and the log's path:
#   environment    create or reuse .venv (environments/bootstrap.sh)
#   configuration  validate the variables, start a new trial, write config.json   (set_parameters.py)
#   rounds         per grid point and round still to do, in one process           (run_rounds.py)
#     simulation   fill the round's stores (SLURM: job arrays of simulate_batch.py)
#     training     train, infer the mock observation, truncate the box (SLURM: a job of train.py)
#   validation     coverage (HPD, TARP) and expected limits of the last round         (validate.py)
#   report         execute analysis_results.ipynb                                   (make_report.py)
# With simulate=1 train=0 the rounds stage only fills the next round's stores; validation and report
# then say so and leave the trial open for a later run to resume and train.
# Everything printed from the first line on is kept in <run folder>/output.log.
set -Eeuo pipefail

run_script=$(realpath "${1:?usage: $0 RUN_SCRIPT [name=value ...]}")
shift
scripts_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname "$scripts_dir")
# Overrides after the run script (name=value ...) replace its values; the configuration stage
# validates them like the script's own and records them.
overrides=()
for assignment in "$@"; do
    if [[ ! $assignment =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
        echo "ERROR: '$assignment' is not an override: give name=value after the run script, e.g. n_sim_train=2000" >&2
        exit 2
    fi
    overrides+=("${assignment%%=*}")
done
if [[ -z ${run_name:-} ]]; then
    # A run script that exports nothing (one written for the original pipeline, given here
    # directly): its variables are evaluated without its Execution block and exported.
    "$repo_dir/environments/bootstrap.sh"
    exports=$("$repo_dir/.venv/bin/python" -m alpswyft.runscript --exports "$run_script" --given "${overrides[@]}")
    eval "$exports"
fi
for assignment in "$@"; do
    export "$assignment"
done
results_parent_dir=$(realpath -m "${results_parent_dir:-$(dirname "$run_script")/analysis_results}")
run_dir=$results_parent_dir/${run_name:?run_name is not set in $run_script}

if ! mkdir -p "$results_parent_dir" 2>/dev/null || [[ ! -w $results_parent_dir ]]; then
    echo "ERROR: the results folder $results_parent_dir cannot be created or written to (read-only?);" \
        "make it writable or set results_parent_dir in $run_script to another folder." >&2
    exit 1
fi

# One run per run_name at a time. The kernel releases the lock when this process and its stages
# end, however they end, so a killed run leaves no stale lock behind (the wait covers processes
# of a killed run that are still exiting).
lock_file=$results_parent_dir/.$run_name.lock
exec 8>>"$lock_file"
if ! flock -w 10 8; then
    echo "ERROR: run '$run_name' is already running ($(<"$lock_file")); wait for it to finish, or use another run_name." >&2
    exit 1
fi
echo "pid $$ on $(hostname), started $(date '+%Y-%m-%d %H:%M:%S'), run script $run_script" >"$lock_file"

# Log from the first line: to a file next to the run folders, which the configuration stage moves
# into the new trial as output.log (a rename, so this tee keeps writing to it).
early_log=$(mktemp "$results_parent_dir/.${run_name}.starting.XXXXXX.log")
# An early log still here belongs to a run killed before its configuration finished (this run
# holds the lock): its output opens this one's.
for stale_log in "$results_parent_dir/.${run_name}".starting.*.log; do
    [[ $stale_log != "$early_log" && -f $stale_log ]] || continue
    { echo "--- output of an earlier attempt, killed before its configuration finished ($(basename "$stale_log")):"
      cat "$stale_log"; echo "--- end of the earlier attempt's output"; } >>"$early_log"
    rm -f "$stale_log"
done
exec > >(trap '' TERM INT; exec tee -a "$early_log") 2>&1  # tee ignores interrupts: it logs them
tee_pid=$!

stage_name="start-up"
log_hint() { [[ -f $run_dir/output.log && ! -e $early_log ]] && echo "$run_dir/output.log" || echo "the output above"; }
on_exit() {
    local status=$?
    if ((status != 0)); then
        echo "FAILED: stage '$stage_name' (exit status $status). See $(log_hint)."
    fi
    rm -f "$early_log"  # still here only if the configuration stage did not take it over
    rm -f "$lock_file"  # tidy; the lock itself goes with the descriptor
    exec >&- 2>&-
    wait "$tee_pid" 2>/dev/null || true
    exit "$status"
}
trap on_exit EXIT
# Ctrl-C or SIGTERM: pass SIGTERM on to the running stage, so that a waiting stage cancels the
# SLURM jobs it submitted, and wait for its last words; finished chunks stay in the stores and the
# same command resumes. (Stages run in the background because bash defers traps while a
# foreground command runs.)
stage_pid=""
on_signal() {
    trap - TERM INT
    echo "INTERRUPTED during stage '$stage_name': stopping (the same command resumes this trial)"
    if [[ -n $stage_pid ]]; then
        kill -TERM "$stage_pid" 2>/dev/null || true
        wait "$stage_pid" 2>/dev/null || true
    fi
    exit 130
}
trap on_signal TERM INT

stage() {
    stage_name=$1
    shift
    echo
    echo "=== $stage_name ($(date '+%Y-%m-%d %H:%M:%S'))"
    "$@" &
    stage_pid=$!
    wait "$stage_pid"
    stage_pid=""
}

echo "ALP INFERENCE WITH TRUNCATED MARGINAL NRE (swyft 0.4.5)"
echo "run script: $run_script"
echo "run folder: $run_dir"

stage "environment" "$repo_dir/environments/bootstrap.sh"
python=$repo_dir/.venv/bin/python
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg

stage "configuration" "$python" "$scripts_dir/set_parameters.py" \
    --run-script "$run_script" --results-dir "$results_parent_dir" --early-log "$early_log" \
    --overrides "${overrides[@]}"

stage "rounds" "$python" "$scripts_dir/run_rounds.py" "$run_dir"

stage "validation" "$python" "$scripts_dir/validate.py" "$run_dir"

stage "report" "$python" "$scripts_dir/make_report.py" "$run_dir"
