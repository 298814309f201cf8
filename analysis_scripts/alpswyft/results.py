"""The results tree of a run and its trials.

::

    <results_parent_dir>/<run_name>/
        config.json  output.log  run.sh  true_obs.npz  extra_obs.npz  truncation_record.json
        architecture.py  (a copy of a user's ``architecture`` file)
        model.py  (a copy of a user's ``model`` file)
        analysis_results.ipynb
        sim_output/      zarr stores per round, grid point and kind
        train_output/    networks, training logs (CSV), posterior summaries
        val_output/      figures and validation results
        archive/trial__N/    everything trial N produced

Re-running with the same ``run_name`` starts a new trial: the previous trial's files and folders
are moved (renamed, never copied or deleted) into ``archive/trial__N``, where N counts the
trials already archived.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import ClassVar

import numpy as np

from alpswyft import __version__
from analysis_core.files import load_npz, read_json, save_npz, write_json

SUBFOLDERS = ("sim_output", "train_output", "val_output", "archive")
#: the libraries whose versions a run records
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
    """The versions of Python, this package and the libraries behind its results (``config.json``)."""
    versions = {"python": platform.python_version(), "alpswyft": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


class RunTree:
    """Paths of one run folder."""

    def __init__(self, run_dir: Path):
        self.root = Path(run_dir)

    config = property(lambda self: self.root / "config.json")
    log = property(lambda self: self.root / "output.log")
    true_obs = property(lambda self: self.root / "true_obs.npz")
    extra_obs = property(lambda self: self.root / "extra_obs.npz")
    setup = property(lambda self: self.root / "response.npz")
    record = property(lambda self: self.root / "truncation_record.json")
    architecture = property(lambda self: self.root / "architecture.py")
    model_file = property(lambda self: self.root / "model.py")
    notebook = property(lambda self: self.root / "analysis_results.ipynb")
    sim_output = property(lambda self: self.root / "sim_output")
    stores = property(lambda self: self.root / "sim_output" / "store")
    train_output = property(lambda self: self.root / "train_output")
    nets = property(lambda self: self.root / "train_output" / "net")
    posteriors = property(lambda self: self.root / "train_output" / "posteriors")
    training_logs = property(lambda self: self.root / "train_output" / "logs")
    val_output = property(lambda self: self.root / "val_output")
    archive = property(lambda self: self.root / "archive")
    finished = property(lambda self: self.root / "trial_finished.json")

    def network(self, round_: int, grid_point: int) -> Path:
        return self.nets / f"trained_network_round_{round_}_gridpoint_{grid_point}.pt"

    def fixed_network(self, grid_point: int) -> Path:
        """The last round's fixed-nuisance network (``fixed_nuisance_limits``)."""
        return self.nets / f"trained_network_fixed_nuisances_gridpoint_{grid_point}.pt"

    def posterior(self, round_: int, grid_point: int) -> Path:
        return self.posteriors / f"posterior_round_{round_}_gridpoint_{grid_point}.npz"

    def bank_logratios(self, round_: int, grid_point: int) -> Path:
        """The mock observation's log-ratios on the round's prior bank (float32, 1D and 2D)."""
        return self.posteriors / f"logratios_round_{round_}_gridpoint_{grid_point}.npz"

    def extra_posteriors(self, grid_point: int) -> Path:
        """The ``extra_observations``' posteriors with the last round's network."""
        return self.posteriors / f"extra_observations_gridpoint_{grid_point}.npz"

    def validation_data(self, kind: str, grid_point: int) -> Path:
        """``val_output/<kind>_gridpoint_<g>.npz``: coverage or expected_limits results."""
        return self.val_output / f"{kind}_gridpoint_{grid_point}.npz"

    def validation_summary(self, grid_point: int) -> Path:
        return self.val_output / f"validation_gridpoint_{grid_point}.json"

    def mark_finished(self, **details) -> None:
        """Record that the trial in the folder finished (a re-run then starts a new trial)."""
        write_json(self.finished, {"trial": read_json(self.config)["trial"], **details})

    def unwritable(self) -> list[Path]:
        """The folders of the run (itself, its subfolders and ``archive/``, not the archived
        trials) that this process cannot write to: read-only, immutable or on a read-only mount."""
        if not self.root.exists():
            return []
        folders = [
            self.root,
            *(p for p in self.root.rglob("*") if p.is_dir() and self.archive not in p.parents),
        ]
        return [p for p in folders if not os.access(p, os.W_OK)]

    def newest_trial(self) -> Path | None:
        """The folder of the newest trial with a ``config.json``: this folder, else the newest
        ``archive/trial__N``; None when there is none."""
        return next(
            (t for t in [self.root, *self.archived_trials()] if (t / self.config.name).is_file()),
            None,
        )

    def archived_trials(self) -> list[Path]:
        """The ``archive/trial__N`` folders, newest first."""
        return sorted(
            self.archive.glob("trial__*"),
            key=lambda p: int(p.name.removeprefix("trial__")),
            reverse=True,
        )

    def trial_count(self) -> int:
        """Number of trials already archived (the next archive is trial__<count>)."""
        n = 0
        while (self.archive / f"trial__{n}").exists():
            n += 1
        return n

    def has_trial(self) -> bool:
        """Whether the folder holds the files of an earlier trial."""
        if not self.root.exists():
            return False
        return any(p.name != "archive" for p in self.root.iterdir() if not _is_empty_dir(p))

    def unfinished_trial(self) -> dict | None:
        """The provenance (config.json) of the trial in the folder if it did not finish."""
        if not self.config.exists() or self.finished.exists():
            return None
        return read_json(self.config)

    def start_trial(
        self, trial_hash: str = "", keep_stores: bool = False
    ) -> tuple[int, Path | None, bool]:
        """Resume the unfinished trial made with the same configuration (``trial_hash``: the
        variables other than how and where it runs), or archive the previous
        trial (if any) and create the empty tree. A trial whose configuration was killed before it
        wrote ``config.json`` is started again under its number, not archived.

        With ``keep_stores`` the simulation stores stay in place (they are reused) and the archive
        gets a manifest of them instead of a copy. Returns (trial number, archive folder of the
        previous trial or None, whether the trial is resumed).
        """
        previous = self.unfinished_trial()
        if previous is not None and trial_hash and previous.get("trial_hash") == trial_hash:
            self._keep_log_as_attempt()
            return previous["trial"], None, True
        archived = None
        if self._interrupted_configuration(keep_stores):
            self._keep_log_as_attempt()  # the rest is written again
        elif self.has_trial():
            archived = self.archive / f"trial__{self.trial_count()}"
            archived.mkdir(parents=True)
            for item in sorted(self.root.iterdir()):
                if item.name == "archive" or _is_empty_dir(item):
                    continue
                if keep_stores and item.name == "sim_output":
                    write_json(archived / "sim_output_manifest.json", store_manifest(self.stores))
                    continue
                item.rename(archived / item.name)
        for name in SUBFOLDERS:
            (self.root / name).mkdir(parents=True, exist_ok=True)
        return self.trial_count(), archived, False

    def _keep_log_as_attempt(self) -> None:
        """Rename the log of an interrupted attempt to ``output.attempt_<n>.log``."""
        attempt = 1
        while (self.root / f"output.attempt_{attempt}.log").exists():
            attempt += 1
        if self.log.exists():
            self.log.rename(self.root / f"output.attempt_{attempt}.log")

    def _interrupted_configuration(self, keep_stores: bool) -> bool:
        """Whether the folder holds only what a configuration stage killed before writing
        ``config.json`` leaves (its log, copies of the run script and architecture, temporary
        files): no results, so the next run starts the same trial again instead of archiving it.
        Stores kept with ``use_old_sims=1`` count as no results only if they are kept again."""
        if not self.has_trial() or self.config.exists():
            return False
        results = [
            name
            for name in ("train_output", "val_output", "sim_output")
            if not (keep_stores and name == "sim_output")
        ]
        return (
            not any(
                (self.root / name).is_dir()
                and any(p.is_file() for p in (self.root / name).rglob("*"))
                for name in results
            )
            and not any(self.root.glob("*.npz"))
            and not self.record.exists()
        )


def store_manifest(stores: Path) -> dict:
    """Name and recorded attributes of every store in ``stores`` (kept in place, not copied)."""
    manifest = {"folder": str(stores), "stores": {}}
    for path in sorted(stores.glob("*/.zattrs")):
        manifest["stores"][path.parent.name] = read_json(path)
    return manifest


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


class SavedResult(Mapping):
    """A result that is one NPZ file of a run: a frozen dataclass whose :meth:`arrays` and
    :meth:`from_arrays` are the file's layout, and whose ``KIND`` names the file (for the
    validation results ``val_output/<KIND>_gridpoint_<g>.npz``; others override :meth:`path`).
    It also reads as that layout (``result["levels"]``), for code written against the file."""

    KIND: ClassVar[str]

    def arrays(self) -> dict[str, np.ndarray]:
        """The file's arrays, by key."""
        raise NotImplementedError

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]):
        raise NotImplementedError

    @classmethod
    def path(cls, tree: RunTree, *where: int) -> Path:
        """The file of the result of ``where`` (a grid point; a round and a grid point for a
        round's result)."""
        return tree.validation_data(cls.KIND, *where)

    def save(self, tree: RunTree, *where: int) -> None:
        path = self.path(tree, *where)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_npz(path, **self.arrays())

    @classmethod
    def load(cls, tree: RunTree, *where: int):
        """The saved result of ``where``; None where the run has none."""
        path = cls.path(tree, *where)
        return cls.from_arrays(load_npz(path)) if path.is_file() else None

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.arrays())

    def __len__(self) -> int:
        return len(self.arrays())

    # identity, not the arrays' elementwise comparison
    __eq__ = object.__eq__
    __hash__ = object.__hash__
