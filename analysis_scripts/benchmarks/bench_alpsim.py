#!/usr/bin/env python
"""What the notebook simulator costs: ``ALPSim()`` the first time (the gammapy response built) and
cached (a new process reading it from disk; again in the same process), one ``expected`` call
against one pipeline simulation (``SpectrumSimulator.simulate``, the reference), and a vectorised
call of ``--n-batch`` spectra (a CUDA GPU batches the propagation when one is visible).

Usage: .venv/bin/python analysis_scripts/benchmarks/bench_alpsim.py [--n 20] [--n-batch 1000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from bench_simulation import timings

_CONSTRUCT = (
    "import time; from alpswyft.sim import ALPSim; start = time.perf_counter(); ALPSim(); "
    "print(time.perf_counter() - start)"
)


def construct_in_new_process(cache: str) -> float:
    """Seconds of ``ALPSim()`` in a fresh process (after its imports) with the response cache ``cache``."""
    env = {**os.environ, "ALPSWYFT_CACHE": cache}
    out = subprocess.run(
        [sys.executable, "-c", _CONSTRUCT], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def median_seconds(function, n: int) -> float:
    return float(np.median(timings(function, n)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="repetitions of the single calls")
    parser.add_argument("--n-batch", type=int, default=1000, help="spectra in the vectorised call")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache:
        first = construct_in_new_process(cache)
        cached = construct_in_new_process(cache)
    from alpswyft.sim import ALPSim
    from alpswyft.simulator import SpectrumSimulator

    sim = ALPSim()
    start = time.perf_counter()
    ALPSim()
    again = time.perf_counter() - start
    rng = np.random.default_rng(0)
    single = median_seconds(lambda: sim.expected(m=10, g=1, rng=rng), args.n)
    pipeline = SpectrumSimulator(sim.config, sim.setup)
    theta = sim.table.obs.copy()
    reference = median_seconds(lambda: pipeline.simulate(theta, rng), args.n)
    start = time.perf_counter()
    batch = sim.expected(m=np.full(args.n_batch, 10.0), g=1, rng=rng)
    vectorised = time.perf_counter() - start
    assert batch.counts.shape == (args.n_batch, sim.config.nbins)
    from alpswyft.physics.alp_model import gpu_engine

    device = f"GPU, {gpu_engine()} path" if gpu_engine() else f"CPU ({os.cpu_count()} cores)"
    print(f"ALPSim() first (gammapy response built):   {first:7.2f} s")
    print(f"ALPSim() cached, new process (from disk): {cached:7.2f} s")
    print(f"ALPSim() again in the same process:       {again:7.3f} s")
    print(
        f"expected(m=10, g=1), median of {args.n}:       {single:7.4f} s   "
        f"(one pipeline simulation: {reference:.4f} s, ratio {single / reference:.2f})"
    )
    print(
        f"expected() of {args.n_batch} spectra in one call:  {vectorised:7.2f} s   "
        f"({vectorised / args.n_batch:.4f} s per spectrum, "
        f"{vectorised / args.n_batch / single:.2f} x one call; {device})"
    )


if __name__ == "__main__":
    main()
