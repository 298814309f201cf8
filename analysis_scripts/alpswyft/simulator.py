"""The simulator: free parameters -> expected spectrum -> noisy observation, in batches.

The nodes are those of the original's swyft simulator:

- ``params``: free parameters in table space (log10 where flagged), shape (n_free,);
- ``exp``: the model's expected spectrum, shape (nbins,);
- ``data``: one noisy realisation of ``exp``, shape (nbins,).

Every random step draws from an explicit :class:`numpy.random.Generator`, so a batch is
reproducible from its seed. Samples are float32, as stored and trained on.
"""

from __future__ import annotations

import numpy as np

from alpswyft.config import RunConfig
from alpswyft.physics import MODELS


class SpectrumSimulator:
    """Batched simulator for one configuration."""

    nodes = ("params", "exp", "data")

    def __init__(self, config: RunConfig):
        self.config = config
        self.table = config.table
        self.model = MODELS[config.model].factory(config)

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {
            "params": (len(self.table.free),),
            "exp": (self.config.nbins,),
            "data": (self.config.nbins,),
        }

    def expected(self, theta_free: np.ndarray) -> np.ndarray:
        """Expected spectra (n, nbins) for free parameters (n, n_free) in table space."""
        return self.model.expected(self.table.physical(theta_free))

    def add_noise(self, exp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One noisy realisation of each expected spectrum in ``exp`` (n, nbins)."""
        if self.config.noise == "gauss":
            return exp + self.config.noise_sigma * rng.standard_normal(exp.shape)
        return rng.poisson(np.clip(exp, 0, None)).astype(float)

    def simulate(self, theta_free: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """All nodes for given free parameters (n, n_free)."""
        theta_free = np.atleast_2d(np.asarray(theta_free, dtype=float))
        exp = self.expected(theta_free)
        data = self.add_noise(exp, rng)
        return {
            "params": theta_free.astype(np.float32),
            "exp": exp.astype(np.float32),
            "data": data.astype(np.float32),
        }

    def sample(self, n: int, bounds: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` joint samples with parameters drawn from the table priors truncated to ``bounds``."""
        return self.simulate(self.table.sample(bounds, n, rng), rng)


class NoiseResampler:
    """Draws fresh noise for ``data`` from the stored ``exp`` each time a sample is loaded.

    This is the original's online noise augmentation (swyft's resampler on ``data``): parameters
    and expected spectra are fixed, the noise is new in every epoch.
    """

    def __init__(self, simulator: SpectrumSimulator, seed: int):
        self.simulator = simulator
        self.rng = np.random.default_rng(seed)

    def __call__(self, sample: dict) -> dict:
        exp = np.asarray(sample["exp"], dtype=float)[None]
        sample = dict(sample)
        sample["data"] = self.simulator.add_noise(exp, self.rng)[0].astype(np.float32)
        return sample
