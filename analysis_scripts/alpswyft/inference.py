"""Inference of one observation on a bank of prior samples, and binned posteriors.

For an observation x and prior samples theta_k the network returns log r(x, theta_k), the log of
p(theta|x)/p(theta); weighting the prior samples by r gives the marginal posteriors (1D per POI and
2D per POI pair). The binned posteriors are written as NPZ files next to the networks and are what
the report plots.
"""

from __future__ import annotations

import numpy as np
import torch

from alpswyft.truncation import normalised_weights


@torch.no_grad()
def observation_features(
    network, observations: dict[str, np.ndarray], batch_size: int = 256
) -> torch.Tensor:
    """Head features (n_obs, n_features) of a batch of observations (a dict of node arrays with a
    leading observation axis, e.g. ``data`` (n_obs, nbins))."""
    network.eval()
    n_obs = len(next(iter(observations.values())))
    parts = []
    for start in range(0, n_obs, batch_size):
        nodes = {
            k: torch.as_tensor(
                v[start : start + batch_size], dtype=torch.float32, device=network.device
            )
            for k, v in observations.items()
        }
        parts.append(network.head(nodes))
    return torch.cat(parts)


@torch.no_grad()
def logratios_for_features(
    network,
    features: torch.Tensor,
    params: np.ndarray,
    batch_size: int = 16384,
    with_1d: bool = True,
    columns_2d: list[int] | None = None,
) -> list[np.ndarray]:
    """Log-ratios of one observation's head ``features`` (n_features,) against every row of
    ``params`` (N, n_free), in batches: one (N, n_marginals) array per estimator (1D first; the
    2D estimator alone with ``with_1d=False``, only its ``columns_2d`` if given). ``params`` may be
    a float32 tensor already on the network's device (a bank used for many observations crosses
    the bus once)."""
    network.eval()
    params = torch.as_tensor(params, dtype=torch.float32, device=network.device)
    chunks = []
    for start in range(0, len(params), batch_size):
        out = network.bank_logratios(
            features, params[start : start + batch_size], with_1d, columns_2d
        )
        chunks.append([o.double().cpu().numpy() for o in out])
    return [np.concatenate(parts) for parts in zip(*chunks)]


def logratios_on_bank(
    network, observation, params: np.ndarray, batch_size: int = 16384
) -> list[np.ndarray]:
    """Log-ratios of one observation against every row of ``params`` (N, n_free). ``observation``
    is its ``data`` (nbins,) or a dict of its nodes (``data``, ``power``, ...).

    The head's features of the observation are computed once and shared by all parameter rows.
    Returns one (N, n_marginals) array per estimator of the network (1D first, then 2D).
    """
    nodes = observation if isinstance(observation, dict) else {"data": observation}
    features = observation_features(network, {k: np.asarray(v)[None] for k, v in nodes.items()})[0]
    return logratios_for_features(network, features, params, batch_size)


def histogram_1d(values: np.ndarray, logratios: np.ndarray, box: np.ndarray, bins: int = 100):
    """Posterior densities (n_poi, bins) on each POI's box, and the bin edges (n_poi, bins+1)."""
    weights = normalised_weights(logratios)
    edges = np.array([np.linspace(lo, hi, bins + 1) for lo, hi in box])
    density = np.array(
        [
            np.histogram(v, bins=e, weights=w, density=True)[0]
            for v, w, e in zip(values.T, weights.T, edges)
        ]
    )
    return density, edges


def histogram_2d(values: np.ndarray, logratios: np.ndarray, pairs, box: np.ndarray, bins: int = 50):
    """Posterior densities (n_pairs, bins, bins) for each POI pair (i, j), axis 0 along i."""
    weights = normalised_weights(logratios)
    densities = []
    for k, (i, j) in enumerate(pairs):
        h, _, _ = np.histogram2d(
            values[:, i],
            values[:, j],
            bins=bins,
            range=[box[i], box[j]],
            weights=weights[:, k],
            density=True,
        )
        densities.append(h)
    return np.array(densities)


def binned_posterior(
    values: np.ndarray,
    logratios_1d,
    logratios_2d,
    pairs,
    box: np.ndarray,
    bins_1d: int = 100,
    bins_2d: int = 50,
) -> dict[str, np.ndarray]:
    """The binned marginals of ``posterior_round_*.npz``: ``density_1d``/``edges_1d`` from the 1D
    log-ratios and ``density_2d``/``pairs`` from the 2D ones (either may be None), on ``box``."""
    out = {}
    if logratios_1d is not None:
        out["density_1d"], out["edges_1d"] = histogram_1d(values, logratios_1d, box, bins_1d)
    if logratios_2d is not None:
        out["density_2d"] = histogram_2d(values, logratios_2d, pairs, box, bins_2d)
        out["pairs"] = np.array(pairs, int).reshape(-1, 2)
    return out


class PlanePosteriors:
    """A network's posterior on the ``prediction_pairs`` planes for each expected-limit simulation:
    its 2D marginals of the planes (positions ``pois`` within POI_indices hold its POIs) at the
    counters' points, times the pairs' prior density on ``box`` (the round's): the product of the
    two parameters' 1D priors (a model constraint is not applied; the ALP model's, kL < kH, does
    not involve m or g)."""

    def __init__(self, config, network, sims: dict, box, counters, pois=None, features=None):
        pois = list(range(len(config.physics.POI_indices))) if pois is None else pois
        # ``features``: the network's features of ``sims`` where the caller already has them
        self.network = network
        self.features = observation_features(network, sims) if features is None else features
        self.columns = [
            network.pairs.index((pois.index(i), pois.index(j)))
            for i, j in config.validation.prediction_pairs
        ]
        self.points = []
        for counter, (i, j) in zip(counters, config.validation.prediction_pairs):
            x, y = counter.points()
            fi, fj = config.physics.POI_indices[i], config.physics.POI_indices[j]
            rows = np.tile(
                config.table.obs, (len(x), 1)
            )  # the plane's two columns are all the marginal reads
            rows[:, fi], rows[:, fj] = x, y
            pi, pj = config.table.free[fi].prior, config.table.free[fj].prior
            prior = pi.density(x, *box[fi]) * pj.density(y, *box[fj])
            self.points.append(
                (torch.as_tensor(rows, dtype=torch.float32, device=network.device), prior)
            )
        self.counters = counters
        self.n_points = len(self.points[0][1])
        self.kept = np.zeros((len(counters), len(self.features), self.n_points), np.float32)

    def excluded(self, s: int) -> list[np.ndarray]:
        """Excluded cells (n_levels, nx, ny) of each plane for simulation ``s``; its log-ratios are
        kept in :attr:`kept` (plane, simulation, point)."""
        out = []
        for p, (counter, column, (rows, prior)) in enumerate(
            zip(self.counters, self.columns, self.points)
        ):
            logratios = logratios_for_features(
                self.network, self.features[s], rows, with_1d=False, columns_2d=[column]
            )[0]
            self.kept[p, s] = logratios[
                :, 0
            ]  # float32, as kept: the maps reproduce these exclusions exactly
            out.append(counter.excluded_on_points(self.kept[p, s].astype(float), prior))
        return out

    @property
    def priors(self) -> np.ndarray:
        """The pair's prior density at every point (plane, point)."""
        return np.array([prior for _, prior in self.points])
