"""Toy simulators against their closed forms."""

import numpy as np

from alpswyft.config import load_run_config
from alpswyft.physics.toy import ToyLine, ToySine
from alpswyft.simulator import NoiseResampler, SpectrumSimulator


def test_toy_line_expected_and_gaussian_noise(variables):
    config, _ = load_run_config({**variables, "noise_sigma": "0.5"})
    simulator = SpectrumSimulator(config)
    theta = np.array([[0.7, -0.3]])
    out = simulator.simulate(np.repeat(theta, 20_000, axis=0), np.random.default_rng(0))
    x = np.linspace(-1, 1, 50)
    np.testing.assert_allclose(out["exp"][0], 0.7 * x - 0.3, atol=1e-6)
    residual = out["data"] - out["exp"]
    assert abs(residual.std() - 0.5) < 0.005 and abs(residual.mean()) < 0.005
    assert out["params"].dtype == np.float32 and out["data"].shape == (20_000, 50)


def test_poisson_noise(variables):
    config, _ = load_run_config(
        {**variables, "noise": "poisson", "param2": "[5,10] | 6 | 6 | 0 | U | b | 1"}
    )
    out = SpectrumSimulator(config).simulate(
        np.repeat([[0.0, 6.0]], 10_000, axis=0), np.random.default_rng(1)
    )
    assert np.all(out["data"] == np.round(out["data"]))
    assert abs(out["data"].mean() - 6.0) < 0.05 and abs(out["data"].var() - 6.0) < 0.1


def test_toy_line_design_matrix():
    model = ToyLine.on_grid(-1, 1, 5)
    np.testing.assert_allclose(
        model.expected(np.array([[2.0, 1.0]]))["exp"][0], model.design_matrix() @ [2.0, 1.0]
    )


def test_toy_sine():
    model = ToySine.on_grid(0, 1, 3)
    y = model.curve(np.array([[1.0, 2.0, 0.0, 1.0, np.pi, 0.0]]))[0]
    np.testing.assert_allclose(y, [2.0, 3.5, 3.0], atol=1e-12)


def test_resampler_redraws_noise_only(variables):
    config, _ = load_run_config(variables)
    simulator = SpectrumSimulator(config)
    sample = simulator.simulate([[0.7, -0.3], [0.1, 0.2]], np.random.default_rng(0))
    resample = NoiseResampler(simulator, seed=3)
    a, b = resample(sample), resample(sample)
    np.testing.assert_array_equal(a["exp"], sample["exp"])
    np.testing.assert_array_equal(a["params"], sample["params"])
    assert not np.allclose(a["data"], b["data"])


def test_linear_gaussian_posterior_is_least_squares():
    from alpswyft.physics.toy import linear_gaussian_posterior

    model = ToyLine.on_grid(-1, 1, 50)
    X = model.design_matrix()
    y = X @ [0.7, -0.3] + np.random.default_rng(1).standard_normal(50)
    mean, cov = linear_gaussian_posterior(X, y, 1.0)
    np.testing.assert_allclose(mean, np.linalg.lstsq(X, y, rcond=None)[0])
    np.testing.assert_allclose(
        np.sqrt(np.diag(cov)), [np.sqrt(3 * 49 / (50 * 51)), np.sqrt(1 / 50)], rtol=1e-12
    )


def test_geometries(variables):
    from alpswyft.physics.toy import bin_centers

    np.testing.assert_allclose(bin_centers(1, 100, 2, "simple_log"), [np.sqrt(10), np.sqrt(1000)])
    np.testing.assert_allclose(bin_centers(-1, 1, 3, "simple"), [-1, 0, 1])
    config, _ = load_run_config(
        {**variables, "geom": "simple_log", "emin": "1", "emax": "100", "nbins": "2"}
    )
    out = SpectrumSimulator(config).simulate([[1.0, 0.0]], np.random.default_rng(0))
    np.testing.assert_allclose(out["exp"][0], [np.sqrt(10), np.sqrt(1000)], rtol=1e-6)


def test_the_torch_noise_chain_is_the_numpy_one():
    """The ALP model's noise, floors and power spectrum drawn in torch (for batches on a GPU)
    against numpy: identical without noise, equal in distribution with Poisson noise."""
    import torch

    from alpswyft import ALPSim

    exact = ALPSim(noise="gauss", noise_sigma=1e-12).simulator
    exp = np.repeat(ALPSim().expected(m=10, g=1).exp[None], 4000, axis=0).astype(np.float32)
    host = exact.add_noise(exp.astype(float), np.random.default_rng(0))
    device = exact.add_noise_torch(torch.from_numpy(exp), torch.Generator().manual_seed(0))
    for key in ("data", "power"):
        np.testing.assert_allclose(device[key].numpy(), host[key], atol=2e-5)
    poisson = ALPSim().simulator
    host = poisson.add_noise(exp.astype(float), np.random.default_rng(1))
    device = {
        k: v.numpy()
        for k, v in poisson.add_noise_torch(
            torch.from_numpy(exp), torch.Generator().manual_seed(1)
        ).items()
    }
    for key in ("data", "power"):
        a, b = host[key], device[key].astype(float)
        spread = np.sqrt((a.var(0) + b.var(0)) / len(a)) + 1e-12
        assert np.max(np.abs(a.mean(0) - b.mean(0)) / spread) < 5, key
        assert np.all(np.abs(a.std(0) - b.std(0)) <= 0.1 * a.std(0) + 1e-6), key
    assert host["data"].std(0).max() > 0.01  # the noise is really there
