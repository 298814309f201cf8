"""The synthetic rate file and the reader: structure, behaviour, schema errors, split and masks."""

import numpy as np
import pytest

from alpswyft.errors import PipelineError
from alpswyft.polar import config as polar_config
from alpswyft.polar import data as polar_data
from alpswyft.polar import synthetic
from alpswyft.polar.export import write_trees


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
    np.testing.assert_array_equal(rate[:, 0], rate[:, 1:].sum(axis=1))  # channel 0 counts every band
    np.testing.assert_allclose(err, np.sqrt(np.maximum(rate, 1)), rtol=1e-6)  # Poisson, 1 s bins
    assert (rate[:, 1:].mean(axis=0)[:-1] > rate[:, 1:].mean(axis=0)[1:]).all()  # bands fall with energy
    assert [e.name for e in events if e.kind == "known_grb"] == ["GRB_170105A"]
    assert {e.kind for e in events} == {"known_grb", "grb", "flare"}
    assert synthetic.read_truth(synthetic.truth_path(path))[0].name == events[0].name


def test_orbit_saa_and_geomagnetic_behaviour(synthetic_file):
    columns = polar_data.read_columns(synthetic_file[0], "nf1rate")
    t, since = columns["unix_time"], columns["time_since_saa"]
    gaps = np.flatnonzero(np.diff(t) > 1.5)
    assert len(gaps) >= 2  # SAA passages: the instrument is off, no rows
    assert (since[gaps + 1] < 2).all()  # the clock restarts after each passage
    assert np.abs(columns["glat"]).max() == pytest.approx(42.8, abs=0.1)
    assert (synthetic.saa_distance(columns["glat"], columns["glon"]) >= 1).all()
    rate = columns["rate"][:, 0]
    high = np.abs(columns["B_r"]) > np.quantile(np.abs(columns["B_r"]), 0.8)  # high magnetic latitude
    low = np.abs(columns["B_r"]) < np.quantile(np.abs(columns["B_r"]), 0.2)
    assert rate[high].mean() > 1.2 * rate[low].mean()  # the geomagnetic cut-off modulates the background


def _rewrite(source, target, change):
    columns = polar_data.read_columns(source, "nf1rate")
    change(columns)
    write_trees(target, {"nf1rate": columns})
    return target


def test_missing_branch_and_wrong_dtype_are_named(synthetic_file, tmp_path):
    missing = _rewrite(synthetic_file[0], tmp_path / "nf1rate.root", lambda c: c.pop("fe_cosmic"))
    with pytest.raises(PipelineError, match="lacks the branch\\(es\\) fe_cosmic"):
        polar_data.read_columns(missing, "nf1rate")
    wrong = _rewrite(synthetic_file[0], tmp_path / "nf1rate.root",
                     lambda c: c.update(glat=np.round(c["glat"]).astype(np.int32)))
    with pytest.raises(PipelineError, match="branch 'glat' has dtype int32 .*expected floating"):
        polar_data.read_columns(wrong, "nf1rate")
    narrow = _rewrite(synthetic_file[0], tmp_path / "nf1rate.root", lambda c: c.update(rate=c["rate"][:, :12].copy()))
    with pytest.raises(PipelineError, match="branch 'rate' .*expected floating with 13 entries per row"):
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
    assert (dataset.columns["orbit"] > 0).all() and dataset.features.shape[1] == len(config.data.features)
    masked_times = dataset.unix_time[dataset.grb_masked]
    assert 150 < len(masked_times) <= 201 and np.ptp(masked_times) <= 200  # GRB 170105A +- 100 s
    block = np.arange(len(dataset.part)) // 256
    assert (dataset.part[block % 10 == 8] == "val").all() and (dataset.part[block % 10 == 9] == "test").all()
    assert (dataset.part[block % 10 < 8] == "train").all()
