"""Marginal ratio estimators: swyft's 1D and 2D log-ratio estimators on a feature head.

The head (:mod:`alpswyft.architectures`) turns the simulator's nodes into features; a
``LogRatioEstimator_1dim`` gives one residual-MLP channel per POI and a
``LogRatioEstimator_Ndim`` one channel per POI pair i < j. ``restricted_posterior`` selects both
(0), the 1D part only (1), the 2D part only (2), or the 1D part and the 2D marginals of the
``prediction_pairs`` planes only (3); with a single POI only the 1D part exists.

Hyperparameters arrive as arguments (never module globals); input sizes come from the
simulator's shapes. POI pairs are positions within ``POI_indices`` and are applied to the
POI-selected parameter columns, so any subset of free parameters works.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

import swyft
from alpswyft import compat
from alpswyft.architectures import TRAINING_HYPERPARAMS, Architecture, resolve
from analysis_core.errors import PipelineError
from analysis_core.files import read_json, write_json

compat.apply()


class MarginalRatioNetwork(swyft.AdamWReduceLROnPlateau, swyft.SwyftModule):
    """1D and/or 2D marginal log-ratio estimators for the POIs on a feature head.

    Arguments:
        head: the feature head (a module with ``n_features``).
        poi_columns: columns of ``params`` (free-parameter indices) that are POIs.
        poi_names: their names, used as swyft variable names.
        restricted_posterior: 0 (1D and 2D), 1 (1D only), 2 (2D only) or 3 (1D, and 2D of ``pairs``).
        pairs: the 2D marginals, as positions (i, j), i < j, within ``poi_columns``; None: every pair.
        learning_rate, stopping_patience, blocks, features, dropout: the hyperparameters every network takes.
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
        pairs: list[tuple[int, int]] | None = None,
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
        every_pair = [(i, j) for i in range(n_poi) for j in range(i + 1, n_poi)]
        self.pairs = every_pair if pairs is None else [tuple(p) for p in pairs]
        with_1d = restricted_posterior != 2 or n_poi == 1
        with_2d = restricted_posterior != 1 and n_poi > 1 and bool(self.pairs)
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

    @torch.no_grad()
    def bank_logratios(
        self,
        features: torch.Tensor,
        params: torch.Tensor,
        with_1d: bool = True,
        columns_2d: list[int] | None = None,
    ) -> list[torch.Tensor]:
        """Log-ratios (N, n_marginals) of one observation's head ``features`` (n_features,) against
        N rows of free ``params``, per estimator (1D first; without it for ``with_1d=False``);
        ``columns_2d`` keeps only those 2D marginals. The same numbers as :meth:`ratios` in eval
        mode, computed as :func:`channel_logratios` does."""
        z = params[:, self.poi_columns]
        out = []
        if with_1d and self.estimator_1d is not None:
            out.append(channel_logratios(self.estimator_1d, features, z))
        if self.estimator_2d is not None:
            out.append(channel_logratios(self.estimator_2d, features, z, columns_2d))
        return out

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
        """AdamW and ReduceLROnPlateau (factor 0.1, patience 3, on val_loss), with
        the AdamW fused into one kernel per step on CUDA (a step over these many small tensors is
        otherwise bound by kernel launches)."""
        optimizer = torch.optim.AdamW(
            self.parameters(),
            lr=self.learning_rate,
            fused=True if self.device.type == "cuda" else None,
        )
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=3)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"},
        }

    def on_fit_end(self):
        # swyft reloads the best checkpoint with a bare torch.load, which torch >= 2.6 refuses for
        # Lightning checkpoints (weights_only); the file is our own, written during this fit.
        path = self.trainer.checkpoint_callback.best_model_path
        if path:
            self.best_model_path = path
            state = torch.load(path, map_location=self.device, weights_only=False)["state_dict"]
            self.load_state_dict(state)
            print(
                f"reloaded the best network (val_loss {self.trainer.checkpoint_callback.best_model_score:.4f})"
            )


def channel_logratios(
    estimator, features: torch.Tensor, z: torch.Tensor, channels: list[int] | None = None
) -> torch.Tensor:
    """Log-ratios (N, n_channels) of a swyft 1D or ND estimator in eval mode for one observation's
    ``features`` (n_features,) and N POI rows ``z``, for all marginals or the ``channels`` listed.

    The same function as swyft's forward (dropout off, batch norm from its running statistics), to
    float32 rounding, but the observation's share of the first layer is computed once instead of
    in every row, and only the channels asked for are evaluated: the expected limits need one 2D
    marginal of the fifteen of six POIs (30 times faster on a bank of 50 000 rows).
    """
    net = estimator.classifier.net
    block = estimator.ptrans(z).transpose(0, 1)  # (C, N, P)
    index = slice(None) if channels is None else torch.as_tensor(channels, device=z.device)

    def linear(layer, x):  # x (C, N, in) -> (C, N, out)
        return torch.baddbmm(layer.bias[index, None, :], x, layer.weights[index].transpose(1, 2))

    def batch_norm(layer, x):  # BatchNorm1dWithChannel normalises the flattened (C * H) features
        shape = (-1, x.shape[-1])
        mean, var = layer.running_mean.view(shape)[index], layer.running_var.view(shape)[index]
        scale = layer.weight.view(shape)[index] * torch.rsqrt(var + layer.eps)
        return (x - mean[:, None]) * scale[:, None] + layer.bias.view(shape)[index][:, None]

    weights, bias = net.initial_layer.weights[index], net.initial_layer.bias[index]
    n_obs = features.shape[-1]
    h = (weights[:, :, :n_obs] @ features + bias)[:, None, :] + block[index] @ weights[
        :, :, n_obs:
    ].transpose(1, 2)
    for residual in net.blocks:
        t = h
        for k in range(2):
            if residual.use_batch_norm:
                t = batch_norm(residual.batch_norm_layers[k], t)
            t = linear(residual.linear_layers[k], residual.activation(t))
        h = h + t
    return linear(net.final_layer, h)[..., 0].T


def _marginals(
    config, fixed_nuisances: bool
) -> tuple[list[int], list[str], int, list[tuple[int, int]] | None]:
    """POI columns, POI names, ``restricted_posterior`` and 2D marginals of the run's network, or
    of its fixed-nuisance network: every 2D marginal (None) of the POIs of the ``prediction_pairs``
    planes."""
    if not fixed_nuisances:
        return (
            list(config.physics.POI_indices),
            list(config.poi_names),
            config.training.restricted_posterior,
            config.pairs,
        )
    positions = config.limit_pois
    return (
        [config.physics.POI_indices[k] for k in positions],
        [config.poi_names[k] for k in positions],
        2,
        None,
    )


def build_network(
    config,
    hyperparams: dict,
    shapes: dict,
    architecture: Architecture | None = None,
    fixed_nuisances: bool = False,
) -> MarginalRatioNetwork:
    """The network of a configuration for one grid point's hyperparameters and the simulator's
    node ``shapes``; ``architecture`` defaults to the configuration's ``architecture`` value.
    ``fixed_nuisances``: the network of the fixed-nuisance expected limits (2D marginals of the
    prediction planes only, trained with every other free parameter at its Obs. value)."""
    architecture = architecture or resolve(config.training.architecture)
    columns, names, restricted, pairs = _marginals(config, fixed_nuisances)
    return MarginalRatioNetwork(
        head=architecture.build_head(shapes, hyperparams),
        poi_columns=columns,
        poi_names=names,
        restricted_posterior=restricted,
        pairs=pairs,
        bnre_lambda=config.training.bnre_lambda,
        **{k: hyperparams[k] for k in TRAINING_HYPERPARAMS},
    )


def signature(
    config,
    hyperparams: dict,
    shapes: dict,
    architecture: Architecture,
    fixed_nuisances: bool = False,
) -> dict:
    """What fixes a network's weights' shapes and meaning: saved beside every network and compared
    before old weights are loaded (``use_old_net``)."""
    _, names, restricted, pairs = _marginals(config, fixed_nuisances)
    return {
        "architecture": architecture.name,
        "architecture_sha256": architecture.sha256,
        "shapes": {k: list(v) for k, v in shapes.items() if k != "params"},
        "poi_names": names,
        "restricted_posterior": restricted,
        **(
            {"pairs": [list(p) for p in pairs]} if restricted == 3 else {}
        ),  # else implied by the POIs
        **{k: hyperparams[k] for k in ("blocks", "features")},
        **architecture.head_hyperparameters(hyperparams),
    }


def save_network(
    network: MarginalRatioNetwork, path: Path, network_signature: dict, **provenance
) -> None:
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
            f"{k} = {saved.get(k)!r} there, {v!r} here"
            for k, v in network_signature.items()
            if saved.get(k) != v
        ]
        if differences:
            raise PipelineError(
                f"use_old_net: {path} does not match this run's network: "
                + "; ".join(differences)
                + ". Use matching settings or use_old_net=0."
            )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except (RuntimeError, pickle.UnpicklingError, EOFError) as error:
        raise PipelineError(
            f"use_old_net: the weights in {path} do not fit this run's network: {error}"
        ) from None
