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
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alpswyft.errors import ConfigError, ConfigErrors
from alpswyft.polar.expressions import ExpressionError, parse
from alpswyft.results import write_text

DEFAULT = Path(__file__).with_name("config.yaml")
GRB_LIST = Path(__file__).with_name("data") / "GRBs.csv"
N_CHANNELS = 13


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Data(_Section):
    file: str = ""
    tree: str = ""
    features: list[str] = Field(min_length=1)
    derived: dict[str, str] = {}
    filters: list[str] = []
    targets: list[int] = Field(min_length=1)
    grb_list: str = ""
    grb_mask_s: float = Field(ge=0)

    @field_validator("targets")
    @classmethod
    def _channels(cls, value):
        if any(not 0 <= t < N_CHANNELS for t in value) or len(set(value)) != len(value):
            raise ValueError(f"distinct rate channels 0..{N_CHANNELS - 1}")
        return value

    @field_validator("derived", "filters")
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
    block_size: int = Field(ge=1)
    pattern: list[Literal["train", "val", "test"]]

    @model_validator(mode="after")
    def _all_parts(self):
        if not {"train", "val"} <= set(self.pattern):
            raise ValueError("pattern needs at least one train and one val block")
        return self


class Model(_Section):
    hidden: list[int] = Field(min_length=1)
    activation: Literal["relu", "gelu", "silu", "tanh", "elu"]


class Optimizer(_Section):
    lr: float = Field(gt=0)
    betas: tuple[float, float]
    weight_decay: float = Field(ge=0)
    plateau_factor: float = Field(gt=0, le=1)
    plateau_patience: int = Field(ge=0)


class Train(_Section):
    batch_size: int = Field(ge=1)
    max_epochs: int = Field(ge=1)
    patience: int = Field(ge=1)
    seed: int = Field(ge=0)
    gpus: int = Field(ge=0, le=1)


class Predict(_Section):
    batch_size: int = Field(ge=1)


class Intervals(_Section):
    thresholds: list[float] = Field(min_length=1)
    min_channels: int = Field(ge=1, le=N_CHANNELS)
    max_gap_s: float = Field(gt=0)
    match_s: float = Field(ge=0)


class Report(_Section):
    window_s: float = Field(gt=0)
    windows: list[float | str] = []


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
            raise ConfigError("overrides", override, "expected key.sub=value, e.g. train.max_epochs=20")
        *parents, leaf = key.strip().split(".")
        node = raw
        for i, part in enumerate(parents):
            if not isinstance(node.get(part), dict):
                raise ConfigError(key.strip(), value, f"there is no section {'.'.join(parents[: i + 1])!r}")
            node = node[part]
        if leaf not in node:
            raise ConfigError(key.strip(), value, f"unknown key; {'.'.join(parents) or 'the top level'} has "
                                                   f"{', '.join(sorted(node))}")
        try:
            node[leaf] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as error:
            raise ConfigError(key.strip(), value, f"not a YAML value: {error}") from None
    return raw


def load(path: Path | None = None, overrides: list[str] = ()) -> PolarConfig:
    """The validated configuration of ``path`` (default: the shipped one) with ``overrides``."""
    path = Path(path) if path else DEFAULT
    if not path.is_file():
        raise ConfigError("config", str(path), "no such file")
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
            value = e.get("input")
            problems.append(f"{key} = {value!r}: {e['msg']}")
        raise ConfigErrors(problems, "POLAR configuration value(s)") from None


def save(config: PolarConfig, path: Path) -> None:
    """The resolved configuration as YAML (what a re-run or a reader of the results sees)."""
    write_text(path, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
