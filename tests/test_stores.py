"""Stores: swyft layout, seeded chunks, resume, refusal of mismatched or incomplete stores."""

import numpy as np
import pytest
import zarr

import swyft
from alpswyft.config import load_run_config
from alpswyft.simulator import SpectrumSimulator
from alpswyft.stores import StoreRequest, chunk_length, fill_store, read_store, store_name
from analysis_core.errors import PipelineError


@pytest.fixture
def config(variables):
    return load_run_config(variables)[0]


def request_for(path, config, n=2_500, bounds=((-3.0, 3.0), (-3.0, 3.0)), kind="train"):
    return StoreRequest(path, kind, 0, 0, n, bounds, config.sim_seed, config.hash)


def test_names_follow_the_original():
    assert store_name("train", 0, 3) == "store"
    assert store_name("prior", 0, 3) == "store_prior"
    assert store_name("explim", 2, 1) == "store_explim_round_2_gridpoint_1"
    assert store_name("train", 1, 0) == "store_round_1_gridpoint_0"


def test_chunk_rule():
    assert chunk_length(1_010_000, 100) == 632
    assert chunk_length(3000, 2) == 375
    assert chunk_length(10, 100) == 1


def test_filled_store_opens_in_swyft(tmp_path, config):
    simulator = SpectrumSimulator(config)
    fill_store(request_for(tmp_path / "store", config), simulator, n_jobs=2)
    store = swyft.ZarrStore(str(tmp_path / "store"))
    assert len(store) == 2_500 and store.sims_required == 0
    sample = store[10]
    assert set(sample) == {"params", "exp", "data"}
    x = np.linspace(-1, 1, 50)
    np.testing.assert_allclose(
        sample["exp"], sample["params"][0] * x + sample["params"][1], atol=1e-5
    )


def test_killed_fill_resumes_to_the_same_store(tmp_path, config):
    simulator = SpectrumSimulator(config)
    whole = fill_store(request_for(tmp_path / "a", config), simulator, n_jobs=2)
    partial = fill_store(request_for(tmp_path / "b", config), simulator, n_jobs=2)
    # a run killed during simulation: two chunks never got their status written
    partial["meta/sim_status"][0:600] = 0
    partial["data/data"][0:600] = 0
    with pytest.raises(PipelineError, match="600 of 2500 simulations are missing"):
        read_store(tmp_path / "b", ["data"])
    fill_store(request_for(tmp_path / "b", config), simulator, n_jobs=1)
    for key in ("params", "exp", "data"):
        np.testing.assert_array_equal(whole[f"data/{key}"][:], partial[f"data/{key}"][:])


def test_mismatched_store_is_refused(tmp_path, config):
    simulator = SpectrumSimulator(config)
    fill_store(request_for(tmp_path / "s", config), simulator, n_jobs=1)
    with pytest.raises(PipelineError, match=r"n: store has 2500, this run needs 3000"):
        fill_store(request_for(tmp_path / "s", config, n=3000), simulator, n_jobs=1)
    with pytest.raises(PipelineError, match="bounds"):
        fill_store(
            request_for(tmp_path / "s", config, bounds=((-1.0, 1.0), (-3.0, 3.0))),
            simulator,
            n_jobs=1,
        )


def test_prior_store_holds_parameters_in_box(tmp_path, config):
    request = request_for(
        tmp_path / "p", config, n=5_000, bounds=((0.0, 1.0), (-2.0, -1.0)), kind="prior"
    )
    fill_store(request, SpectrumSimulator(config), n_jobs=2)
    params = read_store(tmp_path / "p", ["params"])["params"]
    assert params.shape == (5_000, 2)
    assert params[:, 0].min() >= 0 and params[:, 0].max() <= 1
    assert params[:, 1].min() >= -2 and params[:, 1].max() <= -1
    assert set(zarr.open_group(str(tmp_path / "p"))["data"].array_keys()) == {"params"}


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_a_damaged_chunk_is_found_and_simulated_again(tmp_path, config, damage, capsys):
    simulator = SpectrumSimulator(config)
    whole = fill_store(request_for(tmp_path / "a", config), simulator, n_jobs=2)
    fill_store(request_for(tmp_path / "b", config), simulator, n_jobs=2)
    chunk_file = tmp_path / "b" / "data" / "exp" / "1.0"
    if damage == "truncated":
        chunk_file.write_bytes(chunk_file.read_bytes()[:100])
        with pytest.raises(
            PipelineError, match="has a damaged chunk .* Run the same command again"
        ):
            read_store(tmp_path / "b", ["exp"])
    else:
        chunk_file.unlink()  # zarr alone would read zeros here
    repaired = fill_store(request_for(tmp_path / "b", config), simulator, n_jobs=1)
    assert "chunk 1 (samples 313..625) is damaged" in capsys.readouterr().out
    for key in ("params", "exp", "data"):
        np.testing.assert_array_equal(whole[f"data/{key}"][:], repaired[f"data/{key}"][:])


def test_a_chunk_with_nan_written_since_is_simulated_again(tmp_path, config, capsys):
    """A chunk that decodes but holds NaN, its status written (a bad disk or copy): chunks are
    finite when written, so it was damaged since, and it is simulated again."""
    simulator = SpectrumSimulator(config)
    whole = fill_store(request_for(tmp_path / "a", config), simulator, n_jobs=2)
    damaged = fill_store(request_for(tmp_path / "b", config), simulator, n_jobs=2)
    damaged["data/exp"][400:410] = np.nan
    assert int(damaged["meta/sim_status"][:].sum()) == 2_500
    repaired = fill_store(request_for(tmp_path / "b", config), simulator, n_jobs=1)
    assert (
        "chunk 1 (samples 313..625) is damaged (non-finite values in its exp)"
        in capsys.readouterr().out
    )
    for key in ("params", "exp", "data"):
        np.testing.assert_array_equal(whole[f"data/{key}"][:], repaired[f"data/{key}"][:])


class Failing(SpectrumSimulator):
    """A model that fails (NaN) where a > ``edge``: above 2.5, a twelfth of the box [-3, 3]."""

    edge = 2.5

    def sample(self, n, bounds, rng):
        samples = super().sample(n, bounds, rng)
        samples["exp"][samples["params"][:, 0] > self.edge] = np.nan
        return samples


def test_a_simulator_that_returns_nan_stops_with_one_line_and_writes_nothing(tmp_path, config):
    """Non-finite output of the simulator itself recurs for the same seed: the fill stops, naming
    the store, the node, how many samples and the first parameter vectors in the table's units."""
    with pytest.raises(PipelineError) as raised:
        fill_store(request_for(tmp_path / "s", config), Failing(config), n_jobs=1)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("s: the simulator returned non-finite exp for ")
    assert (
        "a=2." in message and "in the table's units" in message and "nothing is written" in message
    )
    assert "non_finite_sims=redraw draws such samples again" in message
    assert int(zarr.open_group(str(tmp_path / "s"))["meta/sim_status"][:].sum()) < 2_500


def test_non_finite_sims_redraw_draws_the_failing_samples_again_and_records_them(
    tmp_path, config, capsys
):
    """``non_finite_sims=redraw``: the failing samples are drawn again from the box (reproducibly),
    their count recorded per sample in ``meta/redrawn`` and said in one line; a model that fails
    everywhere still stops."""
    from dataclasses import replace

    redraw = replace(request_for(tmp_path / "r", config), non_finite="redraw")
    root = fill_store(redraw, Failing(config), n_jobs=2)
    params = root["data/params"][:]
    assert np.isfinite(root["data/exp"][:]).all() and params[:, 0].max() <= 2.5
    count = int(np.count_nonzero(root["meta/redrawn"][:]))
    assert 150 < count < 270  # a twelfth of 2500 is 208
    assert f"r: {count} of 2500 samples were drawn again" in capsys.readouterr().out
    again = fill_store(replace(redraw, path=tmp_path / "r2"), Failing(config), n_jobs=2)
    np.testing.assert_array_equal(again["data/params"][:], params)
    everywhere = Failing(config)
    everywhere.edge = -10.0
    with pytest.raises(
        PipelineError, match=r"even after 10 draws again \(non_finite_sims=redraw\)"
    ):
        fill_store(replace(redraw, path=tmp_path / "f"), everywhere, n_jobs=1)


def test_a_foreign_store_with_nan_is_refused(tmp_path, config):
    from alpswyft.stores import check_foreign_store

    simulator = SpectrumSimulator(config)
    fill_store(request_for(tmp_path / "f", config), simulator, n_jobs=2)
    root = zarr.open_group(str(tmp_path / "f"))
    root["data/exp"][17] = np.inf
    with pytest.raises(
        PipelineError, match=r"its 'exp' holds NaN or inf in 1 samples \(the first at row 17\)"
    ):
        check_foreign_store(tmp_path / "f", 2_500, simulator.shapes)
