"""Simulation stores: zarr directories in swyft's ``ZarrStore`` layout, filled chunk by chunk.

Layout (readable by ``swyft.ZarrStore(path)``): group ``data/`` with one array per node, shape
``(N, *node_shape)``, chunked along the first axis; ``meta/sim_status`` (N,) int32 with 1 where a
simulation is written. On top of swyft's layout the root attributes record what made the store
(kind, round, grid point, N, prior box, seed, configuration hash), and a store that does not match
the current request is refused rather than reused.

Names under ``sim_output/store/``: ``store``, ``store_prior`` (and
``store_explim``) in round 0, shared by all grid points; ``store_round_{r}_gridpoint_{g}`` etc.
later; ``store_fixed_nuisances...`` holds the last round's simulations with the nuisances at their
Obs. values (``fixed_nuisance_limits``).

Filling: the store is cut into chunks; each chunk is simulated with its own seed, derived from
(sim_seed, round, grid point, kind, chunk index), and written to its own zarr chunk files, data
first and status last. A chunk is either complete or re-simulated on the next call; a killed run
therefore resumes to exactly the store an uninterrupted run would have made.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import fasteners
import numba
import numpy as np
import zarr
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from analysis_core.errors import PipelineError
from analysis_core.files import disk_full, size


@dataclass(frozen=True)
class StoreKind:
    """A kind of store: the suffix of its folder name, the offset that keeps its simulations'
    seeds apart from the other kinds', and the names a user may also give it (the workbench's
    ``run.store(name)``)."""

    name: str
    suffix: str
    seed: int
    aliases: tuple[str, ...] = ()


#: The kinds of store, by name. ``coverage`` is the last round's training store beyond its
#: training rows (the coverage simulations).
KINDS = {
    kind.name: kind
    for kind in (
        StoreKind("train", "", 0, ("training", "coverage")),
        StoreKind("prior", "_prior", 1),
        StoreKind("explim", "_explim", 2, ("expected_limits",)),
        StoreKind("fixed", "_fixed_nuisances", 3, ("fixed_nuisances",)),
        StoreKind("calibration", "_calibration", 4),
        StoreKind("limit_coverage", "_limit_coverage", 5),
        StoreKind("null", "_null", 6),
    )
}
#: Every name of a store kind a user may give, and the kind it names.
KIND_NAMES = {name: kind for kind in KINDS.values() for name in (kind.name, *kind.aliases)}


def store_name(kind: str, round_: int, grid_point: int, base: str = "store") -> str:
    """The name of a store of ``kind``; round 0's are shared across grid points."""
    name = base + KINDS[kind].suffix
    return name if round_ == 0 else f"{name}_round_{round_}_gridpoint_{grid_point}"


def chunk_length(n: int, n_jobs: int) -> int:
    """The chunk length (N / n_jobs, halved until at most 1117 samples), also halved until
    every worker has at least 4 chunks (a finer progress bar and less work lost to a kill)."""
    c = n / n_jobs
    while c > 1117 or (n / c < 4 * n_jobs and c >= 32):
        c /= 2
    return max(1, math.ceil(c))


@dataclass(frozen=True)
class StoreRequest:
    """What a store must hold: ``n`` samples of ``kind`` drawn in ``bounds`` (n_free, 2)."""

    path: Path
    kind: str
    round: int
    grid_point: int
    n: int
    bounds: tuple[tuple[float, float], ...]
    sim_seed: int
    config_hash: str
    #: ``non_finite_sims``: a simulation holding NaN or inf stops the fill, or is drawn again
    non_finite: str = "stop"

    @property
    def attrs(self) -> dict:
        return {
            "kind": self.kind,
            "round": self.round,
            "n": self.n,
            "bounds": [list(b) for b in self.bounds],
            "sim_seed": self.sim_seed,
            "config_hash": self.config_hash,
        }

    def chunk_seed(self, chunk: int) -> np.random.SeedSequence:
        grid_point = self.grid_point if self.round > 0 else 0
        return np.random.SeedSequence(
            [self.sim_seed, self.round, grid_point, KINDS[self.kind].seed, chunk]
        )


def _open_checked(request: StoreRequest) -> zarr.Group:
    root = zarr.open_group(str(request.path), mode="r+")
    recorded = dict(root.attrs)
    differences = [
        f"{key}: store has {recorded.get(key)!r}, this run needs {value!r}"
        for key, value in request.attrs.items()
        if recorded.get(key) != value
    ]
    if differences:
        raise PipelineError(
            f"The store {request.path} was made for another configuration and is not reused:\n  "
            + "\n  ".join(differences)
            + "\nMove it away (or start a new run_name) to simulate afresh."
        )
    return root


def is_foreign(path: Path) -> bool:
    """Whether a store lacks this pipeline's attributes: a swyft ZarrStore made elsewhere (e.g. by
    an earlier pipeline), whose simulation settings cannot be verified."""
    return "config_hash" not in zarr.open_group(str(path), mode="r").attrs


def check_foreign_store(path: Path, n: int, shapes: dict[str, tuple[int, ...]]) -> dict:
    """A foreign store (``use_old_sims`` made elsewhere) must have this configuration's
    ``params`` and ``exp`` nodes with their shapes (the parameter count), ``n`` samples at least and
    none missing. Returns what to record of it; PipelineError naming what does not fit."""
    root = zarr.open_group(str(path), mode="r")
    problems, nodes = [], {}
    for node in ("params", "exp"):
        if f"data/{node}" not in root:
            problems.append(f"it has no node '{node}'")
            continue
        nodes[node] = list(root[f"data/{node}"].shape)
        if tuple(nodes[node][1:]) != tuple(shapes[node]):
            what = " (the number of free parameters)" if node == "params" else ""
            problems.append(
                f"'{node}' has shape {tuple(nodes[node][1:])}{what}, this configuration's is {tuple(shapes[node])}"
            )
    for node in nodes:
        bad = _count_non_finite(root[f"data/{node}"])
        if bad:
            problems.append(
                f"its '{node}' holds NaN or inf in {bad[0]} samples (the first at row {bad[1]}), "
                "which nothing may be trained on"
            )
    size = root["meta/sim_status"].shape[0] if "meta/sim_status" in root else 0
    if size < n:
        problems.append(f"it holds {size} samples, round 0 needs {n}")
    elif missing(root):
        problems.append(f"{missing(root)} of its {size} samples are not simulated")
    if problems:
        raise PipelineError(
            f"use_old_sims: the store {path} does not fit this configuration: "
            + "; ".join(problems)
        )
    return {"path": str(path), "n": size, "nodes": nodes, "verified": False}


def non_finite_rows(values: np.ndarray) -> np.ndarray:
    """Which samples (first axis) of a node hold NaN or inf anywhere."""
    return ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)


def _count_non_finite(array, block: int = 65_536) -> tuple[int, int] | None:
    """(how many, the first) rows of a zarr array that hold NaN or inf, read block by block."""
    count, first = 0, None
    for lo in range(0, array.shape[0], block):
        rows = non_finite_rows(array[lo : lo + block])
        if rows.any():
            count += int(rows.sum())
            first = lo + int(np.argmax(rows)) if first is None else first
    return (count, first) if count else None


def check_store(
    request: StoreRequest, shapes: dict[str, tuple[int, ...]] | None = None
) -> zarr.Group:
    """A store that must already exist, match ``request`` and be complete (imported stores); a
    foreign one is checked for its nodes, shapes and size instead (with the simulator's ``shapes``)."""
    if not (request.path / ".zgroup").exists():
        raise PipelineError(f"The store {request.path} does not exist.")
    if shapes is not None and is_foreign(request.path):
        check_foreign_store(request.path, request.n, shapes)
        return zarr.open_group(str(request.path), mode="r")
    root = _open_checked(request)
    left = missing(root)
    if left:
        raise PipelineError(
            f"The imported store {request.path} is incomplete: {left} simulations are missing."
        )
    return root


def open_store(request: StoreRequest, shapes: dict[str, tuple[int, ...]], chunk: int) -> zarr.Group:
    """Open the store if it matches ``request``, or create it empty."""
    if (request.path / ".zgroup").exists():
        return _open_checked(request)
    request.path.parent.mkdir(parents=True, exist_ok=True)
    root = zarr.open_group(str(request.path), mode="w")
    for key, shape in shapes.items():
        root.zeros(f"data/{key}", shape=(request.n, *shape), chunks=(chunk, *shape), dtype="f4")
    root.zeros("meta/sim_status", shape=(request.n,), chunks=(chunk,), dtype="i4")
    root.zeros("meta/redrawn", shape=(request.n,), chunks=(chunk,), dtype="u1")
    root["data"].attrs["chunk_size"] = chunk  # swyft.ZarrStore reads this
    root.attrs.update(request.attrs)
    return root


def bytes_to_write(request: StoreRequest, shapes: dict[str, tuple[int, ...]]) -> int:
    """Upper estimate (uncompressed float32 plus status) of what filling ``request`` still writes."""
    if request.kind == "prior":
        shapes = {"params": shapes["params"]}
    per_sample = 4 * sum(math.prod(shape) for shape in shapes.values()) + 4
    left = (
        missing(zarr.open_group(str(request.path), mode="r"))
        if (request.path / ".zgroup").exists()
        else request.n
    )
    return left * per_sample


def check_disk_space(
    requests: list[StoreRequest], shapes: dict[str, tuple[int, ...]], folder: Path
) -> None:
    """Refuse to start simulating when ``folder``'s disk cannot hold what ``requests`` will write
    (with 10 % and 100 MB to spare)."""
    needed = sum(bytes_to_write(request, shapes) for request in requests)
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if needed * 1.1 + RESERVE_BYTES > free:
        names = ", ".join(request.path.name for request in requests)
        raise PipelineError(
            f"not enough disk space for the stores {names}: they need up to {size(needed)} (uncompressed "
            f"estimate, plus 10 %), and the run keeps {size(RESERVE_BYTES)} free for its networks, logs and "
            f"report, so {size(needed * 1.1 + RESERVE_BYTES)} in all; {folder} has {size(free)} free. Free some "
            "space, or set results_parent_dir to a larger disk (use_old_sims can import stores from elsewhere)."
        )


#: What the disk check keeps free beyond the stores (networks, logs, figures, the report).
RESERVE_BYTES = 100e6


def missing(root: zarr.Group) -> int:
    """Number of simulations not yet written."""
    return int(np.sum(root["meta/sim_status"][:] != 1))


def zarr_group(path: Path) -> zarr.Group:
    return zarr.open_group(str(path), mode="r+")


def chunk_slices(root: zarr.Group) -> list[tuple[int, int]]:
    """[lo, hi) of every chunk of a store."""
    n = root["meta/sim_status"].shape[0]
    chunk = root["data"].attrs["chunk_size"]
    return [(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]


def _simulate_chunk(
    request: StoreRequest, simulator, lo: int, hi: int, chunk: int, threads: int
) -> int:
    numba.set_num_threads(threads)  # processes x threads must not oversubscribe the cores
    return simulate_chunk_into(request, simulator, lo, hi, chunk)


def simulate_chunk_into(request: StoreRequest, simulator, lo: int, hi: int, chunk: int) -> int:
    """Simulate chunk ``chunk`` = samples [lo, hi) with its own seed and write it, status last."""
    rng = np.random.default_rng(request.chunk_seed(chunk))
    bounds = np.array(request.bounds)
    if request.kind == "prior":
        samples = {"params": simulator.table.sample(bounds, hi - lo, rng).astype(np.float32)}
    else:
        samples = simulator.sample(hi - lo, bounds, rng)
    redrawn = np.zeros(hi - lo, np.uint8)
    if request.non_finite == "redraw":
        redrawn = redraw_non_finite(simulator, samples, bounds, rng)
    check_finite(request, simulator, samples, lo)
    root = zarr.open_group(str(request.path), mode="r+")
    for key, values in samples.items():
        root[f"data/{key}"][lo:hi] = values
    if "redrawn" in root["meta"]:  # not in stores made before it was recorded
        root["meta/redrawn"][lo:hi] = redrawn
    root["meta/sim_status"][lo:hi] = 1  # last: status 1 means the data are there
    return hi - lo


#: How many parameter vectors of non-finite simulations a message shows.
SHOWN_VECTORS = 3
#: How often ``non_finite_sims=redraw`` draws a non-finite simulation again before the fill stops.
MAX_REDRAWS = 10


def _non_finite_samples(samples: dict) -> tuple[np.ndarray, list[str]]:
    """Which samples hold NaN or inf in any node, and those nodes."""
    bad = np.zeros(len(samples["params"]), bool)
    nodes = []
    for key, values in samples.items():
        rows = non_finite_rows(values)
        if rows.any():
            nodes.append(key)
            bad |= rows
    return bad, nodes


def redraw_non_finite(simulator, samples: dict, bounds: np.ndarray, rng) -> np.ndarray:
    """``non_finite_sims=redraw``: each sample whose simulation holds NaN or inf replaced, in place,
    by a new draw from the prior in the box (the chunk's own generator: reproducible), up to
    :data:`MAX_REDRAWS` times. The prior is in effect restricted to where the model is finite.
    Returns how often each sample was drawn again (the store's ``meta/redrawn``)."""
    redrawn = np.zeros(len(samples["params"]), np.uint8)
    for _ in range(MAX_REDRAWS):
        bad, _ = _non_finite_samples(samples)
        if not bad.any():
            break
        again = simulator.sample(int(bad.sum()), bounds, rng)
        for key, values in samples.items():
            values[bad] = again[key]
        redrawn[bad] += 1
    return redrawn


def redrawn_count(root: zarr.Group) -> int:
    """How many samples of a store were drawn again for a non-finite simulation."""
    return int(np.count_nonzero(root["meta/redrawn"][:])) if "redrawn" in root["meta"] else 0


def check_finite(request: StoreRequest, simulator, samples: dict, lo: int) -> None:
    """Refuse a chunk whose simulations hold NaN or inf, before it is written: the simulator made
    them (they recur for the same seed), so nothing may be trained on them. The message names the
    store, the node, how many samples, and the first parameter vectors in the table's units.
    Written chunks are therefore finite, and a written chunk that is not was damaged since
    (:func:`damaged_chunks` simulates it again)."""
    bad, nodes = _non_finite_samples(samples)
    if not bad.any():
        return
    table = simulator.table
    physical = table.physical(np.asarray(samples["params"], float)[bad][:SHOWN_VECTORS])
    shown = "; ".join(
        ", ".join(f"{p.name}={v:.4g}" for p, v in zip(table.parameters, vector) if p.free)
        for vector in physical
    )
    rows = np.flatnonzero(bad)[:SHOWN_VECTORS] + lo
    raise PipelineError(
        f"{request.path.name}: the simulator returned non-finite {', '.join(nodes)} for "
        f"{int(bad.sum())} of the {len(bad)} samples {lo}..{lo + len(bad) - 1} "
        f"(rows {', '.join(map(str, rows))}: {shown}, in the table's units); nothing is "
        "written or trained on them: the model fails on that part of its prior"
        + (
            f", even after {MAX_REDRAWS} draws again (non_finite_sims=redraw)"
            if request.non_finite == "redraw"
            else " (non_finite_sims=redraw draws such samples again, where that part is negligible)"
        )
    )


def fill_store(request: StoreRequest, simulator, n_jobs: int) -> zarr.Group:
    """Create or complete a store with ``simulator`` (a :class:`~alpswyft.simulator.SpectrumSimulator`);
    simulates only the chunks that are not complete yet."""
    shapes = simulator.shapes
    if request.kind == "prior":
        shapes = {"params": shapes["params"]}
    lock = fasteners.InterProcessLock(str(request.path.parent / f".{request.path.name}.lock"))
    if not lock.acquire(blocking=False):
        raise PipelineError(
            f"{request.path} is being filled by another process; wait for it or stop it."
        )
    try:
        return _fill(request, simulator, shapes, n_jobs)
    finally:
        lock.release()


def damaged_chunks(path: Path, root: zarr.Group) -> dict[int, str]:
    """Chunks whose status says written but whose data cannot be used, with why: a chunk file
    missing (zarr would silently read zeros), truncated or corrupt (it fails to decode), or holding
    NaN or inf (a chunk is finite when written, :func:`check_finite`: this one was damaged since,
    or came from elsewhere)."""
    status = root["meta/sim_status"][:]
    damaged = {}
    for i, (lo, hi) in enumerate(chunk_slices(root)):
        if not np.all(status[lo:hi] == 1):
            continue
        for name, array in root["data"].arrays():
            key = ".".join([str(i)] + ["0"] * (array.ndim - 1))
            try:
                if not (path / "data" / name / key).is_file():
                    raise FileNotFoundError(key)
                values = array[lo:hi]
            except Exception:  # noqa: BLE001 - any decoding failure means the chunk must be redone
                damaged[i] = "a missing or unreadable file"
                break
            if values.dtype.kind == "f" and not np.isfinite(values).all():
                damaged[i] = f"non-finite values in its {name}"
                break
    return damaged


def open_for_filling(request: StoreRequest, shapes: dict, chunk: int) -> zarr.Group:
    """:func:`open_store`, and for a store that already existed the damaged chunks marked unwritten,
    so that filling simulates them again."""
    existed = (request.path / ".zgroup").exists()
    root = open_store(request, shapes, chunk)
    if existed:
        slices = chunk_slices(root)
        for i, why in damaged_chunks(request.path, root).items():
            print(
                f"{request.path.name}: chunk {i} (samples {slices[i][0]}..{slices[i][1] - 1}) is damaged "
                f"({why}): it is simulated again"
            )
            root["meta/sim_status"][slices[i][0] : slices[i][1]] = 0
    return root


def _fill(request: StoreRequest, simulator, shapes: dict, n_jobs: int) -> zarr.Group:
    root = open_for_filling(request, shapes, chunk_length(request.n, n_jobs))
    status = root["meta/sim_status"][:]
    todo = [
        (lo, hi, i)
        for i, (lo, hi) in enumerate(chunk_slices(root))
        if not np.all(status[lo:hi] == 1)
    ]
    if not todo:
        print(f"{request.path.name}: complete ({request.n} samples), nothing to simulate")
        return root
    n_todo = sum(hi - lo for lo, hi, _ in todo)
    print(f"{request.path.name}: simulating {n_todo} of {request.n} samples in {len(todo)} chunks")
    jobs = min(n_jobs, len(todo))
    threads = max(1, len(os.sched_getaffinity(0)) // jobs)
    results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
        delayed(_simulate_chunk)(request, simulator, lo, hi, i, threads) for lo, hi, i in todo
    )
    try:
        with tqdm(total=n_todo, unit="sim", desc=request.path.name, mininterval=2.0) as bar:
            for done in results:
                bar.update(done)
    except OSError as error:  # raised in a worker, where the file name may be lost on the way
        if error.errno != errno.ENOSPC:
            raise
        raise PipelineError(disk_full(error.filename or request.path)) from None
    left = missing(root)
    if left:
        raise PipelineError(f"{request.path}: {left} simulations are still missing after filling")
    say_redrawn(request, root)
    return root


def say_redrawn(request: StoreRequest, root: zarr.Group) -> None:
    """One line when samples of the store were drawn again (``non_finite_sims=redraw``)."""
    count = redrawn_count(root)
    if count:
        print(
            f"{request.path.name}: {count} of {request.n} samples were drawn again from the prior, "
            "their simulations holding NaN or inf (non_finite_sims=redraw; recorded in "
            "meta/redrawn): the prior is restricted to where the model is finite"
        )


def read_store(path: Path, keys: list[str], start: int = 0, stop: int | None = None) -> dict:
    """Read ``keys`` of samples [start, stop) from a complete store into memory."""
    if not (path / ".zgroup").exists():
        raise PipelineError(f"The store {path} does not exist; run the simulation stage first.")
    root = zarr.open_group(str(path), mode="r")
    left = missing(root)
    if left:
        raise PipelineError(
            f"The store {path} is incomplete: {left} of {root['meta/sim_status'].shape[0]} "
            "simulations are missing. Run the same command again to simulate them."
        )
    try:
        return {key: root[f"data/{key}"][start:stop] for key in keys}
    except Exception as error:  # noqa: BLE001 - a decoding failure of a damaged chunk file
        raise PipelineError(
            f"The store {path} has a damaged chunk ({type(error).__name__}: {error}). Run the same command "
            "again: the simulation stage finds damaged chunks and simulates them again."
        ) from None
