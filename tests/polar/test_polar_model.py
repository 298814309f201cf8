"""Training: resuming an interrupted fit, a changed configuration, and the SLURM back-end."""

import json

import pytest
from conftest import SHARED

from analysis_core.errors import ConfigError
from polar import config as polar_config
from polar import pipeline


def small(*overrides):
    return polar_config.load(
        overrides=[
            "synthetic.days=0.25",
            "synthetic.random_grbs_per_day=0",
            "train.max_epochs=2",
            "model.hidden=[16]",
            "train.batch_size=4096",
            *overrides,
        ]
    )


def epochs(run):
    from polar.model import metrics

    return sorted({int(row["epoch"]) for row in metrics(run.train / "logs")})


def test_an_interrupted_training_resumes_from_its_last_checkpoint(tmp_path, capsys):
    from polar import model

    run = pipeline.PolarRun(tmp_path / "run")
    pipeline.configure(run, small())
    data = pipeline.dataset(run, small())
    model.train(data, small(), run.train)  # as if killed after 2 epochs: last.ckpt is there
    assert (run.train / "checkpoints" / "last.ckpt").is_file() and epochs(run) == [0, 1]
    model.train(data, small("train.max_epochs=3"), run.train)
    assert "resuming the training from" in capsys.readouterr().out
    assert epochs(run) == [0, 1, 2]  # epoch 2 only was added


def test_a_changed_configuration_sets_the_earlier_training_aside(tmp_path, capsys):
    run = pipeline.PolarRun(tmp_path / "run")
    pipeline.configure(run, small())
    pipeline.train(run)
    pipeline.configure(run, small("model.hidden=[8]"))
    pipeline.train(run)
    assert "the earlier training is kept in train.superseded_0" in capsys.readouterr().out
    assert (run.root / "train.superseded_0" / "model.pt").is_file() and run.model.is_file()
    pipeline.train(run)
    assert "training: done already" in capsys.readouterr().out


def test_the_three_losses_are_the_documented_formulas():
    """chi2: mean ((y_hat - y) / err)^2; weighted_mse (the original): sum w (y_hat - y)^2 / sum w,
    in Hz^2 with the rates unstandardised; mse: mean (y_hat - y)^2."""
    import torch

    from polar.model import BackgroundModel

    torch.manual_seed(0)
    features, rate = torch.randn(32, 4), 100 + 10 * torch.randn(32, 3)
    rate_err, weights = 5 + torch.rand(32, 3), torch.rand(32, 3)
    for loss, expected in (
        ("chi2", lambda r: torch.mean((r / rate_err) ** 2)),
        ("weighted_mse", lambda r: torch.sum(weights * r**2) / torch.sum(weights)),
        ("mse", lambda r: torch.mean(r**2)),
    ):
        for standardise in (True, False):
            model = BackgroundModel(
                4,
                3,
                [8],
                "relu",
                1e-3,
                (0.9, 0.999),
                0.0,
                loss=loss,
                standardise_targets=standardise,
            )
            model.targets.fit(rate.numpy())
            residual = model(features) - rate
            torch.testing.assert_close(
                model._loss((features, rate, rate_err, weights)), expected(residual)
            )
            if not standardise:  # the network's output is the rate itself
                torch.testing.assert_close(model(features), model.mlp(model.features(features)))


def test_the_original_preset_keeps_the_last_epoch_without_early_stopping(tmp_path):
    import torch

    from polar import model

    config = polar_config.load(
        "original",
        [
            "synthetic.days=0.25",
            "synthetic.random_grbs_per_day=0",
            "train.max_epochs=3",
            "model.hidden=[16]",
            "train.batch_size=4096",
            "train.gpus=0",
        ],
    )
    run = pipeline.PolarRun(tmp_path / "run")
    pipeline.configure(run, config)
    data = pipeline.dataset(run, config)
    assert set(data.part) == {"train", "val", "test", "none"}
    summary = model.train(data, config, run.train)
    assert summary["kept"] == "last" and summary["epochs"] == 3 and epochs(run) == [0, 1, 2]
    last = torch.load(
        run.train / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False
    )["state_dict"]
    kept = model.load(run.model).state_dict()
    assert all(torch.equal(kept[k], last[k]) for k in kept)


CHECKPOINT = SHARED / "data" / "polar" / "original_products" / "last_general_checkpoint.pth"


@pytest.mark.requires_data(CHECKPOINT.relative_to(SHARED))
def test_the_original_analysis_trained_model_is_loaded_instead_of_training(tmp_path, capsys):
    """The original's general_checkpoint.pth (with its pickled Hydra configuration, read without
    omegaconf) in the preset's network: its 18 features, 3 x 200 and 6 targets; the features
    standardised with the data's training rows; its 200 epochs of curves; the last epoch kept."""
    import numpy as np
    import torch

    from polar import model

    overrides = ["synthetic.days=0.25", "synthetic.random_grbs_per_day=0", "train.gpus=0"]
    _, command_line = polar_config.split_arguments([f"checkpoint={CHECKPOINT}"])
    config = polar_config.load("original", overrides + command_line)
    assert config.train.checkpoint == str(CHECKPOINT.resolve())
    run = pipeline.PolarRun(tmp_path / "run")
    pipeline.configure(run, config)
    pipeline.train(run)
    out = capsys.readouterr().out
    assert "the original's model from" in out and "epoch 200 of 200 kept (last)" in out
    training = json.loads(run.training.read_text())
    assert training["kept_epoch"] == 200 and training["checkpoint"] == str(CHECKPOINT.resolve())
    saved = model.read_original_checkpoint(CHECKPOINT)
    assert training["kept_val_loss"] == pytest.approx(float(saved["val_loss"][-1]))
    loaded = model.load(run.model)
    assert torch.equal(loaded.mlp[6].weight, saved["model_state_dict"]["6.weight"])
    data = pipeline.dataset(run, config)
    train_rows = (data.part == "train") & ~data.grb_masked & np.all(data.rate_err > 0, axis=1)
    np.testing.assert_allclose(
        loaded.features.mean.numpy(), data.features[train_rows].mean(axis=0), rtol=1e-5
    )
    assert len(epochs(run)) == 200  # its curves, as the loss-curve figure reads them
    pipeline.predict(run)
    assert np.load(run.predictions)["predicted"].shape == (len(data.part), 6)


@pytest.mark.requires_data(CHECKPOINT.relative_to(SHARED))
def test_a_checkpoint_of_another_network_is_refused_naming_both_shapes(tmp_path):
    from polar import model

    config = small(f"train.checkpoint={CHECKPOINT}")  # the default: 13 targets, other features
    run = pipeline.PolarRun(tmp_path / "run")
    pipeline.configure(run, config)
    with pytest.raises(
        ConfigError, match=r"its network maps 18 features through \[200, 200, 200\] to 6 targets"
    ):
        model.from_original_checkpoint(pipeline.dataset(run, config), config, run.train)


@pytest.mark.slow
def test_training_as_a_slurm_job(slurm_cluster, tmp_path):
    from analysis_core.slurm import Resources

    run = pipeline.PolarRun(tmp_path / "run")
    config = small()
    pipeline.configure(run, config)
    pipeline._train_on_slurm(
        run, config, Resources(job_name="polar_train", time="00-00:10:00", mem_per_cpu_gb=2), 2
    )
    assert run.model.is_file() and json.loads(run.training.read_text())[
        "config_hash"
    ] == run.training_key(config)
    assert list((run.root / "slurm" / "logs").glob("slurm-*.out"))
