"""Feature heads of the marginal ratio networks, and the ``architecture`` variable.

A head maps a batch of simulator nodes (``data``, ``power``) to one feature vector per sample;
swyft's 1D and 2D log-ratio estimators sit on top of it (:mod:`alpswyft.networks`). The three
families of the original pipeline are built in:

=====================  ==========  ========================================================
``architecture``       head        extra hyperparameters (besides the five of every network)
=====================  ==========  ========================================================
``""`` / network.py    DataHead    none
power / network_power  PowerHead   data_width, data_features, power_width, power_features
cnn / network_cnn      CNNHead     logratio_features, channels, kernel_size
=====================  ==========  ========================================================

Any other value is the path of a Python file that defines a class ``Head``: a
``torch.nn.Module`` with a class attribute ``hyperparameters`` (tuple of the grid names it
needs), a constructor ``Head(shapes, **hyperparameters)`` where ``shapes`` maps node names to
their shapes, an attribute ``n_features`` and ``forward(A) -> (batch, n_features)``. The file is
copied into the run folder and loaded from there, so a run keeps the head it was trained with.

A real observation (``observation=``) has one more node, its OFF counts ``n_off`` (nbins,): the
built-in heads take them beside ``data`` (a user's head may, from ``shapes``).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import swyft
from analysis_core.errors import ConfigError
from analysis_core.plugins import load_class

#: Hyperparameters of every network: the optimiser's and the estimators' (original network.py).
TRAINING_HYPERPARAMS = ("learning_rate", "stopping_patience", "blocks", "features", "dropout")


class Standardizer(swyft.networks.OnlineStandardizingLayer):
    """swyft's online standardisation with epsilon 0, where a component with no spread (a bin
    at the floor in every sample of a batch, as a network with the nuisances fixed meets on a
    real observation's few bins; or before any batch) is divided by 1, not 0: the same numbers
    wherever the spread is positive, and the same state dict."""

    def __init__(self, shape, epsilon: float = 0.0):
        super().__init__(shape, epsilon=epsilon)

    @property
    def std(self) -> torch.Tensor:
        std = super().std
        return torch.where(std > 0, std, torch.ones_like(std))


def _off_norm(shapes: dict):
    """The standardisation of a real observation's OFF counts ``n_off``, None without them
    (epsilon 1: a bin may hold no OFF count in any simulation)."""
    return Standardizer(shapes["n_off"], epsilon=1.0) if "n_off" in shapes else None


def _with_off(head, A, data):
    """``data`` (batch, nbins) with the standardised OFF counts appended, where there are any."""
    return data if head.off_norm is None else torch.cat([data, head.off_norm(A["n_off"])], dim=1)


class DataHead(nn.Module):
    """The original's ``network.py``: online standardisation of ``data``, no learned layers."""

    hyperparameters: tuple[str, ...] = ()

    def __init__(self, shapes: dict):
        super().__init__()
        self.norm = Standardizer(shapes["data"])
        self.off_norm = _off_norm(shapes)
        self.n_features = math.prod(shapes["data"]) + (
            math.prod(shapes["n_off"]) if "n_off" in shapes else 0
        )

    def forward(self, A):
        return _with_off(self, A, self.norm(A["data"]))


def _branch(n_in: int, width: int, n_out: int) -> nn.Sequential:
    """Linear(width), ReLU, Linear(mid), ReLU, Linear(n_out) with mid the geometric mean of width
    and n_out rounded up to a power of two (the original's network_power.py); without a width,
    the fixed layout of its earlier version: Linear(64), ReLU, Linear(64), ReLU, Linear(n_out)."""
    if width is None:
        width = mid = FIXED_WIDTH
    else:
        mid = 2 ** math.ceil((math.log2(width) + math.log2(n_out)) / 2)
    return nn.Sequential(
        nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, mid), nn.ReLU(), nn.Linear(mid, n_out)
    )


#: The hidden widths of both branches of the original's network_power.py before it took
#: data_width and power_width (the version the flare0 runs used).
FIXED_WIDTH = 64


class PowerHead(nn.Module):
    """The original's ``network_power.py``: an MLP on standardised ``data`` and one on the
    standardised FFT ``power``, concatenated. The power length comes from the simulator (the
    original hard-coded 169)."""

    hyperparameters = ("data_width", "data_features", "power_width", "power_features")
    #: hyperparameters a grid may leave out, and their values (None: the earlier fixed layout)
    defaults = {"data_width": None, "power_width": None}

    def __init__(
        self,
        shapes: dict,
        data_width: int | None,
        data_features: int,
        power_width: int | None,
        power_features: int,
    ):
        super().__init__()
        if "power" not in shapes:
            raise ValueError("the power head needs the simulator's 'power' node (ALP models only)")
        n_data, n_power = math.prod(shapes["data"]), math.prod(shapes["power"])
        n_data += math.prod(shapes["n_off"]) if "n_off" in shapes else 0
        self.data_norm = Standardizer(shapes["data"])
        self.off_norm = _off_norm(shapes)
        self.power_norm = Standardizer(shapes["power"])
        self.data_mlp = _branch(n_data, data_width, data_features)
        self.power_mlp = _branch(n_power, power_width, power_features)
        self.n_features = data_features + power_features

    def forward(self, A):
        data = self.data_mlp(_with_off(self, A, self.data_norm(A["data"]).flatten(1)))
        power = self.power_mlp(self.power_norm(A["power"]).flatten(1))
        return torch.cat([data, power], dim=1)


class CNNHead(nn.Module):
    """The original's ``network_cnn.py``: standardised ``data`` as one channel (a real
    observation's OFF counts as a second), Conv1d(channels, kernel_size), flatten,
    Linear(logratio_features), ReLU."""

    hyperparameters = ("logratio_features", "channels", "kernel_size")

    def __init__(self, shapes: dict, logratio_features: int, channels: int, kernel_size: int):
        super().__init__()
        (nbins,) = shapes["data"]
        if not 1 <= kernel_size <= nbins:
            raise ValueError(f"kernel_size = {kernel_size} must be between 1 and nbins = {nbins}")
        self.norm = Standardizer(shapes["data"])
        self.off_norm = _off_norm(shapes)
        self.conv = nn.Conv1d(1 if self.off_norm is None else 2, channels, kernel_size)
        self.dense = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * (nbins - kernel_size + 1), logratio_features),
            nn.ReLU(),
        )
        self.n_features = logratio_features

    def forward(self, A):
        data = self.norm(A["data"])[:, None, :]
        if self.off_norm is not None:
            data = torch.cat([data, self.off_norm(A["n_off"])[:, None, :]], dim=1)
        return self.dense(self.conv(data))


BUILT_IN = {"": DataHead, "power": PowerHead, "cnn": CNNHead}
#: The original's file names, accepted as names of the built-in equivalents.
ORIGINAL_FILES = {"network.py": "", "network_power.py": "power", "network_cnn.py": "cnn"}


@dataclass(frozen=True)
class Architecture:
    """A resolved ``architecture``: the head class, its name and (for user files) the file."""

    head: type
    name: str
    path: Path | None = None
    note: str = ""  # how an original's file name was mapped, for a warning

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        return TRAINING_HYPERPARAMS + tuple(self.head.hyperparameters)

    @property
    def defaults(self) -> dict:
        """Head hyperparameters a grid may leave out, with the values they then take."""
        return dict(getattr(self.head, "defaults", {}))

    def head_hyperparameters(self, hyperparams: dict) -> dict:
        """The head's hyperparameters of a grid point, defaults filled in."""
        return {k: hyperparams.get(k, self.defaults.get(k)) for k in self.head.hyperparameters}

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest() if self.path else ""

    def build_head(self, shapes: dict, hyperparams: dict) -> nn.Module:
        return self.head(shapes, **self.head_hyperparameters(hyperparams))


def resolve(value: str) -> Architecture:
    """The head for an ``architecture`` value (see the module docstring); ConfigError if unusable.

    A path whose name is one of the original's network files maps to the built-in equivalent,
    whether the file exists here or not, unless it is a head file of this pipeline (defines Head).
    """
    value = value.strip()
    if value in BUILT_IN:
        return Architecture(BUILT_IN[value], value or "default")
    path = Path(value)
    ours = path.is_file() and re.search(
        r"^class Head\b", path.read_text(errors="replace"), re.MULTILINE
    )
    if path.name in ORIGINAL_FILES and not ours:
        name = ORIGINAL_FILES[path.name]
        note = (
            f"architecture: {value} is the original pipeline's {path.name}; this pipeline's equivalent "
            f"head '{name or 'default'}' is used"
            + ("" if path.is_file() else " (the file is not on this machine)")
        )
        return Architecture(BUILT_IN[name], name or "default", note=note)
    if path.is_file():
        return Architecture(load_head(path), path.name, path.resolve())
    raise ConfigError(
        "architecture",
        value,
        "expected '', power, cnn, network_power.py, network_cnn.py or an existing Python file defining Head",
    )


def load_head(path: Path) -> type:
    """Import a user's architecture file and check that its ``Head`` follows the interface."""
    head = load_class(path, "Head", "architecture", guide="docs/guide/extending.md")
    if not issubclass(head, nn.Module):
        raise ConfigError(
            "architecture", str(path), "the file must define a class Head (a torch.nn.Module)"
        )
    names = getattr(head, "hyperparameters", None)
    if not (isinstance(names, tuple | list) and all(isinstance(n, str) for n in names)):
        raise ConfigError(
            "architecture",
            str(path),
            "Head.hyperparameters must be a tuple of hyperparameter names",
        )
    return head


def check_hyperparameters(architecture: Architecture, grid: dict[str, list]) -> list[str]:
    """ConfigError naming the hyperparameters the architecture needs and the grid lacks;
    returns warnings for grid names nothing uses."""
    defaulted = [name for name in architecture.defaults if name not in grid]
    missing = [
        name for name in architecture.hyperparameters if name not in grid and name not in defaulted
    ]
    if missing:
        raise ConfigError(
            "hyperparams",
            ", ".join(grid) or "(empty)",
            f"the {architecture.name} network needs {', '.join(missing)} (add e.g. '--{missing[0]} (int) : 64')",
        )
    warnings = [architecture.note] if architecture.note else []
    if defaulted and architecture.head is PowerHead:
        warnings.append(
            f"hyperparams: {' and '.join(defaulted)} not given: the power network's branches take the fixed "
            f"hidden widths of the original's earlier network_power.py ({FIXED_WIDTH} and {FIXED_WIDTH})"
        )
    elif defaulted:
        warnings.append(
            f"hyperparams: {', '.join(defaulted)} not given; the {architecture.name} network's "
            f"defaults are used: {', '.join(f'{k} = {architecture.defaults[k]}' for k in defaulted)}"
        )
    unused = [name for name in grid if name not in architecture.hyperparameters]
    if unused:
        warnings.append(
            f"hyperparams: {', '.join(unused)} not used by the {architecture.name} network"
        )
    return warnings
