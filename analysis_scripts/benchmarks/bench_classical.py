#!/usr/bin/env python
"""What the classical likelihood analysis costs (:mod:`alpswyft.classical`) on the shipped
default's inputs: P_gg of the survival bank per second (grid points x field realisations), the
batched profile fits per second, and the same fits one by one with iminuit (the reference,
measured in the same run on a sample of them), with their ratio.

Usage: .venv/bin/python analysis_scripts/benchmarks/bench_classical.py [--bins 10] [--realisations 20] [--iminuit 40]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from alpswyft import classical as cl
from alpswyft.runscript import evaluate_run_script
from alpswyft.sim import SETTINGS, ALPSim

RUN_SH = Path(__file__).resolve().parents[2] / "cluster_runs" / "run.sh"


def default_sim() -> ALPSim:
    """The simulator of the shipped run.sh (its table, binning and response)."""
    variables = evaluate_run_script(RUN_SH)
    return ALPSim(**{k: v for k, v in variables.items() if k in SETTINGS or k.startswith("param")})


def iminuit_fits(fitter: cl.SpectralFit, counts: np.ndarray, pgg: np.ndarray) -> np.ndarray:
    """The reference: one iminuit MIGRAD per P_gg, from the Obs. values, within the box."""
    from iminuit import Minuit

    out = []
    for row in pgg:
        minuit = Minuit(
            fitter.objective(counts, row), fitter.start.tolist(), name=("a", "index", "c")
        )
        minuit.errordef = 1.0
        minuit.limits = list(zip(fitter.nuisances.low, fitter.nuisances.high))
        out.append(minuit.migrad().fval)
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bins", type=int, default=10, help="grid cells per axis")
    parser.add_argument("--realisations", type=int, default=20)
    parser.add_argument("--iminuit", type=int, default=40, help="fits of the reference")
    args = parser.parse_args()
    sim = default_sim()
    fitter = cl.SpectralFit(sim.model, sim.config)
    points, _, _ = cl.grid_points(sim.config, (args.bins, args.bins))
    start = time.perf_counter()
    bank = cl.survival_bank(sim.model, sim.config, points, args.realisations, seed=0)
    bank_s = time.perf_counter() - start
    counts = sim.observe(seed=1).observed_counts
    pgg = bank.reshape(-1, bank.shape[-1])
    fitter.fit(counts, pgg[:64])  # warm-up
    start = time.perf_counter()
    deviance, _ = fitter.fit(counts, pgg)
    fit_s = time.perf_counter() - start
    sample = np.random.default_rng(0).choice(
        len(pgg), size=min(args.iminuit, len(pgg)), replace=False
    )
    start = time.perf_counter()
    reference = iminuit_fits(fitter, counts, pgg[sample])
    ref_s = time.perf_counter() - start
    print(
        f"device {fitter.device}, {torch.get_num_threads()} threads; grid {args.bins} x {args.bins}, "
        f"{args.realisations} realisations: {len(pgg)} fits"
    )
    print(f"survival bank: {len(pgg) / bank_s:,.0f} P_gg/s ({bank_s:.1f} s)")
    print(f"batched fits:  {len(pgg) / fit_s:,.0f} fits/s ({fit_s:.2f} s)")
    print(
        f"iminuit:       {len(sample) / ref_s:,.1f} fits/s ({ref_s:.2f} s for {len(sample)}); "
        f"batched / iminuit = {(len(pgg) / fit_s) / (len(sample) / ref_s):,.0f}"
    )
    print(
        f"largest |-2 ln L difference| against iminuit: {np.max(np.abs(deviance[sample] - reference)):.2e} "
        f"(batched lower by up to {np.max(reference - deviance[sample]):.2e})"
    )


if __name__ == "__main__":
    main()
