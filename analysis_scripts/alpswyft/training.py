"""Training of one round's network with swyft and PyTorch Lightning.

The protocol: AdamW, ReduceLROnPlateau (factor 0.1, patience 3) and early
stopping on the validation loss with ``stopping_patience``, reload of the best checkpoint, an
80/20 train/validation split, fresh noise for ``data`` each time a sample is loaded. Unlike the
original it is seeded (split and shuffling), shuffles every epoch, trains in float32, and an
exception stops the run. Curves go to ``train_output/logs/round_{r}_gridpoint_{g}/metrics.csv``
and the split to ``split.npz`` beside them; nothing is written outside the run folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger

import swyft
from alpswyft.simulator import NoiseResampler
from analysis_core.files import save_npz
from analysis_core.lightning import EpochSummary, FiniteLoss, accelerator


class Batches(torch.utils.data.Dataset):
    """Whole batches of in-memory samples: item ``[i, j, ...]`` is the batch of those rows of
    ``indices`` with fresh noise (``noise``) drawn for the batch at once. Fancy indexing and one
    vectorised noise draw per batch replace swyft's per-sample loading and collation."""

    def __init__(self, samples: dict[str, np.ndarray], indices: np.ndarray, noise):
        self.samples, self.indices, self.noise = samples, indices, noise

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, rows):
        index = self.indices[rows]
        batch = self.noise({key: value[index] for key, value in self.samples.items()})
        return {
            key: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
            for key, value in batch.items()
        }


class DeviceBatches(torch.utils.data.IterableDataset):
    """Whole batches cut on the device where ``tensors`` live, with the noise drawn there by the
    model's torch chain (:meth:`~alpswyft.simulator.SpectrumSimulator.add_noise_torch`): a round's
    samples are copied to the GPU once, and no batch crosses the bus."""

    def __init__(
        self,
        tensors: dict,
        indices: np.ndarray,
        simulator,
        batch_size: int,
        noise_generator,
        order_generator=None,
    ):
        self.tensors, self.simulator, self.batch_size = tensors, simulator, batch_size
        self.indices = torch.as_tensor(indices, device=tensors["exp"].device)
        self.noise_generator, self.order_generator = noise_generator, order_generator

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __iter__(self):
        order = self.indices
        if self.order_generator is not None:  # a new permutation every epoch
            order = order[
                torch.randperm(len(order), generator=self.order_generator).to(order.device)
            ]
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = {key: value[rows] for key, value in self.tensors.items()}
            batch.update(self.simulator.add_noise_torch(batch["exp"], self.noise_generator))
            yield batch


class SeededDataModule(pl.LightningDataModule):
    """A seeded 80/20 train/validation split of in-memory samples, saved to ``split_path`` (NPZ of
    the sample indices) so a round's training can be reproduced; the training batches are
    reshuffled every epoch by a seeded generator, and every batch gets fresh noise.

    With ``device`` (a torch device) the samples are held there and the batches made there
    (:class:`DeviceBatches`); else they are cut from the host arrays with ``noise`` (a
    :class:`~alpswyft.simulator.NoiseResampler`).
    """

    def __init__(
        self,
        samples: dict[str, np.ndarray],
        noise,
        batch_size: int,
        seed: int,
        split_path,
        val_fraction=0.2,
        device=None,
    ):
        super().__init__()
        self.samples, self.noise, self.batch_size, self.seed = samples, noise, batch_size, seed
        n = len(samples["params"])
        permutation = np.random.default_rng(seed).permutation(n)
        n_val = int(round(val_fraction * n))
        self.train_indices, self.val_indices = permutation[n_val:], permutation[:n_val]
        save_npz(split_path, train=self.train_indices, validation=self.val_indices)
        self.device = device
        if device is not None:
            self.tensors = {
                key: torch.as_tensor(np.asarray(value, dtype=np.float32), device=device)
                for key, value in samples.items()
                if key in ("params", "exp")
            }
            self.noise_generator = torch.Generator(device=device).manual_seed(seed)

    def _loader(self, indices: np.ndarray, shuffle: bool):
        if self.device is not None:
            order = torch.Generator().manual_seed(self.seed) if shuffle else None
            dataset = DeviceBatches(
                self.tensors,
                indices,
                self.noise.simulator,
                self.batch_size,
                self.noise_generator,
                order,
            )
            return torch.utils.data.DataLoader(dataset, batch_size=None)
        dataset = Batches(self.samples, indices, self.noise)
        order = (
            torch.utils.data.RandomSampler(
                dataset, generator=torch.Generator().manual_seed(self.seed)
            )
            if shuffle
            else torch.utils.data.SequentialSampler(dataset)
        )
        sampler = torch.utils.data.BatchSampler(order, self.batch_size, drop_last=False)
        return torch.utils.data.DataLoader(dataset, sampler=sampler, batch_size=None)

    def train_dataloader(self):
        return self._loader(self.train_indices, shuffle=True)

    def val_dataloader(self):
        return self._loader(self.val_indices, shuffle=False)


def train_network(
    network, simulator, samples: dict, log_dir, name: str, seed: int, batch_device=None
):
    """Train ``network`` on in-memory ``samples`` (params, exp); ``simulator`` draws the noise of
    ``data`` (and ``power``) for every batch. The batches are made on ``batch_device`` (default:
    the GPU when training on one and the model draws its noise in torch, else from host arrays).

    Returns the trained network (best validation checkpoint) and a dict of training figures.
    """
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    pl.seed_everything(seed, workers=True)
    config = simulator.config
    loggers = [CSVLogger(str(log_dir), name=name, version="")]
    _ = loggers[0].experiment  # creates the folder now, before split.npz lands in it
    on_gpu = accelerator(config.execution.gpus) == "gpu"
    datamodule = SeededDataModule(
        samples,
        NoiseResampler(simulator, seed),
        config.training.train_batch_size_1d,
        seed,
        Path(log_dir, name, "split.npz"),
        device=batch_device
        or (torch.device("cuda") if on_gpu and simulator.noise_on_device else None),
    )
    if config.execution.wandb_mode != "disabled":
        from pytorch_lightning.loggers import WandbLogger

        loggers.append(
            WandbLogger(
                project="alpswyft",
                name=f"{config.run_name}_{name}",
                save_dir=str(log_dir),
                mode=config.execution.wandb_mode,
            )
        )
    n_train = len(datamodule.train_indices)
    steps_per_epoch = max(1, n_train // config.training.train_batch_size_1d)
    trainer = swyft.SwyftTrainer(
        accelerator="gpu" if on_gpu else "cpu",
        devices=1,
        max_epochs=config.training.max_epochs,
        precision=32,
        logger=loggers,
        callbacks=[EpochSummary(), FiniteLoss()],
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=min(50, steps_per_epoch),
        default_root_dir=str(log_dir),
    )
    start = time.perf_counter()
    trainer.fit(network, datamodule)
    seconds = time.perf_counter() - start
    checkpoint = trainer.checkpoint_callback
    figures = {
        "best_val_loss": float(checkpoint.best_model_score),
        "epochs": trainer.current_epoch,
        "seconds": round(seconds, 2),
        "samples_per_second": round(trainer.current_epoch * n_train / max(seconds, 1e-9), 1),
        "n_train": n_train,
        "n_validation": len(samples["params"]) - n_train,
        "device": str(trainer.strategy.root_device),  # Lightning moves the network back to the CPU
    }
    return network, figures
