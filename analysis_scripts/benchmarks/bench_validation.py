#!/usr/bin/env python
"""The whole toy_line pipeline in one process, timed stage by stage, on the CPU and (with
``--gpus 1``) on a GPU when one is visible: configuration, the rounds (simulation, training,
truncation), the validation stage (coverage, TARP, expected limits) and its log-ratio throughput.

It takes ``cluster_runs/toy_line.sh`` with ``--n-coverage``, ``--n-explim`` and ``--n-prior``
instead of its values, in a temporary folder (or ``--keep DIR``). It needs neither the CTA
response nor gammapy, so it runs where only torch, swyft and the pinned Lightning are installed.

Usage: .venv/bin/python analysis_scripts/benchmarks/bench_validation.py [--gpus 1] [--n-explim 100]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpus", type=int, default=0)
    parser.add_argument("--n-coverage", type=int, default=500)
    parser.add_argument("--n-explim", type=int, default=100)
    parser.add_argument("--n-prior", type=int, default=50_000)
    parser.add_argument(
        "--keep", type=Path, help="results folder to keep (default: a temporary one)"
    )
    args = parser.parse_args()

    import torch

    from alpswyft.run import RunContext
    from alpswyft.runscript import evaluate_run_script
    from alpswyft.stages.configure import configure
    from alpswyft.stages.rounds import run_rounds
    from alpswyft.stages.validate import validate
    from analysis_core.files import read_json

    variables = evaluate_run_script(REPO / "cluster_runs" / "toy_line.sh")
    variables.update(
        run_name="bench_validation",
        gpus=str(args.gpus),
        n_sim_coverage=str(args.n_coverage),
        n_sim_explim=str(args.n_explim),
        n_prior_samples=str(args.n_prior),
        DRP_coverage_parameters=f"10000, {args.n_coverage}, 0, 0, 1",
    )
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench_validation_"))
    base.mkdir(parents=True, exist_ok=True)
    script = base / "run.sh"
    script.write_text("".join(f"{name}=\n" for name in variables))
    os.environ.update(variables)
    device = torch.cuda.get_device_name(0) if args.gpus and torch.cuda.is_available() else "CPU"
    print(f"device: {device}; torch {torch.__version__}; {torch.get_num_threads()} CPU threads")

    timings = {}
    start = time.perf_counter()
    tree = configure(script, base / "analysis_results")
    timings["configuration"] = time.perf_counter() - start
    start = time.perf_counter()
    run_rounds(tree)
    timings["rounds"] = time.perf_counter() - start
    start = time.perf_counter()
    validate(tree)
    timings["validation"] = time.perf_counter() - start

    config = RunContext(tree).config
    record = read_json(tree.record)
    print("\nround  epochs  training s  samples/s  device  best val_loss")
    for entry in record["grid_points"]["0"]["rounds"]:
        t = entry["training"]
        print(
            f"{entry['round']:>5}  {t['epochs']:>6}  {t['seconds']:>10.1f}  {t.get('samples_per_second', 0):>9.0f}  "
            f"{t.get('device', '?'):>6}  {t['best_val_loss']:+.4f}"
        )
    n_coverage_evaluations = args.n_coverage * (min(args.n_prior, 10_000) + 1)
    n_points = read_json(tree.validation_summary(0))["expected_limits"]["n_points"]
    n_explim_evaluations = args.n_explim * n_points * (2 if config.n_truncations else 1)
    print("\nstage          seconds")
    for name, seconds in timings.items():
        print(f"{name:<14} {seconds:>7.1f}")
    print(
        f"\nvalidation: {n_coverage_evaluations + n_explim_evaluations:.3g} log-ratio evaluations "
        f"({n_coverage_evaluations:.3g} coverage, {n_explim_evaluations:.3g} expected limits), "
        f"{(n_coverage_evaluations + n_explim_evaluations) / timings['validation']:.3g} per second overall"
    )
    summary = read_json(tree.validation_summary(0))
    for name, marginal in summary["coverage"]["marginals"].items():
        print(
            f"  {name:>4}: HPD coverage {marginal['hpd']['0.68']['empirical']:.3f} (68 %), "
            f"{marginal['hpd']['0.95']['empirical']:.3f} (95 %)"
        )
    print(f"results in {tree.root}")


if __name__ == "__main__":
    main()
