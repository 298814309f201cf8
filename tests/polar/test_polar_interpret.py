"""The model's derivatives: autograd against finite differences and the chain rule, and the
dependences of the synthetic generator recovered from a trained model."""

import numpy as np
import pytest
import torch

from polar import config as polar_config
from polar import interpret, pipeline
from polar.model import BackgroundModel


def _model(n_features=3, n_targets=2):
    torch.manual_seed(0)
    model = BackgroundModel(n_features, n_targets, [16, 16], "tanh", 1e-3, (0.9, 0.999), 0.0)
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(500, n_features)) * [1.0, 10.0, 0.1] + [0, 5, 2]).astype(np.float32)
    model.features.fit(x)
    model.targets.fit(rng.normal(100, 10, size=(500, n_targets)).astype(np.float32))
    return model, x


def test_the_jacobian_is_autograd_per_row_and_the_raw_one_follows_by_the_chain_rule():
    model, x = _model()
    jac = interpret.jacobian(model, x, batch_size=64)  # several batches
    assert jac.shape == (500, 2, 3)
    raw = interpret.raw_jacobian(model, jac)
    # autograd on the raw input, row by row, is the raw derivative
    for row in (0, 123, 499):
        direct = torch.autograd.functional.jacobian(
            lambda v: model(v[None])[0], torch.as_tensor(x[row])
        )
        np.testing.assert_allclose(raw[row], direct.numpy(), rtol=1e-4, atol=1e-5)
    # and a finite difference in a standardised feature is the standardised derivative
    step = 1e-2
    shifted = x.copy()
    shifted[:, 1] += step * model.features.std[1].item()
    with torch.no_grad():
        difference = (model(torch.as_tensor(shifted)) - model(torch.as_tensor(x))).numpy() / step
    np.testing.assert_allclose(difference, jac[:, :, 1], rtol=2e-2, atol=2e-2)


def test_the_table_holds_mean_error_significance_and_median():
    jac = np.random.default_rng(1).normal(2.0, 0.5, size=(10_000, 1, 2)).astype(np.float32)
    jac[:, 0, 1] -= 2.0
    table = interpret.gradient_table(jac, ["rate[0]"], ["a", "b"])
    a = table[0]
    assert a["mean"] == pytest.approx(2.0, abs=0.02) and a["error"] == pytest.approx(
        0.005, rel=0.05
    )
    assert a["significance"] == pytest.approx(400, rel=0.05) and a["fit_sigma"] == pytest.approx(
        0.5, rel=0.05
    )
    assert interpret.strongest(table, "rate[0]", 1) == [("a", pytest.approx(a["mean"]))]


@pytest.mark.slow
def test_a_trained_model_recovers_the_generator_dependences(tmp_path):
    """On one synthetic day with features that do not duplicate each other, the mean derivatives
    of "any" (rate[10]) rank the geomagnetic cut-off (fe_cosmic, +) first and give the decaying
    SAA activation its sign (log time since the SAA, -)."""
    from polar import model as polar_model

    features = ["fe_cosmic", "altitude", "temperature", "log_time_since_saa", "crabarf", "sun"]
    config = polar_config.load(
        overrides=[
            "synthetic.days=1",
            "synthetic.random_grbs_per_day=0",
            "train.max_epochs=15",
            f"data.features=[{','.join(features)}]",
            "data.targets=[10]",
        ]
    )
    run = pipeline.PolarRun(tmp_path / "run")
    pipeline.configure(run, config)
    data = pipeline.dataset(run, config)
    polar_model.train(data, config, run.train)
    trained = polar_model.load(run.model)
    table = interpret.gradient_table(
        interpret.jacobian(trained, data.features), ["rate[10]"], features
    )
    ranked = interpret.strongest(table, "rate[10]", len(features))
    assert ranked[0][0] == "fe_cosmic" and ranked[0][1] > 0, ranked
    means = dict(ranked)
    assert means["log_time_since_saa"] < 0, ranked
    significant = {r["feature"] for r in table if abs(r["significance"]) > 5}
    assert {"fe_cosmic", "log_time_since_saa"} <= significant
