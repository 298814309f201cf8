"""Training stage: train a round's network (or load it: ``use_old_net``), infer the mock
observation on the prior bank, write the posteriors and truncate the box; in the last round also
the extra observations and the fixed-nuisance network."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from alpswyft.inference import binned_posterior, logratios_on_bank
from alpswyft.networks import build_network, load_network, save_network, signature
from alpswyft.results import RunTree
from alpswyft.run import RunContext
from alpswyft.stores import read_store
from alpswyft.training import train_network
from alpswyft.truncation import (
    RoundResult,
    bounds_from_pairs,
    print_truncation,
    rect_bounds,
    summarise_1d,
)
from analysis_core import slurm
from analysis_core.errors import PipelineError
from analysis_core.files import load_npz, save_npz

#: the stage scripts, which SLURM tasks run
SCRIPTS = Path(__file__).resolve().parents[2]


def train_round_on_slurm(run: RunContext | RunTree, grid_point: int, round_: int) -> None:
    """Run :func:`train_round` as one SLURM job and wait for it (resubmitted if it fails)."""
    run = RunContext.of(run)
    config, tree = run.config, run.tree
    script = SCRIPTS / "train.py"
    command = slurm.shell_command(
        sys.executable, script, tree.root, "--grid-point", grid_point, "--round", round_, "--here"
    )
    resources = run.slurm_resources(
        "train", f"swyft_training_round_{round_}_gridpoint_{grid_point}"
    )
    trial = run.trial
    done = lambda _: run.record.trial_of(grid_point, round_) == trial  # noqa: E731
    slurm.run_tasks(
        [command],
        done,
        resources,
        tree.train_output / "slurm",
        config.execution.slurm_max_attempts,
        describe=lambda _: f"training of round {round_}, grid point {grid_point}",
    )


def train_round(run: RunContext | RunTree, grid_point: int, round_: int) -> None:
    """Train the round's network (or load it: ``use_old_net``), infer the mock observation and
    truncate the POI boxes."""
    run = RunContext.of(run)
    config, tree, simulator, architecture = run.config, run.tree, run.simulator, run.architecture
    record = run.record
    hyperparams = config.grid[grid_point]
    box = record.bounds(grid_point, round_)
    requests = run.store_requests(grid_point, round_, box)
    network_signature = signature(config, hyperparams, simulator.shapes, architecture)
    seed = config.simulation.sim_seed * 1_000_003 + round_ * 1009 + grid_point
    torch.manual_seed(seed)  # the initial weights
    network = build_network(config, hyperparams, simulator.shapes, architecture)

    old = _old_network(config, tree, round_, grid_point)
    if old is not None:
        load_network(network, old, network_signature)
        print(f"use_old_net: loaded {old}")
    if old is None or config.training.continue_training:
        n_train = config.n_train_round(round_)
        # params and exp only: the noisy nodes are drawn afresh for every batch
        samples = read_store(requests["train"].path, ["params", "exp"], 0, n_train)
        print(
            f"training on {n_train} simulations of {requests['train'].path.name}; hyperparameters {hyperparams}"
        )
        name = f"round_{round_}_gridpoint_{grid_point}"
        network, figures = train_network(
            network, simulator, samples, tree.training_logs, name, seed
        )
    else:
        n_train = 0
        figures = {"best_val_loss": None, "epochs": 0}
        print("continue_training=0: the loaded network is used as it is")
    if old is not None:
        figures["loaded_from"] = str(old)
    save_network(
        network,
        tree.network(round_, grid_point),
        network_signature,
        hparams=dict(network.hparams),
        config_hash=config.hash,
    )
    print(f"network saved to {tree.network(round_, grid_point).relative_to(tree.root)}")

    bank = read_store(requests["prior"].path, ["params"])["params"]
    with np.load(tree.true_obs) as true_obs:
        observation = {key: true_obs[key] for key in simulator.observed_nodes}
    logratios = logratios_on_bank(network, observation, bank)
    poi = config.physics.POI_indices
    values = bank[:, poi].astype(float)
    poi_box = box[poi]

    if network.estimator_1d is not None:
        lr_1d, lr_2d = logratios[0], (logratios[1] if len(logratios) > 1 else None)
        truncated_poi = rect_bounds(lr_1d, values)
    else:  # 2D only: each POI keeps the union of its pairs' bounds
        lr_1d, lr_2d = None, logratios[0]
        truncated_poi = bounds_from_pairs(lr_2d, values, network.pairs, len(poi))
    new_box = np.array(record.data["initial_bounds"])
    new_box[poi] = truncated_poi

    RoundResult(
        box=poi_box,
        poi_names=tuple(config.poi_names),
        truth=config.table.obs[poi],
        **binned_posterior(values, lr_1d, lr_2d, network.pairs, poi_box),
    ).save(tree, round_, grid_point)
    # the unbinned posterior: re-binned, zoomed or drawn with swyft's plots without the network
    save_npz(
        tree.bank_logratios(round_, grid_point),
        store=np.array(requests["prior"].path.name),
        rows=np.arange(len(bank)),
        poi_names=np.array(config.poi_names),
        pairs=np.array(network.pairs, int).reshape(-1, 2),
        **{
            name: lr.astype(np.float32)
            for name, lr in (("logratios_1d", lr_1d), ("logratios_2d", lr_2d))
            if lr is not None
        },
    )

    if round_ == config.training.n_truncations and tree.extra_obs.is_file():
        _infer_extra_obs(tree, config, network, simulator, bank, box, grid_point)
    if "fixed" in requests:  # before the round is recorded as done, so that a killed run redoes it
        _train_fixed_nuisances(
            tree, config, grid_point, requests["fixed"], simulator, architecture, seed
        )
    summary = summarise_1d(lr_1d, values, config.poi_names) if lr_1d is not None else {}
    record.set_round(
        grid_point,
        round_,
        {
            "status": "done",
            "bounds": box.tolist(),
            "truncated_bounds": new_box.tolist(),
            "n_sim_train": n_train,
            "trial": run.trial,
            "training": figures,
            "posterior": summary,
        },
        hyperparams,
    )
    print_truncation(config, box, new_box, np.array(record.data["initial_bounds"]))


def _train_fixed_nuisances(
    tree, config, grid_point: int, request, simulator, architecture, seed: int
) -> None:
    """The last round's fixed-nuisance network: the prediction planes' 2D marginals, trained on
    simulations with every other free parameter at its Obs. value (what a fit that took the
    spectrum and the cluster as known would conclude)."""
    hyperparams = config.grid[grid_point]
    network_signature = signature(
        config, hyperparams, simulator.shapes, architecture, fixed_nuisances=True
    )
    torch.manual_seed(seed + 1)
    network = build_network(
        config, hyperparams, simulator.shapes, architecture, fixed_nuisances=True
    )
    path = tree.fixed_network(grid_point)
    old = _old_network(config, tree, config.training.n_truncations, grid_point, path.name)
    names = ", ".join(config.table.free_names[i] for i in config.nuisance_indices)
    if old is not None:
        load_network(network, old, network_signature)
        print(f"use_old_net: loaded {old}")
    if old is None or config.training.continue_training:
        samples = read_store(request.path, ["params", "exp"])
        print(
            f"\nfixed-nuisance network ({names} at their Obs. values): training on {request.n} simulations "
            f"of {request.path.name}"
        )
        network, _ = train_network(
            network,
            simulator,
            samples,
            tree.training_logs,
            f"fixed_nuisances_gridpoint_{grid_point}",
            seed + 1,
        )
    save_network(
        network, path, network_signature, hparams=dict(network.hparams), config_hash=config.hash
    )
    print(f"network saved to {path.relative_to(tree.root)}")


def _old_network(config, tree, round_: int, grid_point: int, name: str = "") -> Path | None:
    """The saved network ``use_old_net`` asks for: with 1 this trial's or the newest archived
    trial's network of the round and grid point (or the file ``name``), if there is one; with a
    .pt path that file (the main network only); with a folder the round's network in it (a net
    folder or a run/trial folder), if there is one."""
    reuse = config.training.reuse_net
    if reuse.off:
        return None
    given = reuse.path
    if name and given is not None and given.suffix == ".pt":
        given = given.parent  # a .pt names the main network; the others are beside it
    name = name or tree.network(round_, grid_point).name
    if reuse.latest:
        candidates = [tree.nets / name] + [
            trial / "train_output" / "net" / name for trial in tree.archived_trials()
        ]
    elif given.suffix == ".pt":
        if not given.is_file():
            raise PipelineError(
                f"use_old_net: {given} does not exist (moved or deleted since the run started?)"
            )
        return given
    else:
        candidates = [given / name, given / "train_output" / "net" / name]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        shown = given if given is not None else config.training.use_old_net
        print(f"use_old_net={shown}: no saved network {name}; training a new one")
    return found


def _infer_extra_obs(
    tree,
    config,
    network,
    simulator,
    bank: np.ndarray,
    box: np.ndarray,
    grid_point: int,
) -> None:
    """The last round's posteriors of the ``extra_observations``: binned, and the log-ratios on
    the prior bank (float32)."""
    extra = load_npz(tree.extra_obs)
    poi = config.physics.POI_indices
    values = bank[:, poi].astype(float)
    out = {
        "params": extra["params"],
        "seed": extra["seed"],
        "box": box[poi],
        "pairs": np.array(network.pairs, int).reshape(-1, 2),
    }
    per_obs = []
    for k, theta in enumerate(extra["params"][:, poi]):
        outside = [
            f"{n} = {v:g}"
            for n, v, (lo, hi) in zip(config.poi_names, theta, box[poi])
            if not lo <= v <= hi
        ]
        if outside:
            print(
                f"WARNING: extra observation {k + 1} has {', '.join(outside)} outside the last round's box "
                "(truncated around the mock observation): its posterior is cut off there"
            )
        observation = {key: extra[key][k] for key in simulator.observed_nodes}
        logratios = logratios_on_bank(network, observation, bank)
        lr_1d = logratios[0] if network.estimator_1d is not None else None
        lr_2d = logratios[-1] if network.estimator_2d is not None else None
        entry = binned_posterior(values, lr_1d, lr_2d, network.pairs, box[poi])
        entry.pop("pairs", None)  # once for all observations
        entry.update(
            {
                name: lr.astype(np.float32)
                for name, lr in (("logratios_1d", lr_1d), ("logratios_2d", lr_2d))
                if lr is not None
            }
        )
        per_obs.append(entry)
    out.update({key: np.array([entry[key] for entry in per_obs]) for key in per_obs[0]})
    save_npz(tree.extra_posteriors(grid_point), **out)
    print(
        f"extra observations: {len(per_obs)} posteriors written to "
        f"{tree.extra_posteriors(grid_point).relative_to(tree.root)}"
    )
