"""The default network: hyperparameters as arguments, POI columns and pairs for any POI subset."""

import torch

from alpswyft.config import load_run_config
from alpswyft.networks import build_network as build
from alpswyft.simulator import SpectrumSimulator
from conftest import toy_variables

HYPER = {"learning_rate": 1e-3, "stopping_patience": 3, "blocks": 1, "features": 16, "dropout": 0.0}


def poly_config(**overrides):
    settings = {"model": "toy_poly", "param3": " [-1, 1] | 0.1 | 0 | 0 | U | c | 1 ", "POI_indices": "2,0"}
    return load_run_config(toy_variables(**{**settings, **overrides}))[0]


def build_network(config, hyperparams):
    return build(config, hyperparams, SpectrumSimulator(config).shapes)


def hidden_width(network) -> int:
    name, weights = next((n, p) for n, p in network.estimator_1d.named_parameters() if n.endswith("weights"))
    return weights.shape[1]


def test_poi_subset_selects_the_right_columns_and_names():
    config = poly_config()
    network = build_network(config, HYPER)
    params = torch.randn(8, 3)
    one, two = network({"data": torch.randn(8, 50)}, {"params": params})
    assert one.parnames.tolist() == [["c"], ["a"]]
    torch.testing.assert_close(one.params[:, :, 0], params[:, [2, 0]])
    assert two.parnames.tolist() == [["c", "a"]]
    torch.testing.assert_close(two.params[:, 0, :], params[:, [2, 0]])


def test_restricted_posteriors():
    one_only = build_network(poly_config(restricted_posterior="1"), HYPER)
    assert one_only.estimator_2d is None and one_only.estimator_1d is not None
    two_only = build_network(poly_config(restricted_posterior="2"), HYPER)
    assert two_only.estimator_1d is None and two_only.estimator_2d is not None
    single = build_network(poly_config(POI_indices="1", restricted_posterior="2"), HYPER)
    assert single.estimator_2d is None and single.estimator_1d is not None  # one POI: 1D forced


def test_hyperparameters_do_not_leak_between_networks():
    config = poly_config()
    a = build_network(config, HYPER)
    b = build_network(config, {**HYPER, "features": 32, "learning_rate": 5e-3})
    assert a.learning_rate == 1e-3 and b.learning_rate == 5e-3
    assert hidden_width(a) == 16 and hidden_width(b) == 32
