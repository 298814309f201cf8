"""What every Lightning training of the repository shares: the device, the log line per epoch and
the stop at a non-finite loss."""

from __future__ import annotations

import time

import pytorch_lightning as pl
import torch

from analysis_core.errors import PipelineError


class EpochSummary(pl.Callback):
    """One readable log line per epoch (a progress bar does not belong in a log file)."""

    def on_train_epoch_start(self, trainer, module):
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
        metrics = trainer.callback_metrics
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        parts = [f"epoch {trainer.current_epoch + 1:4d}"]
        parts += [
            f"{k} {metrics[k].item():+.4f}" for k in ("train_loss", "val_loss") if k in metrics
        ]
        parts.append(f"lr {lr:.1e}  ({time.perf_counter() - self.start:.1f} s)")
        print("  ".join(parts), flush=True)


class FiniteLoss(pl.Callback):
    """Stops training at the first non-finite training or validation loss with one line: the
    epoch, the batch, and which input nodes hold NaN or inf, or, when every input is finite, that
    the network diverged at its learning rate. Nothing is trained further on it."""

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self._check(trainer, "training", outputs, batch, batch_idx)

    def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0):
        if (
            not trainer.sanity_checking
        ):  # before any step, an online standardisation has no width yet
            self._check(trainer, "validation", outputs, batch, batch_idx)

    @staticmethod
    def _check(trainer, phase, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None or bool(torch.isfinite(torch.as_tensor(loss)).all()):
            return
        where = f"epoch {trainer.current_epoch + 1}, batch {batch_idx}"
        bad = sorted(name for name, value in _nodes(batch) if not torch.isfinite(value).all())
        if bad:
            why = (
                f"the input node(s) {', '.join(bad)} hold NaN or inf: the samples are not finite "
                "(a store the simulation stage did not check, or a model's features)"
            )
        else:
            lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")
            why = (
                f"every input is finite: the network diverged at the learning rate {lr:.3g}; "
                "train with a lower learning_rate"
            )
        raise PipelineError(
            f"training stopped: the {phase} loss is {float(torch.as_tensor(loss).detach().float().mean())} "
            f"at {where}; {why}"
        )


def _nodes(batch, prefix: str = ""):
    """(name, tensor) of every floating tensor in a batch (a dict of nodes, or tuples of them)."""
    if isinstance(batch, dict):
        for key, value in batch.items():
            yield from _nodes(value, f"{prefix}{key}")
    elif isinstance(batch, list | tuple):
        for k, value in enumerate(batch):
            yield from _nodes(value, prefix or f"input {k}")
    elif torch.is_tensor(batch) and batch.is_floating_point():
        yield prefix or "input", batch


def accelerator(gpus: int) -> str:
    """CUDA when asked for (gpus > 0) and present, else CPU."""
    if gpus > 0 and not torch.cuda.is_available():
        print(f"gpus = {gpus} but no CUDA device is visible: training on the CPU")
    return "gpu" if gpus > 0 and torch.cuda.is_available() else "cpu"
