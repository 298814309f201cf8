#!/usr/bin/env bash
# A run of the ALP inference pipeline: plain shell variables, then one line that starts it.
# Run it from anywhere: ./cluster_runs/run.sh [name=value ...] (overrides, e.g. n_sim_train=500).
# Results go to cluster_runs/analysis_results/<run_name>/.
# docs/guide/variables.md explains every variable. This default is the ALP analysis of NGC 1275 with CTA North
# on 2 cores (about 7.5 minutes): m and g are inferred with the intrinsic spectrum (amplitude, index,
# cut-off) and the cluster field's strength B0 marginalised, as free parameters with priors of
# their own; the other cluster parameters stay at the original run.sh values (the field
# realisation is random in every simulation). The expected limit is also computed with those four
# nuisances fixed at their true values (fixed_nuisance_limits), to show what marginalising costs.
# toy_line.sh is a smaller example with an exactly known posterior.
set -a  # every variable below is handed to the pipeline

#################################################################################################
# Environment configuration
#################################################################################################

on_cluster=local          # local: this machine (joblib processes); slurm: SLURM jobs (docs/guide/cluster.md)
slurm_max_attempts=3      # SLURM: how often a failed chunk or training job is submitted before the run stops
sbatch_extra=""           # SLURM: further sbatch options of every job, separated by ';' (e.g. "--constraint=a100; --exclusive")
job_setup=""              # SLURM: a shell line every job runs first (e.g. "module load CUDA/12.1")

#################################################################################################
# SERIES PARAMETERS (Must NOT be changed when re-running)
#################################################################################################

# ---- Technical ----
run_name=alp_default      # results folder: analysis_results/<run_name>; re-using it starts a new trial
update_config=1
account=""

# ---- Physical model configuration ----
update_physics=1
model=""                  # "" (ALP), spectral_fit, spectral_fit_log, toy_line, toy_poly, toy_sine
noise=poisson
nbins=90                  # reconstructed-energy bins
nbins_etrue=180           # true-energy bins (also the energies of P_gg)
emin=2e1                  # GeV
emax=6e3                  # GeV
livetime=10               # hours
ALP_seed=None             # None: a new cluster-field realisation in every simulation
floor_exp=-1.15           # floor of the expected log10 residual
floor_obs=-1.15           # floor of the observed log10 residual
IRF_file=""               # "": the shipped CTA North Prod5 file (4 LSTs + 9 MSTs, 20 deg, average azimuth)
on_region=point           # point: a disk of on_region_radius deg; legacy: the original 2x2 deg box
on_region_radius=0.2
alp_engine=fast           # fast, or gammaalps (the reference, ~10x slower)
obs_seed=0                # noise seed of the mock observation
sim_seed=0                # seed of the simulations (each chunk's seed derives from it)
POI_indices=0,1,2,3,4,5   # which FREE parameters are inferred (0 = first free parameter): all six,
                          # so that the report shows what the data say about the nuisances too

# Priors: amplitude, index and cut-off within 0.5 (in log10 for amplitude and cut-off) of the original's values; B0
# log-normal, 25 muG times 10^(+-0.28) (the original's informed prior, grid_informed_power.sh).

#        bounds     | Obs.   | Null   | log? | U or N(mu,sigma) | name        | unit
param1="  [-2, 4]   | -6     | -6     | 1    | U                | m           | neV "
param2="  [-2, 1]   | -5     | -5     | 1    | U                | g           | e-11GeV^{-1} "
param3="  [-9.3, -8.3]  | -8.812 | -8.812 | 1    | U                | Amplitude   | TeV^{-1}cm^{-2}s^{-1} "
param4="  [1.6, 2.6]    | 2.11   | 2.11   | 0    | U                | index       | none "
param5="  300       | 300    | 300    | 0    | U                | E0          | GeV "
param6="  [2.3, 3.3]    | 2.75   | 2.75   | 1    | U                | Ecut        | GeV "
param7="  [0.58, 2.22]  | 1.4    | 1.4    | 1    | N(1.4,0.28)      | rms_B       | muG "
param8="  46        | 46     | 46     | 0    | U                | e_norm      | 1e-3cm^{-3} "
param9="  4.05      | 4.05   | 4.05   | 0    | U                | e_norm_2    | 1e-3cm^{-3} "
param10=" 500       | 500    | 500    | 0    | U                | cluster_ext | kpc "
param11=" 57        | 57     | 57     | 0    | U                | e_dens_1    | kpc "
param12=" 268       | 268    | 268    | 0    | U                | e_dens_2    | kpc "
param13=" 1.2       | 1.2    | 1.2    | 0    | U                | e_dens_3    | none "
param14=" 0.69      | 0.69   | 0.69   | 0    | U                | e_dens_4    | none "
param15=" 0.62      | 0.62   | 0.62   | 0    | U                | B_scaling   | none "
param16=" -0.41     | -0.41  | -0.41  | 1    | U                | Max_turb    | kpc^{-1} "
param17=" 0.93      | 0.93   | 0.93   | 1    | U                | min_turb    | kpc^{-1} "
param18=" 1.97      | 1.97   | 1.97   | 0    | U                | turb_index  | none "

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
n_sim_train=15_000        # per round: one value, or one per round (e.g. 10_000, 10_000, 100_000)
n_sim_coverage=300        # extra simulations in the last round, never trained on: coverage tests
n_sim_explim=100          # mock observations at the Obs. POI values: expected limits
n_prior_samples=50_000    # prior bank for inference, truncation and expected limits
n_jobs_sim=2              # parallel processes (SLURM: the chunks of a store are tasks of one job array)
non_finite_sims=stop      # a simulation holding NaN or inf: stop, naming its parameters; redraw: draw it
                          # again from the prior (a model failing on a negligible part of it)
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
restricted_posterior=3    # 0: 1D and 2D marginals, 1: 1D only, 2: 2D only, 3: 1D and the prediction_pairs
                          # planes' 2D (here m-g: 7 marginals instead of 21, twice as fast to train)
bnre_lambda=0             # >0: balanced NRE (conservative posteriors; 100 in Delaunoy et al. 2022)
train_batch_size_1d=256
max_epochs=60
gpus=0                    # >0: train on a CUDA GPU when there is one (SLURM: --gpus)
partition_train=normal    # SLURM: partition of the training jobs ("accel" or the like for GPUs)
devel_train=0             # SLURM: 1 submits with --qos=devel
max_memory_train=8        # SLURM: memory per CPU of a training job, GB
max_time_train=00-04:00:00  # SLURM: wall time of a training job, dd-hh:mm:ss
prediction_pairs="(0,1)"   # POI planes of the expected-limit maps
fixed_nuisance_limits=1   # also the expected limit with every other free parameter fixed at its Obs. value
credibility_levels="0.68,0.95"  # levels of coverage, limits and contours (e.g. 0.68,0.95,0.9973)
limit_method=frequentist,cls,hpd  # the limits drawn (the first is the one quoted): frequentist (Neyman
                          # construction from the calibration store), cls (Neyman's p-value over the
                          # null hypothesis': never excludes what the data cannot see), hpd (Bayesian)
n_sim_calibration=20_000  # simulations over the whole box, never trained on: the frequentist critical values
                          # (each point's from the 476 nearest to it, tricube weighted)
n_sim_limit_coverage=2_000  # simulations over the whole box: the limits' coverage at every (m, g)
n_sim_null=500            # simulations at the Null values of m and g: CLs
classical_limits=0        # 1: also MAGIC's likelihood analysis of the same mock observations, beside the
                          # network's limit (about 45 minutes on 2 cores with the settings below; also
                          # analysis_scripts/classical_limits.py on a finished run)
classical_bins=16         # its grid over the (m, g) box: cells along m and g (one number, or two: 16,12)
classical_realisations=100  # cluster-field realisations per grid point (MAGIC: the 6th best of 100)
classical_toys=20         # pseudo-experiments per lattice point and per cell along the Wilks line (0: Wilks' chi2_2 only)
classical_lattice=3       # lattice points per axis where the pseudo-experiments are drawn (3 x 3; 0: only along the Wilks line)
classical_field=obs       # the field's B0 (rms_B) at its Obs. value (MAGIC: one field model), or prior (a draw per realisation)
extra_observations="m=10, g=3.162, seed=1"  # more observations inferred with the last round's network, rows
                          # separated by ';', values by name in physical units as ALPSim takes them (here
                          # m = 10 neV, g = 3.162e-11 /GeV; log10(m)=1 says the same in log10)
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
