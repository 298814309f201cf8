#!/usr/bin/env python
"""The GPU paths of the fast engine against the numba kernel on the CPU.

Prints, for the default NGC 1275 scenario (180 energies, kH = 8.51: 4255 cluster domains + 99
Galactic ones) and at the kH prior edge (70.8: 35 400 domains):

- accuracy: max |P_gg - P_gg(numba)| on the same field modes, for the fused kernels
  (:mod:`alpswyft.physics.gpu`, where numba reaches a CUDA device) and the batched torch path
  (complex128 and complex64);
- throughput: realisations per second (field + propagation) for several batch sizes, against the
  numba kernel on every CPU core of this machine (realisations in parallel).

Without a GPU the torch path runs on the CPU with small batches and the fused kernels are skipped
(their check without a device: ``tests/physics/test_gpu.py``, in numba's CUDA simulator).

The line of sight (EBL, Galactic field) is read from ``--los`` (default: ``los_default.npz`` beside
this script, made with ``--save-los FILE`` where gammaALPs and ebltable are installed), so the GPU
machine needs only numpy, numba and torch.

Usage: python analysis_scripts/benchmarks/bench_gpu.py [--los FILE] [--batches 256 1024 4096]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numba
import numpy as np
import torch

from alpswyft.physics import gpu
from alpswyft.physics.alp import LineOfSight, field_modes_many
from alpswyft.physics.batched import default_device, survival_batch

DEFAULT_VECTOR = np.array(
    [
        10.0,
        1.0,
        10**-8.812,
        2.11,
        300,
        10**2.75,
        25,
        46,
        4.05,
        500,
        57,
        268,
        1.2,
        0.69,
        0.62,
        10**-0.41,
        10**0.93,
        1.97,
    ]
)
ENERGY = np.sqrt(np.geomspace(20, 6000, 181)[1:] * np.geomspace(20, 6000, 181)[:-1])
LOS_DEFAULT = Path(__file__).with_name("los_default.npz")


def vectors(n: int, kh: float, rng: np.random.Generator) -> np.ndarray:
    """n prior draws of (m, g) at the default cluster with the given kH."""
    v = np.repeat(DEFAULT_VECTOR[None], n, axis=0)
    v[:, 0] = 10 ** rng.uniform(-2, 4, n)
    v[:, 1] = 10 ** rng.uniform(-2, 1, n)
    v[:, 16] = kh
    return v


def rate(survival, vs: np.ndarray, device) -> float:
    """Realisations per second of ``survival(vs, modes)``, the modes' draw included, after a warm-up."""
    rng = np.random.default_rng(3)
    for _ in range(2):
        synchronize(device)
        start = time.perf_counter()
        survival(vs, field_modes_many(vs, rng))
        synchronize(device)
    return len(vs) / (time.perf_counter() - start)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--los", default=str(LOS_DEFAULT), help="line of sight saved with --save-los"
    )
    parser.add_argument(
        "--save-los", help="compute the line of sight (needs gammaALPs) and save it"
    )
    parser.add_argument(
        "--batches",
        type=int,
        nargs="+",
        help="batch sizes (default: 256 1024 4096 on a GPU, 16 on the CPU)",
    )
    args = parser.parse_args()
    if args.save_los:
        los = LineOfSight.compute(ENERGY)
        np.savez(args.save_los, ebl=los.ebl_attenuation, gmf=np.array(los.gmf_domains))
        return
    if not Path(args.los).exists():
        parser.error(
            f"--los {args.los}: no such file (make one with --save-los FILE where gammaALPs is installed)"
        )
    data = np.load(args.los)
    los = LineOfSight(ENERGY, data["ebl"], tuple(data["gmf"]))
    device = default_device()
    fused = gpu.available()
    batches = args.batches or ([256, 1024, 4096] if device.type == "cuda" else [16])
    name = torch.cuda.get_device_name() if device.type == "cuda" else "none"
    print(
        f"GPU: {name}; torch {torch.__version__}; fused kernels (numba CUDA): {'yes' if fused else 'no CUDA device'}"
    )
    cpu = torch.device("cpu")

    for kh, n_check in ((10**0.93, 16), (70.8, 4)):
        vs = vectors(n_check, kh, np.random.default_rng(1))
        modes = field_modes_many(vs, np.random.default_rng(2))
        reference = los.survival_many(vs, modes)
        numba_rate = rate(los.survival_many, vs, cpu)
        print(
            f"kH = {kh:5.1f}: numba on {numba.get_num_threads()} CPU threads: {numba_rate:8.1f} realisations/s"
        )
        if fused:
            error = np.max(np.abs(gpu.survival_many(vs, modes, los) - reference))
            print(f"kH = {kh:5.1f}: max |P(fused) - P(numba)| = {error:.2e}")
        for dtype in (torch.float64, torch.float32):
            p = survival_batch(vs, modes, los, device, dtype)
            print(
                f"kH = {kh:5.1f}: max |P(torch {str(dtype)[6:]}) - P(numba)| = {np.max(np.abs(p - reference)):.2e}"
            )
        for batch in batches if kh < 10 else batches[-1:]:
            vs = vectors(batch, kh, np.random.default_rng(2))
            if fused:
                fused_rate = rate(lambda v, m: gpu.survival_many(v, m, los), vs, device)
                print(
                    f"kH = {kh:5.1f}: batch {batch:5d} fused float64: {fused_rate:9.1f} realisations/s"
                )
            for dtype in (torch.float64, torch.float32):
                torch_rate = rate(
                    lambda v, m, dtype=dtype: survival_batch(v, m, los, device, dtype), vs, device
                )
                print(
                    f"kH = {kh:5.1f}: batch {batch:5d} torch {str(dtype)[6:]}: {torch_rate:9.1f} realisations/s"
                )
    if device.type == "cuda":
        print(f"peak GPU memory (torch): {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
