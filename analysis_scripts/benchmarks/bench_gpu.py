#!/usr/bin/env python
"""The batched torch propagation (a GPU when present) against the numba kernel on the CPU.

Prints, for the default NGC 1275 scenario (180 energies, kH = 8.51: 4255 cluster domains + 99
Galactic ones) and at the kH prior edge (70.8: 35 400 domains):

- accuracy: max |P_gg(torch) - P_gg(numba)| on identical field realisations, complex128 and complex64;
- throughput: realisations per second (field + propagation) for several batch sizes, against the
  numba kernel on one CPU core (same process).

The line of sight (EBL, Galactic field) comes from ``--los FILE`` (made with ``--save-los FILE``
where gammaALPs and ebltable are installed), so the GPU machine needs only numpy, numba and torch.

Usage: python analysis_scripts/benchmarks/bench_gpu.py --los los.npz [--batches 64 256 1024]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from alpswyft.physics.alp import LineOfSight, cluster_domains
from alpswyft.physics.batched import default_device, survival_batch

DEFAULT_VECTOR = np.array([10.0, 1.0, 10**-8.812, 2.11, 300, 10**2.75, 25, 46, 4.05, 500, 57, 268, 1.2, 0.69, 0.62,
                           10**-0.41, 10**0.93, 1.97])
ENERGY = np.sqrt(np.geomspace(20, 6000, 181)[1:] * np.geomspace(20, 6000, 181)[:-1])


def vectors(n: int, kh: float, rng: np.random.Generator) -> np.ndarray:
    v = np.repeat(DEFAULT_VECTOR[None], n, axis=0)
    v[:, 0] = 10 ** rng.uniform(-2, 4, n)
    v[:, 1] = 10 ** rng.uniform(-2, 1, n)
    v[:, 16] = kh
    return v


def numba_reference(vs, seed, los):
    rng = np.random.default_rng(seed)
    return np.array([los.survival(v[0], v[1], cluster_domains(v, rng)) for v in vs])


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--los", help="line of sight saved with --save-los")
    parser.add_argument("--save-los", help="compute the line of sight (needs gammaALPs) and save it")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
    args = parser.parse_args()
    if args.save_los:
        los = LineOfSight.compute(ENERGY)
        np.savez(args.save_los, ebl=los.ebl_attenuation, gmf=np.array(los.gmf_domains))
        return
    data = np.load(args.los)
    los = LineOfSight(ENERGY, data["ebl"], tuple(data["gmf"]))
    device = default_device()
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"device: {name}; torch {torch.__version__}")

    for kh, n_check in ((10**0.93, 16), (70.8, 4)):
        vs = vectors(n_check, kh, np.random.default_rng(1))
        reference = numba_reference(vs, 7, los)
        start = time.perf_counter()
        numba_reference(vs, 7, los)
        numba_rate = n_check / (time.perf_counter() - start)
        for dtype in (torch.float64, torch.float32):
            p = survival_batch(vs, np.random.default_rng(7), los, device, dtype)
            print(f"kH = {kh:5.1f}: max |P(torch {str(dtype)[6:]}) - P(numba)| = {np.max(np.abs(p - reference)):.2e}")
        print(f"kH = {kh:5.1f}: numba, {torch.get_num_threads()} threads: {numba_rate:.1f} realisations/s")
        for batch in args.batches if kh < 10 else args.batches[-1:]:
            vs = vectors(batch, kh, np.random.default_rng(2))
            for dtype in (torch.float64, torch.float32):
                survival_batch(vs[:8], np.random.default_rng(3), los, device, dtype)  # warm-up
                synchronize(device)
                start = time.perf_counter()
                survival_batch(vs, np.random.default_rng(3), los, device, dtype)
                synchronize(device)
                seconds = time.perf_counter() - start
                print(f"kH = {kh:5.1f}: batch {batch:5d} {str(dtype)[6:]}: {batch / seconds:8.1f} realisations/s")
        if device.type == "cuda":
            print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
