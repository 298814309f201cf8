"""The results tree, trials and atomic records."""

import json

from alpswyft.results import SUBFOLDERS, RunTree, read_json, write_json


def test_first_trial_creates_tree(tmp_path):
    tree = RunTree(tmp_path / "run")
    trial, archived = tree.start_trial()
    assert (trial, archived) == (0, None)
    assert all((tree.root / name).is_dir() for name in SUBFOLDERS)


def test_new_trial_moves_everything_into_archive(tmp_path):
    tree = RunTree(tmp_path / "run")
    tree.start_trial()
    tree.config.write_text("{}")
    tree.log.write_text("first trial\n")
    tree.stores.mkdir(parents=True)
    (tree.stores / "chunk").write_text("data")
    trial, archived = tree.start_trial()
    assert trial == 1 and archived == tree.archive / "trial__0"
    assert (archived / "output.log").read_text() == "first trial\n"
    assert (archived / "sim_output" / "store" / "chunk").read_text() == "data"
    assert not tree.config.exists() and not any(tree.sim_output.iterdir())

    tree.log.write_text("second trial\n")
    trial, archived = tree.start_trial()
    assert trial == 2 and archived.name == "trial__1"
    assert (tree.archive / "trial__0" / "output.log").read_text() == "first trial\n"
    assert (archived / "output.log").read_text() == "second trial\n"


def test_empty_tree_is_not_a_trial(tmp_path):
    tree = RunTree(tmp_path / "run")
    tree.start_trial()
    assert tree.start_trial() == (0, None)
    assert not any(tree.archive.iterdir())


def test_write_json_is_atomic_and_readable(tmp_path):
    path = tmp_path / "sub" / "record.json"
    write_json(path, {"a": [1, 2]})
    write_json(path, {"a": [3]})
    assert read_json(path) == {"a": [3]}
    assert json.loads(path.read_text()) == {"a": [3]}
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]
    assert path.stat().st_mode & 0o044  # readable by others, as any file the user makes
