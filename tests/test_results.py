"""The results tree, trials and atomic records."""

import json

from alpswyft.results import SUBFOLDERS, RunTree, read_json, write_json


def test_first_trial_creates_tree(tmp_path):
    tree = RunTree(tmp_path / "run")
    trial, archived, resumed = tree.start_trial()
    assert (trial, archived, resumed) == (0, None, False)
    assert all((tree.root / name).is_dir() for name in SUBFOLDERS)


def test_new_trial_moves_everything_into_archive(tmp_path):
    tree = RunTree(tmp_path / "run")
    tree.start_trial()
    tree.config.write_text("{}")
    tree.log.write_text("first trial\n")
    tree.stores.mkdir(parents=True)
    (tree.stores / "chunk").write_text("data")
    trial, archived, _ = tree.start_trial()
    assert trial == 1 and archived == tree.archive / "trial__0"
    assert (archived / "output.log").read_text() == "first trial\n"
    assert (archived / "sim_output" / "store" / "chunk").read_text() == "data"
    assert not tree.config.exists() and not any(tree.sim_output.iterdir())

    tree.log.write_text("second trial\n")
    trial, archived, _ = tree.start_trial()
    assert trial == 2 and archived.name == "trial__1"
    assert (tree.archive / "trial__0" / "output.log").read_text() == "first trial\n"
    assert (archived / "output.log").read_text() == "second trial\n"


def test_empty_tree_is_not_a_trial(tmp_path):
    tree = RunTree(tmp_path / "run")
    tree.start_trial()
    assert tree.start_trial() == (0, None, False)
    assert not any(tree.archive.iterdir())


def test_write_json_is_atomic_and_readable(tmp_path):
    path = tmp_path / "sub" / "record.json"
    write_json(path, {"a": [1, 2]})
    write_json(path, {"a": [3]})
    assert read_json(path) == {"a": [3]}
    assert json.loads(path.read_text()) == {"a": [3]}
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]
    assert path.stat().st_mode & 0o044  # readable by others, as any file the user makes


def test_unfinished_trial_with_same_configuration_is_resumed(tmp_path):
    from alpswyft.results import write_json

    tree = RunTree(tmp_path / "run")
    tree.start_trial("abc")
    write_json(tree.config, {"trial": 0, "config_hash": "abc"})
    tree.log.write_text("killed\n")
    (tree.stores / "store").mkdir(parents=True)
    assert tree.start_trial("abc") == (0, None, True)
    assert (tree.stores / "store").exists() and (tree.root / "output.attempt_1.log").read_text() == "killed\n"
    # another configuration: a new trial
    trial, archived, resumed = tree.start_trial("other")
    assert (trial, resumed) == (1, False) and (archived / "sim_output" / "store").exists()


def test_finished_trial_is_archived(tmp_path):
    from alpswyft.results import write_json

    tree = RunTree(tmp_path / "run")
    tree.start_trial("abc")
    write_json(tree.config, {"trial": 0, "config_hash": "abc"})
    write_json(tree.finished, {"trial": 0})
    assert tree.start_trial("abc")[1:] == (tree.archive / "trial__0", False)


def test_kept_stores_stay_and_are_listed(tmp_path):
    from alpswyft.results import read_json, write_json

    tree = RunTree(tmp_path / "run")
    tree.start_trial("abc")
    write_json(tree.stores / "store" / ".zattrs", {"n": 5})
    write_json(tree.finished, {"trial": 0})
    _, archived, _ = tree.start_trial("abc", keep_stores=True)
    assert (tree.stores / "store" / ".zattrs").exists()
    assert read_json(archived / "sim_output_manifest.json")["stores"] == {"store": {"n": 5}}
