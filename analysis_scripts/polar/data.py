"""Reading a POLAR rate file: schema check, derived columns, filters, GRB masks and the split.

The file is a ROOT file with one TTree (by default named after the file stem) and one row per
time bin; :data:`SCHEMA` lists the branches the analysis needs and what each must hold. A missing
branch, a wrong dtype or a vector of the wrong length stops with a message naming the branch.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis_core.errors import PipelineError
from polar.config import N_CHANNELS, Data, Split
from polar.expressions import evaluate, names

#: branch -> (allowed numpy kinds, shape per row); "f": floating, "i"/"u"/"b": integers and flags
SCHEMA = {
    "unix_time": ("f", ()),
    **{
        name: ("f", ())
        for name in (
            "glat",
            "glon",
            "altitude",
            "temperature",
            "fe_cosmic",
            "raz",
            "decz",
            "rax",
            "decx",
            "time_since_saa",
            "crabarf",
            "sun_spot",
            "B_r",
            "B_theta",
            "B_phi",
        )
    },
    "is_orbit_up": ("fiub", ()),
    "sun": ("fiub", ()),
    "rate": ("f", (N_CHANNELS,)),
    "rate_err": ("f", (N_CHANNELS,)),
}


@dataclass
class Dataset:
    """The rows of a rate file after the filters; ``columns`` holds every branch and derived column."""

    columns: dict[str, np.ndarray]
    features: np.ndarray  # (n, n_features) float32
    rate: (
        np.ndarray
    )  # (n, n_targets) the targets' measured values: rates (Hz) of channels, or expressions
    rate_err: (
        np.ndarray
    )  # their errors: a channel's rate_err; 1 for an expression (residuals are searched)
    weights: np.ndarray  # (n, n_targets) the loss weights (data.weights; 1/rate_err^2 by default)
    part: np.ndarray  # (n,) "train", "val", "test" or "none" (a periodic split's leftover rows)
    grb_masked: np.ndarray  # (n,) bool: within grb_mask_s of a known GRB (never trained on)

    @property
    def unix_time(self) -> np.ndarray:
        return self.columns["unix_time"]


def tree_name(path: Path, data: Data) -> str:
    return data.tree or Path(path).stem


def read_columns(path: Path, tree: str, extra: set[str] = frozenset()) -> dict[str, np.ndarray]:
    """Every branch of :data:`SCHEMA`, checked, and the branches ``extra`` (any other branch of
    the file the configuration reads: a vector branch is a 2D array, read as ``name[i]``) from
    ``tree`` in ``path``."""
    import uproot

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"data.file = '{path}': no such file")
    try:
        file = uproot.open(path)
    except Exception as error:  # noqa: BLE001 - uproot raises many kinds for a file that is not ROOT
        raise PipelineError(f"data.file = '{path}' is not a readable ROOT file: {error}") from None
    with file:
        trees = [key.split(";")[0] for key, cls in file.classnames().items() if cls == "TTree"]
        if tree not in trees:
            raise PipelineError(
                f"{path} has no TTree {tree!r} (it has {', '.join(trees) or 'none'}); set data.tree"
            )
        branches = file[tree]
        missing = [name for name in SCHEMA if name not in branches.keys()]
        if missing:
            raise PipelineError(
                f"{path}:{tree} lacks the branch(es) {', '.join(missing)}; "
                f"the rate file needs {', '.join(SCHEMA)}"
            )
        unknown = sorted(set(extra) - set(branches.keys()))
        if unknown:
            raise PipelineError(
                f"{path}:{tree} has no branch {', '.join(unknown)} (the configuration reads it); "
                f"its branches: {', '.join(branches.keys())}"
            )
        columns = branches.arrays(sorted(set(SCHEMA) | set(extra)), library="np")
    for name in sorted(set(extra) - set(SCHEMA)):
        if columns[name].dtype == object:
            raise PipelineError(
                f"{path}:{tree} branch {name!r} has rows of varying length; only fixed-length "
                "vectors can be read as name[i]"
            )
    for name, (kinds, shape) in SCHEMA.items():
        array = columns[name]
        if array.dtype == object:  # jagged: a vector branch of varying length
            raise PipelineError(
                f"{path}:{tree} branch {name!r} has rows of varying length; expected {shape[0]} per row"
            )
        if array.dtype.kind not in kinds or array.shape[1:] != shape:
            expected = {"f": "floating", "fiub": "numeric"}[kinds] + (
                f" with {shape[0]} entries per row" if shape else ""
            )
            raise PipelineError(
                f"{path}:{tree} branch {name!r} has dtype {array.dtype} and shape per row "
                f"{array.shape[1:]}; expected {expected}"
            )
    return columns


def load(path: Path, data: Data, split: Split, grbs: list[tuple[str, float]]) -> Dataset:
    """The dataset of ``path``: derived columns added, filters applied, GRB windows marked, split."""
    columns = read_columns(path, tree_name(path, data), branches_read(data))
    for name, expression in data.derived.items():
        columns[name] = _evaluate(f"data.derived.{name}", expression, columns)
    n = len(columns["unix_time"])
    keep = np.ones(n, dtype=bool)
    for i, expression in enumerate(data.filters):
        keep &= _evaluate(f"data.filters[{i}]", expression, columns).astype(bool)
    if not keep.any():
        raise PipelineError(f"data.filters remove every row of {path}")
    columns = {k: v[keep] for k, v in columns.items()}
    features = np.stack(
        [
            _evaluate(f"data.features[{i}]", f, columns).astype(np.float32)
            for i, f in enumerate(data.features)
        ],
        axis=1,
    )
    times = np.array([t for _, t in masked_grbs(grbs, data.grb_mask_range)])
    masked = near(columns["unix_time"], times, data.grb_mask_s)
    rate, rate_err = target_values(data, columns)
    with np.errstate(divide="ignore"):
        weights = (
            np.stack(
                [_evaluate(f"data.weights[{i}]", w, columns) for i, w in enumerate(data.weights)],
                axis=1,
            )
            if data.weights
            else 1.0 / rate_err.astype(np.float64) ** 2
        )
    return Dataset(
        columns,
        features,
        rate,
        rate_err,
        np.where(np.isfinite(weights), weights, 0.0).astype(np.float32),
        split_rows(len(features), split),
        masked,
    )


def target_values(data: Data, columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(n, n_targets) values of the targets and their errors: a channel's rate and rate_err (so
    that the search thresholds pulls), an expression's value and 1 (so that it thresholds the
    residual, measured - predicted, in the expression's units)."""
    values, errors = [], []
    for j, target in enumerate(data.targets):
        if isinstance(target, int):
            values.append(columns["rate"][:, target])
            errors.append(columns["rate_err"][:, target])
        else:
            value = np.asarray(_evaluate(f"data.targets[{j}]", target, columns), dtype=np.float64)
            values.append(np.broadcast_to(value, columns["unix_time"].shape))
            errors.append(np.ones_like(values[-1]))
    return np.stack(values, axis=1), np.stack(errors, axis=1)


def target_names(predictions: dict) -> list[str]:
    """The targets' short names in a predictions file (:attr:`polar.config.Data.target_names`)."""
    return [str(t) for t in predictions["targets"]]


def target_labels(predictions: dict) -> list[str]:
    """The targets as written on figures (a file written before the labels were kept: channels)."""
    if "target_labels" in predictions:
        return [str(label) for label in predictions["target_labels"]]
    return [f"rate[{t}]" for t in predictions["targets"]]


def masked_grbs(grbs: list[tuple[str, float]], names_range: list[str]) -> list[tuple[str, float]]:
    """The GRBs whose windows are masked: all, or those of the list from ``names_range[0]`` to
    ``names_range[1]`` inclusive (the original masked the 25 from GRB_170105A to GRB_170317A)."""
    if not names_range:
        return grbs
    names = [name for name, _ in grbs]
    missing = [n for n in names_range if n not in names]
    if missing:
        raise PipelineError(
            f"data.grb_mask_range: {', '.join(missing)} is not in the GRB list (data.grb_list)"
        )
    first, last = names.index(names_range[0]), names.index(names_range[1])
    return grbs[first : last + 1]


def branches_read(data: Data) -> set[str]:
    """The file's branches the configuration's features, derived columns, filters, weights and
    target expressions name."""
    expressions = [
        *data.features,
        *data.derived.values(),
        *data.filters,
        *data.weights,
        *(t for t in data.targets if isinstance(t, str)),
    ]
    used = set().union(*(names(e) for e in expressions))
    return used - set(data.derived)


def _evaluate(key: str, expression: str, columns: dict[str, np.ndarray]) -> np.ndarray:
    try:
        return evaluate(expression, columns)
    except PipelineError as error:
        raise PipelineError(f"{key}: {error}") from None


def split_rows(n: int, split: Split) -> np.ndarray:
    """The part of each of ``n`` rows ("train", "val", "test" or "none"), by ``split.mode``:

    - blocks: blocks of ``block_size`` consecutive rows cycle through ``pattern``: each part
      samples every orbit phase, and neighbouring rows (correlated) stay in one part;
    - periodic (the original): in every ``period`` rows the first int(fraction x period) go to
      training, the next to validation, then test (250 / 2 / 2 of 256); the leftover rows to none;
    - random: each row drawn into a part with the fractions (seeded by ``split.seed``).
    """
    parts = np.array(["train", "val", "test", "none"])
    if split.mode == "blocks":
        block = np.arange(n) // split.block_size
        return np.array(split.pattern)[block % len(split.pattern)]
    if split.mode == "periodic":
        sizes = [int(f * split.period) for f in split.fractions]
        in_period = np.repeat(np.arange(4), [*sizes, split.period - sum(sizes)])
        return parts[in_period[np.arange(n) % split.period]]
    probabilities = [*split.fractions, max(0.0, 1 - sum(split.fractions))]
    return parts[
        np.random.default_rng(split.seed).choice(
            4, size=n, p=np.array(probabilities) / sum(probabilities)
        )
    ]


def near(unix_time: np.ndarray, times: np.ndarray, half_width: float) -> np.ndarray:
    """Whether each time is within ``half_width`` seconds of any of ``times``."""
    if len(times) == 0:
        return np.zeros(len(unix_time), dtype=bool)
    times = np.sort(times)
    i = np.searchsorted(times, unix_time)  # the neighbours are times[i - 1] and times[i]
    after, before = times[np.minimum(i, len(times) - 1)], times[np.maximum(i - 1, 0)]
    return np.minimum(np.abs(unix_time - after), np.abs(unix_time - before)) <= half_width


def read_grbs(path: Path) -> list[tuple[str, float]]:
    """(name, unix time) of each known GRB in a CSV with columns ``GRB_Name`` and ``unix_time``."""
    if not Path(path).is_file():
        raise PipelineError(f"data.grb_list = '{path}': no such file")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not {"GRB_Name", "unix_time"} <= set(reader.fieldnames or ()):
            raise PipelineError(
                f"data.grb_list = '{path}': needs the columns GRB_Name and unix_time"
            )
        return [(row["GRB_Name"], float(row["unix_time"])) for row in reader]
