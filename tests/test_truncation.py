"""Rectangular truncation bounds, posterior summaries and the truncation record."""

import numpy as np
import pytest

from alpswyft.truncation import TruncationRecord, rect_bounds, summarise_1d, weighted_quantiles


def test_rect_bounds_of_a_gaussian_log_ratio():
    # log r = -(x - mu)^2 / (2 s^2): the 1e-6 region is |x - mu| < s sqrt(2 ln 1e6)
    x = np.linspace(-10, 10, 200_001)[:, None]
    mu, s = 1.5, 0.7
    bounds = rect_bounds(-((x - mu) ** 2) / (2 * s**2), x)
    half = s * np.sqrt(2 * np.log(1e6))
    np.testing.assert_allclose(bounds[0], [mu - half, mu + half], atol=1e-3)


def test_summary_of_weighted_samples_matches_gaussian():
    rng = np.random.default_rng(0)
    x = rng.uniform(-5, 5, size=(400_000, 1))
    summary = summarise_1d(-((x - 0.5) ** 2) / (2 * 0.3**2), x, ["a"])["a"]
    assert summary["mean"] == pytest.approx(0.5, abs=0.01)
    assert summary["std"] == pytest.approx(0.3, rel=0.02)
    assert summary["quantiles"]["16%"] == pytest.approx(0.2, abs=0.01)


def test_weighted_quantiles_unweighted_median():
    assert weighted_quantiles(np.arange(101.0), np.ones(101), 0.5) == pytest.approx(50, abs=0.6)


def test_record_round_trip(tmp_path):
    path = tmp_path / "truncation_record.json"
    record = TruncationRecord(path, np.array([[-3, 3], [-3, 3]]), ["a", "b"], [0, 1])
    assert not record.is_done(0, 0)
    np.testing.assert_array_equal(record.bounds(0, 0), [[-3, 3], [-3, 3]])
    with pytest.raises(RuntimeError):
        record.bounds(0, 1)
    record.set_round(0, 0, {"status": "done", "truncated_bounds": [[-1, 2], [-3, 3]]}, {"lr": 1})
    again = TruncationRecord(path, np.zeros((2, 2)), ["a", "b"], [0, 1])
    assert again.is_done(0, 0) and not again.is_done(1, 0)
    np.testing.assert_array_equal(again.bounds(0, 1), [[-1, 2], [-3, 3]])
    with pytest.raises(RuntimeError):
        again.set_round(0, 2, {}, {})


def test_a_round_result_saves_the_posterior_file_and_reads_as_it(tmp_path):
    """A round's binned posterior with 1D marginals only is saved as posterior_round_<r>_gridpoint_<g>.npz
    without the 2D keys, and loads back with them None."""
    from alpswyft.results import RunTree
    from alpswyft.truncation import RoundResult

    tree = RunTree(tmp_path)
    result = RoundResult(
        box=np.array([[0.0, 1.0], [-1.0, 1.0]]),
        poi_names=("a", "b"),
        truth=np.array([0.5, 0.0]),
        density_1d=np.ones((2, 10)),
        edges_1d=np.tile(np.linspace(0, 1, 11), (2, 1)),
    )
    result.save(tree, 1, 0)
    assert set(np.load(tree.posterior(1, 0))) == {
        "box",
        "poi_names",
        "truth",
        "density_1d",
        "edges_1d",
    }
    again = RoundResult.load(tree, 1, 0)
    assert again.poi_names == ("a", "b") and again.density_2d is None and "density_2d" not in again
    assert np.array_equal(again["edges_1d"], result.edges_1d)
    assert RoundResult.load(tree, 2, 0) is None
