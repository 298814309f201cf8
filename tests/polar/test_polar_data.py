"""The synthetic rate file and the reader: structure, behaviour, schema errors, split and masks."""

import numpy as np
import pytest

from analysis_core.errors import ConfigErrors, PipelineError
from polar import config as polar_config
from polar import data as polar_data
from polar import synthetic
from polar.export import write_trees


@pytest.fixture(scope="module")
def synthetic_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("polar") / "nf1rate.root"
    events = synthetic.generate(path, "2017-01-05T00:00:00", 1.0, 3, 10, 3, polar_config.GRB_LIST)
    return path, events


def test_structure_of_the_synthetic_file(synthetic_file):
    path, events = synthetic_file
    columns = polar_data.read_columns(path, "nf1rate")  # the tree is named after the stem
    assert set(columns) == set(polar_data.SCHEMA)
    rate, err = columns["rate"], columns["rate_err"]
    assert rate.shape[1] == 13 and rate.dtype == np.float32
    np.testing.assert_allclose(err, np.sqrt(np.maximum(rate, 1)), rtol=1e-6)  # Poisson, 1 s bins
    assert [e.name for e in events if e.kind == "known_grb"] == ["GRB_170105A"]
    assert {e.kind for e in events} == {"known_grb", "grb", "flare"}
    assert synthetic.read_truth(synthetic.truth_path(path))[0].name == events[0].name


def test_the_channels_are_nested_event_selections(synthetic_file):
    """Every count of a selection is in the selections that contain it, row by row: single bar
    above a threshold in single bar above a lower one and in any bar above it; any bar in any;
    more than 8 bars and no post-cosmics in any."""
    path, events = synthetic_file
    columns = polar_data.read_columns(path, "nf1rate")
    rate = columns["rate"]
    contained = [(j + 1, j) for j in range(4)] + [(5 + j + 1, 5 + j) for j in range(4)]
    contained += [(j, 5 + j) for j in range(5)] + [(5, 10), (11, 10), (12, 10)]
    for inner, outer in contained:
        assert (rate[:, inner] <= rate[:, outer]).all(), (inner, outer)
    assert (rate[:, 1] < rate[:, 0]).mean() > 0.99  # strictly fewer, not equal: a real cut
    assert np.corrcoef(rate[:, 0], rate[:, 5])[0, 1] > 0.9  # nested channels are correlated
    # a hard transient shows in the high-threshold channels: a larger share of any bar > 70 keV
    # in any bar > 15 keV than the background has
    t = columns["unix_time"]
    grb = max(
        (e for e in events if e.kind != "flare" and e.observable), key=lambda e: e.peak_significance
    )
    peak = np.argmin(np.abs(t - grb.t_peak))
    quiet = slice(peak - 400, peak - 200)
    excess = rate[peak - 1 : peak + 3].sum(axis=0) - 4 * rate[quiet].mean(axis=0)
    assert excess[9] / excess[5] > 1.5 * rate[quiet, 9].mean() / rate[quiet, 5].mean()
    # channel 11 (more than 8 bars: charged particles) follows the geomagnetic cut-off more steeply
    high, low = (
        columns["fe_cosmic"] > np.quantile(columns["fe_cosmic"], 0.8),
        columns["fe_cosmic"] < np.quantile(columns["fe_cosmic"], 0.2),
    )
    modulation = rate[high].mean(axis=0) / rate[low].mean(axis=0)
    assert modulation[11] > 1.5 * modulation[10]


def test_orbit_saa_and_geomagnetic_behaviour(synthetic_file):
    columns = polar_data.read_columns(synthetic_file[0], "nf1rate")
    t, since = columns["unix_time"], columns["time_since_saa"]
    gaps = np.flatnonzero(np.diff(t) > 1.5)
    assert len(gaps) >= 2  # SAA passages: the instrument is off, no rows
    assert (since[gaps + 1] < 2).all()  # the clock restarts after each passage
    assert np.abs(columns["glat"]).max() == pytest.approx(42.8, abs=0.1)
    assert (synthetic.saa_distance(columns["glat"], columns["glon"]) >= 1).all()
    rate = columns["rate"][:, 0]
    high = np.abs(columns["B_r"]) > np.quantile(
        np.abs(columns["B_r"]), 0.8
    )  # high magnetic latitude
    low = np.abs(columns["B_r"]) < np.quantile(np.abs(columns["B_r"]), 0.2)
    assert (
        rate[high].mean() > 1.2 * rate[low].mean()
    )  # the geomagnetic cut-off modulates the background


def _rewrite(source, target, change):
    columns = polar_data.read_columns(source, "nf1rate")
    change(columns)
    write_trees(target, {"nf1rate": columns})
    return target


def test_missing_branch_and_wrong_dtype_are_named(synthetic_file, tmp_path):
    missing = _rewrite(synthetic_file[0], tmp_path / "nf1rate.root", lambda c: c.pop("fe_cosmic"))
    with pytest.raises(PipelineError, match="lacks the branch\\(es\\) fe_cosmic"):
        polar_data.read_columns(missing, "nf1rate")
    wrong = _rewrite(
        synthetic_file[0],
        tmp_path / "nf1rate.root",
        lambda c: c.update(glat=np.round(c["glat"]).astype(np.int32)),
    )
    with pytest.raises(PipelineError, match="branch 'glat' has dtype int32 .*expected floating"):
        polar_data.read_columns(wrong, "nf1rate")
    narrow = _rewrite(
        synthetic_file[0],
        tmp_path / "nf1rate.root",
        lambda c: c.update(rate=c["rate"][:, :12].copy()),
    )
    with pytest.raises(
        PipelineError, match="branch 'rate' .*expected floating with 13 entries per row"
    ):
        polar_data.read_columns(narrow, "nf1rate")
    with pytest.raises(PipelineError, match="has no TTree 'other'"):
        polar_data.read_columns(synthetic_file[0], "other")
    with pytest.raises(PipelineError, match="no such file"):
        polar_data.read_columns(tmp_path / "none.root", "nf1rate")
    (tmp_path / "text.root").write_text("not root")
    with pytest.raises(PipelineError, match="not a readable ROOT file"):
        polar_data.read_columns(tmp_path / "text.root", "nf1rate")


def test_load_applies_derived_columns_filters_masks_and_the_periodic_split(synthetic_file):
    config = polar_config.load(overrides=["data.filters=['rate[0]/rate_err[0] > 20', 'orbit > 0']"])
    grbs = polar_data.read_grbs(config.data.grb_path)
    dataset = polar_data.load(synthetic_file[0], config.data, config.split, grbs)
    assert (dataset.columns["orbit"] > 0).all() and dataset.features.shape[1] == len(
        config.data.features
    )
    masked_times = dataset.unix_time[dataset.grb_masked]
    assert 150 < len(masked_times) <= 201 and np.ptp(masked_times) <= 200  # GRB 170105A +- 100 s
    block = np.arange(len(dataset.part)) // 256
    assert (dataset.part[block % 10 == 8] == "val").all() and (
        dataset.part[block % 10 == 9] == "test"
    ).all()
    assert (dataset.part[block % 10 < 8] == "train").all()


def test_every_branch_of_the_file_is_usable_and_vectors_read_as_name_i(synthetic_file, tmp_path):
    """Features, derived columns and filters may name any branch of the file, not only those the
    analysis needs, and entries of vector branches; a branch the file lacks is named with the
    file's branches."""

    def add(columns):
        columns["hv_status"] = np.ones(len(columns["unix_time"]), dtype=np.float32)
        columns["bar_rate"] = np.stack([columns["rate"][:, 0], 2 * columns["rate"][:, 5]], axis=1)

    path = _rewrite(synthetic_file[0], tmp_path / "nf1rate.root", add)
    config = polar_config.load(
        overrides=[
            "data.features=[glat, 'rate[5]', 'bar_rate[1]', 'sqrt(rate_err[10])']",
            "data.filters=['hv_status > 0.5']",
        ]
    )
    dataset = polar_data.load(path, config.data, config.split, [])
    columns = dataset.columns
    np.testing.assert_allclose(dataset.features[:, 1], columns["rate"][:, 5])
    np.testing.assert_allclose(dataset.features[:, 2], 2 * columns["rate"][:, 5])
    np.testing.assert_allclose(
        dataset.features[:, 3], np.sqrt(columns["rate_err"][:, 10]), rtol=1e-6
    )
    missing = polar_config.load(overrides=["data.features=[glat, 'no_such[0]']"])
    with pytest.raises(PipelineError, match="has no branch no_such .*its branches: .*bar_rate"):
        polar_data.load(path, missing.data, missing.split, [])


def test_the_real_files_extra_branches_are_left_alone_unless_named(synthetic_file, tmp_path):
    """The real nf1rate.root also has ``corrected`` and ``correrr`` (13 per row, the rates
    corrected for dead time, and their errors) and ``config`` (an integer per row): unread when
    no setting names them, usable in features, filters and targets when one does."""

    def add(columns):
        columns["corrected"] = (1.05 * columns["rate"]).astype(np.float32)
        columns["correrr"] = (1.05 * columns["rate_err"]).astype(np.float32)
        columns["config"] = np.where(np.arange(len(columns["unix_time"])) % 7 == 0, 2, 1).astype(
            np.int32
        )

    path = _rewrite(synthetic_file[0], tmp_path / "nf1rate.root", add)
    config = polar_config.load()
    plain = polar_data.load(path, config.data, config.split, [])
    assert not {"corrected", "correrr", "config"} & set(plain.columns)
    named = polar_config.load(
        overrides=[
            "data.features=[glat, 'corrected[5] / correrr[5]']",
            "data.filters=['config == 1']",
            "data.targets=[0, 'corrected[0]']",
        ]
    )
    dataset = polar_data.load(path, named.data, named.split, [])
    columns = dataset.columns
    assert (columns["config"] == 1).all() and len(dataset.part) < len(plain.part)
    np.testing.assert_allclose(
        dataset.features[:, 1], columns["rate"][:, 5] / columns["rate_err"][:, 5], rtol=1e-5
    )
    np.testing.assert_allclose(dataset.rate[:, 1], 1.05 * columns["rate"][:, 0], rtol=1e-5)


def test_a_target_may_be_an_expression_whose_residual_is_searched(synthetic_file, tmp_path):
    """A channel's target carries its rate_err (pulls); an expression's carries 1 (residuals),
    and the expression may name any branch of the file."""

    def add(columns):
        columns["bar_rate"] = np.stack([columns["rate"][:, 0], 2 * columns["rate"][:, 5]], axis=1)

    path = _rewrite(synthetic_file[0], tmp_path / "nf1rate.root", add)
    config = polar_config.load(
        overrides=["data.targets=[5, 'rate[0]/rate_err[0]', 'bar_rate[1] - rate[5]']"]
    )
    assert config.data.target_names == ["5", "t1", "t2"]
    dataset = polar_data.load(path, config.data, config.split, [])
    columns = dataset.columns
    np.testing.assert_allclose(dataset.rate[:, 0], columns["rate"][:, 5])
    np.testing.assert_allclose(dataset.rate_err[:, 0], columns["rate_err"][:, 5])
    np.testing.assert_allclose(
        dataset.rate[:, 1], columns["rate"][:, 0] / columns["rate_err"][:, 0], rtol=1e-6
    )
    np.testing.assert_allclose(dataset.rate[:, 2], columns["rate"][:, 5], rtol=1e-6)
    assert (dataset.rate_err[:, 1:] == 1).all() and (dataset.weights[:, 1:] == 1).all()


def test_the_original_periodic_split_and_the_random_split():
    """periodic: in every 256 rows the first 250 train, 2 validation, 2 test and 2 unused; random:
    the fractions, seeded."""
    periodic = polar_config.load(overrides=["split.mode=periodic"]).split
    parts = polar_data.split_rows(1024 + 10, periodic)
    first = parts[:256]
    assert (
        (first[:250] == "train").all()
        and (first[250:252] == "val").all()
        and (first[252:254] == "test").all()
    )
    assert (
        (first[254:] == "none").all()
        and (parts[256:512] == first).all()
        and (parts[1024:] == "train").all()
    )
    random = polar_config.load(
        overrides=["split.mode=random", "split.fractions=[0.8,0.1,0.1]", "split.seed=3"]
    ).split
    parts = polar_data.split_rows(100_000, random)
    assert abs((parts == "val").mean() - 0.1) < 0.01 and not (parts == "none").any()
    assert (polar_data.split_rows(100_000, random) == parts).all()
    with pytest.raises(ConfigErrors, match="period 10 is too short"):
        polar_config.load(overrides=["split.mode=periodic", "split.period=10"])


def test_only_the_grbs_of_the_mask_range_are_masked():
    grbs = polar_data.read_grbs(polar_config.GRB_LIST)
    chosen = polar_data.masked_grbs(grbs, ["GRB_170105A", "GRB_170317A"])
    assert len(chosen) == 25 and chosen[0][0] == "GRB_170105A" and chosen[-1][0] == "GRB_170317A"
    assert polar_data.masked_grbs(grbs, []) == grbs
    with pytest.raises(PipelineError, match="GRB_000000 is not in the GRB list"):
        polar_data.masked_grbs(grbs, ["GRB_000000", "GRB_170317A"])
