"""The training data module: seeded split, reshuffled batches, fresh noise for every batch, from
host arrays or with the batches made on the device (here the CPU device stands in for a GPU)."""

import numpy as np
import pytest
import torch

from alpswyft.config import load_run_config
from alpswyft.simulator import NoiseResampler, SpectrumSimulator
from alpswyft.training import SeededDataModule


def datamodule(tmp_path, variables, seed=5, device=None):
    config, _ = load_run_config(variables)
    simulator = SpectrumSimulator(config)
    samples = simulator.sample(100, config.table.initial_bounds, np.random.default_rng(0))
    samples = {k: samples[k] for k in ("params", "exp")}
    return samples, SeededDataModule(
        samples, NoiseResampler(simulator, seed), 16, seed, tmp_path / "split.npz", device=device
    )


def test_split_is_seeded_saved_and_disjoint(tmp_path, variables):
    _, module = datamodule(tmp_path, variables)
    split = np.load(tmp_path / "split.npz")
    assert len(split["train"]) == 80 and len(split["validation"]) == 20
    assert sorted(np.concatenate([split["train"], split["validation"]]).tolist()) == list(
        range(100)
    )
    _, again = datamodule(tmp_path, variables)
    np.testing.assert_array_equal(again.train_indices, module.train_indices)


@pytest.mark.parametrize("device", [None, torch.device("cpu")], ids=["host", "device"])
def test_batches_are_reshuffled_every_epoch_with_fresh_noise(tmp_path, variables, device):
    samples, module = datamodule(tmp_path, variables, device=device)
    loader = module.train_dataloader()
    first, second = list(loader), list(loader)
    assert [len(b["params"]) for b in first] == [16] * 5
    order = lambda epoch: np.concatenate([b["params"][:, 0].numpy() for b in epoch])  # noqa: E731
    assert not np.array_equal(order(first), order(second))
    assert (
        sorted(order(first))
        == sorted(order(second))
        == sorted(samples["params"][module.train_indices, 0])
    )
    batch = first[0]
    assert set(batch) == {"params", "exp", "data"} and batch["data"].dtype.is_floating_point
    residual = (batch["data"] - batch["exp"]).numpy()
    assert 0.7 < residual.std() < 1.3  # noise_sigma = 1
    validation = [list(module.val_dataloader()) for _ in range(2)]
    np.testing.assert_array_equal(
        validation[0][0]["params"], validation[1][0]["params"]
    )  # fixed order
    assert not np.allclose(validation[0][0]["data"], validation[1][0]["data"])  # fresh noise


def test_a_short_training_on_device_batches_learns_as_on_host_batches(tmp_path, variables):
    """The same toy_line network trained 15 epochs from host batches and from device batches:
    different noise draws, the same loss to within the spread of the training seeds (the best
    validation loss of either moves by about 0.1 from one seed to the next)."""
    from alpswyft.networks import build_network
    from alpswyft.training import train_network

    config, _ = load_run_config({**variables, "max_epochs": "15"})
    simulator = SpectrumSimulator(config)
    samples = simulator.sample(3000, config.table.initial_bounds, np.random.default_rng(0))
    samples = {k: samples[k] for k in ("params", "exp")}
    losses = {}
    for name, device in (("host", None), ("device", torch.device("cpu"))):
        torch.manual_seed(0)
        network = build_network(config, config.grid[0], simulator.shapes)
        _, figures = train_network(
            network, simulator, samples, tmp_path / name, name, seed=1, batch_device=device
        )
        losses[name] = figures["best_val_loss"]
    assert simulator.noise_on_device
    assert losses["host"] < -1.5 and losses["device"] < -1.5  # both learn (an untrained network: 0)
    assert abs(losses["host"] - losses["device"]) < 0.3, losses


def test_a_non_finite_loss_stops_training_naming_the_node(tmp_path, variables):
    """NaN in some samples' exp (so in the data drawn from it): the first training step stops
    with one line naming the epoch, the batch and the node; no epoch runs on it."""
    from alpswyft.networks import build_network
    from alpswyft.training import train_network
    from analysis_core.errors import PipelineError

    config, _ = load_run_config({**variables, "max_epochs": "3"})
    simulator = SpectrumSimulator(config)
    samples = simulator.sample(400, config.table.initial_bounds, np.random.default_rng(0))
    samples = {k: samples[k] for k in ("params", "exp")}
    samples["exp"][::7] = np.nan
    network = build_network(config, config.grid[0], simulator.shapes)
    with pytest.raises(
        PipelineError,
        match=r"training stopped: the (training|validation) loss is nan at epoch 1, batch 0; "
        r"the input node\(s\) data, exp hold NaN or inf",
    ):
        train_network(network, simulator, samples, tmp_path, "nan", seed=1)
    assert not list(tmp_path.rglob("*.ckpt"))  # nothing kept to train on or infer with


def test_a_diverged_network_is_said_to_have_diverged():
    from analysis_core.errors import PipelineError
    from analysis_core.lightning import FiniteLoss

    class Trainer:
        current_epoch = 4
        optimizers = [torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)]

    batch = {"data": torch.ones(3, 2), "params": torch.zeros(3, 2)}
    with pytest.raises(
        PipelineError,
        match="at epoch 5, batch 7; every input is finite: the network diverged at the learning rate 0.5",
    ):
        FiniteLoss().on_train_batch_end(
            Trainer(), None, {"loss": torch.tensor(float("inf"))}, batch, 7
        )
    FiniteLoss().on_train_batch_end(Trainer(), None, torch.tensor(1.0), batch, 7)  # finite: nothing


def test_a_truncation_that_keeps_no_sample_says_why():
    from alpswyft.truncation import rect_bounds
    from analysis_core.errors import PipelineError

    values = np.random.default_rng(0).uniform(size=(100, 2))
    logratios = np.zeros((100, 2))
    logratios[:, 1] = np.nan
    with pytest.raises(
        PipelineError,
        match=r"keeps no prior sample for the POI\(s\) at position\(s\) 1: its log-ratios are NaN",
    ):
        rect_bounds(logratios, values)
