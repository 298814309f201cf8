"""Marginal ratio estimators: swyft's 1D and 2D log-ratio estimators on a feature head.

The default network is the original's ``network.py``: the head is an online standardisation of
``data`` (no learned layers); a ``LogRatioEstimator_1dim`` gives one residual-MLP channel per POI
and a ``LogRatioEstimator_Ndim`` one channel per POI pair i < j. ``restricted_posterior`` selects
both (0), the 1D part only (1) or the 2D part only (2); with a single POI only the 1D part exists.

Hyperparameters arrive as arguments (never module globals); input sizes come from the
simulator's shapes. POI pairs are positions within ``POI_indices`` and are applied to the
POI-selected parameter columns, so any subset of free parameters works.
"""

from __future__ import annotations

import swyft
import torch

from alpswyft import compat

compat.apply()


class MarginalRatioNetwork(swyft.AdamWReduceLROnPlateau, swyft.SwyftModule):
    """1D and/or 2D marginal log-ratio estimators for the POIs.

    Arguments:
        nbins: length of the ``data`` vector.
        poi_columns: columns of ``params`` (free-parameter indices) that are POIs.
        poi_names: their names, used as swyft variable names.
        restricted_posterior: 0 (1D and 2D), 1 (1D only) or 2 (2D only).
        learning_rate, stopping_patience, blocks, features, dropout: the original's hyperparameters.
    """

    def __init__(
        self,
        nbins: int,
        poi_columns: list[int],
        poi_names: list[str],
        restricted_posterior: int,
        learning_rate: float,
        stopping_patience: int,
        blocks: int,
        features: int,
        dropout: float,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.learning_rate = learning_rate
        self.early_stopping_patience = stopping_patience
        self.poi_columns = list(poi_columns)
        n_poi = len(poi_columns)
        self.head = swyft.networks.OnlineStandardizingLayer((nbins,), epsilon=0)
        self.pairs = [(i, j) for i in range(n_poi) for j in range(i + 1, n_poi)]
        with_1d = restricted_posterior != 2 or n_poi == 1
        with_2d = restricted_posterior != 1 and n_poi > 1
        common = dict(dropout=dropout, hidden_features=features, num_blocks=blocks)
        self.estimator_1d = (
            swyft.LogRatioEstimator_1dim(nbins, n_poi, varnames=list(poi_names), **common)
            if with_1d
            else None
        )
        self.estimator_2d = (
            swyft.LogRatioEstimator_Ndim(
                nbins,
                marginals=self.pairs,
                varnames=[[poi_names[i], poi_names[j]] for i, j in self.pairs],
                **common,
            )
            if with_2d
            else None
        )

    def forward(self, A, B):
        features = self.head(A["data"])
        z = B["params"][:, self.poi_columns]
        return [est(features, z) for est in (self.estimator_1d, self.estimator_2d) if est is not None]

    def on_fit_end(self):
        # swyft reloads the best checkpoint with a bare torch.load, which torch >= 2.6 refuses for
        # Lightning checkpoints (weights_only); the file is our own, written during this fit.
        path = self.trainer.checkpoint_callback.best_model_path
        if path:
            self.best_model_path = path
            state = torch.load(path, map_location=self.device, weights_only=False)["state_dict"]
            self.load_state_dict(state)
            print(f"reloaded the best network (val_loss {self.trainer.checkpoint_callback.best_model_score:.4f})")


def build_network(config, hyperparams: dict) -> MarginalRatioNetwork:
    """The default network for a configuration and one grid point's hyperparameters."""
    return MarginalRatioNetwork(
        nbins=config.nbins,
        poi_columns=config.POI_indices,
        poi_names=config.poi_names,
        restricted_posterior=config.restricted_posterior,
        **{k: hyperparams[k] for k in ("learning_rate", "stopping_patience", "blocks", "features", "dropout")},
    )
