#!/usr/bin/env bash
# A run of the ALP inference pipeline: plain shell variables, then one line that starts it.
# Run it from anywhere: ./cluster_runs/run.sh [name=value ...] (overrides, e.g. n_sim_train=500).
# Results go to cluster_runs/analysis_results/<run_name>/.
# docs/guide/variables.md explains every variable. This example uses the toy_line model (a straight line
# with Gaussian noise, whose posterior is known exactly), small enough to finish in minutes.
set -a  # every variable below is handed to the pipeline

#################################################################################################
# Environment configuration
#################################################################################################

on_cluster=local          # local: this machine (joblib processes)

#################################################################################################
# SERIES PARAMETERS (Must NOT be changed when re-running)
#################################################################################################

# ---- Technical ----
run_name=toy_line          # results folder: analysis_results/<run_name>; re-using it starts a new trial
update_config=1
account=""

# ---- Physical model configuration ----
update_physics=1
model=toy_line            # "" (ALP), toy_line, toy_poly, toy_sine
noise=gauss               # gauss or poisson
noise_sigma=1.0           # Gaussian noise standard deviation (noise=gauss)
nbins=50                  # bins of the spectrum (for toy models: points on x in [emin, emax])
emin=-1
emax=1
obs_seed=1                # noise seed of the mock observation
sim_seed=0                # seed of the simulations (each chunk's seed derives from it)
POI_indices=0,1           # which FREE parameters are inferred (0 = first free parameter)

#        bounds   | Obs.  | Null | log? | U or N(mu,sigma) | name | unit
param1=" [-3, 3]  | 0.7   | 0    | 0    | U                | a    | 1   "
param2=" [-3, 3]  | -0.3  | 0    | 0    | U                | b    | 1   "

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
limit_method=frequentist,cls,hpd  # limits drawn, the first quoted (docs/guide/validation.md); on this toy the
                          # Neyman set is the exact one, the chi2_2 ellipse
n_sim_calibration=4_000   # simulations over the box, never trained on: the frequentist critical values
n_sim_limit_coverage=1_000  # simulations over the box: the limits' coverage at every (a, b)
n_sim_null=300            # simulations at the Null values (a = b = 0): CLs
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
