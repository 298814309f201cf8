"""The sections of a run's configuration: frozen views of its variables, one per concern.

A run script is flat, and so is :class:`~alpswyft.config.RunConfig`, which validates it, hashes it
and writes it to ``config.json`` under the run script's names. Code reads the variables through
the sections, so that what a stage depends on is visible where it reads them::

    config.execution.gpus            # how and where the run works (SLURM, partitions, GPUs)
    config.physics.livetime          # the forward model and the observation (h)
    config.simulation.n_sim_train    # how many simulations of which kind, their seed and stores
    config.training.max_epochs       # the networks, their rounds and the truncation
    config.validation.limit_method   # coverage, limits and the classical analysis

Every variable but ``run_name`` is in exactly one section, under its run-script name (a test checks
the partition). The derived views that combine sections (``config.table``, ``config.grid``,
``config.with_neyman``, ...) stay on the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class Reuse:
    """A ``use_old_sims`` / ``use_old_net`` / ``use_old_truncations`` value, parsed once: off
    (``0``), the latest in the run folder or its archive (``1``), or a path."""

    value: str

    @property
    def off(self) -> bool:
        return self.value == "0"

    @property
    def latest(self) -> bool:
        return self.value == "1"

    @property
    def path(self) -> Path | None:
        """The path given, or None for ``0`` and ``1``."""
        return None if self.value in ("0", "1") else Path(self.value)


class Section:
    """A frozen dataclass of some of a configuration's variables, under their names."""

    @classmethod
    def of(cls, config):
        """The section's variables of ``config`` (a :class:`~alpswyft.config.RunConfig`)."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The run-script variables the section holds."""
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class Execution(Section):
    """How and where a run works, not what it computes: changing these resumes an unfinished trial
    (e.g. ``simulate=1 train=0`` on a CPU partition, then ``simulate=0 train=1`` with ``gpus=1`` on
    a GPU partition trains on the same stores). Memory in GB, wall times as ``D-HH:MM:SS``."""

    on_cluster: str
    slurm_max_attempts: int
    sbatch_extra: list[str]
    job_setup: str
    account: str
    update_config: bool
    update_config_on_cluster: bool
    max_memory_config: int
    max_time_config: str
    partition_config: str
    qos_config: str
    simulate: bool
    non_finite_sims: str
    partition_sim: str
    devel_sim: bool
    max_memory_sim: int
    max_time_sim: str
    train: bool
    gpus: int
    partition_train: str
    devel_train: bool
    max_memory_train: int
    max_time_train: str
    wandb_mode: str


@dataclass(frozen=True)
class Physics(Section):
    """The forward model and the observation: the model and its parameter rows, the energy binning
    (GeV), live time (h), instrument response and ON/OFF regions (deg), the cluster field's
    numerics, the mock observation's seed and the residual floors (log10)."""

    update_physics: bool
    save_physics: bool
    model: str
    model_sha256: str
    geom: str
    noise: str
    noise_sigma: float
    nbins: int
    nbins_etrue: int
    emin: float
    emax: float
    livetime: float
    ALP_seed: int | None
    obs_seed: int | None
    floor_exp: float | None
    floor_obs: float | None
    IRF_file: str
    on_region: str
    on_region_radius: float
    alp_engine: str
    observation: str
    rad_max: float | None
    n_off_regions: int
    background_scatter: float
    max_freq: float
    len_fft: int
    POI_indices: list[int]
    model_params: list[str]


@dataclass(frozen=True)
class Simulation(Section):
    """The simulations: their seed, how many of each kind per round, the prior bank, the SLURM
    array's size and the stores reused from elsewhere."""

    sim_seed: int
    n_sim_train: list[int]
    n_sim_coverage: int
    n_sim_explim: int
    n_sim_calibration: int | None
    n_sim_limit_coverage: int
    n_sim_null: int
    n_prior_samples: int
    n_jobs_sim: int
    use_old_sims: str
    save_old_sims: bool

    @property
    def reuse(self) -> Reuse:
        """``use_old_sims``, parsed."""
        return Reuse(self.use_old_sims)


@dataclass(frozen=True)
class Training(Section):
    """The networks and their rounds: the truncation, the feature head and its hyperparameters,
    the marginals estimated and the networks reused from elsewhere."""

    n_truncations: int
    use_old_truncations: str
    retrain_last_round: bool
    use_old_net: str
    continue_training: bool
    save_old_net: bool
    architecture: str
    restricted_posterior: int
    bnre_lambda: float
    train_batch_size_1d: int
    max_epochs: int
    hyperparams: str
    start_grid_test_at_count: int

    @property
    def reuse_net(self) -> Reuse:
        """``use_old_net``, parsed."""
        return Reuse(self.use_old_net)

    @property
    def reuse_truncations(self) -> Reuse:
        """``use_old_truncations``, parsed."""
        return Reuse(self.use_old_truncations)


@dataclass(frozen=True)
class Validation(Section):
    """What the last round is validated with: the coverage draws, the limit planes, levels and
    methods, the fixed-nuisance network, the extra observations and the classical analysis."""

    draw_DRP: bool
    prediction_pairs: list[tuple[int, int]]
    fixed_nuisance_limits: bool
    credibility_levels: tuple[float, ...]
    limit_method: tuple[str, ...]
    classical_limits: bool
    classical_bins: list[int]
    classical_realisations: int
    classical_toys: int
    classical_lattice: int
    classical_field: str
    extra_observations: str
    DRP_coverage_parameters: list[list[int]]


#: The sections by their attribute name on the configuration.
SECTIONS: dict[str, type[Section]] = {
    "execution": Execution,
    "physics": Physics,
    "simulation": Simulation,
    "training": Training,
    "validation": Validation,
}
