"""The POLAR configuration: a YAML file (the shipped ``config.yaml`` by default) with Hydra-style
``key.sub=value`` overrides, validated in one place.

Each override's value is read as YAML (``train.max_epochs=20``, ``model.hidden=[64,64]``,
``wandb.mode=disabled``). Unknown keys, wrong types and out-of-range values stop with a message
that names the dotted key, its value and what is expected.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analysis_core.errors import ConfigError, ConfigErrors
from analysis_core.files import write_text
from polar.expressions import ExpressionError, parse

DEFAULT = Path(__file__).with_name("config.yaml")
#: shipped configurations, chosen by name (``config=original`` on the command line)
PRESETS = {"default": DEFAULT, "original": Path(__file__).with_name("original.yaml")}
#: variables of run_polar.sh that a command line may set besides the configuration's keys
RUN_VARIABLES = (
    "config",
    "overrides",
    "run_name",
    "on_cluster",
    "results_parent_dir",
    "partition_train",
    "account",
    "max_time_train",
    "max_memory_train",
    "slurm_max_attempts",
)
GRB_LIST = Path(__file__).with_name("data") / "GRBs.csv"
#: the event selection of each entry of ``rate`` and ``rate_err``: nested, overlapping, not energy
#: bands (1 is in 0, 0 in 5, 5 in 10, ...); the original modelled 0, 1, 5, 6, 10 and 12
CHANNELS = (
    "single bar > 15 keV",
    "single bar > 20 keV",
    "single bar > 30 keV",
    "single bar > 50 keV",
    "single bar > 70 keV",
    "any bar > 15 keV",
    "any bar > 20 keV",
    "any bar > 30 keV",
    "any bar > 50 keV",
    "any bar > 70 keV",
    "any",
    "more than 8 bars",
    "any, no post-cosmics",
)
N_CHANNELS = len(CHANNELS)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Data(_Section):
    file: str = ""
    tree: str = ""
    features: list[str] = Field(min_length=1)
    derived: dict[str, str] = {}
    filters: list[str] = []
    targets: list[int | str] = Field(
        min_length=1
    )  # rate channels, or expressions (their residuals are searched)
    weights: list[
        str
    ] = []  # train.loss weighted_mse: one expression per target; []: 1/rate_err[t]**2
    grb_list: str = ""
    grb_mask_s: float = Field(ge=0)
    grb_mask_range: list[
        str
    ] = []  # [first, last] GRB names of the list whose windows are masked; []: all

    @model_validator(mode="after")
    def _per_target(self):
        if self.weights and len(self.weights) != len(self.targets):
            raise ValueError(
                f"weights: one expression per target ({len(self.targets)}), got {len(self.weights)}"
            )
        if len(self.grb_mask_range) not in (0, 2):
            raise ValueError(
                "grb_mask_range: [] (every GRB of the list) or [first, last] GRB names"
            )
        return self

    @field_validator("targets", mode="before")
    @classmethod
    def _targets(cls, value):
        """A channel as an integer (``"rate[3]"`` is channel 3 too), anything else an expression."""
        out = []
        for target in value if isinstance(value, list) else [value]:
            text = str(target).strip()
            channel = re.fullmatch(r"(\d+)|rate\[(\d+)\]", text)
            if isinstance(target, bool) or (isinstance(target, int) and not channel):
                raise ValueError(f"{target!r}: a rate channel 0..{N_CHANNELS - 1} or an expression")
            if channel:
                number = int(channel.group(1) or channel.group(2))
                if number >= N_CHANNELS:
                    raise ValueError(f"{target!r}: the rate channels are 0..{N_CHANNELS - 1}")
                out.append(number)
                continue
            try:
                parse(text)
            except ExpressionError as error:
                raise ValueError(f"{target!r}: {error}") from None
            out.append(text)
        if len(set(out)) != len(out):
            raise ValueError("each target once")
        return out

    @property
    def target_names(self) -> list[str]:
        """The targets' short names, in combination names and tables: the channel number, or
        ``t<j>`` for the expression at position j."""
        return [str(t) if isinstance(t, int) else f"t{j}" for j, t in enumerate(self.targets)]

    @property
    def target_labels(self) -> list[str]:
        """The targets as written on figures: ``rate[c]``, or the expression."""
        return [f"rate[{t}]" if isinstance(t, int) else t for t in self.targets]

    @field_validator("features", "derived", "filters", "weights")
    @classmethod
    def _expressions(cls, value):
        for expression in value.values() if isinstance(value, dict) else value:
            try:
                parse(str(expression))
            except ExpressionError as error:
                raise ValueError(str(error)) from None
        return value

    @property
    def grb_path(self) -> Path:
        return Path(self.grb_list) if self.grb_list else GRB_LIST


class Synthetic(_Section):
    start: str
    days: float = Field(gt=0, le=60)
    seed: int = Field(ge=0)
    random_grbs_per_day: float = Field(ge=0)
    flares_per_day: float = Field(ge=0)


class Split(_Section):
    mode: Literal["blocks", "periodic", "random"] = "blocks"
    block_size: int = Field(
        256, ge=1
    )  # blocks: consecutive rows per block, the blocks cycling through pattern
    pattern: list[Literal["train", "val", "test"]] = ["train"] * 8 + ["val", "test"]
    period: int = Field(
        256, ge=3
    )  # periodic: rows per period, cut into fractions (leftover rows unused)
    fractions: tuple[float, float, float] = (
        0.98,
        0.01,
        0.01,
    )  # periodic and random: train, val, test
    seed: int = Field(0, ge=0)  # random

    @model_validator(mode="after")
    def _all_parts(self):
        if self.mode == "blocks" and not {"train", "val"} <= set(self.pattern):
            raise ValueError("pattern needs at least one train and one val block")
        if self.mode != "blocks" and (
            min(self.fractions[:2]) <= 0 or sum(self.fractions) > 1 + 1e-9
        ):
            raise ValueError("fractions: train and val > 0, summing to at most 1")
        if self.mode == "periodic" and min(int(f * self.period) for f in self.fractions[:2]) == 0:
            raise ValueError(
                f"period {self.period} is too short for fractions {self.fractions}: a part gets no row"
            )
        return self


class Model(_Section):
    hidden: list[int] = Field(min_length=1)
    activation: Literal["relu", "gelu", "silu", "tanh", "elu"]
    standardise_targets: bool = True  # False: the network outputs rates in Hz, as the original


class Optimizer(_Section):
    lr: float = Field(gt=0)
    betas: tuple[float, float]
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(ge=0)
    plateau_factor: float = Field(gt=0, le=1)  # 1: a constant learning rate
    plateau_patience: int = Field(ge=0)


class Train(_Section):
    batch_size: int = Field(ge=1)
    max_epochs: int = Field(ge=1)
    patience: int = Field(ge=0)  # 0: no early stopping
    keep: Literal["best", "last"] = (
        "best"  # the model kept: best validation loss, or the last epoch's
    )
    loss: Literal["chi2", "weighted_mse", "mse"] = "chi2"
    seed: int = Field(ge=0)
    seeds: list[
        int
    ] = []  # one model per seed (the first in the run folder, the others in seeds/), and their spread
    gpus: int = Field(ge=0, le=1)
    checkpoint: str = (
        ""  # the original analysis's general_checkpoint.pth: its model is used, not trained here
    )


class Predict(_Section):
    batch_size: int = Field(ge=1)


class Intervals(_Section):
    width: Literal["core_fit", "clipped_std"] = (
        "core_fit"  # the pull width: a Gaussian fitted to the core, or iterative 3 sigma clipping
    )
    subtract_mean: bool = (
        True  # False: rows with pull > k sigma, the pulls' mean not subtracted (the original)
    )
    thresholds: list[float] = Field(min_length=1)
    min_channels: int = Field(ge=1, le=N_CHANNELS)
    max_gap_s: float = Field(gt=0)
    discard_w: float = Field(ge=0)
    veto_rule: Literal["inclusive", "original"] = (
        "inclusive"  # the data's first and last rows count as gaps, a gap exactly discard_w away vetoes
    )
    counts_before_veto: bool = (
        False  # True: the per-target cluster counts without the gap veto (the original's tables)
    )
    match_s: float = Field(ge=0)


class Report(_Section):
    window_s: float = Field(gt=0)
    windows: list[float | str] = []
    profile: list[
        str
    ] = []  # two features of the profile maps; []: the first target's two most influential

    @field_validator("profile")
    @classmethod
    def _two(cls, value):
        if len(value) not in (0, 2):
            raise ValueError("[] or two of data.features")
        return value


class Wandb(_Section):
    mode: Literal["disabled", "offline", "online"]
    project: str


class PolarConfig(_Section):
    data: Data
    synthetic: Synthetic
    split: Split
    model: Model
    optimizer: Optimizer
    train: Train
    predict: Predict
    intervals: Intervals
    report: Report
    wandb: Wandb

    @model_validator(mode="after")
    def _profile_features(self):
        unknown = [f for f in self.report.profile if f not in self.data.features]
        if unknown:
            raise ValueError(f"report.profile: {', '.join(unknown)} is not one of data.features")
        return self

    @property
    def hash(self) -> str:
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def section_hash(self, *sections: str) -> str:
        """Hash of some sections: a stage's output is reused while the sections it depends on match."""
        dump = self.model_dump(mode="json")
        text = json.dumps({s: dump[s] for s in sections}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """``raw`` with each ``key.sub=value`` applied (the value read as YAML)."""
    raw = copy.deepcopy(raw)
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                "overrides", override, "expected key.sub=value, e.g. train.max_epochs=20"
            )
        *parents, leaf = key.strip().split(".")
        node = raw
        for i, part in enumerate(parents):
            if not isinstance(node.get(part), dict):
                raise ConfigError(
                    key.strip(), value, f"there is no section {'.'.join(parents[: i + 1])!r}"
                )
            node = node[part]
        if leaf not in node:
            raise ConfigError(
                key.strip(),
                value,
                f"unknown key; {'.'.join(parents) or 'the top level'} has "
                f"{', '.join(sorted(node))}",
            )
        try:
            node[leaf] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as error:
            raise ConfigError(key.strip(), value, f"not a YAML value: {error}") from None
    return raw


def split_arguments(arguments: list[str]) -> tuple[dict[str, str], list[str]]:
    """Command-line ``name=value`` arguments of run_polar.sh: its variables (:data:`RUN_VARIABLES`,
    e.g. ``config=original``) and the configuration overrides (``train.max_epochs=5``), in order."""
    variables, overrides = {}, []
    for argument in arguments:
        key, sep, value = argument.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                "command line",
                argument,
                "expected name=value, e.g. run_name=quick or train.max_epochs=5",
            )
        if key.strip() in RUN_VARIABLES:
            variables[key.strip()] = value
        elif key.strip() == "checkpoint":  # run_polar.sh checkpoint=<file>: train.checkpoint
            overrides.append(f"train.checkpoint={Path(value).expanduser().resolve()}")
        else:
            overrides.append(argument)
    return variables, overrides


def resolve(value: str | Path | None, base: Path | None = None) -> Path:
    """The file of a ``config`` value: "" or a preset's name (:data:`PRESETS`), or a path (relative
    to ``base``, the run script's folder, when it is there)."""
    value = str(value or "").strip()
    if value in ("", *PRESETS):
        return PRESETS[value or "default"]
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None and (base / path).is_file():
        path = base / path
    if not path.is_file():
        raise ConfigError("config", value, f"no such file; a preset is one of {', '.join(PRESETS)}")
    return path


def load(path: Path | None = None, overrides: list[str] = ()) -> PolarConfig:
    """The validated configuration of ``path`` (a file or a preset's name; default: the shipped
    one) with ``overrides``."""
    path = resolve(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError("config", str(path), f"not valid YAML: {error}") from None
    raw = apply_overrides(raw, list(overrides))
    try:
        return PolarConfig(**raw)
    except ValidationError as error:
        problems = []
        for e in error.errors():
            key = ".".join(str(p) for p in e["loc"])
            # a check across sections names its keys in the message; a section's check, its section
            problems.append(
                f"{key} = {e.get('input')!r}: {e['msg']}"
                if key and not isinstance(e.get("input"), dict)
                else f"{key + ': ' if key else ''}{e['msg']}"
            )
        raise ConfigErrors(problems, "POLAR configuration value(s)") from None


def save(
    config: PolarConfig, path: Path, source: Path | None = None, overrides: list[str] = ()
) -> None:
    """The resolved configuration as YAML (what a re-run or a reader of the results sees), with
    the file it came from and the overrides applied to it as a leading comment."""
    header = f"# resolved from {source or DEFAULT}" + (
        f" with the overrides {' '.join(overrides)}" if overrides else ""
    )
    write_text(
        path, header + "\n" + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    )
