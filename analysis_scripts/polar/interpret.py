"""Interpretability of the background model: its derivatives and profiles, how the original's
users vetted what the model learned (it is how they found a bug in the ``crabarf`` column).

- :func:`jacobian`: dy_hat/dx of every target with respect to every standardised feature, by
  autograd, batched over all rows on the CPU or a GPU; :func:`raw_jacobian` the derivative with
  respect to the raw features by the chain rule (divided by the training rows' feature widths);
- :func:`gradient_table`: per (target, feature) the mean derivative, its error sigma/sqrt(N), its
  significance, the median and the width of a Gaussian fitted to the derivative's histogram;
- :func:`profiles`: the mean target and the mean prediction per cell over two chosen features
  (``binned_statistic_2d``, 200 x 200), side by side.
"""

from __future__ import annotations

import numpy as np
import torch

from polar.intervals import fit_core


def jacobian(
    model, features: np.ndarray, batch_size: int = 65536, device: str = "cpu"
) -> np.ndarray:
    """(n, n_targets, n_features): the derivative of each predicted rate (Hz) with respect to each
    standardised feature (Hz per training-set standard deviation), for every row."""
    model = model.to(device).eval()
    std, mean = model.features.std, model.features.mean
    out = np.empty((len(features), model.hparams.n_targets, features.shape[1]), dtype=np.float32)
    for start in range(0, len(features), batch_size):
        raw = torch.as_tensor(features[start : start + batch_size], device=device)
        standardised = ((raw - mean) / std).detach().requires_grad_(True)

        def predict(s):
            return model(s * std + mean).sum(
                dim=0
            )  # rows are independent: d(sum over rows)/d(row) is per row

        rows = torch.autograd.functional.jacobian(
            predict, standardised, vectorize=True
        )  # (n_targets, batch, n_features)
        out[start : start + len(raw)] = rows.permute(1, 0, 2).cpu().numpy()
    return out


def raw_jacobian(model, standardised_jacobian: np.ndarray) -> np.ndarray:
    """The derivative with respect to the raw features (Hz per feature unit): the chain rule
    through the standardisation, dividing by each feature's training-set standard deviation."""
    return standardised_jacobian / model.features.std.cpu().numpy()[None, None, :]


def gradient_table(jac: np.ndarray, targets: list[str], features: list[str]) -> list[dict]:
    """Per (target, feature): mean, error of the mean (sigma/sqrt(N)), its significance, median,
    and the mean and width of a Gaussian fitted to the core of the derivative's histogram."""
    rows = []
    n = jac.shape[0]
    for t, target in enumerate(targets):
        for f, feature in enumerate(features):
            values = jac[:, t, f].astype(np.float64)
            mean, sigma = float(values.mean()), float(values.std())
            error = sigma / np.sqrt(n)
            core = fit_core(values) if sigma > 0 else None
            rows.append(
                {
                    "target": target,
                    "feature": feature,
                    "mean": mean,
                    "error": error,
                    "significance": mean / error if error > 0 else 0.0,
                    "median": float(np.median(values)),
                    "fit_mean": core.mu if core else mean,
                    "fit_sigma": core.sigma if core else 0.0,
                }
            )
    return rows


def strongest(table: list[dict], target: str, n: int = 3) -> list[tuple[str, float]]:
    """The ``n`` features with the largest ``|mean derivative|`` for ``target``, with the mean."""
    rows = sorted((r for r in table if r["target"] == target), key=lambda r: -abs(r["mean"]))
    return [(r["feature"], r["mean"]) for r in rows[:n]]


def profiles(
    x: np.ndarray, y: np.ndarray, target: np.ndarray, prediction: np.ndarray, bins: int = 200
):
    """Mean target and mean prediction per cell of (x, y): two (bins, bins) arrays and the edges."""
    from scipy.stats import binned_statistic_2d

    measured = binned_statistic_2d(x, y, target, statistic="mean", bins=bins)
    predicted = binned_statistic_2d(
        x, y, prediction, statistic="mean", bins=[measured.x_edge, measured.y_edge]
    )
    return measured.statistic, predicted.statistic, measured.x_edge, measured.y_edge


def write_table(path, table: list[dict]) -> None:
    """The gradient table as CSV (one row per target and feature)."""
    from polar.export import write_csv

    write_csv(path, table)
