"""The ALP observation: output chain, noise, power features, model variants."""

import numpy as np
import pytest
from alp_config import alp_variables

from alpswyft.config import load_run_config
from alpswyft.models import MODELS
from alpswyft.simulator import NoiseResampler, SpectrumSimulator


@pytest.fixture(scope="module")
def setup():
    config, _ = load_run_config(alp_variables())
    return config, MODELS[""].prepare(config)


def test_null_parameters_give_zero_residual(setup):
    config, arrays = setup
    simulator = SpectrumSimulator(config, arrays)
    out = simulator.simulate(
        np.repeat(config.table.null[None], 3, axis=0), np.random.default_rng(0)
    )
    np.testing.assert_allclose(out["exp"], 0.0, atol=1e-6)
    assert (
        out["pgg"].shape == (3, 180)
        and out["power"].shape == (3, 169)
        and out["data"].shape == (3, 90)
    )
    assert np.all(out["data"] >= config.floor_obs)


def test_poisson_noise_has_the_expected_mean(setup):
    config, arrays = setup
    model = SpectrumSimulator(config, arrays).model
    exp = np.zeros((4000, 90))
    counts = 10 ** (model.noise(exp, np.random.default_rng(1)) + model.null_level)
    mean = model.null_counts
    bright = mean > 100
    np.testing.assert_allclose(counts.mean(axis=0)[bright], mean[bright], rtol=0.02)


def test_alp_signal_lowers_the_counts(setup):
    config, arrays = setup
    model = SpectrumSimulator(config, arrays).model
    v = config.table.physical(config.table.obs)[0]
    v[0], v[1] = 10.0, 3.0
    counts, pgg = model.counts(v, np.random.default_rng(2))
    assert pgg.min() < 0.7 and counts.sum() < 0.9 * model.null_counts.sum()
    residual = model.residual(counts[None], config.floor_exp)[0]
    assert residual.min() < -0.1 and residual.min() >= config.floor_exp


def test_power_features_find_a_known_frequency(setup):
    config, arrays = setup
    model = SpectrumSimulator(config, arrays).model
    decades = np.log10(np.sqrt(model.response.e_reco_edges[1:] * model.response.e_reco_edges[:-1]))
    cycles_per_decade = 1.5
    data = 0.1 * np.cos(2 * np.pi * cycles_per_decade * decades)
    power = model.features(data[None])["power"][0]
    frequency = np.arange(len(power)) / (
        config.len_fft * np.log10(config.emax / config.emin) / config.nbins
    )
    assert frequency[np.argmax(power[5:]) + 5] == pytest.approx(cycles_per_decade, abs=0.05)


def test_spectral_fit_has_no_alp(setup):
    config, arrays = setup
    fit, _ = load_run_config(alp_variables(model="spectral_fit"))
    simulator = SpectrumSimulator(fit, arrays)
    v = fit.table.physical(fit.table.obs)[0]
    v[0], v[1] = 10.0, 3.0
    counts, pgg = simulator.model.counts(v, np.random.default_rng(0))
    np.testing.assert_array_equal(pgg, 1.0)


def test_resampler_redraws_data_and_power(setup):
    config, arrays = setup
    simulator = SpectrumSimulator(config, arrays)
    sample = simulator.simulate(config.table.obs, np.random.default_rng(0))
    again = NoiseResampler(simulator, seed=1)(sample)
    assert not np.allclose(again["data"], sample["data"]) and not np.allclose(
        again["power"], sample["power"]
    )
    np.testing.assert_array_equal(again["exp"], sample["exp"])


def test_fixed_alp_seed_pins_the_field(setup):
    config, arrays = setup
    pinned, _ = load_run_config(alp_variables(ALP_seed="3"))
    model = SpectrumSimulator(pinned, arrays).model
    v = pinned.table.physical(pinned.table.obs)[0]
    v[0], v[1] = 10.0, 3.0
    a = model.survival(v, np.random.default_rng(0))
    b = model.survival(v, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
