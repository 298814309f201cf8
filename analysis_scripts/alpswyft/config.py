"""The run configuration: every run-script variable, typed and validated in one place.

:func:`load_run_config` turns the raw strings of a run script (see :mod:`alpswyft.runscript`) into
a frozen :class:`RunConfig`, or raises :class:`~analysis_core.errors.ConfigError` naming the variable,
its value and what was expected. Variable names and meanings are those of the original pipeline's
run scripts; ``docs/guide/variables.md`` documents each one.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from alpswyft import classical as cl
from alpswyft import values
from alpswyft.grid import grid_points, parse_hyperparams
from alpswyft.limits import LEVELS
from alpswyft.models import ALP_MODELS, is_alp, is_model_file, resolve
from alpswyft.neyman import (
    LARGEST_NEIGHBOUR_FRACTION,
    METHODS,
    TAIL_COUNT,
    calibration_size_needed,
    neighbours_needed,
)
from alpswyft.parameters import ParameterTable, parse_row
from alpswyft.physics.alp import check_cluster_ranges
from alpswyft.physics.alp_model import ALPModel
from alpswyft.physics.magic import STATES
from alpswyft.sections import Execution, Physics, Simulation, Training, Validation
from analysis_core.errors import ConfigError, ConfigErrors
from analysis_core.plugins import file_sha256

#: The shipped instrument response, used when ``IRF_file`` is empty (see alpswyft/data/README.md).
DEFAULT_IRF_FILE = (
    Path(__file__).parent / "data" / "Prod5-North-20deg-AverageAz-4LSTs09MSTs.180000s-v0.1.fits.gz"
)

#: Variables of the original run scripts that this pipeline does not need; they are accepted
#: with a warning so that old run scripts still run.
OBSOLETE = {
    "conda_env": "the environment is the project's .venv, created by environments/bootstrap.sh",
    "parent_directory": "paths are taken from the run script's own location",
    "analysis_scripts_location": "paths are taken from the run script's own location",
    "safe_directory": "it was never used by the original pipeline",
    "dirstore": "it was never used by the original pipeline",
}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _flag(value):
    value = _strip(value)
    if value in ("0", "1", 0, 1, True, False):
        return bool(int(value))
    raise ValueError("expected 0 or 1")


def _int_list(value):
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value if isinstance(value, list) else [value]


def _optional_int(value):
    value = _strip(value)
    return None if value in ("None", "", None) else value


def _pairs(value):
    """``(0,1),(2,3)`` -> [(0, 1), (2, 3)]; positions within POI_indices."""
    if not isinstance(value, str):
        return value
    compact = re.sub(r"\s+", "", value)
    if not compact:
        return []
    if not re.fullmatch(r"\(\d+,\d+\)(,\(\d+,\d+\))*", compact):
        raise ValueError("expected pairs of POI positions such as (0,1),(0,2)")
    return [
        tuple(int(v) for v in pair.split(",")) for pair in re.findall(r"\((\d+,\d+)\)", compact)
    ]


def _levels(value):
    """``0.68,0.95,0.9973`` -> (0.68, 0.95, 0.9973): credibility levels, increasing, in (0, 1)."""
    if isinstance(value, str):
        try:
            value = [float(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise ValueError(
                "expected comma-separated numbers between 0 and 1, e.g. 0.68,0.95,0.9973"
            ) from None
    levels = tuple(float(v) for v in value)
    if (
        not levels
        or not all(0 < v < 1 for v in levels)
        or any(b <= a for a, b in zip(levels, levels[1:]))
    ):
        raise ValueError(
            "expected increasing levels strictly between 0 and 1, e.g. 0.68,0.95,0.9973"
        )
    if len(levels) > 7:
        raise ValueError(f"expected at most 7 levels, got {len(levels)}")
    return levels


def _methods(value):
    """``frequentist,hpd`` -> ("frequentist", "hpd"): the limit constructions, the first one quoted."""
    if not isinstance(value, str):
        return tuple(value)
    methods = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [m for m in methods if m not in METHODS]
    if not methods or bad or len(set(methods)) != len(methods):
        raise ValueError(
            f"expected one or more of {', '.join(METHODS)} separated by commas, each once "
            "(e.g. frequentist or frequentist,cls,hpd)"
        )
    return methods


def _sbatch_options(value):
    """``--constraint=a100; --exclusive`` -> ["--constraint=a100", "--exclusive"] (``;`` or new lines)."""
    if not isinstance(value, str):
        return value
    options = [o.strip() for o in re.split(r"[;\n]", value) if o.strip()]
    bad = [o for o in options if not o.startswith("-")]
    if bad:
        raise ValueError(
            f"expected sbatch options such as --constraint=a100, separated by ';' (not {bad[0]!r})"
        )
    return options


def _drp_rows(value):
    """``10000|1000|0|1|5 , 2|1|100|1|1`` (rows by ``,``, columns by ``|``) or the newer flat
    ``10_000, 1000, 0, 1, 5`` -> [[10000, 1000, 0, 1, 5], ...]."""
    if not isinstance(value, str):
        return value
    compact = re.sub(r"\s+", "", value).replace("_", "")
    if not compact:
        return []
    rows = (
        [row.split("|") for row in compact.split(",")] if "|" in compact else [compact.split(",")]
    )
    if not all(re.fullmatch(r"\d+", v) for row in rows for v in row) or any(
        len(row) != 5 for row in rows
    ):
        raise ValueError(
            "expected rows of 5 integers n_draws|n_coverage|n_sim_coverage_start|which_net|n_processes"
        )
    return [[int(v) for v in row] for row in rows]


Flag = Annotated[bool, BeforeValidator(_flag)]
Str = Annotated[str, BeforeValidator(_strip)]
NonNegInt = Annotated[int, Field(ge=0), BeforeValidator(_strip)]
PosInt = Annotated[int, Field(ge=1), BeforeValidator(_strip)]
Float = Annotated[float, BeforeValidator(_strip)]
OptionalInt = Annotated[int | None, BeforeValidator(_optional_int)]
OptionalFloat = Annotated[float | None, BeforeValidator(_optional_int)]
WallTime = Annotated[str, BeforeValidator(_strip), Field(pattern=r"^\d+-\d{2}:\d{2}:\d{2}$")]


class RunConfig(BaseModel):
    """All variables of one run. Field names are the run script's variable names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Environment
    on_cluster: Literal["local", "fox", "hepp", "slurm"] = "local"
    slurm_max_attempts: PosInt = 3
    sbatch_extra: Annotated[list[str], BeforeValidator(_sbatch_options)] = []
    job_setup: Str = ""

    # Series parameters: technical
    run_name: Annotated[str, BeforeValidator(_strip), Field(pattern=r"^[A-Za-z0-9][\w.\-]*$")]
    update_config: Flag = True
    update_config_on_cluster: Flag = False
    max_memory_config: PosInt = 5
    max_time_config: WallTime = "00-00:05:00"
    partition_config: Str = "normal"
    qos_config: Str = "devel"
    account: Str = ""

    # Series parameters: physical model
    update_physics: Flag = True
    save_physics: Flag = False
    model: Str = ""
    model_sha256: Str = (
        ""  # of a user's model file (set by load_run_config, not a run-script variable)
    )
    geom: Literal["", "gamma", "simple", "simple_log"] = ""
    noise: Literal["poisson", "gauss"] = "poisson"
    noise_sigma: Annotated[float, Field(gt=0), BeforeValidator(_strip)] = 1.0
    nbins: Annotated[int, Field(ge=2), BeforeValidator(_strip)] = 90
    nbins_etrue: Annotated[int, Field(ge=2), BeforeValidator(_strip)] = 180
    emin: Float = 20.0
    emax: Float = 6000.0
    livetime: Annotated[float, Field(gt=0), BeforeValidator(_strip)] = 10.0
    ALP_seed: OptionalInt = None
    obs_seed: OptionalInt = 0
    sim_seed: NonNegInt = 0
    floor_exp: OptionalFloat = -1.15
    floor_obs: OptionalFloat = -1.15
    IRF_file: Str = ""
    on_region: Literal["point", "legacy"] = "point"
    on_region_radius: Annotated[float, Field(gt=0, le=3), BeforeValidator(_strip)] = 0.2
    alp_engine: Literal["fast", "gammaalps"] = "fast"
    observation: Str = ""
    rad_max: Annotated[float | None, Field(gt=0, le=3), BeforeValidator(_optional_int)] = None
    n_off_regions: Annotated[int, Field(ge=1, le=16), BeforeValidator(_strip)] = 3
    background_scatter: Annotated[float, Field(ge=0, le=3), BeforeValidator(_strip)] = 0.5
    max_freq: Annotated[float, Field(gt=0), BeforeValidator(_strip)] = 3.0
    len_fft: Annotated[int, Field(ge=8), BeforeValidator(_strip)] = 2048
    POI_indices: Annotated[list[NonNegInt], BeforeValidator(_int_list)]
    model_params: list[str]

    # Truncation
    n_truncations: NonNegInt = 0
    use_old_truncations: Str = "0"
    retrain_last_round: Flag = False

    # Simulation
    use_old_sims: Str = "0"
    save_old_sims: Flag = False
    simulate: Flag = True
    n_sim_train: Annotated[list[PosInt], BeforeValidator(_int_list), Field(min_length=1)]
    n_sim_coverage: NonNegInt = 0
    n_sim_explim: NonNegInt = 0
    n_sim_calibration: OptionalInt = None
    n_sim_limit_coverage: NonNegInt = 0
    n_sim_null: NonNegInt = 500
    n_prior_samples: PosInt = 100_000
    partition_sim: Str = "normal"
    devel_sim: Flag = False
    n_jobs_sim: PosInt = 2
    non_finite_sims: Annotated[Literal["stop", "redraw"], BeforeValidator(_strip)] = "stop"
    max_memory_sim: PosInt = 4
    max_time_sim: WallTime = "00-01:00:00"

    # Training, inference, validation
    use_old_net: Str = "0"
    continue_training: Flag = False
    save_old_net: Flag = False
    train: Flag = True
    draw_DRP: Flag = False
    architecture: Str = ""
    restricted_posterior: Annotated[int, Field(ge=0, le=3), BeforeValidator(_strip)] = 0
    bnre_lambda: Annotated[float, Field(ge=0), BeforeValidator(_strip)] = 0.0
    train_batch_size_1d: PosInt = 512
    max_epochs: PosInt = 3000
    hyperparams: Str = ""
    start_grid_test_at_count: NonNegInt = 0
    gpus: NonNegInt = 0
    partition_train: Str = "normal"
    devel_train: Flag = False
    max_memory_train: PosInt = 8
    max_time_train: WallTime = "00-04:00:00"
    prediction_pairs: Annotated[list[tuple[int, int]], BeforeValidator(_pairs)] = [(0, 1)]
    fixed_nuisance_limits: Flag = False
    credibility_levels: Annotated[tuple[float, ...], BeforeValidator(_levels)] = LEVELS
    limit_method: Annotated[tuple[str, ...], BeforeValidator(_methods)] = ("frequentist",)
    classical_limits: Flag = False
    classical_bins: Annotated[
        list[PosInt], BeforeValidator(_int_list), Field(min_length=1, max_length=2)
    ] = [16]
    classical_realisations: PosInt = 100
    classical_toys: NonNegInt = 20
    classical_lattice: Annotated[int, Field(ge=0, le=10), BeforeValidator(_strip)] = 3
    classical_field: Literal["obs", "prior"] = "obs"
    extra_observations: Str = ""
    DRP_coverage_parameters: Annotated[list[list[NonNegInt]], BeforeValidator(_drp_rows)] = []
    wandb_mode: Literal["disabled", "offline", "online"] = "disabled"

    # ---- the sections (alpswyft.sections): the variables by concern ----

    @property
    def execution(self) -> Execution:
        return Execution.of(self)

    @property
    def physics(self) -> Physics:
        return Physics.of(self)

    @property
    def simulation(self) -> Simulation:
        return Simulation.of(self)

    @property
    def training(self) -> Training:
        return Training.of(self)

    @property
    def validation(self) -> Validation:
        return Validation.of(self)

    # ---- derived views (not variables) ----

    @cached_property
    def table(self) -> ParameterTable:
        """The parameter table, with the model's constraint on the prior (if it has one)."""
        constraint = getattr(resolve(self.model).cls, "constraint", None)
        return ParameterTable(
            [parse_row(i + 1, row)[0] for i, row in enumerate(self.model_params)], constraint
        )

    @cached_property
    def grid(self) -> list[dict]:
        """Hyperparameters of each grid point, in the original's numbering."""
        return grid_points(parse_hyperparams(self.hyperparams))

    @property
    def classical_grid(self) -> tuple[int, int]:
        """The classical analysis's grid, cells along m and along g (``classical_bins``: one
        number for both, or two)."""
        return (self.classical_bins[0], self.classical_bins[-1])

    @property
    def uses_slurm(self) -> bool:
        """``slurm`` or the original's ``fox``: jobs through SLURM; ``local``/``hepp``: this machine."""
        return self.on_cluster in ("slurm", "fox")

    @property
    def geometry(self) -> str:
        """``geom``, or its default: ``gamma`` (the CTA response) for ALP models, ``simple`` for toys."""
        if self.geom:
            return self.geom
        try:
            return "gamma" if is_alp(self.model) else "simple"
        except ConfigError:  # a model file moved after configuration: later, only toys' x grids ask
            return "simple"

    @property
    def irf_path(self) -> Path:
        """``IRF_file``, or the shipped CTA North Prod5 file when it is empty."""
        return Path(self.IRF_file) if self.IRF_file else DEFAULT_IRF_FILE

    @property
    def simulate_only(self) -> bool:
        """``simulate=1 train=0``: the run fills the stores of its next round and stops, unfinished,
        so that a later run (e.g. ``simulate=0 train=1`` on a GPU partition) resumes it."""
        return self.simulate and not self.train

    @property
    def n_rounds(self) -> int:
        return self.n_truncations + 1

    @property
    def poi_names(self) -> list[str]:
        return [self.table.free_names[i] for i in self.POI_indices]

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """The network's 2D marginals as positions within POI_indices (tuples i < j): every pair,
        none (``restricted_posterior=1`` or a single POI), or with ``restricted_posterior=3`` only
        the ``prediction_pairs`` planes."""
        n = len(self.POI_indices)
        if self.restricted_posterior == 1 or n == 1:
            return []
        if self.restricted_posterior == 3:
            return sorted(set(self.prediction_pairs))
        return [(i, j) for i in range(n) for j in range(i + 1, n)]

    @property
    def limit_pois(self) -> list[int]:
        """Positions within POI_indices of the POIs of the ``prediction_pairs`` planes, in order."""
        return sorted({k for pair in self.prediction_pairs for k in pair})

    @property
    def nuisance_indices(self) -> list[int]:
        """Free parameters outside every ``prediction_pairs`` plane: what ``fixed_nuisance_limits``
        fixes."""
        in_planes = {self.POI_indices[k] for k in self.limit_pois}
        return [i for i in range(len(self.table.free)) if i not in in_planes]

    @property
    def with_fixed_nuisances(self) -> bool:
        """Whether the last round also trains the fixed-nuisance network of the expected limits."""
        return (
            self.fixed_nuisance_limits
            and self.n_sim_explim > 0
            and bool(self.prediction_pairs)
            and bool(self.nuisance_indices)
        )

    @property
    def with_limit_planes(self) -> bool:
        """Whether the network has the 2D marginals of the ``prediction_pairs`` planes, on which
        limits are drawn."""
        return bool(self.prediction_pairs) and set(self.prediction_pairs) <= set(self.pairs)

    @property
    def neyman_methods(self) -> tuple[str, ...]:
        """The constructions of ``limit_method`` that need the calibration store (all but hpd)."""
        return tuple(m for m in self.limit_method if m != "hpd")

    @property
    def with_neyman(self) -> bool:
        """Whether the last round calibrates the frequentist test statistic: a Neyman method, limit
        planes, and something to set limits on (expected-limit simulations or a real observation)."""
        return (
            bool(self.neyman_methods)
            and self.with_limit_planes
            and (self.n_sim_explim > 0 or bool(self.observation))
        )

    @property
    def n_calibration(self) -> int:
        """Calibration simulations of the last round: ``n_sim_calibration``, or by default the
        smallest store the levels need (:func:`alpswyft.neyman.calibration_size_needed`)."""
        if not self.with_neyman:
            return 0
        return (
            calibration_size_needed(self.credibility_levels)
            if self.n_sim_calibration is None
            else self.n_sim_calibration
        )

    @property
    def n_null(self) -> int:
        """Simulations at the Null values of the planes' POIs (CLs), in the last round."""
        return self.n_sim_null if self.with_neyman and "cls" in self.limit_method else 0

    @property
    def n_limit_coverage(self) -> int:
        """Simulations of the confidence sets' coverage map, in the last round."""
        return self.n_sim_limit_coverage if self.with_neyman else 0

    def extra_observation_rows(self) -> list[tuple[np.ndarray, int | None]]:
        """``extra_observations`` as (free-parameter vector in table space, noise seed) rows.

        Rows are separated by ';'; a row gives free parameters by name in physical units, as
        :class:`~alpswyft.sim.ALPSim` takes them (``m=10, g=3``: 10 neV, 3e-11 / GeV), or as
        ``log10(m)=1``; or all of them in the table's order, as the Obs. column does (log10 where
        the table's log flag is 1); and optionally ``seed=N`` (default: obs_seed + the row's
        number). Parameters a row leaves out take their Obs. values. ConfigError names the row and
        what is wrong; :meth:`read_extra_observations` also says how an ambiguous value was read."""
        return self.read_extra_observations()[0]

    def read_extra_observations(self) -> tuple[list[tuple[np.ndarray, int | None]], list[str]]:
        """:meth:`extra_observation_rows` and the notes on how the named values that read two
        ways were read (:func:`alpswyft.values.table_value`)."""
        table = self.table
        names, rows, notes = table.free_names, [], []
        for k, text in enumerate(r for r in self.extra_observations.split(";") if r.strip()):
            theta, seed = table.obs.copy(), None if self.obs_seed is None else self.obs_seed + k + 1
            items = [item.strip() for item in text.split(",") if item.strip()]
            positional = [item for item in items if "=" not in item]
            named = dict(item.split("=", 1) for item in items if "=" in item)
            where = f"row {k + 1} ({text.strip()!r})"
            if positional and len(positional) != len(names):
                raise ConfigError(
                    "extra_observations",
                    where,
                    f"give all {len(names)} free parameters in order "
                    f"({', '.join(names)}) or name them, e.g. {names[0]}=...",
                )
            try:
                for i, value in enumerate(positional):
                    theta[i] = float(value)
                for name, value in named.items():
                    name, value = name.strip(), value.strip()
                    plain = name.removeprefix("log10(").removesuffix(")")
                    if name == "seed":
                        seed = int(value)
                    elif plain in names and name in (plain, f"log10({plain})"):
                        i = names.index(plain)
                        theta[i], note = values.table_value(table.free[i], name, value)
                        if note:
                            notes.append(f"extra_observations: row {k + 1}: {note}")
                    else:
                        raise ConfigError(
                            "extra_observations",
                            where,
                            f"{name!r} is not a free parameter "
                            f"(they are {', '.join(names)}), nor seed",
                        )
            except ValueError:
                raise ConfigError(
                    "extra_observations", where, "values must be numbers (seed an integer)"
                ) from None
            except ConfigError as error:
                if error.variable == "extra_observations":
                    raise
                raise ConfigError("extra_observations", where, str(error)) from None
            rows.append((theta, seed))
        return rows, notes

    def n_sim_round(self, round_: int) -> int:
        """Training store size of a round: n_sim_train[min(r, len-1)], plus coverage in the last."""
        n = self.n_sim_train[min(round_, len(self.n_sim_train) - 1)]
        return n + (self.n_sim_coverage if round_ == self.n_truncations else 0)

    def n_train_round(self, round_: int) -> int:
        return self.n_sim_train[min(round_, len(self.n_sim_train) - 1)]

    @property
    def coverage_draws(self) -> tuple[int, int, int]:
        """Posterior draws (prior-bank rows) per coverage simulation, the number of coverage
        simulations and the offset of the first: the first row of ``DRP_coverage_parameters``,
        or all coverage simulations against min(n_prior_samples, 10 000) draws."""
        if self.DRP_coverage_parameters:
            n_draws, n_coverage, start = self.DRP_coverage_parameters[0][:3]
            return (
                min(n_draws, self.n_prior_samples),
                min(n_coverage, self.n_sim_coverage - start),
                start,
            )
        return min(self.n_prior_samples, 10_000), self.n_sim_coverage, 0

    def to_json_dict(self) -> dict:
        return self.model_dump(mode="json")

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of all variables (first 16 hex digits)."""
        return _digest(self.to_json_dict())

    @property
    def trial_hash(self) -> str:
        """Hash of the variables that decide what a trial computes (all but EXECUTION_VARIABLES):
        an unfinished trial is resumed when it is unchanged."""
        variables = self.to_json_dict()
        return _digest({k: v for k, v in variables.items() if k not in EXECUTION_VARIABLES})

    @property
    def simulation_hash(self) -> str:
        """Hash of the variables that determine simulated samples (see SIMULATION_VARIABLES):
        stores made under another run name, training settings or POI choice stay reusable."""
        variables = self.to_json_dict()
        names = SIMULATION_VARIABLES + (("model_sha256",) if self.model_sha256 else ())
        return _digest({name: variables[name] for name in names})


#: Variables that say how and where a run works, not what it computes. Changing them resumes an
#: unfinished trial: e.g. ``simulate=1 train=0`` on a CPU partition, then ``simulate=0 train=1``
#: with ``gpus=1`` on a GPU partition trains on the same stores.
EXECUTION_VARIABLES = Execution.names()

#: Variables that change what a simulation produces for given parameters and seed.
SIMULATION_VARIABLES = (
    "model",
    "geom",
    "noise",
    "noise_sigma",
    "nbins",
    "nbins_etrue",
    "emin",
    "emax",
    "livetime",
    "ALP_seed",
    "sim_seed",
    "floor_exp",
    "floor_obs",
    "IRF_file",
    "on_region",
    "on_region_radius",
    "alp_engine",
    "max_freq",
    "len_fft",
    "model_params",
    "observation",
    "rad_max",
    "n_off_regions",
    "background_scatter",
)


def _digest(data) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_variable(name: str) -> bool:
    """Whether ``name`` is a run-script variable: a field, a table row ``param<N>`` or one of the
    original's obsolete ones (accepted with a warning)."""
    return (
        name in RunConfig.model_fields
        or name in OBSOLETE
        or re.fullmatch(r"param\d+", name) is not None
    )


def _param_rows(variables: dict[str, str]) -> list[str]:
    """The ``param1`` ... ``paramK`` rows, which must be numbered without gaps."""
    numbers = sorted(int(k[5:]) for k in variables if re.fullmatch(r"param\d+", k))
    if numbers != list(range(1, len(numbers) + 1)):
        raise ConfigError(
            "param<N>",
            ", ".join(f"param{n}" for n in numbers),
            "rows must be param1, param2, ... without gaps",
        )
    return [variables[f"param{n}"] for n in numbers]


def _digit_grouping_warnings(variables: dict[str, str]) -> list[str]:
    """Catch typos such as ``10_00`` for ``10_000`` (the original's run.sh had one)."""
    warnings = []
    for name in (
        "n_sim_train",
        "n_sim_coverage",
        "n_sim_explim",
        "n_prior_samples",
        "n_sim_calibration",
        "n_sim_limit_coverage",
        "n_sim_null",
    ):
        for token in variables.get(name, "").replace(" ", "").split(","):
            if "_" in token and not re.fullmatch(r"\d{1,3}(_\d{3})+", token):
                warnings.append(
                    f"{name}: '{token}' = {int(token.replace('_', '')):,} has unusual digit grouping; "
                    "is it a typo (e.g. 10_00 for 10_000)?"
                )
    return warnings


def _describe(error: ValidationError, variables: dict[str, str]) -> list[str]:
    lines = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else "run script"
        if item["type"] == "missing":
            lines.append(f"{name}: required variable is not set in the run script")
            continue
        value = variables.get(name, item.get("input"))
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{name} = {str(value)!r}: {message}")
    return lines


def load_run_config(
    variables: dict[str, str], pipeline: bool = True
) -> tuple[RunConfig, list[str]]:
    """Validate the raw run-script variables.

    Returns the configuration and a list of warnings; raises :class:`ConfigError` (one message per
    problem, first the types, then the cross-checks) before anything is written. With
    ``pipeline=False`` only what a simulation is made from is checked (the simulator of
    :mod:`alpswyft.sim`, which has no POIs, grid or stores).
    """
    variables, warnings = _from_original(variables)
    warnings += [
        f"{name} is obsolete and ignored: {why}"
        for name, why in OBSOLETE.items()
        if name in variables
    ]
    fields = {k: v for k, v in variables.items() if k in RunConfig.model_fields}
    unknown = sorted(k for k in variables if not is_variable(k))
    warnings += [f"{name} is not a variable of this pipeline and is ignored" for name in unknown]
    fields["model_params"] = _param_rows(variables)
    if fields.get("n_prior_samples", "").strip().replace("_", "") == "0":
        warnings.append(
            "n_prior_samples = 0: the original then drew no prior bank; this pipeline infers and truncates "
            f"on one, so the default {RunConfig.model_fields['n_prior_samples'].default:_} is used"
        )
        del fields["n_prior_samples"]
    model = str(fields.get("model", "")).strip()

    fields["model_sha256"] = (
        file_sha256(model) if is_model_file(model) and Path(model).is_file() else ""
    )
    n_poi = len(_int_list(fields.get("POI_indices", "")))
    if "prediction_pairs" not in fields:  # the original's stale run.sh lacks it: (m, g) if possible
        fields["prediction_pairs"] = "(0,1)" if n_poi > 1 else ""
    elif n_poi == 1 and fields["prediction_pairs"].strip() not in ("", '""', "''"):
        # the original ran such scripts: with one POI it drew no pair
        warnings.append(
            f"prediction_pairs = {fields['prediction_pairs'].strip()!r} is unused with one POI "
            "(POI_indices has one index): no 2D marginal is drawn"
        )
        fields["prediction_pairs"] = ""
    try:
        config = RunConfig(**fields)
    except ValidationError as error:
        source = "variable(s) of the run script" if pipeline else "setting(s) of the simulator"
        raise ConfigErrors(_describe(error, variables), source) from None
    warnings += _digit_grouping_warnings(variables)
    warnings += _check(config) if pipeline else _check_physics(config)
    return config, warnings


_TYPE_SUFFIX = re.compile(r"(.*)=(int|float|str|bool|(?:np|numpy)\.\w+)", re.DOTALL)


def _from_original(variables: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Forms of the original pipeline's run scripts: a value's ``=type`` suffix (the original's
    argument string typed its items so; the type comes from RunConfig here) is dropped; the
    argument string itself (``name=value=type;...``, built from the same variables) is not
    needed; an ``IRF_file`` path to the shipped CTA file under ``$FOML3`` becomes the shipped copy."""
    out, warnings = {}, []
    for name, value in variables.items():
        items = [item for item in value.split(";") if "=" in item]
        if len(items) >= 3 and any(item.strip().startswith("config_file=") for item in items):
            warnings.append(
                f"{name} holds the original's argument string, which is not needed: "
                "the variables are read directly"
            )
            continue
        suffixed = _TYPE_SUFFIX.fullmatch(value.strip())
        if suffixed:
            warnings.append(
                f"{name}: the '={suffixed.group(2)}' suffix is dropped (types come from the pipeline)"
            )
            value = suffixed.group(1)
        out[name] = value
    irf = out.get("IRF_file", "").strip()
    if (
        irf
        and not Path(irf).is_file()
        and Path(irf).name.removesuffix(".gz") == DEFAULT_IRF_FILE.name.removesuffix(".gz")
    ):
        warnings.append(
            f"IRF_file: {irf} does not exist; the shipped copy of the same file is used"
        )
        out["IRF_file"] = ""
    return out, warnings


def _check_physics(config: RunConfig) -> list[str]:
    """Checks of what a simulation is made from (model, parameter table, binning, response);
    returns warnings, raises ConfigError."""
    warnings = []
    n_expected = resolve(config.model).n_params
    rows = [parse_row(i + 1, row) for i, row in enumerate(config.model_params)]
    for _, row_warnings in rows:
        warnings += row_warnings
    if len(rows) != n_expected:
        raise ConfigError(
            "param<N>",
            f"{len(rows)} rows",
            f"model {config.model!r} needs {n_expected} parameter rows",
        )
    table = config.table
    names = [p.name for p in table.parameters]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError("param<N>", ", ".join(duplicates), "parameter names must be unique")
    if not config.emin < config.emax:
        raise ConfigError("emax", config.emax, f"must be larger than emin = {config.emin:g}")
    if (
        config.observation
        and not is_alp(config.model)
        and not getattr(resolve(config.model).cls, "uses_observation", False)
    ):
        raise ConfigError(
            "observation",
            config.observation,
            "a real observation is analysed with an ALP model "
            f"({', '.join(repr(m) for m in ALP_MODELS)}) or magic_like, not {config.model!r}",
        )
    if config.observation and config.noise != "poisson":
        raise ConfigError(
            "noise",
            config.noise,
            "a real observation (observation=...) has Poisson ON and OFF counts: use noise=poisson",
        )
    if is_alp(config.model):
        warnings += _check_alp(config)
        if config.geometry != "gamma":
            raise ConfigError(
                "geom",
                config.geom,
                "ALP models are observed through the CTA response: use gamma",
            )
    elif config.geometry == "gamma":
        raise ConfigError(
            "geom",
            config.geom,
            "toy models use simple or simple_log (no instrument response)",
        )
    elif config.geometry == "simple_log" and config.emin <= 0:
        raise ConfigError("emin", config.emin, "geom=simple_log needs emin > 0")
    if config.noise == "poisson" and config.model.startswith("toy_"):
        warnings.append("noise=poisson with a toy model needs a positive model everywhere")
    for column in ("obs", "null"):
        if table.free and not table.allowed(getattr(table, column))[0]:
            raise ConfigError(
                "param<N>",
                f"the {column.capitalize()}. values",
                "lie outside the region the model allows (kL < kH)",
            )
    return warnings


def _check(config: RunConfig) -> list[str]:
    """Cross-variable checks of a run; returns warnings, raises ConfigError."""
    warnings = _check_physics(config)
    table = config.table
    n_free = len(table.free)
    if n_free == 0:
        raise ConfigError(
            "param<N>", "no free parameter", "at least one row needs bounds [low, high]"
        )
    if not config.POI_indices:
        raise ConfigError("POI_indices", "", "list at least one free parameter, e.g. 0,1")
    bad = [i for i in config.POI_indices if i >= n_free]
    if bad:
        raise ConfigError(
            "POI_indices",
            ",".join(map(str, config.POI_indices)),
            f"indices count free parameters only; there are {n_free} ({', '.join(table.free_names)}), "
            f"so each index must be 0..{n_free - 1}",
        )
    if len(set(config.POI_indices)) != len(config.POI_indices):
        raise ConfigError(
            "POI_indices",
            ",".join(map(str, config.POI_indices)),
            "indices must be distinct",
        )
    n_poi = len(config.POI_indices)
    for i, j in config.prediction_pairs:
        if not (i < j < n_poi):
            raise ConfigError(
                "prediction_pairs",
                f"({i},{j})",
                f"pairs are positions i < j within POI_indices (0..{n_poi - 1})",
            )
    if config.restricted_posterior == 3 and n_poi > 1 and not config.prediction_pairs:
        raise ConfigError(
            "restricted_posterior",
            "3",
            "3 trains the 2D marginals of the prediction_pairs planes only, "
            'and prediction_pairs is empty: give the planes, e.g. prediction_pairs="(0,1)", or use 0 or 1',
        )
    if config.fixed_nuisance_limits and not config.with_fixed_nuisances:
        why = (
            "n_sim_explim = 0"
            if config.n_sim_explim == 0
            else "prediction_pairs is empty"
            if not config.prediction_pairs
            else "every free parameter is in a prediction_pairs plane"
        )
        warnings.append(f"fixed_nuisance_limits=1 does nothing here: {why}")
    _check_limits(config)
    check_classical(config)
    box = table.initial_bounds
    extra_rows, notes = config.read_extra_observations()
    warnings += notes
    for k, (theta, _) in enumerate(extra_rows):
        outside = [
            f"{n} = {v:g}"
            for n, v, (lo, hi) in zip(table.free_names, theta, box)
            if not lo <= v <= hi
        ]
        if outside:
            warnings.append(
                f"extra_observations: row {k + 1} has {', '.join(outside)} outside the prior box; "
                "its posterior cannot hold the truth there"
            )
    if len(config.n_sim_train) > config.n_rounds:
        warnings.append(
            f"n_sim_train has {len(config.n_sim_train)} entries but there are only "
            f"{config.n_rounds} rounds; the extra entries are unused"
        )

    from alpswyft.architectures import check_hyperparameters, resolve  # torch: only when validating

    warnings += check_hyperparameters(
        resolve(config.architecture), parse_hyperparams(config.hyperparams)
    )
    if config.start_grid_test_at_count >= len(config.grid):
        raise ConfigError(
            "start_grid_test_at_count",
            config.start_grid_test_at_count,
            f"the grid has {len(config.grid)} points (0..{len(config.grid) - 1})",
        )
    if config.DRP_coverage_parameters:
        n_draws, _, start, which_net, _ = config.DRP_coverage_parameters[0]
        if n_draws == 0 or (config.n_sim_coverage and start >= config.n_sim_coverage):
            raise ConfigError(
                "DRP_coverage_parameters",
                config.DRP_coverage_parameters[0],
                f"n_draws must be > 0 and n_sim_coverage_start below n_sim_coverage = {config.n_sim_coverage}",
            )
        if len(config.DRP_coverage_parameters) > 1 or which_net:
            warnings.append(
                "DRP_coverage_parameters: only the first row's n_draws, n_coverage and n_sim_coverage_start "
                "are used; every grid point is validated, in this process"
            )
    if config.draw_DRP:
        warnings.append(
            "draw_DRP=1: the validation stage always computes the DRP (TARP) coverage from "
            "importance-weighted draws; there is nothing else to draw"
        )
    _check_reuse(config)
    return warnings + _unused_settings(config)


def _check_limits(config: RunConfig) -> None:
    """A Neyman construction needs calibration simulations enough for its levels, and CLs needs
    null simulations."""
    if not config.with_neyman:
        return
    needed = calibration_size_needed(config.credibility_levels)
    levels = ",".join(f"{v:g}" for v in config.credibility_levels)
    methods = ",".join(config.neyman_methods)
    if config.n_calibration < needed:
        raise ConfigError(
            "n_sim_calibration",
            config.n_calibration,
            f"limit_method={methods} at credibility_levels {levels} needs at least {needed:_} "
            f"calibration simulations: neighbourhoods of {neighbours_needed(config.credibility_levels)} "
            f"simulations, {TAIL_COUNT} beyond the {max(config.credibility_levels):g} critical value, "
            f"each at most {LARGEST_NEIGHBOUR_FRACTION:.0%} of the store; or use limit_method=hpd",
        )
    if "cls" in config.limit_method and config.n_sim_null < 20:
        raise ConfigError(
            "n_sim_null",
            config.n_sim_null,
            "limit_method=cls needs at least 20 simulations of the "
            "null hypothesis (a few hundred for p-values of a few per cent)",
        )


def check_classical(config: RunConfig) -> None:
    """The classical analysis fits a CTA spectrum (Amplitude, index, Ecut) of an ALP model, or
    magic_like's flux states, with free m and g, with enough realisations for MAGIC's quantile,
    pseudo-experiments enough for the levels, and a grid fine enough for the box."""
    if not config.classical_limits:
        return
    cls = resolve(config.model).cls
    magic_like = config.model == "magic_like"
    if not magic_like and (
        not issubclass(cls, ALPModel)
        or not cls.with_alp
        or cls.intrinsic is not ALPModel.intrinsic
        or cls.survival_batch is not ALPModel.survival_batch
    ):
        why = (
            "is a toy model without a spectrum"
            if not issubclass(cls, ALPModel)
            else "has a spectrum or a propagation of its own"
        )
        raise ConfigError(
            "classical_limits",
            1,
            "the classical fits take the CTA model's spectrum (Amplitude, "
            f"index, Ecut) or magic_like's flux states: model {config.model or 'ALP'!r} {why}",
        )
    if config.n_sim_explim == 0:
        raise ConfigError(
            "classical_limits",
            1,
            "the classical limit is the median over the mock observations: set n_sim_explim > 0",
        )
    names = config.table.free_names
    if "m" not in names or "g" not in names:
        raise ConfigError(
            "classical_limits", 1, "the classical analysis scans m and g: both must be free"
        )
    if config.classical_realisations < cl.MIN_REALISATIONS:
        raise ConfigError(
            "classical_realisations",
            config.classical_realisations,
            f"at least {cl.MIN_REALISATIONS} for MAGIC's {cl.MAGIC_QUANTILE:.0%} quantile over the "
            "field realisations",
        )
    needed = cl.toys_needed(max(config.credibility_levels))
    if config.classical_toys and config.classical_toys < needed:
        raise ConfigError(
            "classical_toys",
            config.classical_toys,
            f"0 (Wilks' thresholds only) or at least {needed} pseudo-experiments per point for a "
            f"threshold at {max(config.credibility_levels):g}",
        )
    if config.classical_lattice == 1:
        raise ConfigError(
            "classical_lattice",
            1,
            "0 (pseudo-experiments only along the Wilks line) or 2-10 points "
            "per axis, the grid's corners among them",
        )
    cl.check_grid(config, config.classical_grid)
    for state in (
        STATES if magic_like else [None]
    ):  # the spectral nuisances in the units the fits take
        cl.Nuisances.of(config, None if state is None else state.name)


def _unused_settings(config: RunConfig) -> list[str]:
    """Warnings for the original's variables that are set to a value that mattered there and
    does not here, saying what happens instead."""
    warnings = []
    if config.update_config_on_cluster:
        warnings.append(
            "update_config_on_cluster=1: the configuration stage takes seconds and always runs in the orchestrator, "
            "not as a SLURM job, so max_memory_config, max_time_config, partition_config and qos_config are not used"
        )
    if config.save_physics:
        warnings.append(
            "save_physics=1: nothing needs saving first: the previous trial's response.npz and "
            "true_obs.npz are always kept in its archive folder"
        )
    if config.save_old_sims:
        warnings.append(
            "save_old_sims=1: nothing is deleted: the previous trial's stores move into its archive "
            "folder (with use_old_sims=1 they stay in place and are reused)"
        )
    if config.save_old_net:
        warnings.append(
            "save_old_net=1: nothing is deleted: the previous trial's networks move into its archive folder"
        )
    return warnings


def _check_alp(config: RunConfig) -> list[str]:

    if config.emin <= 0:
        raise ConfigError("emin", config.emin, "energies are in GeV and must be > 0")
    if (
        not config.observation and not config.irf_path.is_file()
    ):  # a real observation's files: read by prepare
        raise ConfigError("IRF_file", config.IRF_file, "no such file")
    if resolve(config.model).cls.all_log:
        linear = [p.variable for p in config.table.parameters if not p.log]
        if linear:
            raise ConfigError(
                ", ".join(linear),
                "log?=0",
                f"model={config.model} takes every parameter in log10: set log?=1",
            )
    return check_cluster_ranges(config.table)


def _check_reuse(config: RunConfig) -> None:
    """The path forms of the use_old_* variables must point at something usable."""
    store = config.simulation.reuse.path
    if store is not None and not store.exists():
        raise ConfigError(
            "use_old_sims",
            config.use_old_sims,
            "no such store on this machine (a path on another machine?): copy the store here and give its path, "
            "or set use_old_sims=0 to simulate anew",
        )
    if store is not None and not (store / ".zgroup").is_file():
        raise ConfigError(
            "use_old_sims",
            config.use_old_sims,
            "expected 0, 1 or the path of a zarr store made by this pipeline",
        )
    record = config.training.reuse_truncations.path
    if record is not None and not (
        record.is_file() or (record / "truncation_record.json").is_file()
    ):
        raise ConfigError(
            "use_old_truncations",
            config.use_old_truncations,
            "expected 0, 1, a truncation_record.json or a run/trial folder holding one",
        )
    value = config.use_old_net
    if config.training.reuse_net.path is not None and not config.training.reuse_net.path.exists():
        raise ConfigError(
            "use_old_net", value, "expected 0, 1, a network .pt file or a folder of networks"
        )


#: What the response (``response.npz``) and the mock observation (``true_obs.npz``) are built from:
#: ``update_physics=0`` reuses an earlier trial's files only where these are the same.
PHYSICS_VARIABLES = (*SIMULATION_VARIABLES, "obs_seed")

#: The run script's "SERIES PARAMETERS (Must NOT be changed when re-running)": what
#: ``update_config=0`` keeps from the previous trial.
SERIES_VARIABLES = (*PHYSICS_VARIABLES, "POI_indices")


def raw(value) -> str:
    """A validated value as a run script writes it (``None``, ``1``/``0`` for flags, ``0,1`` for lists)."""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return "None" if value is None else str(int(value)) if isinstance(value, bool) else str(value)


def _same_value(raw: str, kept: str) -> bool:
    """Whether a run-script value equals a kept one (``-1`` and ``-1.0``, ``3_000`` and ``3000`` do)."""
    raw = raw.strip()
    try:
        return float(raw.replace("_", "")) == float(kept)
    except ValueError:
        return raw.replace(" ", "") == kept.replace(" ", "")


def keep_series_variables(
    variables: dict[str, str], previous: dict
) -> tuple[dict[str, str], list[str]]:
    """``update_config=0``: the run script's raw ``variables`` with the series variables replaced
    by those of a previous trial's validated ``previous`` variables (``config.json``); returns
    them and one warning per value that the run script changed and that is not taken."""
    out = {k: v for k, v in variables.items() if not re.fullmatch(r"param\d+", k)}
    warnings = []
    for name in SERIES_VARIABLES:
        if name == "model_params":
            rows = {f"param{i + 1}": row for i, row in enumerate(previous[name])}
            script_rows = [v for k, v in variables.items() if re.fullmatch(r"param\d+", k)]
            if [r.split() for r in script_rows] != [r.split() for r in rows.values()]:
                warnings.append(
                    "update_config=0: the parameter table of the run script differs; "
                    "the previous trial's table is kept"
                )
            out.update(rows)
            continue
        kept = raw(previous[name])
        if name in variables and not _same_value(variables[name], kept):
            warnings.append(
                f"update_config=0: {name} = {variables[name].strip()!r} in the run script; "
                f"the previous trial's {kept!r} is kept"
            )
        out[name] = kept
    return out, warnings
