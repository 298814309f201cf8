#!/usr/bin/env bash
# A MAGIC-like analysis of NGC 1275: the setting of H. Abe et al. (MAGIC), Phys. Dark Univ. 44, 101425
# (2024), arXiv:2401.07798, as far as it can be reproduced from public data. model=magic_like: three
# flux states (flare 50 GeV-2.1 TeV, post-flare 64 GeV-1.4 TeV, low 70 GeV-2.1 TeV; 41.3 h in all)
# with the MAGIC authors' EPWL best fits, seen through one realisation of gammaALPs' Perseus field
# per simulation and through the response of the MAGIC DL3 run 05059487 (scaled to each state's
# live time), with its smoothed OFF spectrum as background. The amplitude, index and lambda of each
# state are nuisances (+-50 %, as MAGIC profiles them). The run gives the expected 95 % limit of
# such an analysis (docs/guide/magic_like.md); sim_seed=1 and 2 give the seed band there. Run it from anywhere: ./cluster_runs/magic_like.sh [name=value ...].
set -a  # every variable below is handed to the pipeline

#################################################################################################
# Environment configuration
#################################################################################################

on_cluster=local          # local: this machine (joblib processes); slurm: SLURM jobs

#################################################################################################
# SERIES PARAMETERS (Must NOT be changed when re-running)
#################################################################################################

# ---- Technical ----
run_name=magic_like        # results folder: analysis_results/<run_name>; re-using it starts a new trial
update_config=1
account=""

# ---- Physical model configuration ----
update_physics=1
model=magic_like
# a MAGIC DL3 run of NGC 1275 (05059487, 1179 s on 2017-01-01, pointed 0.4 deg from it), distributed
# with the original pipeline's repository without a stated provenance or licence: a test input, not
# shipped with the project. Its path, relative to this script
observation="../../shared/data/irfs/magicDL3_05059487.fits.gz"
rad_max=0.1414            # deg: MAGIC's theta^2 < 0.02 deg^2 cut (the file's RAD_MAX keyword holds 0.02)
n_off_regions=3           # reflected OFF regions of the wobble run
background_scatter=0.3    # log-normal width of each bin's background about the smoothed OFF spectrum
noise=poisson
nbins=16                  # reconstructed-energy bins per flux state
nbins_etrue=120           # true-energy bins, 25 GeV-4.2 TeV (also the energies of P_gg)
ALP_seed=None             # a new Perseus-field realisation in every simulation
obs_seed=0
sim_seed=0
POI_indices=0,1           # m and g; the nine spectral nuisances are marginalised

#        bounds       | Obs.  | Null  | log? | prior | name                 | unit
param1="  [1, 3]      | -6    | -6    | 1    | U     | m                    | neV "
param2="  [-1.5, 1.5] | -5    | -5    | 1    | U     | g                    | e-11GeV^{-1} "
# amplitudes free within +-50 % (MAGIC profiles them over x[0.5, 1.5]); fixed: give one value, e.g. "1.61e-09 | ..."
param3="  [8.05e-10, 2.415e-09] | 1.61e-09 | 1.61e-09 | 0 | U | amplitude_flare | TeV^{-1}cm^{-2}s^{-1} "
param4="  [1.055, 3.165] | 2.11 | 2.11 | 0    | U     | index_flare          | none "
param5="  [0.62, 1.86] | 1.24 | 1.24  | 0    | U     | lambda_flare         | TeV^{-1} "
param6="  [5.7e-10, 1.71e-09] | 1.14e-09 | 1.14e-09 | 0 | U | amplitude_post_flare | TeV^{-1}cm^{-2}s^{-1} "
param7="  [0.895, 2.685] | 1.79 | 1.79 | 0    | U     | index_post_flare     | none "
param8="  [1.725, 5.175] | 3.45 | 3.45 | 0    | U     | lambda_post_flare    | TeV^{-1} "
param9="  [5.5e-11, 1.65e-10] | 1.1e-10 | 1.1e-10 | 0 | U | amplitude_low | TeV^{-1}cm^{-2}s^{-1} "
param10=" [1.27, 3.81] | 2.54 | 2.54  | 0    | U     | index_low            | none "
param11=" [1, 3]      | 2     | 2     | 0    | U     | lambda_low           | TeV^{-1} "
param12=" 300         | 300   | 300   | 0    | U     | E0                   | GeV "
param13=" 10          | 10    | 10    | 0    | U     | rms_B                | muG "
param14=" 39          | 39    | 39    | 0    | U     | e_norm               | 1e-3cm^{-3} "
param15=" 4.05        | 4.05  | 4.05  | 0    | U     | e_norm_2             | 1e-3cm^{-3} "
param16=" 500         | 500   | 500   | 0    | U     | cluster_ext          | kpc "
param17=" 80          | 80    | 80    | 0    | U     | e_dens_1             | kpc "
param18=" 280         | 280   | 280   | 0    | U     | e_dens_2             | kpc "
param19=" 1.2         | 1.2   | 1.2   | 0    | U     | e_dens_3             | none "
param20=" 0.58        | 0.58  | 0.58  | 0    | U     | e_dens_4             | none "
param21=" 0.5         | 0.5   | 0.5   | 0    | U     | B_scaling            | none "
param22=" -0.7447275  | -0.7447275 | -0.7447275 | 1 | U | Max_turb           | kpc^{-1} "
param23=" 0.95424251  | 0.95424251 | 0.95424251 | 1 | U | min_turb           | kpc^{-1} "
param24=" 2.80        | 2.80  | 2.80  | 0    | U     | turb_index           | none "

#################################################################################################
# TECHNICAL PARAMETERS (may be changed when re-running)
#################################################################################################

# ---- Truncation ----
n_truncations=0           # rounds 0..n_truncations. One round: a no-ALP observation allows every m at
                          # small g, so the 1D truncation cannot cut m or g and a second round would only
                          # split the simulations
use_old_truncations=0
retrain_last_round=0

# ---- Simulation ----
use_old_sims=0
save_old_sims=0
simulate=1
n_sim_train=20_000        # per round: one value, or one per round (e.g. 10_000, 10_000, 100_000)
n_sim_coverage=300        # extra simulations in the last round, never trained on: coverage tests
n_sim_explim=100          # mock observations at the Obs. POI values: expected limits
n_prior_samples=50_000    # prior bank for inference, truncation and expected limits
n_jobs_sim=2              # parallel processes (SLURM: the chunks of a store are tasks of one job array)
partition_sim=normal      # SLURM: partition of the simulation jobs (no GPU needed)
devel_sim=0               # SLURM: 1 submits with --qos=devel (starts sooner, short wall time)
max_memory_sim=4          # SLURM: memory per CPU of a simulation task, GB
max_time_sim=00-01:00:00  # SLURM: wall time of a simulation task, dd-hh:mm:ss

# ---- Training, inference, validation ----
use_old_net=0
continue_training=0
save_old_net=0
train=1
architecture=power        # MLPs on the spectrum and on its Fourier power (the original's network_power.py):
                          # the power carries the ALP's irregularities, which the spectrum's free shape cannot mimic
restricted_posterior=0    # 0: 1D and 2D marginals, 1: 1D only, 2: 2D only, 3: 1D and the prediction_pairs planes' 2D
bnre_lambda=0             # >0: balanced NRE (conservative posteriors; 100 in Delaunoy et al. 2022)
train_batch_size_1d=256
max_epochs=60
gpus=0                    # >0: train on a CUDA GPU when there is one (SLURM: --gpus)
partition_train=normal    # SLURM: partition of the training jobs ("accel" or the like for GPUs)
devel_train=0             # SLURM: 1 submits with --qos=devel
max_memory_train=8        # SLURM: memory per CPU of a training job, GB
max_time_train=00-04:00:00  # SLURM: wall time of a training job, dd-hh:mm:ss
prediction_pairs="(0,1)"   # POI planes of the expected-limit maps
fixed_nuisance_limits=0   # 1: also the expected limit with the nuisances fixed at their Obs. values (a second network)
credibility_levels="0.68,0.95"  # HPD levels of coverage, expected limits and contours (e.g. 0.68,0.95,0.9973)
extra_observations="m=45.7, g=1, seed=1"  # an ALP at 45.7 neV, g = 1e-11 /GeV (inside MAGIC's contour)
DRP_coverage_parameters="5_000, 300, 0, 0, 1"  # n_draws, n_coverage, first coverage simulation, (which_net, n_processes: unused)
wandb_mode=disabled       # disabled, offline or online (online needs a wandb login)
hyperparams="--learning_rate (float) : 3e-4 \
             --stopping_patience (int) : 6 \
             --blocks (int) : 2 \
             --features (int) : 64 \
             --dropout (float) : 0.1 \
             --data_width (int) : 128 \
             --data_features (int) : 32 \
             --power_width (int) : 256 \
             --power_features (int) : 32"
start_grid_test_at_count=0

#################################################################################################
# Execution
#################################################################################################

exec "$(dirname "${BASH_SOURCE[0]}")/../analysis_scripts/run_swyft_analysis_truncation.sh" "${BASH_SOURCE[0]}" "$@"
