"""Atomic writes and the full-disk message."""

import json

import numpy as np
import pytest

from analysis_core.files import disk_full, read_json, save_npz, write_json


def test_save_npz_is_atomic(tmp_path):
    path = tmp_path / "true_obs.npz"

    class Unwritable:
        def __array__(self, *args, **kwargs):
            raise ValueError("fails while writing")

    save_npz(path, data=np.arange(3))
    with pytest.raises(ValueError, match="fails while writing"):
        save_npz(path, data=np.arange(3), bad=Unwritable())
    with np.load(path) as data:
        assert data["data"].tolist() == [0, 1, 2] and data.files == ["data"]
    assert [p.name for p in tmp_path.iterdir()] == ["true_obs.npz"]


def test_write_json_is_atomic_and_readable(tmp_path):
    path = tmp_path / "sub" / "record.json"
    write_json(path, {"a": [1, 2]})
    write_json(path, {"a": [3]})
    assert read_json(path) == {"a": [3]}
    assert json.loads(path.read_text()) == {"a": [3]}
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]
    assert path.stat().st_mode & 0o044  # readable by others, as any file the user makes


def test_disk_full_names_the_file_its_free_space_and_that_nothing_is_lost(tmp_path):
    message = disk_full(tmp_path / "not_yet" / "model.pt")
    assert str(tmp_path / "not_yet" / "model.pt") in message
    assert " free there" in message and "written whole or not at all" in message
