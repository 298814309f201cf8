#!/usr/bin/env python
"""Training and inference throughput of the pipeline's networks.

Prints, in one run:

1. training-step throughput of the original's largest head (68 features: 64 data + 4 power, 5
   POIs: 1D estimator + 10 pairs, 2 blocks of 128, batch 512) with swyft 0.4.5's channelized
   linear layer and with the einsum form of ``alpswyft.compat``, and their ratio;
2. time to convergence of the default network (early stopping) for the default ALP configuration
   (``cluster_runs/run.sh``) with each ``--n-sims`` simulations, on a GPU when one is visible and
   on the CPU otherwise: epochs, seconds, samples/s, best validation loss. The simulations are
   kept in zarr stores under ``--cache`` and reused by later runs;
3. inference throughput over a prior bank of ``--bank`` samples (log-ratio evaluations/s).

Usage: .venv/bin/python analysis_scripts/benchmarks/bench_training.py [--n-sims 10000 100000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from swyft.networks.channelized import LinearWithChannel

import swyft
from alpswyft import compat
from alpswyft.config import load_run_config
from alpswyft.inference import logratios_on_bank
from alpswyft.models import MODELS
from alpswyft.networks import build_network
from alpswyft.runscript import evaluate_run_script
from alpswyft.simulator import SpectrumSimulator
from alpswyft.stores import StoreRequest, fill_store, read_store
from alpswyft.training import train_network

REPO = Path(__file__).resolve().parents[2]
N_FEATURES, N_POI, BATCH = 68, 5, 512


class Heads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        pairs = [(i, j) for i in range(N_POI) for j in range(i + 1, N_POI)]
        self.one = swyft.LogRatioEstimator_1dim(
            N_FEATURES, N_POI, varnames="p", hidden_features=128, num_blocks=2
        )
        self.two = swyft.LogRatioEstimator_Ndim(
            N_FEATURES, pairs, varnames="p", hidden_features=128, num_blocks=2
        )

    def forward(self, x, z):
        return self.one(x, z).logratios.sum() + self.two(x, z).logratios.sum()


def step_rate(forward, steps: int) -> float:
    """Training samples/s of :class:`Heads` with ``forward`` as the channelized layer."""
    LinearWithChannel.forward = forward
    torch.manual_seed(0)
    model = Heads()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, z = torch.randn(BATCH, N_FEATURES), torch.randn(BATCH, N_POI)

    def step():
        optimizer.zero_grad()
        model(x, z).backward()
        optimizer.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * BATCH / (time.perf_counter() - start)


def channelized_layer(steps: int) -> None:
    print(
        f"== 1. channelized layer: 5 POIs (1D + 10 pairs), 2 blocks of 128, batch {BATCH}, "
        f"{torch.get_num_threads()} threads"
    )
    swyft_rate = step_rate(compat._swyft_forward, max(2, steps // 5))
    ours = step_rate(compat._einsum_forward, steps)
    compat.apply()
    print(f"swyft's LinearWithChannel: {swyft_rate:10.0f} samples/s")
    print(f"einsum (alpswyft.compat):  {ours:10.0f} samples/s")
    print(f"ratio: {ours / swyft_rate:.1f}x")


def default_alp(gpus: int):
    """The shipped run script's configuration, trained to convergence (max_epochs 3000)."""
    variables = evaluate_run_script(REPO / "cluster_runs" / "run.sh")
    variables.update(gpus=str(gpus), max_epochs="3000")
    return load_run_config(variables)[0]


def convergence(n_sims: list[int], cache: Path, bank_size: int) -> None:
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name() if cuda else f"CPU ({torch.get_num_threads()} threads)"
    print(f"\n== 2. time to convergence, default network, default ALP configuration, on {device}")
    config = default_alp(gpus=int(cuda))
    setup = MODELS[config.model].prepare(config)
    simulator = SpectrumSimulator(config, setup)
    cores = len(os.sched_getaffinity(0))
    bounds = tuple(tuple(b) for b in np.asarray(config.table.initial_bounds).tolist())
    network = None
    for n in n_sims:
        request = StoreRequest(
            cache / f"alp_default_{n}",
            "train",
            0,
            0,
            n,
            bounds,
            config.sim_seed,
            config.simulation_hash,
        )
        start = time.perf_counter()
        fill_store(request, simulator, n_jobs=cores)
        print(f"{n} simulations ready in {time.perf_counter() - start:.0f} s ({request.path})")
        samples = read_store(request.path, ["params", "exp"])
        torch.manual_seed(0)
        network = build_network(config, config.grid[0], simulator.shapes)
        with tempfile.TemporaryDirectory() as logs:
            network, figures = train_network(
                network, simulator, samples, logs, f"bench_{n}", seed=0
            )
        print(
            f"n_sim {n:>7d}: {figures['epochs']} epochs in {figures['seconds']:.0f} s "
            f"({figures['samples_per_second']:.0f} samples/s), best val_loss {figures['best_val_loss']:+.4f}"
        )

    print(
        f"\n== 3. inference over a prior bank of {bank_size} samples ({len(network.pairs)} "
        f"pairs + {len(config.POI_indices)} 1D)"
    )
    bank = config.table.sample(
        np.asarray(config.table.initial_bounds), bank_size, np.random.default_rng(1)
    )
    observation = {
        k: v[0] for k, v in simulator.simulate(config.table.obs, np.random.default_rng(2)).items()
    }
    observation = {k: observation[k] for k in ("data", "power")}
    logratios_on_bank(network, observation, bank[:1000])  # warm-up
    start = time.perf_counter()
    logratios_on_bank(network, observation, bank)
    seconds = time.perf_counter() - start
    print(f"{bank_size / seconds:,.0f} parameter points/s ({seconds:.2f} s for the bank)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="training steps timed per layer")
    parser.add_argument(
        "--n-sims", type=int, nargs="+", default=[10_000], help="ALP training set sizes"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=REPO / ".benchmark_cache",
        help="where the simulations are kept",
    )
    parser.add_argument(
        "--bank", type=int, default=1_000_000, help="prior bank size for the inference figure"
    )
    args = parser.parse_args()
    channelized_layer(args.steps)
    convergence(args.n_sims, args.cache, args.bank)


if __name__ == "__main__":
    main()
