"""The stages of a run, each a function of the run folder; the entry scripts call them.

Stages exchange files only: ``config.json`` (the validated variables), ``true_obs.npz`` (the
mock observation), the zarr stores, the network state dicts, ``truncation_record.json`` and the
binned posteriors.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import shutil
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from alpswyft import __version__
from alpswyft.config import RunConfig, load_run_config
from alpswyft.models import check_outputs, is_model_file, resolve
from alpswyft.results import RunTree
from alpswyft.runscript import read_run_script
from alpswyft.stores import (
    StoreRequest,
    check_disk_space,
    check_store,
    chunk_length,
    fill_store,
    read_store,
    store_name,
    zarr_group,
)
from alpswyft.truncation import TruncationRecord
from analysis_core.errors import ConfigError, PipelineError
from analysis_core.files import load_npz, read_json, save_npz, write_json

CONFIG_FORMAT = "alpswyft.config/1"
LIBRARIES = (
    "swyft",
    "torch",
    "pytorch-lightning",
    "numpy",
    "scipy",
    "zarr",
    "pydantic",
    "matplotlib",
)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "alpswyft": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def load_config(tree: RunTree) -> RunConfig:
    if not tree.config.exists():
        raise PipelineError(f"{tree.config} does not exist; the configuration stage has not run.")
    return RunConfig(**read_json(tree.config)["variables"])


def load_record(tree: RunTree, config: RunConfig) -> TruncationRecord:
    return TruncationRecord.for_config(tree.record, config)


# ---------------------------------------------------------------- configuration


def configure(
    run_script: Path,
    results_parent_dir: Path,
    early_log: Path | None = None,
    overrides: tuple[str, ...] = (),
) -> RunTree:
    """Validate the run script, start a new trial folder, write the provenance and the mock data.
    ``overrides`` names the variables given on the command line (their values are in the
    environment): they replace the script's values and are recorded in ``config.json``."""
    variables = read_run_script(run_script, given=tuple(overrides))
    command_line = _command_line(overrides)
    variables.update(command_line)
    variables.pop("results_parent_dir", None)  # a path for the orchestrator, not part of the run
    irf = variables.get("IRF_file", "").strip()
    if irf and not Path(irf).is_absolute():  # relative to the run script, like the results
        variables["IRF_file"] = str((Path(run_script).parent / irf).resolve())
    patterns = [p.strip() for p in variables.get("observation", "").split(",") if p.strip()]
    if patterns:  # DL3 files or glob patterns, relative to the run script
        variables["observation"] = ",".join(
            str(Path(run_script).parent.resolve() / p) for p in patterns
        )
    for name in (
        "model",
        "architecture",
        "use_old_net",
        "use_old_truncations",
    ):  # paths relative to the run script
        value = variables.get(name, "").strip()
        if value and not Path(value).is_absolute() and (Path(run_script).parent / value).exists():
            variables[name] = str((Path(run_script).parent / value).resolve())
    variables, kept_warnings = _keep_series(variables, Path(results_parent_dir))
    config, warnings = load_run_config(variables)
    warnings = kept_warnings + warnings
    from alpswyft.architectures import (
        resolve as resolve_architecture,  # torch: not needed by the lighter stages
    )

    tree = RunTree(Path(results_parent_dir) / config.run_name)
    _check_writable(tree)
    architecture = resolve_architecture(config.architecture)
    model = resolve(config.model)
    physics = None if config.update_physics else _earlier_physics(config, tree, warnings)
    setup = physics.setup if physics is not None else _prepare_model(config)
    check_outputs(model, config, setup)
    from alpswyft.simulator import SpectrumSimulator

    shapes = SpectrumSimulator(config, setup, model).shapes
    _check_networks(config, shapes, architecture)
    imported = _imported_store(config, shapes, warnings)
    for warning in warnings:
        print(f"WARNING: {warning}")

    old_record = _old_record(config, tree)  # checked before anything is moved
    trial, archived, resumed = tree.start_trial(
        config.trial_hash, keep_stores=config.use_old_sims == "1"
    )
    if early_log is not None:
        os.replace(early_log, tree.log)  # the log so far continues as this trial's output.log
    if archived is not None:
        print(f"the previous trial is in {archived.relative_to(tree.root)}")
        if config.use_old_sims == "1":
            print("use_old_sims=1: the stores stay in sim_output/ and are reused where they match")
    if resumed:
        print(f"resuming the unfinished trial {trial} (same configuration): finished work is kept")
    print(f"trial {trial} of run '{config.run_name}' in {tree.root}")
    shutil.copy2(run_script, tree.root / Path(run_script).name)
    if architecture.path is not None:  # the run trains and reloads with its own copy
        shutil.copy2(architecture.path, tree.architecture)
    if model.path is not None:  # every stage simulates with the run's own copy
        shutil.copy2(model.path, tree.model_file)
    # what the previous trial held is now in its archive folder
    if physics is not None and physics.source == tree.root and archived is not None:
        physics.source = archived
    if old_record is not None and not resumed:
        if old_record.path.parent == tree.root:
            old_record.path = archived / old_record.path.name
        _import_record(tree, old_record)

    write_json(
        tree.config,
        {
            "format": CONFIG_FORMAT,
            "config_hash": config.hash,
            "trial_hash": config.trial_hash,
            "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "trial": trial,
            "run_script": str(Path(run_script).resolve()),
            "versions": library_versions(),
            "warnings": warnings,
            "parameters": [p.to_dict() for p in config.table.parameters],
            "grid": config.grid,
            "architecture": {"name": architecture.name, "sha256": architecture.sha256},
            "model": {
                "name": config.model,
                "description": model.description,
                "sha256": model.sha256 or None,
            },
            "physics_from": str(physics.source) if physics is not None else None,
            "overrides": command_line,
            "imported_store": imported,
            "variables": config.to_json_dict(),
        },
    )
    print(f"configuration written to {tree.config.name} (hash {config.hash})")
    # A resumed trial keeps its files (written atomically, so complete): with obs_seed=None a new
    # mock observation would not be the one the finished rounds were inferred on.
    if setup is not None and not (resumed and tree.setup.exists()):
        save_npz(tree.setup, **setup)
        print(f"instrument response and line of sight written to {tree.setup.name}")
    if not (resumed and tree.true_obs.exists()):
        if physics is not None:
            save_npz(tree.true_obs, **physics.true_obs)
            print(
                f"update_physics=0: the response and the mock observation are those of {physics.source}"
            )
        else:
            _write_true_obs(config, tree)
    if config.extra_observations and not (resumed and tree.extra_obs.exists()):
        _write_extra_obs(config, tree)
    return tree


@dataclasses.dataclass
class _Physics:
    source: Path
    setup: dict | None
    true_obs: dict


def _earlier_physics(config: RunConfig, tree: RunTree, warnings: list[str]) -> _Physics | None:
    """``update_physics=0``: the response and mock observation of the newest earlier trial (in the
    folder or its archive), if they were built from the same physics variables; otherwise None,
    with a warning naming the variables that differ (the physics is then rebuilt)."""
    from alpswyft.config import PHYSICS_VARIABLES

    source = tree.newest_trial()
    if source is None:
        print("update_physics=0: no earlier trial of this run; the physics is built")
        return None
    earlier = read_json(source / tree.config.name)["variables"]
    current = config.to_json_dict()
    changed = [name for name in PHYSICS_VARIABLES if earlier.get(name) != current[name]]
    if earlier.get("model_sha256", "") != current["model_sha256"]:
        changed.append("the model file")
    if changed:
        warnings.append(
            f"update_physics=0: {', '.join(changed)} changed since the trial in {source}; "
            "its response and mock observation do not apply and are built anew"
        )
        return None
    needs_setup = resolve(config.model).prepare is not None
    files = [source / tree.true_obs.name] + ([source / tree.setup.name] if needs_setup else [])
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        warnings.append(
            f"update_physics=0: {', '.join(missing)} missing in {source}; the physics is built anew"
        )
        return None
    setup = load_npz(source / tree.setup.name) if needs_setup else None
    return _Physics(source, setup, load_npz(source / tree.true_obs.name))


def _command_line(overrides) -> dict[str, str]:
    """The values of the variables given on the command line; an unknown name is an error."""
    from alpswyft.config import is_variable

    values = {name: os.environ.get(name, "") for name in overrides}
    unknown = [name for name in values if not is_variable(name) and name != "results_parent_dir"]
    if unknown:
        raise ConfigError(
            ", ".join(unknown),
            ", ".join(values[n] for n in unknown),
            "not a variable of this pipeline (given on the command line; see README, 'The run-script variables')",
        )
    if values:
        print("command-line overrides: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    return values


def _imported_store(config: RunConfig, shapes: dict, warnings: list[str]) -> dict | None:
    """``use_old_sims`` as a path: a store of this pipeline is checked when round 0 simulates; a
    foreign one (a swyft ZarrStore of the original pipeline) is checked here, before anything is
    written, for its nodes, shapes and size, and said to be unverifiable. Returns its record."""
    from alpswyft.stores import check_foreign_store, is_foreign

    path = Path(config.use_old_sims)
    if config.use_old_sims in ("0", "1") or not is_foreign(path):
        return None
    record = check_foreign_store(path, config.n_sim_round(0), shapes)
    warnings.append(
        f"use_old_sims: {path} was not made by this pipeline (a swyft ZarrStore without a simulation hash, e.g. the "
        f"original's): its nodes and shapes fit ({record['n']} samples), but its simulation settings cannot be "
        "verified; it is used read-only as round 0's training store"
    )
    return record


def _check_writable(tree: RunTree) -> None:
    """Stop before anything is written when the run folder cannot be written to (a re-run moves
    the previous trial into ``archive/`` and refills the folders)."""
    read_only = tree.unwritable()
    if read_only:
        names = ", ".join(str(p) for p in read_only[:5]) + (
            f" and {len(read_only) - 5} more" if len(read_only) > 5 else ""
        )
        raise PipelineError(
            f"the run folder {tree.root} cannot be written to: {names} "
            f"{'is' if len(read_only) == 1 else 'are'} read-only. Nothing was changed; make "
            f"{'it' if len(read_only) == 1 else 'them'} writable (chmod -R u+w {tree.root}) or choose "
            "another run_name or results_parent_dir."
        )


def _keep_series(
    variables: dict[str, str], results_parent_dir: Path
) -> tuple[dict[str, str], list[str]]:
    """With ``update_config=0`` and an earlier trial of the run (in the folder or its archive),
    its series variables (model, binning, seeds, parameter table, POIs) replace the run script's."""
    from alpswyft.config import keep_series_variables

    if variables.get("update_config", "1").strip() != "0":
        return variables, []
    tree = RunTree(results_parent_dir / variables.get("run_name", "").strip())
    source = tree.newest_trial()
    if source is None:
        print(
            "update_config=0: no earlier trial of this run; the configuration comes from the run script"
        )
        return variables, []
    print(f"update_config=0: the series variables are those of {source / tree.config.name}")
    return keep_series_variables(variables, read_json(source / tree.config.name)["variables"])


def _prepare_model(config: RunConfig) -> dict | None:
    """The model's set-up arrays (response, line of sight, null), computed before any file is written
    so that a bad IRF file or energy range stops the run with nothing touched."""
    prepare = resolve(config.model).prepare
    if prepare is None:
        return None
    if is_model_file(config.model):
        print(f"preparing the set-up arrays of {config.model}")
    else:
        print(
            f"building the instrument response from {config.irf_path.name} (cached per IRF file and binning) "
            "and the line of sight"
        )
    return prepare(config)


def _check_networks(config: RunConfig, shapes: dict, architecture) -> None:
    """Build the network of every distinct grid point on the simulator's ``shapes`` and run it once,
    so that an architecture that does not fit stops the run before anything is written."""
    import torch

    from alpswyft.networks import build_network

    batch = {key: torch.zeros((2, *shape)) for key, shape in shapes.items()}
    for g, hyperparams in enumerate(config.grid):
        try:
            network = build_network(config, hyperparams, shapes, architecture).eval()
            with torch.no_grad():
                network(batch, batch)
        except Exception as error:  # noqa: BLE001 - whatever the head raises, name the variable
            raise ConfigError(
                "architecture",
                config.architecture or "(default)",
                f"the network of grid point {g} {hyperparams} does not work on the simulator's shapes "
                f"{ {k: tuple(v) for k, v in shapes.items()} }: {type(error).__name__}: {error}",
            ) from None


def architecture_for(tree: RunTree, config: RunConfig):
    """The run's :class:`~alpswyft.architectures.Architecture`; a user file is loaded from the run
    folder's copy."""
    from alpswyft.architectures import Architecture, load_head, resolve

    if tree.architecture.is_file():
        return Architecture(
            load_head(tree.architecture), Path(config.architecture).name, tree.architecture
        )
    return resolve(config.architecture)


def current_trial(tree: RunTree) -> int:
    return read_json(tree.config)["trial"]


def _old_record(config: RunConfig, tree: RunTree) -> TruncationRecord | None:
    """The truncation record ``use_old_truncations`` asks for (1: the newest one in the run folder
    or its archive; a path: that file, or a run/trial folder holding one), checked against the
    configuration; None for 0 or when there is none yet."""
    value = config.use_old_truncations
    if value == "0":
        return None
    if value == "1":
        candidates = [tree.record, *(trial / tree.record.name for trial in tree.archived_trials())]
        source = next((p for p in candidates if p.is_file()), None)
        if source is None:
            print("use_old_truncations=1: no earlier truncation record; starting a fresh one")
            return None
    else:
        source = Path(value) if Path(value).is_file() else Path(value) / tree.record.name
    record = TruncationRecord.load(source)
    record.check_compatible(config)
    return record


def _import_record(tree: RunTree, record: TruncationRecord) -> None:
    """Start the trial's truncation record from ``record``, with the binned posteriors beside it."""
    source = record.path
    posteriors = source.parent / "train_output" / "posteriors"
    record.path = tree.record
    record.save()
    tree.posteriors.mkdir(parents=True, exist_ok=True)
    for path in sorted(posteriors.glob("*.npz")):
        shutil.copy2(path, tree.posteriors / path.name)
    done = {g: len(p["rounds"]) for g, p in record.data["grid_points"].items()}
    print(f"use_old_truncations: continuing from {source} (finished rounds per grid point: {done})")


def simulator_for(tree: RunTree, config: RunConfig):
    from alpswyft.simulator import SpectrumSimulator

    return SpectrumSimulator.for_run(config, tree.setup, tree.model_file)


def _write_true_obs(config: RunConfig, tree: RunTree) -> None:
    rng = np.random.default_rng(config.obs_seed)
    simulator = simulator_for(tree, config)
    sample = simulator.simulate(config.table.obs, rng)
    extra = {}
    if "pgg" in sample:  # the same observation's parameters under the null hypothesis
        null = simulator.model.expected(
            config.table.physical(config.table.null), np.random.default_rng(config.obs_seed)
        )
        extra = {"null_exp": null["exp"][0], "null_pgg": null["pgg"][0]}
    observed = getattr(simulator.model, "observation_nodes", lambda: None)()
    if observed is not None:  # a real observation; exp and params stay those of the Obs. values
        sample.update({k: np.asarray(v, np.float32) for k, v in observed.items()})
    save_npz(tree.true_obs, **{k: v[0] for k, v in sample.items()}, **extra)
    if observed is not None:
        from alpswyft.datasets.onoff import describe

        print(f"the observation is real: {describe(simulator.model.observation)}")
        return
    names = ", ".join(f"{n} = {v:g}" for n, v in zip(config.table.free_names, config.table.obs))
    print(f"mock observation simulated at {names} (obs_seed {config.obs_seed})")


def _write_extra_obs(config: RunConfig, tree: RunTree) -> None:
    """Simulate the ``extra_observations`` (each with its own noise seed) into ``extra_obs.npz``."""
    simulator = simulator_for(tree, config)
    samples, seeds = [], []
    for theta, seed in config.extra_observation_rows():
        samples.append(simulator.simulate(theta, np.random.default_rng(seed)))
        seeds.append(-1 if seed is None else seed)
    save_npz(
        tree.extra_obs,
        **{k: np.concatenate([s[k] for s in samples]) for k in samples[0]},
        seed=np.array(seeds),
    )
    for sample, seed in zip(samples, seeds):
        names = ", ".join(
            f"{n} = {v:g}" for n, v in zip(config.table.free_names, sample["params"][0])
        )
        print(f"extra observation simulated at {names} (seed {seed})")


def _infer_extra_obs(
    tree: RunTree,
    config: RunConfig,
    network,
    simulator,
    bank: np.ndarray,
    box: np.ndarray,
    grid_point: int,
) -> None:
    """The last round's posteriors of the ``extra_observations``: binned, and the log-ratios on
    the prior bank (float32)."""
    from alpswyft.inference import binned_posterior, logratios_on_bank

    extra = load_npz(tree.extra_obs)
    poi = config.POI_indices
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


# ---------------------------------------------------------------- plan


def plan(tree: RunTree) -> list[tuple[int, int]]:
    """(grid point, round) pairs still to run, in order: the rounds the record lacks, or with
    ``retrain_last_round`` the last round once more per trial. With ``simulate=1 train=0`` only
    the first of them per grid point (a later round's box needs this one's network); none with
    ``simulate=0 train=0``."""
    config = load_config(tree)
    if not config.train and not config.simulate:
        print("train=0 simulate=0: no round is simulated or trained", file=sys.stderr)
        return []
    record = load_record(tree, config)
    trial, last = current_trial(tree), config.n_truncations
    pairs = []
    for g in range(config.start_grid_test_at_count, len(config.grid)):
        rounds = [r for r in range(config.n_rounds) if not record.is_done(g, r)]
        if not rounds and config.retrain_last_round and record.trial_of(g, last) != trial:
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


def run_rounds(tree: RunTree) -> list[tuple[int, int]]:
    """Simulate and train the planned rounds in order, in this process (one start-up for all of
    them); in SLURM mode the work of each stage goes to SLURM jobs and this process waits.
    Returns the (grid point, round) pairs it ran."""
    config = load_config(tree)
    train = train_round_on_slurm if config.uses_slurm else train_round
    stages = [("simulation", simulate_round)] + (
        [] if config.simulate_only else [("training", train)]
    )
    pairs = plan(tree)
    for grid_point, round_ in pairs:
        for name, stage in stages:
            title = f"{name}, grid point {grid_point}, round {round_}"
            print(f"\n=== {title} ({datetime.datetime.now():%Y-%m-%d %H:%M:%S})", flush=True)
            try:
                stage(tree, grid_point, round_)
            except BaseException:
                print(f"stage '{title}' did not finish", file=sys.stderr, flush=True)
                raise
    return pairs


# ---------------------------------------------------------------- simulation


def store_requests(
    config: RunConfig, tree: RunTree, grid_point: int, round_: int, bounds
) -> dict[str, StoreRequest]:
    """The stores of a round: training (+coverage in the last round), prior bank, and in the last
    round the expected-limit store (POIs pinned to their Obs. values, the other free parameters
    from the box), with ``fixed_nuisance_limits`` the training store of the fixed-nuisance
    network (every free parameter outside the prediction planes pinned to its Obs. value), and
    for the frequentist limits the calibration and limit-coverage stores (every free parameter
    from the box, never trained on) and for CLs the null store (the planes' POIs at their Null
    values)."""
    box = np.asarray(bounds, float)
    kinds = {"train": (config.n_sim_round(round_), box), "prior": (config.n_prior_samples, box)}
    if round_ == config.n_truncations and config.n_sim_explim > 0:
        kinds["explim"] = (config.n_sim_explim, _pinned(config, box, config.POI_indices))
    if round_ == config.n_truncations and config.with_fixed_nuisances:
        kinds["fixed"] = (
            config.n_train_round(round_),
            _pinned(config, box, config.nuisance_indices),
        )
    if round_ == config.n_truncations:  # the Neyman construction's: POIs and nuisances over the box
        limit_pois = [config.POI_indices[k] for k in config.limit_pois]
        for kind, n, kind_box in (
            ("calibration", config.n_calibration, box),
            ("limit_coverage", config.n_limit_coverage, box),
            ("null", config.n_null, _pinned(config, box, limit_pois, "null")),
        ):
            if n > 0:
                kinds[kind] = (n, kind_box)
    requests = {}
    for kind, (n, kind_box) in kinds.items():
        path = tree.stores / store_name(kind, round_, grid_point)
        if kind == "train" and round_ == 0 and config.use_old_sims not in ("0", "1"):
            path = Path(config.use_old_sims)  # imported in place, read-only
        requests[kind] = StoreRequest(
            path=path,
            kind=kind,
            round=round_,
            grid_point=grid_point,
            n=n,
            bounds=tuple(tuple(float(v) for v in b) for b in kind_box),
            sim_seed=config.sim_seed,
            config_hash=config.simulation_hash,
        )
    return requests


def _pinned(
    config: RunConfig, box: np.ndarray, indices: list[int], column: str = "obs"
) -> np.ndarray:
    """``box`` with the free parameters ``indices`` pinned to their Obs. (or Null) values."""
    pinned = box.copy()
    pinned[indices] = getattr(config.table, column)[indices, None]
    return pinned


def simulate_round(tree: RunTree, grid_point: int, round_: int) -> None:
    """Fill the stores of one round: with joblib here, or as SLURM job arrays (one task per chunk)."""
    config = load_config(tree)
    bounds = load_record(tree, config).bounds(grid_point, round_)
    simulator = simulator_for(tree, config)
    _print_box(config, bounds, f"round {round_} simulates in")
    requests = store_requests(config, tree, grid_point, round_, bounds)
    if config.simulate:
        to_fill = [r for r in requests.values() if r.path.is_relative_to(tree.stores)]
        check_disk_space(to_fill, simulator.shapes, tree.stores)
    for kind, request in requests.items():
        if not config.simulate:
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
            _simulate_on_slurm(config, tree, request, simulator, grid_point, round_, kind)
        else:
            fill_store(request, simulator, config.n_jobs_sim)


def _simulate_on_slurm(config, tree, request, simulator, grid_point, round_, kind) -> None:
    from alpswyft.stores import chunk_slices, open_for_filling
    from analysis_core import slurm

    shapes = simulator.shapes if kind != "prior" else {"params": simulator.shapes["params"]}
    root = open_for_filling(request, shapes, chunk_length(request.n, config.n_jobs_sim))
    chunks = chunk_slices(root)
    script = Path(__file__).resolve().parents[1] / "simulate_batch.py"
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
    resources = slurm.Resources(
        job_name=f"ALP_simulations_{request.path.name}",
        partition=config.partition_sim,
        account=config.account,
        time=config.max_time_sim,
        mem_per_cpu_gb=config.max_memory_sim,
        qos="devel" if config.devel_sim else "",
        extra=config.sbatch_extra,
        setup=config.job_setup,
    )
    print(
        f"{request.path.name}: {sum(not status(i) for i in range(len(chunks)))} of "
        f"{len(chunks)} chunks to simulate on SLURM"
    )
    slurm.run_tasks(
        commands,
        status,
        resources,
        tree.sim_output / "slurm",
        config.slurm_max_attempts,
        describe=lambda i: f"{request.path.name} chunk {i}",
    )


def simulate_chunk(tree: RunTree, grid_point: int, round_: int, kind: str, chunk: int) -> None:
    """One chunk of one store (the body of a SLURM simulation task)."""
    from alpswyft.stores import chunk_slices, simulate_chunk_into

    config = load_config(tree)
    bounds = load_record(tree, config).bounds(grid_point, round_)
    request = store_requests(config, tree, grid_point, round_, bounds)[kind]
    lo, hi = chunk_slices(zarr_group(request.path))[chunk]
    simulate_chunk_into(request, simulator_for(tree, config), lo, hi, chunk)
    print(f"{request.path.name}: chunk {chunk} ({hi - lo} simulations) written")


def _print_box(config: RunConfig, bounds, title: str) -> None:
    print(title)
    for p, (lo, hi) in zip(config.table.free, bounds):
        print(f"  {p.name:>12s} [{lo:+.4g}, {hi:+.4g}] {p.unit}{' (log10)' if p.log else ''}")


# ---------------------------------------------------------------- training and truncation


def train_round_on_slurm(tree: RunTree, grid_point: int, round_: int) -> None:
    """Run :func:`train_round` as one SLURM job and wait for it (resubmitted if it fails)."""
    from analysis_core import slurm

    config = load_config(tree)
    script = Path(__file__).resolve().parents[1] / "train.py"
    command = slurm.shell_command(
        sys.executable, script, tree.root, "--grid-point", grid_point, "--round", round_, "--here"
    )
    resources = slurm.Resources(
        job_name=f"swyft_training_round_{round_}_gridpoint_{grid_point}",
        partition=config.partition_train,
        account=config.account,
        time=config.max_time_train,
        mem_per_cpu_gb=config.max_memory_train,
        qos="devel" if config.devel_train else "",
        gpus=config.gpus,
        extra=config.sbatch_extra,
        setup=config.job_setup,
    )
    trial = current_trial(tree)
    done = lambda _: load_record(tree, config).trial_of(grid_point, round_) == trial  # noqa: E731
    slurm.run_tasks(
        [command],
        done,
        resources,
        tree.train_output / "slurm",
        config.slurm_max_attempts,
        describe=lambda _: f"training of round {round_}, grid point {grid_point}",
    )


def train_round(tree: RunTree, grid_point: int, round_: int) -> None:
    """Train the round's network (or load it: ``use_old_net``), infer the mock observation and
    truncate the POI boxes."""
    import torch

    from alpswyft.inference import binned_posterior, logratios_on_bank
    from alpswyft.networks import build_network, load_network, save_network, signature
    from alpswyft.training import train_network
    from alpswyft.truncation import rect_bounds, summarise_1d

    config = load_config(tree)
    record = load_record(tree, config)
    hyperparams = config.grid[grid_point]
    box = record.bounds(grid_point, round_)
    requests = store_requests(config, tree, grid_point, round_, box)
    simulator = simulator_for(tree, config)
    architecture = architecture_for(tree, config)
    network_signature = signature(config, hyperparams, simulator.shapes, architecture)
    seed = config.sim_seed * 1_000_003 + round_ * 1009 + grid_point
    torch.manual_seed(seed)  # the initial weights
    network = build_network(config, hyperparams, simulator.shapes, architecture)

    old = _old_network(config, tree, round_, grid_point)
    if old is not None:
        load_network(network, old, network_signature)
        print(f"use_old_net: loaded {old}")
    if old is None or config.continue_training:
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
    poi = config.POI_indices
    values = bank[:, poi].astype(float)
    poi_box = box[poi]

    if network.estimator_1d is not None:
        lr_1d, lr_2d = logratios[0], (logratios[1] if len(logratios) > 1 else None)
        truncated_poi = rect_bounds(lr_1d, values)
    else:  # 2D only: each POI keeps the union of its pairs' bounds
        lr_1d, lr_2d = None, logratios[0]
        truncated_poi = _bounds_from_pairs(lr_2d, values, network.pairs, len(poi))
    new_box = np.array(record.data["initial_bounds"])
    new_box[poi] = truncated_poi

    posterior = {
        "box": poi_box,
        "poi_names": np.array(config.poi_names),
        "truth": config.table.obs[poi],
        **binned_posterior(values, lr_1d, lr_2d, network.pairs, poi_box),
    }
    tree.posteriors.mkdir(parents=True, exist_ok=True)
    save_npz(tree.posterior(round_, grid_point), **posterior)
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

    if round_ == config.n_truncations and tree.extra_obs.is_file():
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
            "trial": current_trial(tree),
            "training": figures,
            "posterior": summary,
        },
        hyperparams,
    )
    _print_truncation(config, box, new_box, np.array(record.data["initial_bounds"]))


def _train_fixed_nuisances(
    tree: RunTree, config: RunConfig, grid_point: int, request, simulator, architecture, seed: int
) -> None:
    """The last round's fixed-nuisance network: the prediction planes' 2D marginals, trained on
    simulations with every other free parameter at its Obs. value (what a fit that took the
    spectrum and the cluster as known would conclude)."""
    import torch

    from alpswyft.networks import build_network, load_network, save_network, signature
    from alpswyft.training import train_network

    hyperparams = config.grid[grid_point]
    network_signature = signature(
        config, hyperparams, simulator.shapes, architecture, fixed_nuisances=True
    )
    torch.manual_seed(seed + 1)
    network = build_network(
        config, hyperparams, simulator.shapes, architecture, fixed_nuisances=True
    )
    path = tree.fixed_network(grid_point)
    old = _old_network(config, tree, config.n_truncations, grid_point, path.name)
    names = ", ".join(config.table.free_names[i] for i in config.nuisance_indices)
    if old is not None:
        load_network(network, old, network_signature)
        print(f"use_old_net: loaded {old}")
    if old is None or config.continue_training:
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


def trained_network(
    tree: RunTree,
    config: RunConfig,
    grid_point: int,
    round_: int,
    simulator,
    fixed_nuisances: bool = False,
):
    """The saved network of a round and grid point (or the last round's fixed-nuisance network),
    checked against its signature, on CUDA when ``gpus`` > 0 and a device is visible."""
    import torch

    from alpswyft.networks import build_network, load_network, signature

    hyperparams = config.grid[grid_point]
    architecture = architecture_for(tree, config)
    network = build_network(config, hyperparams, simulator.shapes, architecture, fixed_nuisances)
    path = tree.fixed_network(grid_point) if fixed_nuisances else tree.network(round_, grid_point)
    if not path.is_file():
        raise PipelineError(
            f"{path} does not exist: round {round_} of grid point {grid_point} was not trained"
        )
    load_network(
        network,
        path,
        signature(config, hyperparams, simulator.shapes, architecture, fixed_nuisances),
    )
    device = "cuda" if config.gpus > 0 and torch.cuda.is_available() else "cpu"
    return network.to(device).eval()


def _old_network(
    config: RunConfig, tree: RunTree, round_: int, grid_point: int, name: str = ""
) -> Path | None:
    """The saved network ``use_old_net`` asks for: with 1 this trial's or the newest archived
    trial's network of the round and grid point (or the file ``name``), if there is one; with a
    .pt path that file (the main network only); with a folder the round's network in it (a net
    folder or a run/trial folder), if there is one."""
    value = config.use_old_net
    if value == "0":
        return None
    if name and Path(value).suffix == ".pt":
        value = str(Path(value).parent)
    name = name or tree.network(round_, grid_point).name
    if value == "1":
        candidates = [tree.nets / name] + [
            trial / "train_output" / "net" / name for trial in tree.archived_trials()
        ]
    elif Path(value).suffix == ".pt":
        if not Path(value).is_file():
            raise PipelineError(
                f"use_old_net: {value} does not exist (moved or deleted since the run started?)"
            )
        return Path(value)
    else:
        candidates = [Path(value) / name, Path(value) / "train_output" / "net" / name]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        print(f"use_old_net={value}: no saved network {name}; training a new one")
    return found


def _bounds_from_pairs(logratios_2d, values, pairs, n_poi):
    from alpswyft.truncation import rect_bounds

    bounds = np.full((n_poi, 2), [np.inf, -np.inf])
    for k, (i, j) in enumerate(pairs):
        pair_bounds = rect_bounds(
            np.repeat(logratios_2d[:, k : k + 1], 2, axis=1), values[:, [i, j]]
        )
        for axis, b in zip((i, j), pair_bounds):
            bounds[axis] = [min(bounds[axis][0], b[0]), max(bounds[axis][1], b[1])]
    return bounds


def _print_truncation(config: RunConfig, old, new, initial) -> None:
    print("truncation (threshold 1e-6 on the 1D marginals):")
    for i in config.POI_indices:
        p = config.table.free[i]
        width = lambda b, i=i: b[i][1] - b[i][0]  # noqa: E731
        print(
            f"  {p.name:>12s} [{old[i][0]:+.4g}, {old[i][1]:+.4g}] -> [{new[i][0]:+.4g}, {new[i][1]:+.4g}]"
            f"  ({100 * (1 - width(new) / width(old)):.1f}% smaller than this round's box,"
            f" {100 * (1 - width(new) / width(initial)):.1f}% smaller than the prior)"
        )
