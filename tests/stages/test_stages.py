"""The stages in this process on a small toy run: the re-run controls (use_old_truncations,
retrain_last_round, use_old_net, continue_training, train, simulate) and user architectures."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import configure_in_process, read_only, run_rounds, toy_variables

from alpswyft.run import RunContext
from alpswyft.stages.rounds import plan
from alpswyft.stages.simulate import simulate_round
from alpswyft.stages.train import train_round
from analysis_core.errors import ConfigError, PipelineError
from analysis_core.files import load_npz

SMALL = {
    "n_truncations": "0",
    "n_sim_train": "600",
    "n_prior_samples": "3_000",
    "max_epochs": "4",
    "train_batch_size_1d": "128",
    "n_jobs_sim": "1",
    "hyperparams": "--learning_rate (float) : 5e-3 --stopping_patience (int) : 2 --blocks (int) : 1 "
    "--features (int) : 16 --dropout (float) : 0.0",
}

USER_HEAD = """
import torch


class Head(torch.nn.Module):
    hyperparameters = ("width",)

    def __init__(self, shapes, width):
        super().__init__()
        self.layer = torch.nn.Linear(shapes["data"][0], width)
        self.n_features = width

    def forward(self, A):
        return torch.tanh(self.layer(A["data"]))
"""


def configure_here(base, monkeypatch, **overrides):
    return configure_in_process(base, monkeypatch, toy_variables(**{**SMALL, **overrides}))


def record(tree):
    return json.loads(tree.record.read_text())


@pytest.fixture
def finished_one_round(tmp_path, monkeypatch):
    tree = configure_here(tmp_path, monkeypatch)
    assert run_rounds(tree) == [(0, 0)]
    return tmp_path, tree


def test_use_old_truncations_continues_the_record(finished_one_round, monkeypatch, capsys):
    base, first = finished_one_round
    tree = configure_here(
        base, monkeypatch, n_truncations="1", use_old_truncations="1", use_old_sims="1"
    )
    assert "use_old_truncations: continuing from" in capsys.readouterr().out
    assert tree.posterior(0, 0).is_file()  # the imported round's posterior comes along
    assert run_rounds(tree) == [(0, 1)]
    rounds = record(tree)["grid_points"]["0"]["rounds"]
    assert [(r["round"], r["trial"]) for r in rounds] == [(0, 0), (1, 1)]
    assert rounds[1]["bounds"] == rounds[0]["truncated_bounds"]


def test_use_old_truncations_path_form_and_a_foreign_record(
    finished_one_round, tmp_path_factory, monkeypatch
):
    base, first = finished_one_round
    source = first.root / "archive"  # nothing there yet: the finished trial is still in place
    other = tmp_path_factory.mktemp("other")
    tree = configure_here(
        other, monkeypatch, n_truncations="1", use_old_truncations=str(first.record)
    )
    assert [r["trial"] for r in record(tree)["grid_points"]["0"]["rounds"]] == [0]
    assert plan(tree) == [(0, 1)]
    assert not source.exists() or not any(source.iterdir())
    with pytest.raises(ConfigError, match=r"use_old_truncations = .*another model: initial_bounds"):
        configure_here(
            tmp_path_factory.mktemp("foreign"),
            monkeypatch,
            use_old_truncations=str(first.root),
            param1=" [-2, 3] | 0.7 | 0 | 0 | U | a | 1 ",
        )
    with pytest.raises(ConfigError, match=r"use_old_truncations = .*another model: initial_bounds"):
        configure_here(
            base, monkeypatch, use_old_truncations="1", param1=" [-2, 3] | 0.7 | 0 | 0 | U | a | 1 "
        )
    assert not (first.root / "archive" / "trial__0").exists()  # refused before anything moved


def test_retrain_last_round_reuses_the_network_once_per_trial(finished_one_round, monkeypatch):
    base, first = finished_one_round
    before = record(first)["grid_points"]["0"]["rounds"][0]
    tree = configure_here(
        base,
        monkeypatch,
        use_old_truncations="1",
        use_old_sims="1",
        retrain_last_round="1",
        use_old_net="1",
        continue_training="0",
    )
    assert run_rounds(tree, finish=False) == [(0, 0)]
    after = record(tree)["grid_points"]["0"]["rounds"][0]
    assert after["trial"] == 1 and after["training"]["epochs"] == 0
    assert after["training"]["loaded_from"].endswith(
        "archive/trial__0/train_output/net/trained_network_round_0_gridpoint_0.pt"
    )
    # the same network on the same prior bank: the same truncation
    np.testing.assert_allclose(after["truncated_bounds"], before["truncated_bounds"])
    assert plan(tree) == []  # retrained in this trial already


def test_continue_training_trains_the_loaded_network(finished_one_round, monkeypatch):
    base, first = finished_one_round
    tree = configure_here(
        base, monkeypatch, use_old_sims="1", use_old_net="1", continue_training="1"
    )
    run_rounds(tree)
    training = record(tree)["grid_points"]["0"]["rounds"][0]["training"]
    assert training["epochs"] > 0 and "trial__0" in training["loaded_from"]


def test_use_old_net_refuses_a_network_of_another_shape(
    finished_one_round, tmp_path_factory, monkeypatch
):
    base, first = finished_one_round
    saved = tmp_path_factory.mktemp("saved")
    net = saved / "trained_network_round_0_gridpoint_0.pt"
    for suffix in (".pt", ".json"):
        shutil.copy2(first.network(0, 0).with_suffix(suffix), net.with_suffix(suffix))
    hyperparams = SMALL["hyperparams"].replace("(int) : 16", "(int) : 32")
    tree = configure_here(
        base, monkeypatch, use_old_sims="1", use_old_net=str(net), hyperparams=hyperparams
    )
    simulate_round(tree, 0, 0)
    with pytest.raises(PipelineError, match=r"use_old_net: .* features = 16 there, 32 here"):
        train_round(tree, 0, 0)
    net.with_suffix(".json").unlink()  # without the signature the weights themselves are checked
    with pytest.raises(PipelineError, match="use_old_net: the weights in .* do not fit"):
        train_round(tree, 0, 0)
    net.unlink()
    with pytest.raises(PipelineError, match="use_old_net: .* does not exist"):
        train_round(tree, 0, 0)


def test_simulate_only_fills_the_next_round_and_simulate_0_needs_the_stores(
    finished_one_round, monkeypatch
):
    base, first = finished_one_round
    tree = configure_here(
        base, monkeypatch, n_truncations="1", use_old_truncations="1", train="0", simulate="0"
    )
    assert plan(tree) == []
    tree = configure_here(base, monkeypatch, n_truncations="1", use_old_truncations="1", train="0")
    assert plan(tree) == [(0, 1)]  # with a truncation record: the next round's box
    tree = configure_here(
        base, monkeypatch, n_truncations="1", use_old_truncations="1", simulate="0"
    )
    assert plan(tree) == [(0, 1)]
    with pytest.raises(PipelineError, match="simulate=0 needs every store of round 1 complete"):
        simulate_round(tree, 0, 1)


def test_simulate_and_train_in_separate_runs(tmp_path, monkeypatch, capsys):
    """simulate=1 train=0 fills a round's stores and leaves the trial open; simulate=0 train=1
    (gpus and a partition changed, as on a GPU partition) resumes it and trains on them; the next
    round's stores come from another simulate-only run, with the round-0 box truncated."""
    from alpswyft.report import execute
    from alpswyft.stages.validate import validate

    def rounds_done(tree):
        if not tree.record.exists():
            return []
        return [r["round"] for r in record(tree)["grid_points"].get("0", {}).get("rounds", [])]

    tree = configure_here(tmp_path, monkeypatch, train="0", n_truncations="1")
    assert run_rounds(tree, finish=False) == [(0, 0)]
    validate(tree)
    assert execute(tree) is None and not tree.finished.exists() and not tree.notebook.exists()
    assert "the trial stays open" in capsys.readouterr().out
    assert sorted(p.name for p in tree.stores.glob("store*")) == ["store", "store_prior"]
    assert rounds_done(tree) == [] and not list(tree.nets.glob("*.pt"))

    tree = configure_here(
        tmp_path, monkeypatch, simulate="0", n_truncations="1", partition_train="gpu"
    )
    assert "resuming the unfinished trial 0" in capsys.readouterr().out
    with pytest.raises(
        PipelineError, match="simulate=0 needs every store of round 1 complete.*simulate=1 train=0"
    ):
        run_rounds(tree, finish=False)
    assert rounds_done(tree) == [0] and tree.network(0, 0).is_file()

    tree = configure_here(tmp_path, monkeypatch, train="0", n_truncations="1")
    assert run_rounds(tree, finish=False) == [(0, 1)]
    round_1 = zarr_attrs(tree.stores / "store_round_1_gridpoint_0")
    assert round_1["bounds"] == record(tree)["grid_points"]["0"]["rounds"][0]["truncated_bounds"]
    tree = configure_here(tmp_path, monkeypatch, simulate="0", n_truncations="1")
    assert run_rounds(tree) == [(0, 1)] and rounds_done(tree) == [0, 1]
    assert json.loads(tree.config.read_text())["trial"] == 0


def zarr_attrs(path):
    return json.loads((path / ".zattrs").read_text())


def test_user_architecture_is_copied_and_trained(tmp_path, monkeypatch):
    (tmp_path / "my_head.py").write_text(USER_HEAD)
    tree = configure_here(
        tmp_path,
        monkeypatch,
        architecture="my_head.py",
        hyperparams=SMALL["hyperparams"] + " --width (int) : 8",
    )
    assert tree.architecture.read_text() == USER_HEAD
    provenance = json.loads(tree.config.read_text())
    assert (
        provenance["architecture"]["name"] == "my_head.py"
        and len(provenance["architecture"]["sha256"]) == 64
    )
    (tmp_path / "my_head.py").unlink()  # the run uses its own copy
    run_rounds(tree)
    saved = json.loads(tree.network(0, 0).with_suffix(".json").read_text())["signature"]
    assert saved["architecture"] == "my_head.py" and saved["width"] == 8


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {
                "architecture": "power",
                "hyperparams": SMALL["hyperparams"] + " --data_width (int) : 8 "
                "--data_features (int) : 4 --power_width (int) : 8 --power_features (int) : 2",
            },
            "'power' node",
        ),
        (
            {
                "architecture": "cnn",
                "hyperparams": SMALL["hyperparams"] + " --logratio_features (int) : 8 "
                "--channels (int) : 2 --kernel_size (int) : 4, 80",
            },
            "grid point 1 .* kernel_size = 80",
        ),
    ],
)
def test_networks_that_do_not_fit_stop_the_configuration(tmp_path, monkeypatch, overrides, message):
    with pytest.raises(ConfigError, match=rf"architecture = .*{message}"):
        configure_here(tmp_path, monkeypatch, **overrides)
    assert not (tmp_path / "analysis_results").exists()


def test_a_full_disk_is_refused_before_anything_is_simulated(tmp_path, monkeypatch):
    tree = configure_in_process(
        tmp_path, monkeypatch, toy_variables(n_sim_train="1_000", n_prior_samples="5_000")
    )
    usage = shutil.disk_usage(tree.root)
    monkeypatch.setattr(
        "alpswyft.stores.shutil.disk_usage", lambda _: usage._replace(free=50_000_000)
    )
    with pytest.raises(
        PipelineError,
        match=r"not enough disk space for the stores store, store_prior: they need up to "
        r"0\.[0-9] MB .*keeps 100\.0 MB free for its networks, logs and report, so 100\.[0-9] MB in "
        r"all; .* has 50\.0 MB free",
    ):
        simulate_round(tree, 0, 0)
    assert not any(tree.stores.iterdir())


def test_update_config_0_keeps_the_series_variables_of_the_previous_trial(
    tmp_path, monkeypatch, capsys
):
    tree = configure_in_process(tmp_path, monkeypatch, toy_variables(n_sim_train="1_000"))
    tree.mark_finished()
    changed = toy_variables(
        update_config="0",
        n_sim_train="2_000",
        nbins="40",
        emin="-1.0",
        param1=" [-2, 2] | 0.7 | 0 | 0 | U | a | 1 ",
    )
    tree = configure_in_process(tmp_path, monkeypatch, changed)
    config = RunContext(tree).config
    assert config.nbins == 50 and config.table.initial_bounds[0].tolist() == [-3, 3]  # kept
    assert (
        config.n_sim_train == [2000] and config.update_config is False
    )  # technical: from the script
    out = capsys.readouterr().out
    assert (
        "update_config=0: nbins = '40' in the run script; the previous trial's '50' is kept" in out
    )
    assert "the parameter table of the run script differs" in out
    assert "update_config=0: emin" not in out  # -1.0 in the script equals the kept -1


def _same_arrays(a, b) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_update_physics_0_reuses_the_response_and_the_mock_observation(
    tmp_path, monkeypatch, capsys
):
    from alp_config import alp_variables

    def configure_alp(**overrides):
        variables = alp_variables(
            model="spectral_fit", obs_seed="None", nbins="30", nbins_etrue="60", **overrides
        )
        return configure_in_process(tmp_path, monkeypatch, variables)

    tree = configure_alp()
    first = load_npz(tree.true_obs), load_npz(tree.setup)
    tree.mark_finished()
    capsys.readouterr()

    tree = configure_alp(update_physics="0")  # obs_seed=None: only reuse gives the same observation
    assert (
        "update_physics=0: the response and the mock observation are those of"
        in capsys.readouterr().out
    )
    assert _same_arrays(load_npz(tree.true_obs), first[0]) and _same_arrays(
        load_npz(tree.setup), first[1]
    )
    assert json.loads(tree.config.read_text())["physics_from"].endswith("archive/trial__0")
    assert _same_arrays(
        load_npz(tree.archive / "trial__0" / "true_obs.npz"), first[0]
    )  # the archive keeps its copy
    tree.mark_finished()

    tree = configure_alp(update_physics="0", livetime="20")
    assert (
        "WARNING: update_physics=0: livetime changed since the trial in" in capsys.readouterr().out
    )
    assert not _same_arrays(load_npz(tree.setup), first[1])  # rebuilt for 20 h
    assert json.loads(tree.config.read_text())["physics_from"] is None
    tree.mark_finished()

    tree = configure_alp(update_physics="1", livetime="20")
    assert not _same_arrays(load_npz(tree.true_obs), first[0])  # a fresh observation


def test_a_resumed_trial_keeps_its_mock_observation(tmp_path, monkeypatch, capsys):
    variables = toy_variables(obs_seed="None", **SMALL)
    tree = configure_in_process(tmp_path, monkeypatch, variables)
    observation = load_npz(tree.true_obs)
    tree = configure_in_process(tmp_path, monkeypatch, variables)  # unfinished, same configuration
    assert "resuming the unfinished trial 0" in capsys.readouterr().out
    assert _same_arrays(load_npz(tree.true_obs), observation)


def test_a_read_only_run_folder_is_refused_with_nothing_changed(tmp_path, monkeypatch):
    tree = configure_in_process(tmp_path, monkeypatch, toy_variables(**SMALL))
    tree.mark_finished()
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    with read_only(tree.train_output):
        with pytest.raises(
            PipelineError,
            match=r"train_output is read-only\. Nothing was changed; make it writable",
        ):
            configure_in_process(tmp_path, monkeypatch, toy_variables(**SMALL))
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before


def _swyft_store(path, simulator, n, seed=0):
    """A store as the original pipeline made them: swyft's own ZarrStore, no attributes of ours."""
    import swyft

    shapes = simulator.shapes
    store = swyft.ZarrStore(str(path)).init(n, 100, shapes=shapes, dtypes={k: "f4" for k in shapes})
    samples = simulator.sample(n, simulator.table.initial_bounds, np.random.default_rng(seed))
    for key, values in samples.items():
        store.root[f"data/{key}"][:] = values
    store.root["meta/sim_status"][:] = 1
    return path


def test_a_store_of_the_original_pipeline_is_checked_and_used_read_only(tmp_path, monkeypatch):
    from alpswyft.config import load_run_config
    from alpswyft.simulator import SpectrumSimulator

    config, _ = load_run_config(toy_variables(**SMALL))
    store = _swyft_store(tmp_path / "original_store", SpectrumSimulator(config), 700)
    before = sorted(p.name for p in store.rglob("*"))
    tree = configure_here(tmp_path, monkeypatch, use_old_sims=str(store))
    provenance = json.loads(tree.config.read_text())
    assert provenance["imported_store"] == {
        "path": str(store),
        "n": 700,
        "nodes": {"params": [700, 2], "exp": [700, 50]},
        "verified": False,
    }
    assert any(
        "was not made by this pipeline" in w and "cannot be verified" in w
        for w in provenance["warnings"]
    )
    run_rounds(tree)
    assert record(tree)["grid_points"]["0"]["rounds"][0]["n_sim_train"] == 600
    assert sorted(p.name for p in store.rglob("*")) == before  # read-only: nothing written into it
    other, _ = load_run_config(toy_variables(**SMALL, nbins="40"))
    wrong = _swyft_store(tmp_path / "other_binning", SpectrumSimulator(other), 700)
    with pytest.raises(
        PipelineError,
        match="does not fit this configuration: 'exp' has shape \\(40,\\), this "
        "configuration's is \\(50,\\)",
    ):
        configure_here(tmp_path, monkeypatch, use_old_sims=str(wrong))
    small = _swyft_store(tmp_path / "too_small", SpectrumSimulator(config), 100)
    with pytest.raises(PipelineError, match="it holds 100 samples, round 0 needs 600"):
        configure_here(tmp_path, monkeypatch, use_old_sims=str(small))


def test_a_store_chunk_holding_nan_stops_training_and_the_simulation_repairs_it(
    tmp_path, monkeypatch, capsys
):
    """A chunk that decodes but holds NaN, its status written, in a simulate-only trial. Training
    on it (simulate=0) stops at the first batch naming the nodes, and nothing is trained or
    kept; the same command with simulate=1 finds the chunk, simulates it again and trains."""
    import zarr

    tree = configure_here(tmp_path, monkeypatch, train="0", n_truncations="0")
    run_rounds(tree, finish=False)
    store = zarr.open_group(str(tree.stores / "store"), mode="r+")
    store["data/exp"][10:20] = np.nan
    tree = configure_here(tmp_path, monkeypatch, simulate="0", n_truncations="0")
    with pytest.raises(
        PipelineError, match=r"training stopped: .* the input node\(s\) data, exp hold NaN or inf"
    ):
        run_rounds(tree, finish=False)
    assert not tree.network(0, 0).is_file()
    capsys.readouterr()
    tree = configure_here(tmp_path, monkeypatch, n_truncations="0")
    run_rounds(tree)
    assert "(non-finite values in its exp): it is simulated again" in capsys.readouterr().out
    assert tree.network(0, 0).is_file()
    assert np.isfinite(zarr.open_group(str(tree.stores / "store"))["data/exp"][:]).all()


def test_a_resumed_trials_changed_files_are_rebuilt_or_refused(tmp_path, monkeypatch, capsys):
    """config.json records the digests of true_obs.npz (and the other kept files): on resume, a
    copy truncated by hand is rebuilt when its seed makes it again, and refused, naming the file,
    when it cannot be (obs_seed=None)."""
    (tmp_path / "seeded").mkdir()
    (tmp_path / "unseeded").mkdir()
    tree = configure_here(tmp_path / "seeded", monkeypatch, train="0", obs_seed="3")
    digest = json.loads(tree.config.read_text())["files"]["true_obs.npz"]
    tree.true_obs.write_bytes(tree.true_obs.read_bytes()[:200])
    tree = configure_here(tmp_path / "seeded", monkeypatch, train="0", obs_seed="3")
    assert "true_obs.npz had changed on disk since the trial started: rebuilt as it was" in (
        capsys.readouterr().out
    )
    assert json.loads(tree.config.read_text())["files"]["true_obs.npz"] == digest
    tree = configure_here(tmp_path / "unseeded", monkeypatch, train="0", obs_seed="None")
    observation = load_npz(tree.true_obs)
    observation["data"] = observation["data"] + 1.0
    np.savez(tree.true_obs.with_suffix(".tmp.npz"), **observation)
    tree.true_obs.with_suffix(".tmp.npz").replace(tree.true_obs)
    with pytest.raises(
        PipelineError,
        match=r"true_obs.npz changed on disk since this trial started .* obs_seed=None draws another",
    ):
        configure_here(tmp_path / "unseeded", monkeypatch, train="0", obs_seed="None")
