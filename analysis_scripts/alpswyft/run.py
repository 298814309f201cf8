"""The run context: one run folder's configuration, truncation record, simulator, architecture,
networks and stores, loaded once and shared by the stages, the figures, the report and the
workbench.

>>> run = RunContext("cluster_runs/analysis_results/alp_default")
>>> run.config.poi_names, run.record.bounds(0, 0), run.simulator.shapes
>>> run.network(round_=1, grid_point=0)          # the trained network, checked against its signature
>>> run.store_path("prior", round_=0, grid_point=0)

The stages exchange files only (``config.json``, ``response.npz``, the stores, the networks,
``truncation_record.json``); a context reads them and never writes.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from alpswyft.config import RunConfig
from alpswyft.results import RunTree
from alpswyft.simulator import SpectrumSimulator
from alpswyft.stores import StoreRequest, store_name
from alpswyft.truncation import TruncationRecord
from analysis_core import slurm
from analysis_core.errors import PipelineError
from analysis_core.files import read_json


class RunContext:
    """A run folder (or archived trial) and what its stages share. ``config`` and the objects built
    from it are read once; ``record`` is read afresh each time, as other processes add rounds."""

    def __init__(self, tree: RunTree | str | Path, config: RunConfig | None = None):
        self.tree = tree if isinstance(tree, RunTree) else RunTree(Path(tree))
        if config is not None:
            self.__dict__["config"] = config

    @classmethod
    def of(cls, run: RunContext | RunTree | str | Path) -> RunContext:
        """``run`` itself, or the context of a run folder given as a :class:`RunTree` or path."""
        return run if isinstance(run, RunContext) else cls(run)

    def __repr__(self) -> str:
        return f"RunContext({str(self.tree.root)!r})"

    @cached_property
    def config(self) -> RunConfig:
        """The validated variables of ``config.json``."""
        if not self.tree.config.exists():
            raise PipelineError(
                f"{self.tree.config} does not exist; the configuration stage has not run."
            )
        return RunConfig(**read_json(self.tree.config)["variables"])

    @property
    def record(self) -> TruncationRecord:
        """The truncation record (rounds done, their boxes), as it is on disk now."""
        return TruncationRecord.for_config(self.tree.record, self.config)

    @property
    def trial(self) -> int:
        """The number of the trial in the folder (``config.json``)."""
        return read_json(self.tree.config)["trial"]

    @cached_property
    def simulator(self) -> SpectrumSimulator:
        """The run's simulator: its set-up arrays (``response.npz``) and its copy of a model file."""
        return SpectrumSimulator.for_run(self.config, self.tree.setup, self.tree.model_file)

    @cached_property
    def architecture(self):
        """The run's :class:`~alpswyft.architectures.Architecture`; a user file is loaded from the
        run folder's copy."""
        # torch and swyft (seconds to import) only where networks are built, never in simulations
        from alpswyft.architectures import Architecture, load_head
        from alpswyft.architectures import resolve as resolve_architecture

        if self.tree.architecture.is_file():
            return Architecture(
                load_head(self.tree.architecture),
                Path(self.config.training.architecture).name,
                self.tree.architecture,
            )
        return resolve_architecture(self.config.training.architecture)

    def network(self, round_: int, grid_point: int, fixed_nuisances: bool = False):
        """The saved network of a round and grid point (or the last round's fixed-nuisance network),
        checked against its signature, on CUDA when ``gpus`` > 0 and a device is visible."""
        import torch

        from alpswyft.networks import build_network, load_network, signature  # torch, swyft

        config, shapes = self.config, self.simulator.shapes
        hyperparams = config.grid[grid_point]
        network = build_network(config, hyperparams, shapes, self.architecture, fixed_nuisances)
        path = (
            self.tree.fixed_network(grid_point)
            if fixed_nuisances
            else self.tree.network(round_, grid_point)
        )
        if not path.is_file():
            raise PipelineError(
                f"{path} does not exist: round {round_} of grid point {grid_point} was not trained"
            )
        load_network(
            network,
            path,
            signature(config, hyperparams, shapes, self.architecture, fixed_nuisances),
        )
        device = "cuda" if config.execution.gpus > 0 and torch.cuda.is_available() else "cpu"
        return network.to(device).eval()

    def slurm_resources(self, stage: str, job_name: str) -> slurm.Resources:
        """The SLURM resources of a ``stage``'s jobs (``sim`` or ``train``): its
        ``partition_<stage>``, ``max_time_<stage>``, ``max_memory_<stage>`` (GB per CPU) and
        ``devel_<stage>`` (the ``devel`` QOS), with the run's account, extra sbatch lines and job
        set-up; GPUs (``gpus``) for training."""
        config = self.config
        return slurm.Resources(
            job_name=job_name,
            partition=getattr(config, f"partition_{stage}"),
            account=config.execution.account,
            time=getattr(config, f"max_time_{stage}"),
            mem_per_cpu_gb=getattr(config, f"max_memory_{stage}"),
            qos="devel" if getattr(config, f"devel_{stage}") else "",
            gpus=config.execution.gpus if stage == "train" else 0,
            extra=config.execution.sbatch_extra,
            setup=config.execution.job_setup,
            memory_setting=f"max_memory_{stage}",
            time_setting=f"max_time_{stage}",
        )

    def store_path(self, kind: str, round_: int, grid_point: int) -> Path:
        """Where the store of ``kind`` of a round and grid point is: in ``sim_output/store``, or
        for round 0's training store the one ``use_old_sims`` imports (read in place)."""
        imported = self.config.simulation.reuse.path
        if kind == "train" and round_ == 0 and imported is not None:
            return imported
        return self.stores_folder / store_name(kind, round_, grid_point)

    @property
    def stores_folder(self) -> Path:
        """``sim_output/store``, or for an archived trial whose stores stayed in place
        (``use_old_sims=1``) the folder its manifest names."""
        manifest = self.tree.root / "sim_output_manifest.json"
        if not self.tree.stores.is_dir() and manifest.is_file():
            return Path(read_json(manifest)["folder"])
        return self.tree.stores

    def store_requests(self, grid_point: int, round_: int, bounds=None) -> dict[str, StoreRequest]:
        """The stores of a round (``bounds``: its box, default the record's): training (+coverage
        in the last round), prior bank, and in the last round the expected-limit store (POIs
        pinned to their Obs. values, the other free parameters from the box), with
        ``fixed_nuisance_limits`` the training store of the fixed-nuisance network (every free
        parameter outside the prediction planes pinned to its Obs. value), and for the
        frequentist limits the calibration and limit-coverage stores (every free parameter from
        the box, never trained on) and for CLs the null store (the planes' POIs at their Null
        values)."""
        config = self.config
        box = np.asarray(
            self.record.bounds(grid_point, round_) if bounds is None else bounds, float
        )
        last = round_ == config.training.n_truncations
        kinds = {
            "train": (config.n_sim_round(round_), box),
            "prior": (config.simulation.n_prior_samples, box),
        }
        if last and config.simulation.n_sim_explim > 0:
            kinds["explim"] = (
                config.simulation.n_sim_explim,
                pinned(config, box, config.physics.POI_indices),
            )
        if last and config.with_fixed_nuisances:
            kinds["fixed"] = (
                config.n_train_round(round_),
                pinned(config, box, config.nuisance_indices),
            )
        if last:  # the Neyman construction's: POIs and nuisances over the box
            limit_pois = [config.physics.POI_indices[k] for k in config.limit_pois]
            for kind, n, kind_box in (
                ("calibration", config.n_calibration, box),
                ("limit_coverage", config.n_limit_coverage, box),
                ("null", config.n_null, pinned(config, box, limit_pois, "null")),
            ):
                if n > 0:
                    kinds[kind] = (n, kind_box)
        return {
            kind: StoreRequest(
                path=self.store_path(kind, round_, grid_point),
                kind=kind,
                round=round_,
                grid_point=grid_point,
                n=n,
                bounds=tuple(tuple(float(v) for v in b) for b in kind_box),
                sim_seed=config.simulation.sim_seed,
                config_hash=config.simulation_hash,
                non_finite=config.execution.non_finite_sims,
            )
            for kind, (n, kind_box) in kinds.items()
        }


def pinned(
    config: RunConfig, box: np.ndarray, indices: list[int], column: str = "obs"
) -> np.ndarray:
    """``box`` (n_free, 2) with the free parameters ``indices`` pinned to their Obs. (or Null)
    values, in table space."""
    out = np.array(box, float)
    out[indices] = getattr(config.table, column)[indices, None]
    return out
