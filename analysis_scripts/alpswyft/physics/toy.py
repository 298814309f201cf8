"""Toy models with analytic likelihoods: the ground truths of the statistics tests.

They ignore the 18-entry ALP parameter vector and evaluate a closed-form curve on the bin centres
of two geometries (``geom``): ``simple``, x = linspace(emin, emax, nbins) (end points
included), or ``simple_log``, the log-midpoints of nbins log bins between emin and emax. With
Gaussian noise of width sigma, ``toy_line`` and ``toy_poly`` are linear-Gaussian models, so their
posterior is known exactly: N(theta_hat, sigma^2 (X^T X)^-1) for a flat prior, with X the design
matrix of :meth:`ToyLine.design_matrix`. The tests use this as ground truth.
"""

from __future__ import annotations

import numpy as np


def bin_centers(emin: float, emax: float, nbins: int, geom: str = "simple") -> np.ndarray:
    """The x values of the ``simple`` (linear, end points included) or ``simple_log`` geometry."""
    if geom == "simple_log":
        edges = np.geomspace(emin, emax, nbins + 1)
        return np.sqrt(edges[1:] * edges[:-1])
    return np.linspace(emin, emax, nbins)


class ToyModel:
    """Base class: ``curve(theta)`` maps physical parameters (n, k) to curves (n, nbins)."""

    parameters: tuple[str, ...]
    #: the toy_line.sh set-up: 50 points on [-1, 1] with Gaussian noise of width 1
    settings = {"emin": -1.0, "emax": 1.0, "nbins": 50, "noise": "gauss", "noise_sigma": 1.0}

    def __init__(self, config, setup=None):
        self.x = bin_centers(config.emin, config.emax, config.nbins, config.geometry)
        self.noise_model, self.sigma = config.noise, config.noise_sigma

    @classmethod
    def on_grid(
        cls,
        emin: float,
        emax: float,
        nbins: int,
        noise: str = "gauss",
        sigma: float = 1.0,
        geom: str = "simple",
    ) -> ToyModel:
        """The model on its own, without a run configuration."""
        from types import SimpleNamespace

        return cls(
            SimpleNamespace(
                emin=emin, emax=emax, nbins=nbins, geometry=geom, noise=noise, noise_sigma=sigma
            )
        )

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {"exp": self.x.shape, "data": self.x.shape}

    def curve(self, theta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def expected(self, theta: np.ndarray, rng=None) -> dict[str, np.ndarray]:
        return {"exp": self.curve(np.atleast_2d(theta))}

    def noise(self, exp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Gaussian noise of width sigma, or Poisson noise of mean ``exp`` (clipped at 0)."""
        if self.noise_model == "gauss":
            return exp + self.sigma * rng.standard_normal(exp.shape)
        return rng.poisson(np.clip(exp, 0, None)).astype(float)

    def features(self, data: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def noise_torch(self, exp, generator):
        """:meth:`noise` for a tensor ``exp``, drawn on its device from ``generator``."""
        import torch

        exp = exp.double()
        if self.noise_model == "gauss":
            return exp + self.sigma * torch.randn(
                exp.shape, generator=generator, dtype=exp.dtype, device=exp.device
            )
        return torch.poisson(exp.clamp_min(0), generator=generator)

    def features_torch(self, data) -> dict:
        return {}


class ToyLine(ToyModel):
    """``y = a x + b`` with theta = (a, b)."""

    parameters = (
        "[-3, 3] | 0.7  | 0 | 0 | U | a | 1",
        "[-3, 3] | -0.3 | 0 | 0 | U | b | 1",
    )

    def design_matrix(self) -> np.ndarray:
        """X with columns [x, 1], so that y = X @ (a, b)."""
        return np.stack([self.x, np.ones_like(self.x)], axis=-1)

    def curve(self, theta):
        return theta @ self.design_matrix().T


class ToyPoly(ToyModel):
    """``y = a x^2 + b x + c`` with theta = (a, b, c)."""

    parameters = (
        "[-3, 3] | 1.0  | 0 | 0 | U | a | 1",
        "[-3, 3] | 0.5  | 0 | 0 | U | b | 1",
        "[-3, 3] | -0.3 | 0 | 0 | U | c | 1",
    )

    def design_matrix(self) -> np.ndarray:
        return np.stack([self.x**2, self.x, np.ones_like(self.x)], axis=-1)

    def curve(self, theta):
        return theta @ self.design_matrix().T


def linear_gaussian_posterior(design_matrix: np.ndarray, data: np.ndarray, sigma: float):
    """Exact posterior of a linear-Gaussian model under a flat prior.

    For y = X theta + N(0, sigma^2 I): mean theta_hat = (X^T X)^-1 X^T y (least squares) and
    covariance sigma^2 (X^T X)^-1. Returns (mean, covariance).
    """
    precision = design_matrix.T @ design_matrix
    covariance = sigma**2 * np.linalg.inv(precision)
    mean = np.linalg.solve(precision, design_matrix.T @ data)
    return mean, covariance


class ToySine(ToyModel):
    """``y = a x + b + (c x + d) sin(e x + f)`` with theta = (a, b, c, d, e, f)."""

    parameters = (
        "[-3, 3] | 0.5 | 0 | 0 | U | a | 1",
        "[-3, 3] | 0.2 | 0 | 0 | U | b | 1",
        "[-3, 3] | 1.0 | 0 | 0 | U | c | 1",
        "[-3, 3] | 1.5 | 0 | 0 | U | d | 1",
        "[0, 20] | 8.0 | 0 | 0 | U | e | 1",
        "[-3, 3] | 0.0 | 0 | 0 | U | f | 1",
    )

    def curve(self, theta):
        a, b, c, d, e, f = (theta[:, i : i + 1] for i in range(6))
        x = self.x
        return a * x + b + (c * x + d) * np.sin(e * x + f)
