"""Configuration stage: validate the run script, start a trial, write the provenance, the set-up
arrays and the mock observation. Nothing is written when a variable is invalid."""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from alpswyft.architectures import resolve as resolve_architecture
from alpswyft.config import (
    PHYSICS_VARIABLES,
    RunConfig,
    is_variable,
    keep_series_variables,
    load_run_config,
)
from alpswyft.datasets.onoff import describe
from alpswyft.models import check_outputs, is_model_file, resolve
from alpswyft.networks import build_network
from alpswyft.results import RunTree, library_versions
from alpswyft.run import RunContext
from alpswyft.runscript import read_run_script
from alpswyft.simulator import SpectrumSimulator
from alpswyft.stores import check_foreign_store, is_foreign
from alpswyft.truncation import import_record, reused_record
from analysis_core.errors import ConfigError, PipelineError
from analysis_core.files import load_npz, npz_digest, read_json, save_npz, write_json

CONFIG_FORMAT = "alpswyft.config/1"


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
    tree = RunTree(Path(results_parent_dir) / config.run_name)
    _check_writable(tree)
    architecture = resolve_architecture(config.training.architecture)
    model = resolve(config.physics.model)
    physics = None if config.physics.update_physics else _earlier_physics(config, tree, warnings)
    setup = physics.setup if physics is not None else _prepare_model(config)
    check_outputs(model, config, setup)
    shapes = SpectrumSimulator(config, setup, model).shapes
    _check_networks(config, shapes, architecture)
    imported = _imported_store(config, shapes, warnings)
    for warning in warnings:
        print(f"WARNING: {warning}")

    old_record = reused_record(config, tree)  # checked before anything is moved
    trial, archived, resumed = tree.start_trial(
        config.trial_hash, keep_stores=config.simulation.reuse.latest
    )
    recorded = read_json(tree.config).get("files", {}) if resumed and tree.config.is_file() else {}
    if early_log is not None:
        os.replace(early_log, tree.log)  # the log so far continues as this trial's output.log
    if archived is not None:
        print(f"the previous trial is in {archived.relative_to(tree.root)}")
        if config.simulation.reuse.latest:
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
        import_record(tree, old_record)

    provenance = {
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
            "name": config.physics.model,
            "description": model.description,
            "sha256": model.sha256 or None,
        },
        "physics_from": str(physics.source) if physics is not None else None,
        "overrides": command_line,
        "imported_store": imported,
        "variables": config.to_json_dict(),
    }
    write_json(tree.config, provenance)  # the trial's marker: a kill from here on resumes it
    print(f"configuration written to {tree.config.name} (hash {config.hash})")
    # A resumed trial keeps its files (written atomically, so complete): with obs_seed=None a new
    # mock observation would not be the one the finished rounds were inferred on. A kept file
    # that changed on disk since (its digest in config.json) is rebuilt where that gives the same
    # arrays, and refused otherwise.
    run = RunContext(tree, config)

    def write_setup():
        save_npz(tree.setup, **setup)
        print(f"instrument response and line of sight written to {tree.setup.name}")

    def write_true_obs():
        if physics is not None:
            save_npz(tree.true_obs, **physics.true_obs)
            print(
                f"update_physics=0: the response and the mock observation are those of {physics.source}"
            )
        else:
            _write_true_obs(run)

    fresh_obs = (
        physics is None and config.physics.obs_seed is None and not config.physics.observation
    )
    kept = [
        (
            tree.true_obs,
            write_true_obs,
            "obs_seed=None draws another mock observation" if fresh_obs else "",
        )
    ]
    if setup is not None:
        kept.insert(0, (tree.setup, write_setup, ""))
    if config.validation.extra_observations:
        unseeded = any(seed is None for _, seed in config.extra_observation_rows())
        why = "a row without seed= and obs_seed=None draws another observation" if unseeded else ""
        kept.append((tree.extra_obs, lambda: _write_extra_obs(run), why))
    for path, write, why_not in kept:
        if resumed and path.exists():
            _check_kept(path, recorded.get(path.name), write, why_not)
        else:
            write()
    provenance["files"] = {path.name: npz_digest(path) for path, _, _ in kept}
    write_json(tree.config, provenance)
    return tree


def _check_kept(path: Path, recorded: str | None, write, why_not: str) -> None:
    """A resumed trial's file: unchanged since the trial started (its ``recorded`` digest), or
    rebuilt by ``write`` when that gives the same arrays; else PipelineError naming the file."""
    if recorded is None or npz_digest(path) == recorded:
        return
    if not why_not:
        aside = path.with_name(path.name + ".changed")
        path.replace(aside)
        write()
        if npz_digest(path) == recorded:
            aside.unlink()
            print(f"{path.name} had changed on disk since the trial started: rebuilt as it was")
            return
        aside.replace(path)
    raise PipelineError(
        f"{path} changed on disk since this trial started (truncated, replaced or edited: its "
        f"arrays are not those recorded in config.json) and cannot be rebuilt as it was"
        f"{': ' + why_not if why_not else ''}. Restore it, or start a new trial (another run_name, "
        "or change a variable)"
    )


@dataclasses.dataclass
class _Physics:
    source: Path
    setup: dict | None
    true_obs: dict


def _earlier_physics(config: RunConfig, tree: RunTree, warnings: list[str]) -> _Physics | None:
    """``update_physics=0``: the response and mock observation of the newest earlier trial (in the
    folder or its archive), if they were built from the same physics variables; otherwise None,
    with a warning naming the variables that differ (the physics is then rebuilt)."""
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
    needs_setup = resolve(config.physics.model).prepare is not None
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
    values = {name: os.environ.get(name, "") for name in overrides}
    unknown = [name for name in values if not is_variable(name) and name != "results_parent_dir"]
    if unknown:
        raise ConfigError(
            ", ".join(unknown),
            ", ".join(values[n] for n in unknown),
            "not a variable of this pipeline (given on the command line; see docs/guide/variables.md)",
        )
    if values:
        print("command-line overrides: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    return values


def _imported_store(config: RunConfig, shapes: dict, warnings: list[str]) -> dict | None:
    """``use_old_sims`` as a path: a store of this pipeline is checked when round 0 simulates; a
    foreign one (a swyft ZarrStore of the original pipeline) is checked here, before anything is
    written, for its nodes, shapes and size, and said to be unverifiable. Returns its record."""
    path = config.simulation.reuse.path
    if path is None or not is_foreign(path):
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
    prepare = resolve(config.physics.model).prepare
    if prepare is None:
        return None
    if is_model_file(config.physics.model):
        print(f"preparing the set-up arrays of {config.physics.model}")
    else:
        print(
            f"building the instrument response from {config.irf_path.name} (cached per IRF file and binning) "
            "and the line of sight"
        )
    return prepare(config)


def _check_networks(config: RunConfig, shapes: dict, architecture) -> None:
    """Build the network of every distinct grid point on the simulator's ``shapes`` and run it once,
    so that an architecture that does not fit stops the run before anything is written."""
    batch = {key: torch.zeros((2, *shape)) for key, shape in shapes.items()}
    for g, hyperparams in enumerate(config.grid):
        try:
            network = build_network(config, hyperparams, shapes, architecture).eval()
            with torch.no_grad():
                network(batch, batch)
        except Exception as error:  # noqa: BLE001 - whatever the head raises, name the variable
            raise ConfigError(
                "architecture",
                config.training.architecture or "(default)",
                f"the network of grid point {g} {hyperparams} does not work on the simulator's shapes "
                f"{ {k: tuple(v) for k, v in shapes.items()} }: {type(error).__name__}: {error}",
            ) from None


def _write_true_obs(run: RunContext) -> None:
    """Simulate the mock observation at the table's Obs. values (``obs_seed``) into
    ``true_obs.npz``, or take a real observation's counts."""
    config, tree, simulator = run.config, run.tree, run.simulator
    rng = np.random.default_rng(config.physics.obs_seed)
    sample = simulator.simulate(config.table.obs, rng)
    extra = {}
    if "pgg" in sample:  # the same observation's parameters under the null hypothesis
        null = simulator.model.expected(
            config.table.physical(config.table.null), np.random.default_rng(config.physics.obs_seed)
        )
        extra = {"null_exp": null["exp"][0], "null_pgg": null["pgg"][0]}
    observed = getattr(simulator.model, "observation_nodes", lambda: None)()
    if observed is not None:  # a real observation; exp and params stay those of the Obs. values
        sample.update({k: np.asarray(v, np.float32) for k, v in observed.items()})
    save_npz(tree.true_obs, **{k: v[0] for k, v in sample.items()}, **extra)
    if observed is not None:
        print(f"the observation is real: {describe(simulator.model.observation)}")
        return
    names = ", ".join(f"{n} = {v:g}" for n, v in zip(config.table.free_names, config.table.obs))
    print(f"mock observation simulated at {names} (obs_seed {config.physics.obs_seed})")


def _write_extra_obs(run: RunContext) -> None:
    """Simulate the ``extra_observations`` (each with its own noise seed) into ``extra_obs.npz``."""
    config, tree, simulator = run.config, run.tree, run.simulator
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
