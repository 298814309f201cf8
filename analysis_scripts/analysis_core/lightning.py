"""What every Lightning training of the repository shares: the device and the log line per epoch."""

from __future__ import annotations

import time

import pytorch_lightning as pl
import torch


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


def accelerator(gpus: int) -> str:
    """CUDA when asked for (gpus > 0) and present, else CPU."""
    if gpus > 0 and not torch.cuda.is_available():
        print(f"gpus = {gpus} but no CUDA device is visible: training on the CPU")
    return "gpu" if gpus > 0 and torch.cuda.is_available() else "cpu"
