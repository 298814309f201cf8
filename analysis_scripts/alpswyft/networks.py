"""Marginal ratio estimators: swyft's 1D and 2D log-ratio estimators on a feature head.

The head (:mod:`alpswyft.architectures`) turns the simulator's nodes into features; a
``LogRatioEstimator_1dim`` gives one residual-MLP channel per POI and a
``LogRatioEstimator_Ndim`` one channel per POI pair i < j. ``restricted_posterior`` selects both
(0), the 1D part only (1) or the 2D part only (2); with a single POI only the 1D part exists.

Hyperparameters arrive as arguments (never module globals); input sizes come from the
simulator's shapes. POI pairs are positions within ``POI_indices`` and are applied to the
POI-selected parameter columns, so any subset of free parameters works.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import swyft
import torch

from alpswyft import compat
from alpswyft.architectures import TRAINING_HYPERPARAMS, Architecture, resolve
from alpswyft.errors import PipelineError
from alpswyft.results import read_json, write_json

compat.apply()


class MarginalRatioNetwork(swyft.AdamWReduceLROnPlateau, swyft.SwyftModule):
    """1D and/or 2D marginal log-ratio estimators for the POIs on a feature head.

    Arguments:
        head: the feature head (a module with ``n_features``).
        poi_columns: columns of ``params`` (free-parameter indices) that are POIs.
        poi_names: their names, used as swyft variable names.
        restricted_posterior: 0 (1D and 2D), 1 (1D only) or 2 (2D only).
        learning_rate, stopping_patience, blocks, features, dropout: the original's hyperparameters.
        bnre_lambda: weight of the balance penalty of BNRE (Delaunoy et al. 2022, arXiv:2208.13624):
            0 is plain NRE; > 0 adds lambda (E_joint[s] + E_marginal[s] - 1)^2 per marginal, with
            s = sigmoid(log r), which makes the posteriors conservative (100 in the paper).
    """

    def __init__(
        self,
        head: torch.nn.Module,
        poi_columns: list[int],
        poi_names: list[str],
        restricted_posterior: int,
        learning_rate: float,
        stopping_patience: int,
        blocks: int,
        features: int,
        dropout: float,
        bnre_lambda: float = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["head"])
        self.bnre_lambda = bnre_lambda
        self.learning_rate = learning_rate
        self.early_stopping_patience = stopping_patience
        self.poi_columns = list(poi_columns)
        n_poi = len(poi_columns)
        self.head = head
        n_features = head.n_features
        self.pairs = [(i, j) for i in range(n_poi) for j in range(i + 1, n_poi)]
        with_1d = restricted_posterior != 2 or n_poi == 1
        with_2d = restricted_posterior != 1 and n_poi > 1
        common = dict(dropout=dropout, hidden_features=features, num_blocks=blocks)
        self.estimator_1d = (
            swyft.LogRatioEstimator_1dim(n_features, n_poi, varnames=list(poi_names), **common)
            if with_1d
            else None
        )
        self.estimator_2d = (
            swyft.LogRatioEstimator_Ndim(
                n_features,
                marginals=self.pairs,
                varnames=[[poi_names[i], poi_names[j]] for i, j in self.pairs],
                **common,
            )
            if with_2d
            else None
        )

    def forward(self, A, B):
        return self.ratios(self.head(A), B["params"])

    def ratios(self, features: torch.Tensor, params: torch.Tensor, with_1d: bool = True):
        """The estimators' LogRatioSamples (1D first; without it for ``with_1d=False``) for head
        ``features`` and free ``params``."""
        z = params[:, self.poi_columns]
        estimators = (self.estimator_1d if with_1d else None, self.estimator_2d)
        return [est(features, z) for est in estimators if est is not None]

    def _get_logratios(self, out):
        self._logratios = super()._get_logratios(out)  # kept for the balance penalty
        return self._logratios

    def _calc_loss(self, batch, randomized=True):
        """swyft's loss (the joint pairs of a batch against the same batch with its parameters
        rolled by one), plus the BNRE balance penalty when ``bnre_lambda`` > 0."""
        loss = super()._calc_loss(batch, randomized)
        if self.bnre_lambda > 0 and self._logratios is not None:
            classifier = torch.sigmoid(self._logratios)
            n_joint = len(classifier) // 2  # joint pairs first, as many contrastive pairs after
            balance = classifier[:n_joint].mean(dim=0) + classifier[n_joint:].mean(dim=0) - 1.0
            loss = loss + self.bnre_lambda * (balance**2).sum()
        return loss

    def configure_optimizers(self):
        """The original's AdamW and ReduceLROnPlateau (factor 0.1, patience 3, on val_loss), with
        the AdamW fused into one kernel per step on CUDA (a step over these many small tensors is
        otherwise bound by kernel launches)."""
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.learning_rate,
                                      fused=True if self.device.type == "cuda" else None)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=3)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"}}

    def on_fit_end(self):
        # swyft reloads the best checkpoint with a bare torch.load, which torch >= 2.6 refuses for
        # Lightning checkpoints (weights_only); the file is our own, written during this fit.
        path = self.trainer.checkpoint_callback.best_model_path
        if path:
            self.best_model_path = path
            state = torch.load(path, map_location=self.device, weights_only=False)["state_dict"]
            self.load_state_dict(state)
            print(f"reloaded the best network (val_loss {self.trainer.checkpoint_callback.best_model_score:.4f})")


def build_network(config, hyperparams: dict, shapes: dict, architecture: Architecture | None = None) -> MarginalRatioNetwork:
    """The network of a configuration for one grid point's hyperparameters and the simulator's
    node ``shapes``; ``architecture`` defaults to the configuration's ``architecture`` value."""
    architecture = architecture or resolve(config.architecture)
    return MarginalRatioNetwork(
        head=architecture.build_head(shapes, hyperparams),
        poi_columns=config.POI_indices,
        poi_names=config.poi_names,
        restricted_posterior=config.restricted_posterior,
        bnre_lambda=config.bnre_lambda,
        **{k: hyperparams[k] for k in TRAINING_HYPERPARAMS},
    )


def signature(config, hyperparams: dict, shapes: dict, architecture: Architecture) -> dict:
    """What fixes a network's weights' shapes and meaning: saved beside every network and compared
    before old weights are loaded (``use_old_net``)."""
    return {
        "architecture": architecture.name,
        "architecture_sha256": architecture.sha256,
        "shapes": {k: list(v) for k, v in shapes.items() if k != "params"},
        "poi_names": list(config.poi_names),
        "restricted_posterior": config.restricted_posterior,
        **{k: hyperparams[k] for k in ("blocks", "features")},
        **architecture.head_hyperparameters(hyperparams),
    }


def save_network(network: MarginalRatioNetwork, path: Path, network_signature: dict, **provenance) -> None:
    """The state dict as ``path`` (written atomically) and its signature as ``path.json``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".pt.partial")
    torch.save(network.state_dict(), partial)
    os.replace(partial, path)
    write_json(path.with_suffix(".json"), {"signature": network_signature, **provenance})


def load_network(network: MarginalRatioNetwork, path: Path, network_signature: dict) -> None:
    """Load saved weights into ``network``; PipelineError (naming ``use_old_net``) when they were
    made for another architecture, other hyperparameters or other input shapes."""
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        saved = read_json(sidecar).get("signature", {})
        differences = [
            f"{k} = {saved.get(k)!r} there, {v!r} here" for k, v in network_signature.items() if saved.get(k) != v
        ]
        if differences:
            raise PipelineError(
                f"use_old_net: {path} does not match this run's network: " + "; ".join(differences)
                + ". Use matching settings or use_old_net=0."
            )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except (RuntimeError, pickle.UnpicklingError, EOFError) as error:
        raise PipelineError(f"use_old_net: the weights in {path} do not fit this run's network: {error}") from None
