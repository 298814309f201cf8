"""The background model: an MLP from context features to the rates of the target channels.

Features (and, with ``model.standardise_targets``, rates) are standardised with means and widths
fitted on the training rows only. The loss (``train.loss``) is

- ``chi2``: the mean of ((predicted - rate) / rate_err)^2, the chi-square per bin and channel,
  near 1 for a model at the Poisson noise;
- ``weighted_mse`` (the original): sum w (predicted - rate)^2 / sum w over the batch, in Hz^2,
  with the weights of ``data.weights`` (1/rate_err^2 by default);
- ``mse``: the plain mean of (predicted - rate)^2.

Training uses Lightning: seeded, early stopping on the validation loss (unless ``train.patience``
is 0), the best or the last epoch's model (``train.keep``), a resumable ``last.ckpt`` (the curves of
an interrupted attempt are kept as ``metrics.attempt_<n>.csv``), CSV curves always and wandb when
``wandb.mode`` asks for it, the GPU when ``train.gpus=1`` and one is present.
"""

from __future__ import annotations

import csv
import os
import pickle
import types
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from analysis_core.errors import ConfigError
from analysis_core.files import write_text
from analysis_core.lightning import EpochSummary, FiniteLoss, accelerator
from polar.config import PolarConfig
from polar.data import Dataset

ACTIVATIONS = {
    "relu": torch.nn.ReLU,
    "gelu": torch.nn.GELU,
    "silu": torch.nn.SiLU,
    "tanh": torch.nn.Tanh,
    "elu": torch.nn.ELU,
}


class Standardiser(torch.nn.Module):
    """(x - mean) / std with the statistics of the training rows, kept in the state dict."""

    def __init__(self, n: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))

    def fit(self, x: np.ndarray) -> Standardiser:
        self.mean.copy_(torch.as_tensor(x.mean(axis=0)))
        self.std.copy_(torch.as_tensor(np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)))
        return self

    def forward(self, x):
        return (x - self.mean) / self.std


class BackgroundModel(pl.LightningModule):
    def __init__(
        self,
        n_features: int,
        n_targets: int,
        hidden: list[int],
        activation: str,
        lr: float,
        betas: tuple[float, float],
        weight_decay: float,
        plateau_factor: float = 1.0,
        plateau_patience: int = 0,
        eps: float = 1e-8,
        loss: str = "chi2",
        standardise_targets: bool = True,
    ):
        super().__init__()
        self.save_hyperparameters()
        layers, width = [], n_features
        for size in hidden:
            layers += [torch.nn.Linear(width, size), ACTIVATIONS[activation]()]
            width = size
        self.mlp = torch.nn.Sequential(*layers, torch.nn.Linear(width, n_targets))
        self.features = Standardiser(n_features)
        self.targets = Standardiser(n_targets)

    def forward(self, features):
        """Predicted rates (counts/s) of the target channels."""
        out = self.mlp(self.features(features))
        return (
            out * self.targets.std + self.targets.mean if self.hparams.standardise_targets else out
        )

    def _loss(self, batch):
        features, rate, rate_err, weights = batch
        residual = self(features) - rate
        if self.hparams.loss == "chi2":
            return torch.mean((residual / rate_err) ** 2)
        if self.hparams.loss == "weighted_mse":
            return torch.sum(weights * residual**2) / torch.sum(weights)
        return torch.mean(residual**2)

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch), on_step=False, on_epoch=True, prog_bar=True)

    def configure_optimizers(self):
        h = self.hparams
        optimizer = torch.optim.Adam(
            self.parameters(), lr=h.lr, betas=tuple(h.betas), eps=h.eps, weight_decay=h.weight_decay
        )
        if h.plateau_factor >= 1:  # a constant learning rate
            return optimizer
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=h.plateau_factor, patience=h.plateau_patience
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": plateau, "monitor": "val_loss"},
        }


def _tensors(dataset: Dataset, rows: np.ndarray):
    return (
        torch.as_tensor(dataset.features[rows]),
        torch.as_tensor(dataset.rate[rows], dtype=torch.float32),
        torch.as_tensor(dataset.rate_err[rows], dtype=torch.float32),
        torch.as_tensor(dataset.weights[rows], dtype=torch.float32),
    )


def _loader(dataset: Dataset, rows: np.ndarray, batch_size: int, seed: int | None):
    """Whole batches indexed at once (a TensorDataset takes a list of indices), shuffled by a
    seeded generator when ``seed`` is given; per-sample collation would dominate the step time."""
    data = torch.utils.data.TensorDataset(*_tensors(dataset, rows))
    order = (
        torch.utils.data.RandomSampler(data, generator=torch.Generator().manual_seed(seed))
        if seed is not None
        else torch.utils.data.SequentialSampler(data)
    )
    sampler = torch.utils.data.BatchSampler(order, batch_size, drop_last=False)
    return torch.utils.data.DataLoader(data, sampler=sampler, batch_size=None)


def _rows(dataset: Dataset) -> dict[str, np.ndarray]:
    """The rows trained and validated on: the train and val parts outside the GRB masks, with
    positive errors."""
    usable = ~dataset.grb_masked & np.all(dataset.rate_err > 0, axis=1)
    return {part: np.flatnonzero(usable & (dataset.part == part)) for part in ("train", "val")}


def _standardised_model(dataset: Dataset, config: PolarConfig, rows: dict) -> BackgroundModel:
    """The configured network, its features (and rates) standardised with the training rows."""
    o = config.optimizer
    model = BackgroundModel(
        dataset.features.shape[1],
        dataset.rate.shape[1],
        config.model.hidden,
        config.model.activation,
        o.lr,
        o.betas,
        o.weight_decay,
        o.plateau_factor,
        o.plateau_patience,
        o.eps,
        config.train.loss,
        config.model.standardise_targets,
    )
    model.features.fit(dataset.features[rows["train"]])
    model.targets.fit(dataset.rate[rows["train"]])
    return model


def train(dataset: Dataset, config: PolarConfig, out: Path) -> dict:
    """Train on the rows of the train part outside the GRB masks; checkpoints, curves and the final
    model (``model.pt``: the best validation checkpoint, or the last epoch's) go to ``out``. A ``last.ckpt`` left by an
    interrupted training is resumed. Returns the training's figures (loss, epochs, rows, device)."""
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    pl.seed_everything(config.train.seed, workers=True)
    rows = _rows(dataset)
    model = _standardised_model(dataset, config, rows)
    loaders = {
        part: _loader(
            dataset, r, config.train.batch_size, config.train.seed if part == "train" else None
        )
        for part, r in rows.items()
    }
    checkpoints = out / "checkpoints"
    best = pl.callbacks.ModelCheckpoint(
        dirpath=str(checkpoints), filename="best", monitor="val_loss", save_last=True
    )
    loggers = [pl.loggers.CSVLogger(str(out), name="logs", version="")]
    if config.wandb.mode != "disabled":
        loggers.append(
            pl.loggers.WandbLogger(
                project=config.wandb.project, save_dir=str(out), mode=config.wandb.mode
            )
        )
    trainer = pl.Trainer(
        accelerator=accelerator(config.train.gpus),
        devices=1,
        max_epochs=config.train.max_epochs,
        callbacks=[best, EpochSummary(), FiniteLoss()]
        + (
            [pl.callbacks.EarlyStopping("val_loss", patience=config.train.patience)]
            if config.train.patience > 0
            else []
        ),
        logger=loggers,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
        log_every_n_steps=10,
    )
    last = checkpoints / "last.ckpt"
    if last.is_file():
        print(f"resuming the training from {last}")
        metrics = out / "logs" / "metrics.csv"
        if metrics.is_file():  # the logger would overwrite the curves of the interrupted attempt
            metrics.rename(
                metrics.with_name(
                    f"metrics.attempt_{len(list(metrics.parent.glob('metrics.attempt_*')))}.csv"
                )
            )
    trainer.fit(
        model, loaders["train"], loaders["val"], ckpt_path=str(last) if last.is_file() else None
    )
    # our own file, written during this fit (Lightning's loader insists on weights_only)
    kept = best.best_model_path if config.train.keep == "best" else best.last_model_path
    model.load_state_dict(torch.load(kept, map_location="cpu", weights_only=False)["state_dict"])
    save(model.cpu().eval(), out / "model.pt")
    return {
        **_kept(_val_losses(out / "logs"), config.train.keep),
        "n_train": int(len(rows["train"])),
        "n_val": int(len(rows["val"])),
        "device": str(trainer.strategy.root_device),
        "features": config.data.features,
        "targets": config.data.targets,
    }


def metrics(log_dir) -> list[dict]:
    """The rows of Lightning's metrics.csv in ``log_dir``, after those of interrupted attempts."""
    rows = []
    for path in [*sorted(log_dir.glob("metrics.attempt_*.csv")), log_dir / "metrics.csv"]:
        with open(path, newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


def _val_losses(log_dir: Path) -> list[float]:
    """The validation loss of each epoch, in order, from the CSV curves (every attempt)."""
    return [float(r["val_loss"]) for r in metrics(log_dir) if r.get("val_loss")]


def _kept(val_losses: list[float], keep: str) -> dict:
    """The training's figures of the model kept: the epochs run, the kept epoch (1-based) and its
    validation loss, and the best validation loss."""
    epoch = int(np.argmin(val_losses)) if keep == "best" else len(val_losses) - 1
    return {
        "kept": keep,
        "epochs": len(val_losses),
        "kept_epoch": epoch + 1,
        "kept_val_loss": float(val_losses[epoch]),
        "best_val_loss": float(min(val_losses)),
    }


class _Unknown:
    """A class of a module that is not installed (the original's pickled Hydra configuration):
    kept as its state, never used."""

    def __setstate__(self, state):
        self.state = state


class _TolerantUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (_Unknown,), {"__module__": module})


def read_original_checkpoint(path: Path) -> dict:
    """The original analysis's ``general_checkpoint.pth`` (``torch.save`` of a dict with its
    ``model_state_dict``, ``epoch``, ``train_loss`` and ``val_loss``), read without the Hydra and
    OmegaConf classes its pickle also names."""
    tolerant = types.SimpleNamespace(
        Unpickler=_TolerantUnpickler, load=pickle.load, __name__="pickle"
    )
    try:
        saved = torch.load(path, map_location="cpu", pickle_module=tolerant, weights_only=False)
    except (OSError, pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ConfigError(
            "train.checkpoint", str(path), f"cannot be read as a checkpoint: {error}"
        ) from None
    if not isinstance(saved, dict) or "model_state_dict" not in saved:
        raise ConfigError(
            "train.checkpoint", str(path), "expected the original's dict with a model_state_dict"
        )
    return saved


def from_original_checkpoint(dataset: Dataset, config: PolarConfig, out: Path) -> dict:
    """The original analysis's trained MLP (``train.checkpoint``) as this project's model, instead
    of a training: its weights checked against the configured features, hidden layers and
    targets; the features standardised with the training rows' mean and std, as the original
    recomputed them; its loss curves written as the CSV curves. Returns the training's figures."""
    path = Path(config.train.checkpoint)
    saved = read_original_checkpoint(path)
    state = {k: torch.as_tensor(v) for k, v in saved["model_state_dict"].items()}
    weights = [
        state[k] for k in sorted(state, key=lambda k: int(k.split(".")[0])) if k.endswith("weight")
    ]
    have = (
        int(weights[0].shape[1]),
        [int(w.shape[0]) for w in weights[:-1]],
        int(weights[-1].shape[0]),
    )
    want = (dataset.features.shape[1], list(config.model.hidden), dataset.rate.shape[1])
    if have != want:
        raise ConfigError(
            "train.checkpoint",
            str(path),
            f"its network maps {have[0]} features through {have[1]} to {have[2]} targets; the "
            f"configuration has {want[0]} features ({', '.join(map(str, config.data.features))}), "
            f"model.hidden = {want[1]} and {want[2]} targets ({', '.join(map(str, config.data.targets))})",
        )
    rows = _rows(dataset)
    model = _standardised_model(dataset, config, rows)
    model.mlp.load_state_dict(state)
    save(model.eval(), out / "model.pt")
    curves = {k: [float(v) for v in saved.get(k, [])] for k in ("train_loss", "val_loss")}
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    lines = ["epoch,train_loss,val_loss"] + [
        f"{e},{t!r},{v!r}" for e, (t, v) in enumerate(zip(curves["train_loss"], curves["val_loss"]))
    ]
    write_text(logs / "metrics.csv", "\n".join(lines) + "\n")
    print(
        f"training: the original's model from {path} (epoch {saved.get('epoch')}, "
        f"{len(curves['val_loss'])} epochs of curves), not trained here"
    )
    return {
        **_kept(curves["val_loss"] or [float("nan")], "last"),
        "n_train": int(len(rows["train"])),
        "n_val": int(len(rows["val"])),
        "device": "cpu",
        "features": config.data.features,
        "targets": config.data.targets,
        "checkpoint": str(path),
    }


def save(model: BackgroundModel, path: Path) -> None:
    partial = path.with_suffix(".pt.partial")
    torch.save({"hyperparameters": dict(model.hparams), "state_dict": model.state_dict()}, partial)
    partial.replace(path)


def load(path: Path) -> BackgroundModel:
    saved = torch.load(path, map_location="cpu", weights_only=False)
    model = BackgroundModel(**saved["hyperparameters"])
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def predict(
    model: BackgroundModel, features: np.ndarray, batch_size: int, device: str = "cpu"
) -> np.ndarray:
    """Predicted rates for every row, in batches of ``batch_size`` rows (float64, (n, n_targets))."""
    model = model.to(device).eval()
    out = np.empty((len(features), model.hparams.n_targets))
    with torch.no_grad():
        for start in range(0, len(features), batch_size):
            batch = torch.as_tensor(features[start : start + batch_size], device=device)
            out[start : start + batch_size] = model(batch).double().cpu().numpy()
    return out
