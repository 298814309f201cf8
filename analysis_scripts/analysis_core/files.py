"""Files written so that a reader, or a run resumed after a kill, never sees half of one."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np


def _replace_atomically(path: Path, mode: str, write) -> None:
    """Write ``path`` through a temporary file in its folder and rename it into place, so that a
    reader (or a run resumed after a kill) sees the old file or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(mode, dir=path.parent, suffix=".tmp", delete=False) as f:
        try:
            write(f)
        except BaseException:
            f.close()
            os.unlink(f.name)
            raise
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(f.name, 0o666 & ~umask)  # NamedTemporaryFile creates 0600
    os.replace(f.name, path)


def write_json(path: Path, data) -> None:
    """Write JSON atomically."""

    def dump(f):
        json.dump(data, f, indent=2)
        f.write("\n")

    _replace_atomically(path, "w", dump)


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    _replace_atomically(path, "w", lambda f: f.write(text))


def save_npz(path: Path, **arrays) -> None:
    """``np.savez`` atomically (the name is kept as given: no ``.npz`` is appended)."""
    _replace_atomically(path, "wb", lambda f: np.savez(f, **arrays))


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an NPZ file, read into memory (the file is closed)."""
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def npz_digest(path: Path) -> str | None:
    """The SHA-256 of an NPZ file's arrays (names, dtypes, shapes, bytes; not of the zip around
    them), or None when the file does not read as one."""
    digest = hashlib.sha256()
    try:
        for name, array in sorted(load_npz(path).items()):
            digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).tobytes())
    except Exception:  # noqa: BLE001 - truncated, replaced, not an NPZ: it has no digest
        return None
    return digest.hexdigest()


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def disk_full(path: Path | str) -> str:
    """One line for a full disk while ``path`` was written: its free space, and that nothing is lost."""
    path = Path(path)
    folder = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    return (
        f"the disk is full: writing {path} failed ({size(shutil.disk_usage(folder).free)} free there). What was "
        "written before is kept (every file, and every chunk of a store, is written whole or "
        "not at all): free some space and "
        "run the same command again; it resumes where this run stopped."
    )


def size(n_bytes: float) -> str:
    """A size in MB below 1 GB, else in GB."""
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes < 1e9 else f"{n_bytes / 1e9:.2f} GB"
