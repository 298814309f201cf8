#!/usr/bin/env python
"""Training-step throughput of the original's default network: swyft 0.4.5's channelized linear
layer against the einsum form of ``alpswyft.compat`` (same values and gradients).

The head is the original's network_power.py size (68 features: 64 data + 4 power) feeding
swyft's 1D estimator for 5 POIs and the Ndim estimator for their 10 pairs, 2 blocks of 128,
batch 512, AdamW. Prints samples/s for both layers and their ratio, measured in the same run.

Usage: .venv/bin/python analysis_scripts/benchmarks/bench_training.py [--steps 10]
"""

from __future__ import annotations

import argparse
import time

import swyft
import torch
from swyft.networks.channelized import LinearWithChannel

from alpswyft import compat

N_FEATURES, N_POI, BATCH = 68, 5, 512


class Heads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        pairs = [(i, j) for i in range(N_POI) for j in range(i + 1, N_POI)]
        self.one = swyft.LogRatioEstimator_1dim(N_FEATURES, N_POI, varnames="p", hidden_features=128, num_blocks=2)
        self.two = swyft.LogRatioEstimator_Ndim(N_FEATURES, pairs, varnames="p", hidden_features=128, num_blocks=2)

    def forward(self, x, z):
        return self.one(x, z).logratios.sum() + self.two(x, z).logratios.sum()


def samples_per_second(forward, steps: int) -> float:
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    print(f"5 POIs (1D + 10 pairs), 2 blocks of 128, batch {BATCH}, {torch.get_num_threads()} threads")
    swyft_rate = samples_per_second(compat._swyft_forward, max(2, args.steps // 5))
    ours = samples_per_second(compat._einsum_forward, args.steps)
    print(f"swyft's LinearWithChannel: {swyft_rate:10.0f} samples/s")
    print(f"einsum (alpswyft.compat):  {ours:10.0f} samples/s")
    print(f"ratio: {ours / swyft_rate:.1f}x")


if __name__ == "__main__":
    main()
