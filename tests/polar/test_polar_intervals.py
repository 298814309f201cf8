"""Pulls, the Gaussian core, clusters and intersections on data with a known answer."""

import numpy as np
import pytest

from polar import intervals


def test_core_fit_recovers_a_gaussian_despite_a_tail():
    rng = np.random.default_rng(0)
    pull = np.concatenate(
        [rng.normal(0.2, 1.3, 200_000), rng.uniform(5, 40, 2_000)]
    )  # 1 % transients
    core = intervals.fit_core(pull)
    assert core.mu == pytest.approx(0.2, abs=0.01) and core.sigma == pytest.approx(1.3, rel=0.01)


def test_runs_split_at_gaps():
    mask = np.array([0, 1, 1, 1, 0, 1, 1, 0], dtype=bool)
    breaks = np.zeros(7, dtype=bool)
    breaks[1] = True  # a gap between rows 1 and 2
    assert intervals.runs(mask, breaks) == [(1, 1), (2, 3), (5, 6)]


def _noise_with_events(n_channels=5, seed=1):
    rng = np.random.default_rng(seed)
    t = np.arange(20_000, dtype=float)
    t[10_000:] += 600  # an SAA gap
    pull = rng.standard_normal((len(t), n_channels))
    pull[5000:5010, :3] += 12  # 10 bins in 3 channels
    pull[9998:10003, 1:] += 12  # across the gap: two intervals
    pull[15000:15020, 4] -= 12  # a dip in one channel only
    return t, pull


def test_intersections_find_the_injected_events_with_their_channels():
    t, pull = _noise_with_events()
    cores = [intervals.fit_core(pull[:, c]) for c in range(pull.shape[1])]
    channels = ["0", "3", "5", "7", "9"]
    rate = 100 + pull
    clusters, found, _ = intervals.find(
        t, pull, cores, channels, k=5, min_channels=2, max_gap_s=1.5, rate=rate
    )
    positive = [(i.t_start, i.t_stop, i.n_channels, i.channels) for i in found if i.sign > 0]
    assert positive == [
        (5000.0, 5009.0, 3, ["0", "3", "5"]),
        (9998.0, 9999.0, 4, ["3", "5", "7", "9"]),
        (10600.0, 10602.0, 4, ["3", "5", "7", "9"]),
    ]
    assert not [i for i in found if i.sign < 0]  # one channel is not an intersection
    dip = [c for c in clusters if c.sign < 0 and c.k == 5]
    assert [(c.channel, c.t_start, c.n_bins) for c in dip] == [("9", 15600.0, 20)]
    assert dip[0].significance == pytest.approx(20 * 12, rel=0.1) and dip[0].length_s == 19
    assert dip[0].integral == pytest.approx(
        rate[15000:15020, 4].sum()
    )  # Hz summed, as the original
    intervals.match(found, [("GRB_X", 5003.0, 5003.0)], tolerance_s=5)
    assert [i.match for i in found] == ["GRB_X", "", ""]


def test_pure_noise_gives_no_intersection_at_5_sigma():
    rng = np.random.default_rng(2)
    t = np.arange(200_000, dtype=float)
    pull = rng.standard_normal((len(t), 13))
    cores = [intervals.fit_core(pull[:, c]) for c in range(13)]
    assert all(c.sigma == pytest.approx(1, abs=0.02) for c in cores)
    _, found, combinations = intervals.find(
        t, pull, cores, list(range(13)), k=5, min_channels=2, max_gap_s=1.5
    )
    assert found == []


def test_the_gap_veto_drops_clusters_next_to_a_gap_before_the_intersections():
    """discard_w: the interval that ends 2 s before the SAA gap and the one that starts 3 s after
    it are dropped with their clusters, the one 5000 s from any gap is kept; so is everything at
    discard_w = 0. A cluster at the file's first rows is dropped too."""
    t, pull = _noise_with_events()
    pull[2:6, :3] += 12
    cores = [intervals.fit_core(pull[:, c]) for c in range(pull.shape[1])]
    channels = [0, 3, 5, 7, 9]
    kept = intervals.find(t, pull, cores, channels, k=5, min_channels=2, max_gap_s=1.5)
    vetoed = intervals.find(
        t, pull, cores, channels, k=5, min_channels=2, max_gap_s=1.5, discard_w=30
    )
    assert [i.t_start for i in kept[1] if i.sign > 0] == [2.0, 5000.0, 9998.0, 10600.0]
    assert [i.t_start for i in vetoed[1] if i.sign > 0] == [5000.0]
    assert {c.t_start for c in vetoed[0] if c.sign > 0} == {5000.0}
    assert [c.t_start for c in vetoed[0] if c.sign < 0] == [15600.0]  # the dip, far from the gap
    gap = np.diff(t) > 1.5
    near = intervals.near_gap(
        t,
        gap,
        np.array([9000.0, 9960.0, 10630.0, 10631.0]),
        np.array([9001.0, 9968.0, 10640.0, 10640.0]),
        30,
    )
    assert near.tolist() == [
        False,
        False,
        True,
        False,
    ]  # 9968 + 30 < 9999, the last row before the gap; 10630 - 30 = 10600, the first after it


def test_the_original_width_is_the_3_sigma_clipped_standard_deviation():
    """Iterative 3 sigma clipping about the mean: the core's width despite a tail of transients;
    the width of a unit Gaussian clipped at 3 sigma is 0.9866 of its own."""
    rng = np.random.default_rng(4)
    pull = np.concatenate([rng.normal(0.0, 1.0, 400_000), rng.uniform(5, 40, 4_000)])
    core = intervals.clipped_std(pull)
    assert core.sigma == pytest.approx(0.9866, abs=0.005) and abs(core.mu) < 0.01
    assert np.std(pull) > 1.5  # without clipping the tail inflates it


def _find_moments(x, n_sigma=3.0):
    """The original's rule, written out: mean and standard deviation, then drop what lies beyond
    n_sigma of the mean, until nothing more is dropped."""
    while True:
        mean, std = x.mean(), x.std()
        kept = x[np.abs(x - mean) < n_sigma * std]
        if len(kept) == len(x):
            return mean, std
        x = kept


def test_the_clipped_width_is_the_originals_find_moments_on_pulls_with_a_mean():
    """Pulls with a mean of -0.5 (the preset's kept-last model): clipped about the mean as the
    original does, not about 0, which would come out narrower."""
    rng = np.random.default_rng(5)
    pull = np.concatenate([rng.normal(-0.5, 1.1, 50_000), rng.uniform(-30, -6, 300)])
    core = intervals.clipped_std(pull)
    mean, std = _find_moments(pull)
    assert core.mu == pytest.approx(mean, rel=1e-12) and core.sigma == pytest.approx(std, rel=1e-12)
    about_zero = pull
    for _ in range(100):
        about_zero = pull[np.abs(pull) < 3 * np.std(about_zero)]
    assert np.std(about_zero) < 0.99 * core.sigma


def _vetoed_as_the_original(unix_time, max_gap_s, starts, stops, w):
    """The original's gap veto, written out: a cluster goes when a gap inside the data (two rows
    more than max_gap_s apart) ends less than w before its start or begins less than w after its
    end, or lies within it; the data's first and last rows are no gaps."""
    gaps = [
        (unix_time[i], unix_time[i + 1])
        for i in range(len(unix_time) - 1)
        if unix_time[i + 1] - unix_time[i] > max_gap_s
    ]
    return [
        any(gap_end > start - w and gap_start < stop + w for gap_start, gap_end in gaps)
        for start, stop in zip(starts, stops)
    ]


def test_the_original_gap_veto_keeps_the_edges_and_exact_distances():
    t = np.arange(1000, dtype=float)
    t[500:] += 300  # a gap from 499 to 800
    breaks = np.diff(t) > 1.5
    starts = np.array([5.0, 460.0, 469.0, 830.0, 831.0, 1270.0, 600.0 + 300])
    stops = np.array([9.0, 468.0, 470.0, 840.0, 840.0, 1290.0, 610.0 + 300])
    # 5: 5 s after the first row; 468 + 30 < 499 and 470 + 30 > 499; 830 - 30 = 800 exactly,
    # 831 - 30 > 800; 1290: 9 s before the last row; 900: far from everything
    original = intervals.near_gap(t, breaks, starts, stops, 30, rule="original")
    assert original.tolist() == _vetoed_as_the_original(t, 1.5, starts, stops, 30)
    assert original.tolist() == [False, False, True, False, False, False, False]
    inclusive = intervals.near_gap(t, breaks, starts, stops, 30)
    assert inclusive.tolist() == [True, False, True, True, False, True, False]


def test_every_exact_combination_and_more_than_i_level_spans_only_its_rows():
    """Rows flagged in channels {}, {0}, {0,1}, {0,1} | gap | {0,1,5}, {1}, {}, {5}: an interval
    per exact set and per "more than i" level, cut at the gap and where the condition stops."""
    t = np.arange(8, dtype=float)
    t[4:] += 100
    sets = [(), (0,), (0, 1), (0, 1), (0, 1, 2), (1,), (), (2,)]
    flagged = np.array([[c in s for c in range(3)] for s in sets])
    found = intervals.combination_intervals(t, flagged, np.diff(t) > 1.5, [0, 1, 5], sign=1, k=5)
    spans = {}
    for interval in found:
        spans.setdefault(interval.combination, []).append((interval.t_start, interval.t_stop))
    assert spans == {
        "0": [(1, 1)],
        "0_1": [(2, 3)],
        "0_1_5": [(104, 104)],
        "1": [(105, 105)],
        "5": [(107, 107)],
        "#_inter_more_0": [(1, 3), (104, 105), (107, 107)],
        "#_inter_more_1": [(2, 3), (104, 104)],
        "#_inter_more_2": [(104, 104)],
    }
    counts = intervals.combination_counts(
        found + intervals.combination_intervals(t, flagged, np.diff(t) > 1.5, [0, 1, 5], -1, 5)
    )
    assert list(counts)[:5] == [
        "0",
        "0_1",
        "0_1_5",
        "1",
        "5",
    ]  # the exact sets first, then the levels
    assert counts["#_inter_more_0"] == {"positive": 3, "negative": 3}
