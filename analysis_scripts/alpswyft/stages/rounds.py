"""The rounds of a run: which (grid point, round) pairs are still to do, and running them in order
(simulation, then training) in one process."""

from __future__ import annotations

import datetime
import sys

from alpswyft.results import RunTree
from alpswyft.run import RunContext
from alpswyft.stages.simulate import simulate_round
from alpswyft.stages.train import train_round, train_round_on_slurm


def plan(run: RunContext | RunTree) -> list[tuple[int, int]]:
    """(grid point, round) pairs still to run, in order: the rounds the record lacks, or with
    ``retrain_last_round`` the last round once more per trial. With ``simulate=1 train=0`` only
    the first of them per grid point (a later round's box needs this one's network); none with
    ``simulate=0 train=0``."""
    run = RunContext.of(run)
    config = run.config
    if not config.execution.train and not config.execution.simulate:
        print("train=0 simulate=0: no round is simulated or trained", file=sys.stderr)
        return []
    record = run.record
    trial, last = run.trial, config.training.n_truncations
    pairs = []
    for g in range(config.training.start_grid_test_at_count, len(config.grid)):
        rounds = [r for r in range(config.n_rounds) if not record.is_done(g, r)]
        if not rounds and config.training.retrain_last_round and record.trial_of(g, last) != trial:
            print(
                f"retrain_last_round=1: round {last} of grid point {g} is trained again",
                file=sys.stderr,
            )
            rounds = [last]
        pairs += [(g, r) for r in rounds]
    if not pairs:
        print(
            "nothing to do: every round of every grid point is in the truncation record",
            file=sys.stderr,
        )
    if config.simulate_only:
        pairs = [pair for k, pair in enumerate(pairs) if pair[0] not in {g for g, _ in pairs[:k]}]
        print(
            f"simulate=1 train=0: the stores of {', '.join(f'round {r} of grid point {g}' for g, r in pairs)} "
            "are filled; nothing is trained",
            file=sys.stderr,
        )
    return pairs


def run_rounds(run: RunContext | RunTree) -> list[tuple[int, int]]:
    """Simulate and train the planned rounds in order, in this process (one start-up for all of
    them); in SLURM mode the work of each stage goes to SLURM jobs and this process waits.
    Returns the (grid point, round) pairs it ran."""
    run = RunContext.of(run)
    config = run.config
    train = train_round_on_slurm if config.uses_slurm else train_round
    stages = [("simulation", simulate_round)] + (
        [] if config.simulate_only else [("training", train)]
    )
    pairs = plan(run)
    for grid_point, round_ in pairs:
        for name, stage in stages:
            title = f"{name}, grid point {grid_point}, round {round_}"
            print(f"\n=== {title} ({datetime.datetime.now():%Y-%m-%d %H:%M:%S})", flush=True)
            try:
                stage(run, grid_point, round_)
            except BaseException:
                print(f"stage '{title}' did not finish", file=sys.stderr, flush=True)
                raise
    return pairs
