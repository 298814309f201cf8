"""The results tree and its trials."""

from alpswyft.results import SUBFOLDERS, RunTree
from analysis_core.files import write_json


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

    tree.config.write_text("{}")
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


def test_a_configuration_killed_before_config_json_starts_the_same_trial_again(tmp_path):
    tree = RunTree(tmp_path / "run")
    tree.start_trial("abc")
    tree.config.write_text("{}")
    tree.finished.write_text("{}")
    assert tree.start_trial("abc")[:2] == (1, tree.archive / "trial__0")
    tree.log.write_text("killed while configuring\n")  # what a killed configuration leaves
    (tree.root / "run.sh").write_text("run_name=run\n")
    (tree.root / "response.npz.tmp123").write_text("half")
    assert tree.start_trial("abc") == (1, None, False)
    assert (tree.root / "output.attempt_1.log").read_text() == "killed while configuring\n"
    assert [p.name for p in tree.archive.iterdir()] == ["trial__0"]
    # results without config.json (a folder edited by hand) are archived, never overwritten
    tree.network(0, 0).parent.mkdir(parents=True)
    tree.network(0, 0).write_text("weights")
    assert tree.start_trial("abc")[:2] == (2, tree.archive / "trial__1")
    assert (
        tree.archive / "trial__1" / "train_output" / "net" / tree.network(0, 0).name
    ).read_text() == "weights"


def test_unfinished_trial_with_same_configuration_is_resumed(tmp_path):
    from analysis_core.files import write_json

    tree = RunTree(tmp_path / "run")
    tree.start_trial("abc")
    write_json(tree.config, {"trial": 0, "trial_hash": "abc"})
    tree.log.write_text("killed\n")
    (tree.stores / "store").mkdir(parents=True)
    assert tree.start_trial("abc") == (0, None, True)
    assert (tree.stores / "store").exists() and (
        tree.root / "output.attempt_1.log"
    ).read_text() == "killed\n"
    # another configuration: a new trial
    trial, archived, resumed = tree.start_trial("other")
    assert (trial, resumed) == (1, False) and (archived / "sim_output" / "store").exists()


def test_finished_trial_is_archived(tmp_path):
    from analysis_core.files import write_json

    tree = RunTree(tmp_path / "run")
    tree.start_trial("abc")
    write_json(tree.config, {"trial": 0, "trial_hash": "abc"})
    write_json(tree.finished, {"trial": 0})
    assert tree.start_trial("abc")[1:] == (tree.archive / "trial__0", False)


def test_kept_stores_stay_and_are_listed(tmp_path):
    from analysis_core.files import read_json

    tree = RunTree(tmp_path / "run")
    tree.start_trial("abc")
    write_json(tree.config, {"trial": 0, "trial_hash": "abc"})
    write_json(tree.stores / "store" / ".zattrs", {"n": 5})
    write_json(tree.finished, {"trial": 0})
    _, archived, _ = tree.start_trial("abc", keep_stores=True)
    assert (tree.stores / "store" / ".zattrs").exists()
    assert read_json(archived / "sim_output_manifest.json")["stores"] == {"store": {"n": 5}}
