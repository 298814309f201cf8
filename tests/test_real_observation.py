"""DL3 runs to ON/OFF spectra, on the real MAGIC run of NGC 1275 in ../shared (skipped without it)."""

import numpy as np
import pytest
from alpswyft.observation import on_off_spectrum, read_run
from analysis_core.errors import PipelineError
from conftest import SHARED

MAGIC_RUN = SHARED / "data" / "irfs" / "magicDL3_05059487.fits.gz"
NGC1275 = (49.9507, 41.5117)  # deg, ICRS
EDGES = np.geomspace(0.08, 10.0, 9)  # TeV
pytestmark = pytest.mark.skipif(not MAGIC_RUN.exists(), reason="the MAGIC run in ../shared is not present")


@pytest.fixture(scope="module", params=[None, 0.1414], ids=["rad_max", "theta2_cut"])
def spectrum(request):
    """With the file's RAD_MAX (0.02), and with MAGIC's theta^2 < 0.02 deg^2 cut as the radius."""
    return on_off_spectrum([MAGIC_RUN], *NGC1275, EDGES, n_off=3, on_radius_deg=request.param)


def _within(events, centre, radius_deg):
    from astropy.coordinates import SkyCoord

    return events.radec.separation(SkyCoord(*centre, unit="deg")).deg < radius_deg


def test_on_and_off_counts_are_those_of_the_event_list(spectrum):
    """ON: the events within RAD_MAX of the source; OFF: within RAD_MAX of the source's position
    rotated about the pointing by 90, 180 and 270 degrees (three wobble regions)."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    observation, _ = read_run(MAGIC_RUN)
    events = observation.events
    energy = events.energy.to_value("TeV")
    in_range = (energy >= EDGES[0]) & (energy < EDGES[-1])
    radius = spectrum.runs[0]["on_radius_deg"]
    assert np.sum(spectrum.n_on) == np.sum(_within(events, NGC1275, radius) & in_range)
    pointing = observation.get_pointing_icrs(observation.tmid)
    source = SkyCoord(*NGC1275, unit="deg")
    angle, offset = pointing.position_angle(source), pointing.separation(source)
    off = sum(np.sum(_within(events, (c.ra.deg, c.dec.deg), radius) & in_range)
              for c in (pointing.directional_offset_by(angle + turn * 90 * u.deg, offset) for turn in (1, 2, 3)))
    assert np.sum(spectrum.n_off) == off
    np.testing.assert_allclose(spectrum.alpha, 1 / 3)
    assert spectrum.runs[0]["offset_deg"] == pytest.approx(0.40, abs=0.02)


def test_the_livetime_is_the_headers_dead_time_corrected_one(spectrum):
    from astropy.io import fits

    with fits.open(MAGIC_RUN) as hdus:
        gti = hdus["GTI"].data
        good = float(np.sum(gti["STOP"] - gti["START"]))
        livetime = hdus["EVENTS"].header["LIVETIME"]
    assert spectrum.livetime_s == livetime < good and 1150 < livetime < 1200


def test_the_excess_is_gammapys(spectrum):
    excess = spectrum.datasets[0].excess.data.ravel()
    np.testing.assert_allclose(spectrum.excess, excess)
    assert spectrum.excess.sum() > 10  # NGC 1275 in its flare of January 2017


def test_the_theta2_cut_as_radius_holds_more_of_the_source():
    narrow, wide = (on_off_spectrum([MAGIC_RUN], *NGC1275, EDGES, on_radius_deg=r) for r in (None, 0.1414))
    assert wide.runs[0]["on_radius_deg"] == 0.1414 and narrow.runs[0]["on_radius_deg"] == 0.02
    assert wide.excess.sum() > 2 * narrow.excess.sum()


def test_bad_inputs_are_named(tmp_path):
    from astropy.io import fits

    with fits.open(MAGIC_RUN) as hdus:
        fits.HDUList([hdus[0], hdus["EFFECTIVE AREA"]]).writeto(tmp_path / "no_events.fits")
    with pytest.raises(PipelineError, match="has no EVENTS and no GTI HDU"):
        read_run(tmp_path / "no_events.fits")
    with pytest.raises(PipelineError, match="pointed .* deg from the source"):
        on_off_spectrum([MAGIC_RUN], 83.63, 22.01, EDGES)  # the Crab
    with pytest.raises(PipelineError, match="outside the effective area"):
        on_off_spectrum([MAGIC_RUN], *NGC1275, np.geomspace(0.001, 1, 4))


def test_li_ma_is_gammapys_wstat_significance():
    from alpswyft.observation import li_ma
    from gammapy.stats import WStatCountsStatistic

    n_on, n_off, alpha = np.array([0, 3, 10, 40, 5]), np.array([0, 9, 3, 20, 60]), np.array([0.2, 0.33, 0.5, 0.2, 0.1])
    np.testing.assert_allclose(li_ma(n_on, n_off, alpha), WStatCountsStatistic(n_on, n_off, alpha).sqrt_ts, atol=1e-9)


def test_the_excess_figure_shows_every_bin(spectrum):
    import matplotlib
    from alpswyft.observation import plot_excess

    matplotlib.use("Agg")
    fig = plot_excess(spectrum, predicted_excess=np.ones(len(EDGES) - 1))
    points = fig.axes[0].containers[0][0]
    assert len(points.get_xdata()) == len(EDGES) - 1
    np.testing.assert_allclose(points.get_ydata(), spectrum.excess)


@pytest.mark.slow
def test_a_run_on_the_observation_end_to_end(tmp_path):
    """The shipped ALP run script with observation= on the MAGIC run, reduced: the networks see the
    ON and OFF counts, the report shows the real spectrum, the runs and their significance."""
    import json

    from conftest import RUN_SH, write_run_script
    from test_end_to_end import ALP_GRID, run

    script = write_run_script(
        tmp_path, template=RUN_SH, run_name="magic_run", observation=str(MAGIC_RUN), rad_max="0.1414",
        emin="80", emax="8000", nbins="10", nbins_etrue="60", n_sim_train="200", n_prior_samples="3_000",
        max_epochs="3", n_truncations="1", hyperparams=ALP_GRID, n_sim_coverage="40", n_sim_explim="10",
        DRP_coverage_parameters='"1000, 40, 0, 0, 1"',
    )
    result = run(script, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    run_dir = tmp_path / "analysis_results" / "magic_run"
    direct = on_off_spectrum([MAGIC_RUN], *NGC1275, np.geomspace(0.08, 8.0, 11), on_radius_deg=0.1414)
    obs = np.load(run_dir / "true_obs.npz")
    np.testing.assert_array_equal(obs["n_off"], direct.n_off)
    setup = np.load(run_dir / "response.npz")
    np.testing.assert_array_equal(setup["onoff_n_on"], direct.n_on)
    assert setup["run_livetime_s"].tolist() == [direct.livetime_s]
    from alpswyft.stores import read_store

    samples = read_store(run_dir / "sim_output" / "store" / "store", ["data", "n_off"])  # round 0's
    assert samples["n_off"].shape == samples["data"].shape == (200, 10)
    # the simulated OFF counts scatter about the smoothed observed OFF spectrum (the nuisance's mean)
    np.testing.assert_allclose(samples["n_off"].mean(axis=0)[:3], setup["onoff_off_background"][:3], rtol=0.25)
    log = (run_dir / "output.log").read_text()
    assert "the observation is real: " in log and "Li & Ma" in log
    notebook = json.loads((run_dir / "analysis_results.ipynb").read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    cell = next(c for c in code if "plots.observed_spectrum" in "".join(c["source"]))
    text = "".join("".join(o.get("text", "")) for o in cell["outputs"])
    assert "offset (deg)" in text and str(int(direct.runs[0]["obs_id"])) in text
    assert any("image/png" in o.get("data", {}) for o in cell["outputs"])
    assert (run_dir / "val_output" / "observed_spectrum_gridpoint_0.png").is_file()
