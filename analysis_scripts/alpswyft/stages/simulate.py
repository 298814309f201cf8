"""Simulation stage: fill the stores of a round and grid point, here (joblib) or as SLURM job
arrays of chunks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from alpswyft.results import RunTree
from alpswyft.run import RunContext
from alpswyft.stores import (
    check_disk_space,
    check_store,
    chunk_length,
    chunk_slices,
    fill_store,
    open_for_filling,
    say_redrawn,
    simulate_chunk_into,
    zarr_group,
)
from analysis_core import slurm
from analysis_core.errors import PipelineError

#: the stage scripts, which SLURM tasks run
SCRIPTS = Path(__file__).resolve().parents[2]


def simulate_round(run: RunContext | RunTree, grid_point: int, round_: int) -> None:
    """Fill the stores of one round: with joblib here, or as SLURM job arrays (one task per chunk)."""
    run = RunContext.of(run)
    config, tree, simulator = run.config, run.tree, run.simulator
    bounds = run.record.bounds(grid_point, round_)
    _print_box(config, bounds, f"round {round_} simulates in")
    requests = run.store_requests(grid_point, round_, bounds)
    if config.execution.simulate:
        to_fill = [r for r in requests.values() if r.path.is_relative_to(tree.stores)]
        check_disk_space(to_fill, simulator.shapes, tree.stores)
    for kind, request in requests.items():
        if not config.execution.simulate:
            try:
                check_store(request, simulator.shapes)
            except PipelineError as error:
                raise PipelineError(
                    f"simulate=0 needs every store of round {round_} complete: {error} Fill them with "
                    "simulate=1 train=0 (this trial resumes), or run with simulate=1 train=1."
                ) from None
            print(f"{request.path.name}: complete (simulate=0)")
        elif not request.path.is_relative_to(tree.stores):
            check_store(request, simulator.shapes)
            print(f"{request.path}: imported store (use_old_sims), complete and matching")
        elif config.uses_slurm:
            _simulate_on_slurm(run, request, grid_point, round_, kind)
        else:
            fill_store(request, simulator, config.simulation.n_jobs_sim)


def _simulate_on_slurm(run: RunContext, request, grid_point: int, round_: int, kind: str) -> None:
    """Fill one store as a SLURM job array, one task per chunk, and wait for it."""
    config, tree, simulator = run.config, run.tree, run.simulator
    shapes = simulator.shapes if kind != "prior" else {"params": simulator.shapes["params"]}
    root = open_for_filling(request, shapes, chunk_length(request.n, config.simulation.n_jobs_sim))
    chunks = chunk_slices(root)
    script = SCRIPTS / "simulate_batch.py"
    commands = [
        slurm.shell_command(
            sys.executable,
            script,
            tree.root,
            "--grid-point",
            grid_point,
            "--round",
            round_,
            "--kind",
            kind,
            "--chunk",
            i,
        )
        for i in range(len(chunks))
    ]
    status = lambda i: bool(np.all(root["meta/sim_status"][chunks[i][0] : chunks[i][1]] == 1))  # noqa: E731
    resources = run.slurm_resources("sim", f"ALP_simulations_{request.path.name}")
    print(
        f"{request.path.name}: {sum(not status(i) for i in range(len(chunks)))} of "
        f"{len(chunks)} chunks to simulate on SLURM"
    )
    slurm.run_tasks(
        commands,
        status,
        resources,
        tree.sim_output / "slurm",
        config.execution.slurm_max_attempts,
        describe=lambda i: f"{request.path.name} chunk {i}",
    )
    say_redrawn(request, root)


def simulate_chunk(
    run: RunContext | RunTree, grid_point: int, round_: int, kind: str, chunk: int
) -> None:
    """One chunk of one store (the body of a SLURM simulation task)."""
    run = RunContext.of(run)
    request = run.store_requests(grid_point, round_)[kind]
    lo, hi = chunk_slices(zarr_group(request.path))[chunk]
    simulate_chunk_into(request, run.simulator, lo, hi, chunk)
    print(f"{request.path.name}: chunk {chunk} ({hi - lo} simulations) written")


def _print_box(config, bounds, title: str) -> None:
    print(title)
    for p, (lo, hi) in zip(config.table.free, bounds):
        print(f"  {p.name:>12s} [{lo:+.4g}, {hi:+.4g}] {p.unit}{' (log10)' if p.log else ''}")
