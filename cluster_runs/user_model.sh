#!/usr/bin/env bash
# A run of the ALP inference pipeline: plain shell variables, then one line that starts it.
# Run it from anywhere: ./cluster_runs/run.sh [name=value ...] (overrides, e.g. n_sim_train=500).
# Results go to cluster_runs/analysis_results/<run_name>/.
# docs/guide/variables.md explains every variable. This example runs a model of one's own, defined in the file
# user_models/power_law_line.py (a power law with a Gaussian line, Poisson counts): the pipeline
# copies the file into the run folder and infers the line's amplitude A and position mu.
set -a  # every variable below is handed to the pipeline

#################################################################################################
# Environment configuration
#################################################################################################

on_cluster=local          # local: this machine (joblib processes)

#################################################################################################
# SERIES PARAMETERS (Must NOT be changed when re-running)
#################################################################################################

# ---- Technical ----
run_name=user_model        # results folder: analysis_results/<run_name>; re-using it starts a new trial
update_config=1
account=""

# ---- Physical model configuration ----
update_physics=1
model=user_models/power_law_line.py   # a model file, relative to this script (docs/guide/extending.md)
noise=poisson
nbins=40                  # points on x in [emin, emax]
emin=1
emax=10
obs_seed=1                # noise seed of the mock observation
sim_seed=0                # seed of the simulations (each chunk's seed derives from it)
POI_indices=2,3           # A and mu (0 = first free parameter: N0, gamma, A, mu)

#        bounds    | Obs. | Null | log? | U or N(mu,sigma) | name  | unit
param1=" [1, 3]    | 2    | 2    | 1    | U                | N0    | counts "
param2=" [1.5, 3]  | 2.2  | 2.2  | 0    | U                | gamma | 1      "
param3=" [0, 100]  | 40   | 0    | 0    | U                | A     | counts "
param4=" [2, 8]    | 4    | 4    | 0    | U                | mu    | 1      "
param5=" 0.3       | 0.3  | 0.3  | 0    | U                | w     | 1      "

#################################################################################################
# TECHNICAL PARAMETERS (may be changed when re-running)
#################################################################################################

# ---- Truncation ----
n_truncations=1           # rounds 0..n_truncations
use_old_truncations=0
retrain_last_round=0

# ---- Simulation ----
use_old_sims=0
save_old_sims=0
simulate=1
n_sim_train=3_000         # per round: one value, or one per round (e.g. 3_000, 5_000)
n_sim_coverage=500        # extra simulations in the last round, never trained on: coverage tests
n_sim_explim=100          # mock observations at the Obs. POI values: expected limits
n_prior_samples=50_000    # prior bank for inference, truncation and expected limits
n_jobs_sim=2              # parallel processes

# ---- Training, inference, validation ----
use_old_net=0
continue_training=0
save_old_net=0
train=1
architecture=""           # "": the default network (online-standardised data -> 1D and 2D MLPs)
restricted_posterior=0    # 0: 1D and 2D marginals, 1: 1D only, 2: 2D only, 3: 1D and prediction_pairs' 2D
train_batch_size_1d=256
max_epochs=60
gpus=0
prediction_pairs="(0,1)"   # POI planes of the expected-limit maps
DRP_coverage_parameters="10_000, 500, 0, 0, 1"  # n_draws, n_coverage, first coverage simulation, (which_net, n_processes: unused)
wandb_mode=disabled       # disabled, offline or online (online needs a wandb login)
hyperparams="--learning_rate (float) : 5e-3 \
             --stopping_patience (int) : 6 \
             --blocks (int) : 2 \
             --features (int) : 64 \
             --dropout (float) : 0.1"
start_grid_test_at_count=0

#################################################################################################
# Execution
#################################################################################################

exec "$(dirname "${BASH_SOURCE[0]}")/../analysis_scripts/run_swyft_analysis_truncation.sh" "${BASH_SOURCE[0]}" "$@"
