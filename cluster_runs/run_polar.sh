#!/usr/bin/env bash
# A run of the POLAR background model and transient-interval search: variables, then one line
# that starts it. Run it from anywhere: ./cluster_runs/run_polar.sh [name=value ...], where name is
# a variable below (config=my.yaml, run_name=...) or a configuration key (train.max_epochs=5).
# Results go to cluster_runs/analysis_results/<run_name>/. docs/polar/index.md explains it.
set -a  # every variable below is handed to the pipeline

on_cluster=local          # local: this machine; slurm: the training runs as a SLURM job
run_name=polar_synthetic  # results folder: analysis_results/<run_name>; a re-run resumes or redoes what changed

# The configuration: a YAML file, or "" for the shipped analysis_scripts/polar/config.yaml, and
# overrides in its key=value form. data.file="" generates a synthetic nf1rate.root; give the real
# file as data.file=/path/to/nf1rate.root.
config=""
overrides="data.file='' synthetic.days=2 wandb.mode=disabled"

# SLURM (on_cluster=slurm): the training job's resources
partition_train=""
account=""
max_time_train="00-02:00:00"
max_memory_train=8        # GB per CPU
slurm_max_attempts=3

exec "$(dirname "${BASH_SOURCE[0]}")/../analysis_scripts/run_polar_analysis.sh" "${BASH_SOURCE[0]}" "$@"
