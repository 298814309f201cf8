#!/usr/bin/env python
"""The cost of the original's production study, measured per unit here and projected.

The configuration is that of the original's ``grid_informed_power.sh`` (its 18 parameter rows and
priors, 5 POIs, the power network, 10^6 training simulations per round, 4*10^5 prior samples,
10^4 coverage simulations), read from ``--script`` (default: the original's script in
``../shared/data/original_run_scripts/`` when present, else the shipped ``cluster_runs/run.sh``
with those sizes, its own parameter table and POIs). Measured in one run, on one CPU core and on
a GPU when one is visible:

- simulation: seconds per simulation of prior draws (the cost grows with kH and r_abell), and the
  original's path (gammaALPs ``run()`` + gammapy ``npred()``) on draws of the same prior;
- training: samples per second of the first grid point's network at batch 512 (a short real
  training run: noise resampling, 1D and 2D heads, validation), per epoch over 0.9 * 10^6 samples;
- inference: log-ratio evaluations per second over the prior bank; the coverage test evaluates
  (posterior draws + 1) points per coverage simulation.

Prints the per-unit table and the projected CPU core-hours (and GPU-hours) of one round and of a
4-round analysis (3 truncations), with the original's simulation cost beside them.

Usage: .venv/bin/python analysis_scripts/benchmarks/bench_original_scale.py [--epochs 100] [--n-sim 48]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parents[2]
ORIGINAL = REPO.parent / "shared" / "data" / "original_run_scripts" / "grid_informed_power.sh"
#: The production sizes (those of grid_informed_power.sh), for the shipped script.
PRODUCTION = {
    "n_sim_train": "1_000_000",
    "n_sim_coverage": "10_000",
    "n_prior_samples": "400_000",
    "DRP_coverage_parameters": "10_000, 1000, 0, 1, 5",
}
#: What cannot exist here: the store of the original user's earlier run; the run's own switches.
HERE = {"use_old_sims": "0", "simulate": "1", "train": "1", "on_cluster": "local", "gpus": "0"}
ROUNDS = 4


def load(script: Path, **overrides):
    from alpswyft.config import load_run_config
    from alpswyft.runscript import evaluate_run_script

    variables = evaluate_run_script(script, tuple(HERE))
    if script != ORIGINAL:
        variables.update(PRODUCTION)
    variables.update(HERE, **overrides)
    return load_run_config(variables)[0]


def per_simulation(simulator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of each of n simulations of prior draws on this thread, and their physical vectors."""
    import numba

    numba.set_num_threads(1)
    table = simulator.table
    rng = np.random.default_rng(0)
    theta = table.sample(table.initial_bounds, n, rng)
    simulator.simulate(theta[:1], rng)  # warm-up
    seconds = []
    for row in theta:
        start = time.perf_counter()
        simulator.simulate(row[None], rng)
        seconds.append(time.perf_counter() - start)
    return np.array(seconds), table.physical(theta)


def gpu_simulations_per_second(simulator, n: int = 4096) -> float | None:
    from alpswyft.physics.alp_model import gpu_engine

    if gpu_engine() is None:
        return None
    rng = np.random.default_rng(1)
    bounds = simulator.table.initial_bounds
    simulator.sample(64, bounds, rng)
    start = time.perf_counter()
    simulator.sample(n, bounds, rng)
    return n / (time.perf_counter() - start)


def training_rate(config, simulator, gpus: int, n: int = 4096) -> tuple[float, object]:
    """Training samples per second of the first grid point's network at the script's batch size, and the network."""
    import torch

    from alpswyft.networks import build_network
    from alpswyft.training import train_network

    samples = simulator.sample(n, config.table.initial_bounds, np.random.default_rng(2))
    torch.manual_seed(0)
    network = build_network(config, config.grid[0], simulator.shapes)
    with tempfile.TemporaryDirectory() as logs:
        _, figures = train_network(network, simulator, samples, logs, f"bench_gpus{gpus}", seed=0)
    return figures["samples_per_second"], network


def inference_rate(config, simulator, network, n: int) -> float:
    from alpswyft.inference import logratios_on_bank

    bank = config.table.sample(config.table.initial_bounds, n, np.random.default_rng(3))
    observation = {
        k: v[0] for k, v in simulator.simulate(config.table.obs, np.random.default_rng(4)).items()
    }
    observation = {k: observation[k] for k in simulator.observed_nodes}
    logratios_on_bank(network, observation, bank[:1000])
    start = time.perf_counter()
    logratios_on_bank(network, observation, bank)
    return n / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--script",
        type=Path,
        default=ORIGINAL if ORIGINAL.exists() else REPO / "cluster_runs" / "run.sh",
    )
    parser.add_argument(
        "--n-sim", type=int, default=48, help="fast simulations timed (prior draws)"
    )
    parser.add_argument(
        "--n-original", type=int, default=4, help="original-path simulations timed (prior draws)"
    )
    parser.add_argument(
        "--epochs", type=int, default=100, help="epochs per training assumed in the projection"
    )
    parser.add_argument(
        "--n-bank", type=int, default=100_000, help="prior-bank points timed for inference"
    )
    args = parser.parse_args()

    import logging

    import pytorch_lightning  # noqa: F401 - it sets its loggers' levels on import
    import torch

    for name in ("pytorch_lightning", "lightning_fabric"):  # the short training runs' banners
        logging.getLogger(name).setLevel(logging.ERROR)
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_simulation

    from alpswyft.models import MODELS
    from alpswyft.simulator import SpectrumSimulator

    config = load(args.script, max_epochs="2")
    if args.script != ORIGINAL:
        print(
            f"{ORIGINAL} is not here: the sizes of the production study on the parameter table of {args.script}"
        )
    print(
        f"configuration: {args.script} ({len(config.table.free)} free parameters, POIs {config.POI_indices}, "
        f"{len(config.grid)} grid points of hyperparameters, architecture {config.architecture!r})"
    )
    simulator = SpectrumSimulator(config, MODELS[config.model].prepare(config))

    seconds, vectors = per_simulation(simulator, args.n_sim)
    kh, domains = vectors[:, 16], vectors[:, 9] * vectors[:, 16]
    print(
        f"simulation, fast engine, 1 core: mean {seconds.mean():.4f} s, median {np.median(seconds):.4f} s over "
        f"{len(seconds)} prior draws (kH {kh.min():.1f}-{kh.max():.1f} kpc^-1, "
        f"{domains.min():.0f}-{domains.max():.0f} domains)"
    )
    original = bench_simulation.original_style(config, args.n_original, vectors[: args.n_original])
    fast_same = seconds[: args.n_original]
    print(
        f"simulation, original path, 1 core: mean {original.mean():.3f} s over {len(original)} of the same draws "
        f"(fast engine on those: {fast_same.mean():.4f} s; ratio {original.mean() / fast_same.mean():.0f}x)"
    )
    gpu_sims = gpu_simulations_per_second(simulator)
    cuda = torch.cuda.is_available()
    train_cpu, network = training_rate(config, simulator, gpus=0)
    infer_cpu = inference_rate(config, simulator, network, args.n_bank)
    train_gpu = infer_gpu = None
    if cuda:
        config_gpu = load(args.script, max_epochs="2", gpus="1")
        train_gpu, network_gpu = training_rate(config_gpu, simulator, gpus=1)
        infer_gpu = inference_rate(config_gpu, simulator, network_gpu, args.n_bank)
    print(
        f"training, batch {config.train_batch_size_1d}: {train_cpu:,.0f} samples/s on "
        f"{torch.get_num_threads()} CPU threads"
        + (f", {train_gpu:,.0f} on the GPU" if train_gpu else "")
    )
    print(
        f"inference: {infer_cpu:,.0f} log-ratio points/s on the CPU"
        + (f", {infer_gpu:,.0f} on the GPU" if infer_gpu else "")
    )

    n_train = config.n_train_round(0)
    n_sims = n_train + config.n_sim_coverage
    n_draws, n_coverage, _ = config.coverage_draws
    threads = torch.get_num_threads()
    units = [  # (stage, units per round, what a unit is, CPU core-seconds per unit, GPU seconds per unit)
        ("simulation", n_sims, "simulation", seconds.mean(), 1 / gpu_sims if gpu_sims else None),
        (
            "training",
            args.epochs * 0.9 * n_train,
            "sample seen",
            threads / train_cpu,
            1 / train_gpu if train_gpu else None,
        ),
        (
            "truncation bank",
            config.n_prior_samples,
            "log-ratio point",
            threads / infer_cpu,
            1 / infer_gpu if infer_gpu else None,
        ),
    ]
    coverage = (
        "coverage (once)",
        n_coverage * (n_draws + 1),
        "log-ratio point",
        threads / infer_cpu,
        1 / infer_gpu if infer_gpu else None,
    )
    print(
        f"\nprojection: {n_train:,} training + {config.n_sim_coverage:,} coverage simulations per round, "
        f"{args.epochs} epochs, {config.n_prior_samples:,} prior samples, {n_coverage:,} coverage tests x "
        f"{n_draws:,} draws; one network (the study's grid has {len(config.grid)})"
    )
    print(
        f"{'stage':<18}{'units/round':>14}  {'unit':<16}{'core-s/unit':>12}{'core-h/round':>14}"
        f"{'core-h/4 rounds':>17}{'GPU-h/4 rounds':>16}"
    )
    total_cpu = total_gpu = 0.0
    for stage, n, unit, cpu, gpu in [*units, coverage]:
        rounds = 1 if stage.startswith("coverage") else ROUNDS
        hours = n * cpu / 3600
        total_cpu += hours * rounds
        gpu_text = f"{n * gpu * rounds / 3600:16.2f}" if gpu else f"{'-':>16}"
        total_gpu += n * gpu * rounds / 3600 if gpu else 0.0
        print(
            f"{stage:<18}{n:>14,.0f}  {unit:<16}{cpu:>12.2e}{hours:>14.2f}{hours * rounds:>17.2f}{gpu_text}"
        )
    print(
        f"{'total':<18}{'':>14}  {'':<16}{'':>12}{'':>14}{total_cpu:>17.1f}"
        + (f"{total_gpu:16.2f}" if cuda else f"{'-':>16}")
    )
    original_hours = n_sims * original.mean() / 3600
    print(
        f"{'original path':<18}{n_sims:>14,.0f}  {'simulation':<16}{original.mean():>12.2e}{original_hours:>14.1f}"
        f"{original_hours * ROUNDS:>17.1f}   (simulation alone, measured above)"
    )


if __name__ == "__main__":
    main()
