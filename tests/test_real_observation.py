"""DL3 runs to ON/OFF spectra, on the real MAGIC run of NGC 1275 in ../shared (skipped without it)."""

import numpy as np
import pytest
from conftest import SHARED

from alpswyft.datasets.onoff import on_off_spectrum, read_run
from analysis_core.errors import PipelineError

MAGIC_RUN = SHARED / "data" / "irfs" / "magicDL3_05059487.fits.gz"
NGC1275 = (49.9507, 41.5117)  # deg, ICRS
EDGES = np.geomspace(0.08, 10.0, 9)  # TeV
pytestmark = pytest.mark.requires_data(MAGIC_RUN.relative_to(SHARED))


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
    off = sum(
        np.sum(_within(events, (c.ra.deg, c.dec.deg), radius) & in_range)
        for c in (
            pointing.directional_offset_by(angle + turn * 90 * u.deg, offset) for turn in (1, 2, 3)
        )
    )
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
    narrow, wide = (
        on_off_spectrum([MAGIC_RUN], *NGC1275, EDGES, on_radius_deg=r) for r in (None, 0.1414)
    )
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
    from gammapy.stats import WStatCountsStatistic

    from alpswyft.datasets.onoff import li_ma

    n_on, n_off, alpha = (
        np.array([0, 3, 10, 40, 5]),
        np.array([0, 9, 3, 20, 60]),
        np.array([0.2, 0.33, 0.5, 0.2, 0.1]),
    )
    np.testing.assert_allclose(
        li_ma(n_on, n_off, alpha), WStatCountsStatistic(n_on, n_off, alpha).sqrt_ts, atol=1e-9
    )


def test_the_excess_figure_shows_every_bin(spectrum):
    import matplotlib

    from alpswyft.datasets.onoff import plot_excess

    matplotlib.use("Agg")
    fig = plot_excess(spectrum, predicted_excess=np.ones(len(EDGES) - 1))
    points = fig.axes[0].containers[0][0]
    assert len(points.get_xdata()) == len(EDGES) - 1
    np.testing.assert_allclose(points.get_ydata(), spectrum.excess)


@pytest.mark.slow
def test_a_run_on_the_observation_end_to_end(tmp_path):
    """The shipped ALP run script with observation= on the MAGIC run, reduced: the networks see the
    ON and OFF counts, the report shows the real spectrum, the runs and their significance (one
    round: the multi-round chain is the same as for a mock observation, tested in test_end_to_end)."""
    import json

    from conftest import RUN_SH, write_run_script
    from test_end_to_end import ALP_GRID, run

    script = write_run_script(
        tmp_path,
        template=RUN_SH,
        run_name="magic_run",
        observation=str(MAGIC_RUN),
        rad_max="0.1414",
        emin="80",
        emax="8000",
        nbins="10",
        nbins_etrue="60",
        n_sim_train="200",
        n_prior_samples="3_000",
        max_epochs="3",
        n_truncations="0",
        hyperparams=ALP_GRID,
        n_sim_coverage="20",
        n_sim_explim="5",
        DRP_coverage_parameters='"500, 20, 0, 0, 1"',
        n_sim_calibration="2000",
        n_sim_limit_coverage="0",
        n_sim_null="50",
        classical_limits="1",
        classical_bins='"12,6"',
        classical_realisations="20",
        classical_toys="0",
    )
    result = run(script, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    run_dir = tmp_path / "analysis_results" / "magic_run"
    direct = on_off_spectrum(
        [MAGIC_RUN], *NGC1275, np.geomspace(0.08, 8.0, 11), on_radius_deg=0.1414
    )
    obs = np.load(run_dir / "true_obs.npz")
    np.testing.assert_array_equal(obs["n_off"], direct.n_off)
    # the real observation's own confidence set, from the calibration of this response
    sets = np.load(run_dir / "val_output" / "confidence_sets_gridpoint_0.npz")
    assert (
        sets["observation_frequentist"].shape == sets["observation_cls"].shape == (1, 1, 2, 50, 50)
    )
    setup = np.load(run_dir / "response.npz")
    np.testing.assert_array_equal(setup["onoff_n_on"], direct.n_on)
    assert setup["run_livetime_s"].tolist() == [direct.livetime_s]
    from alpswyft.stores import read_store

    samples = read_store(
        run_dir / "sim_output" / "store" / "store", ["data", "n_off"]
    )  # training and coverage
    assert samples["n_off"].shape == samples["data"].shape == (220, 10)
    # the simulated OFF counts scatter about the smoothed observed OFF spectrum (the nuisance's mean)
    np.testing.assert_allclose(
        samples["n_off"].mean(axis=0)[:3], setup["onoff_off_background"][:3], rtol=0.25
    )
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
    # the classical analysis (WStat) of the mock observations and of the real one, its own limit
    classical = json.loads((run_dir / "val_output" / "validation_gridpoint_0.json").read_text())[
        "classical"
    ]
    assert classical["n_observations"] == 5 and set(classical["observed"]["0.95"]) == {
        "wilks_quantile",
        "wilks_marginal",
    }
    assert "the real observation's g limit" in log


def test_smoothed_off_counts_keep_the_total_and_recover_a_power_law():
    from alpswyft.datasets.onoff import smooth_off_counts

    edges = np.geomspace(80, 8000, 11)
    truth = 2e4 * (np.sqrt(edges[1:] * edges[:-1]) / 80) ** -1.7
    counts = np.random.default_rng(1).poisson(truth)
    smooth = smooth_off_counts(counts, edges)
    assert smooth.sum() == pytest.approx(counts.sum())

    def nll(b):
        return np.sum(b - counts * np.log(b))

    assert nll(smooth) <= nll(
        truth
    )  # the maximum-likelihood curve, within the counts' errors of the truth
    assert np.all(np.abs(smooth - truth) < 3 * np.sqrt(truth))
    np.testing.assert_array_equal(smooth_off_counts(np.zeros(10), edges), 0.0)
    one = smooth_off_counts(
        np.array([0, 0, 3.0, 0, 0, 0, 0, 0, 0, 0]), edges
    )  # one bin: a constant
    np.testing.assert_allclose(one, 0.3)


def test_the_stacked_response_predicts_gammapys_counts():
    """Two copies of the run stack to twice the exposure and the same migration, and the response's
    counts of a power law are gammapy's predicted counts of the same datasets."""
    import astropy.units as u
    from gammapy.datasets import Datasets
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel

    from alpswyft.datasets.onoff import stacked_response
    from alpswyft.physics.response import Response

    one = on_off_spectrum([MAGIC_RUN], *NGC1275, EDGES, on_radius_deg=0.1414)
    two = on_off_spectrum([MAGIC_RUN, MAGIC_RUN], *NGC1275, EDGES, on_radius_deg=0.1414)
    edges, exposure, migration = stacked_response(two)
    np.testing.assert_allclose(exposure, 2 * stacked_response(one)[1])
    np.testing.assert_allclose(migration, stacked_response(one)[2])
    np.testing.assert_array_equal(two.n_on, 2 * one.n_on)
    model = PowerLawSpectralModel(index=2.3, amplitude="1e-10 TeV-1 cm-2 s-1", reference="0.3 TeV")
    stacked = Datasets([d.copy(name=str(i)) for i, d in enumerate(two.datasets)]).stack_reduce()
    stacked.models = [SkyModel(spectral_model=model, name="ngc1275")]
    true_flux = model.integral(edges[:-1] * u.GeV, edges[1:] * u.GeV).to_value("cm-2 s-1")
    counts = Response(edges, EDGES * 1e3, exposure, migration, np.zeros(len(EDGES) - 1)).counts(
        true_flux
    )
    np.testing.assert_allclose(counts, stacked.npred_signal().data.ravel(), rtol=1e-6)


def test_the_simulator_of_the_observation_draws_on_and_off_counts():
    from alpswyft import ALPSim

    sim = ALPSim.from_observation(
        MAGIC_RUN, emin=80, emax=8000, nbins=10, nbins_etrue=60, rad_max=0.1414
    )
    assert "DL3 run(s)" in repr(sim) and sim.simulator.shapes["n_off"] == (10,)
    observed = sim.observation
    assert set(observed) == {"data", "n_off", "power"}
    np.testing.assert_array_equal(observed["n_off"], sim.model.observed_off)
    model = sim.model
    background = model.response.background  # alpha x the smoothed OFF spectrum, in the ON region
    np.testing.assert_allclose(background, model.alpha * model.off_background)
    spectra = sim.observe(m=np.full(4000, 1e-6), seed=2)
    assert spectra.observed_off.shape == (4000, 10) and spectra.nodes["n_off"].shape == (4000, 10)
    # the OFF counts' mean is the background model's; their variance holds its log-normal scatter
    off = spectra.observed_off[:, 0]
    b, sigma = model.off_background[0], sim.config.background_scatter
    assert off.mean() == pytest.approx(b, rel=0.05)
    assert off.var() == pytest.approx(b + b**2 * (np.exp(sigma**2) - 1), rel=0.15)
    np.testing.assert_allclose(
        spectra.observed_counts.mean(axis=0)[:4], spectra.counts[0, :4], rtol=0.05
    )
    # the same chain in torch, on the same expectations
    import torch

    nodes = sim.simulator.add_noise_torch(
        torch.as_tensor(spectra.exp, dtype=torch.float32), torch.Generator().manual_seed(0)
    )
    assert nodes["n_off"].float().mean(0)[0].item() == pytest.approx(b, rel=0.05)
    np.testing.assert_allclose(
        nodes["data"].mean(0)[:4].numpy(), spectra.data.mean(0)[:4], atol=0.02
    )


def test_observation_settings_are_checked(tmp_path):
    from alpswyft import ALPSim
    from analysis_core.errors import ConfigError

    with pytest.raises(ConfigError, match="observation.*matches no file"):
        ALPSim.from_observation(tmp_path / "*.fits.gz")
    with pytest.raises(ConfigError, match="use noise=poisson"):
        ALPSim.from_observation(MAGIC_RUN, noise="gauss")
    with pytest.raises(ConfigError, match="analysed with an ALP model"):
        ALPSim.from_observation(MAGIC_RUN, model="toy_line")
    with pytest.raises(ConfigError, match="edisp"):
        ALPSim.from_observation(MAGIC_RUN, edisp=False)


def test_a_run_with_full_enclosure_irfs_has_a_circle_and_the_psf_containment(tmp_path):
    """The MAGIC run's events with CTA's full-enclosure IRFs (shipped): the ON region is a circle of
    on_radius_deg, its counts those of the event list, its exposure the effective area at the run's
    offset times the live time times the PSF's containment in the circle."""
    from astropy.io import fits

    from alpswyft.config import DEFAULT_IRF_FILE
    from alpswyft.datasets.onoff import stacked_response

    with fits.open(MAGIC_RUN) as run, fits.open(DEFAULT_IRF_FILE) as cta:
        hdus = [run[0], run["EVENTS"], run["GTI"]] + [
            cta[n] for n in ("EFFECTIVE AREA", "ENERGY DISPERSION", "POINT SPREAD FUNCTION")
        ]
        fits.HDUList([h.copy() for h in hdus]).writeto(tmp_path / "full_enclosure.fits")
    path = tmp_path / "full_enclosure.fits"
    spectrum = on_off_spectrum([path], *NGC1275, EDGES, on_radius_deg=0.15)
    observation, livetime = read_run(path)
    assert observation.rad_max is None and spectrum.runs[0]["on_radius_deg"] == 0.15
    energy = observation.events.energy.to_value("TeV")
    in_range = (energy >= EDGES[0]) & (energy < EDGES[-1])
    assert np.sum(spectrum.n_on) == np.sum(_within(observation.events, NGC1275, 0.15) & in_range)
    import astropy.units as u

    edges, exposure, _ = stacked_response(spectrum)
    centres = np.sqrt(edges[1:] * edges[:-1]) * u.GeV
    offset = spectrum.runs[0]["offset_deg"] * u.deg
    aeff = observation.aeff.evaluate(energy_true=centres, offset=offset).to_value("cm2") * livetime
    containment = observation.psf.containment(rad=0.15 * u.deg, energy_true=centres, offset=offset)
    np.testing.assert_allclose(exposure, aeff * np.asarray(containment), rtol=1e-3)
    assert 0.3 < np.asarray(containment)[-1] <= 1
    with pytest.raises(PipelineError, match="without a PSF"):
        with fits.open(path) as hdus:
            fits.HDUList([h.copy() for h in hdus if h.name != "POINT SPREAD FUNCTION"]).writeto(
                tmp_path / "no_psf.fits"
            )
        on_off_spectrum([tmp_path / "no_psf.fits"], *NGC1275, EDGES)
