"""The default network: hyperparameters as arguments, POI columns and pairs for any POI subset."""

import pytest
import torch
from conftest import toy_variables

from alpswyft.config import load_run_config
from alpswyft.networks import build_network as build
from alpswyft.simulator import SpectrumSimulator
from analysis_core.errors import ConfigError

HYPER = {"learning_rate": 1e-3, "stopping_patience": 3, "blocks": 1, "features": 16, "dropout": 0.0}


def poly_config(**overrides):
    settings = {
        "model": "toy_poly",
        "param3": " [-1, 1] | 0.1 | 0 | 0 | U | c | 1 ",
        "POI_indices": "2,0",
    }
    return load_run_config(toy_variables(**{**settings, **overrides}))[0]


def build_network(config, hyperparams):
    return build(config, hyperparams, SpectrumSimulator(config).shapes)


def hidden_width(network) -> int:
    name, weights = next(
        (n, p) for n, p in network.estimator_1d.named_parameters() if n.endswith("weights")
    )
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


def test_restricted_posterior_3_trains_every_1d_marginal_and_the_prediction_planes_only():
    config = poly_config(
        POI_indices="0,1,2", restricted_posterior="3", prediction_pairs="(1,2),(0,2)"
    )
    network = build_network(config, HYPER)
    assert network.pairs == config.pairs == [(0, 2), (1, 2)]
    one, two = network({"data": torch.randn(8, 50)}, {"params": torch.randn(8, 3)})
    assert one.parnames.tolist() == [["a"], ["b"], ["c"]]
    assert two.parnames.tolist() == [["a", "c"], ["b", "c"]] and two.logratios.shape == (8, 2)
    with pytest.raises(ConfigError, match="restricted_posterior.*prediction_pairs is empty"):
        poly_config(POI_indices="0,1,2", restricted_posterior="3", prediction_pairs="")


def test_hyperparameters_do_not_leak_between_networks():
    config = poly_config()
    a = build_network(config, HYPER)
    b = build_network(config, {**HYPER, "features": 32, "learning_rate": 5e-3})
    assert a.learning_rate == 1e-3 and b.learning_rate == 5e-3
    assert hidden_width(a) == 16 and hidden_width(b) == 32


def test_the_bnre_penalty_is_the_balance_condition():
    """With bnre_lambda the loss is swyft's plus lambda (E_joint[sigma] + E_marginal[sigma] - 1)^2
    summed over the marginals, on the same forward pass."""
    torch.manual_seed(0)
    plain = build_network(poly_config(), HYPER)
    balanced = build_network(poly_config(bnre_lambda="100"), HYPER)
    balanced.load_state_dict(plain.state_dict())
    plain.train(), balanced.train()  # (eval mode needs the online standardisation trained first)
    batch = {"data": torch.randn(32, 50), "params": torch.randn(32, 3)}
    loss_plain, loss_balanced = plain._calc_loss(batch), balanced._calc_loss(batch)
    s = torch.sigmoid(balanced._logratios)
    penalty = ((s[:32].mean(0) + s[32:].mean(0) - 1) ** 2).sum()
    assert s.shape == (64, 3)  # 2 one-dimensional marginals and one pair, joint then contrastive
    torch.testing.assert_close(loss_balanced, loss_plain + 100 * penalty)
    assert penalty > 0


def test_bnre_makes_the_posterior_wider(tmp_path):
    """Trained on the same toy_line simulations, the balanced estimator's 1D posteriors of the
    mock observation are wider than plain NRE's (conservative), and both still locate the truth."""
    import numpy as np

    from alpswyft.inference import logratios_on_bank
    from alpswyft.training import train_network

    widths = {}
    for name, value in (("plain", "0"), ("bnre", "100")):
        config = load_run_config(toy_variables(bnre_lambda=value, max_epochs="25"))[0]
        simulator = SpectrumSimulator(config)
        samples = simulator.sample(2000, config.table.initial_bounds, np.random.default_rng(0))
        samples = {k: samples[k] for k in ("params", "exp")}
        torch.manual_seed(0)
        network = build(config, config.grid[0], simulator.shapes)
        network, _ = train_network(network, simulator, samples, tmp_path / name, name, seed=1)
        observation = simulator.simulate(config.table.obs, np.random.default_rng(5))["data"][0]
        bank = config.table.sample(config.table.initial_bounds, 20_000, np.random.default_rng(6))
        weights = np.exp(logratios_on_bank(network, observation, bank)[0])
        mean = (weights * bank).sum(0) / weights.sum(0)
        widths[name] = np.sqrt((weights * (bank - mean) ** 2).sum(0) / weights.sum(0))
        assert np.all(np.abs(mean - config.table.obs) < 4 * widths[name]), (name, mean)
    assert np.all(widths["bnre"] > widths["plain"]), widths


def test_bank_logratios_are_the_estimators_outputs():
    """The bank evaluation (observation features once, chosen 2D channels only) gives swyft's
    log-ratios, with batch norm statistics that are not the identity."""
    torch.manual_seed(1)
    network = build_network(poly_config(POI_indices="0,1,2"), {**HYPER, "blocks": 2})
    network.train()
    for _ in range(3):  # move the batch-norm running statistics
        network({"data": 3 * torch.randn(64, 50) + 1}, {"params": torch.randn(64, 3)})
    network.eval()
    features, params = network.head({"data": torch.randn(1, 50)})[0], torch.randn(500, 3)
    with torch.no_grad():
        reference = [o.logratios for o in network.ratios(features[None].expand(500, -1), params)]
    fast = network.bank_logratios(features, params)
    assert [f.shape for f in fast] == [(500, 3), (500, 3)]
    for f, r in zip(fast, reference):
        torch.testing.assert_close(f, r, rtol=1e-4, atol=1e-4)
    (subset,) = network.bank_logratios(features, params, with_1d=False, columns_2d=[2, 0])
    torch.testing.assert_close(subset, reference[1][:, [2, 0]], rtol=1e-4, atol=1e-4)


def test_the_fixed_nuisance_network_has_the_prediction_planes_only():
    from alpswyft.networks import signature

    config = poly_config(
        POI_indices="0,1,2", prediction_pairs="(0,2)", fixed_nuisance_limits="1", n_sim_explim="10"
    )
    network = build(config, HYPER, SpectrumSimulator(config).shapes, fixed_nuisances=True)
    assert (
        network.poi_columns == [0, 2] and network.estimator_1d is None and network.pairs == [(0, 1)]
    )
    assert config.nuisance_indices == [1] and config.with_fixed_nuisances
    from alpswyft.architectures import resolve

    shapes = SpectrumSimulator(config).shapes
    assert signature(config, HYPER, shapes, resolve(""), fixed_nuisances=True)["poi_names"] == [
        "a",
        "c",
    ]
    assert signature(config, HYPER, shapes, resolve(""))["poi_names"] == ["a", "b", "c"]
