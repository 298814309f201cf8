"""The simulator: free parameters -> expected spectrum -> noisy observation, in batches.

The nodes (the names the run scripts' ``prediction`` settings and the stores use):

- ``params``: free parameters in table space (log10 where flagged), shape (n_free,);
- ``exp``: the model's expected spectrum (for the ALP model the floored log10 residual), (nbins,);
- ``data``: one noisy realisation of ``exp``, (nbins,);
- ``pgg`` (ALP models): the photon survival probability on the true-energy bins;
- ``power`` (ALP models): FFT amplitudes of ``data``.

Every random step draws from an explicit :class:`numpy.random.Generator`, so a batch is
reproducible from its seed. Samples are float32, as stored and trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alpswyft.config import RunConfig
from alpswyft.models import ModelInfo, resolve
from analysis_core.files import load_npz


class SpectrumSimulator:
    """Batched simulator for one configuration; ``setup`` holds the model's set-up arrays and
    ``model_info`` the model (default: the one ``config.physics.model`` names)."""

    def __init__(
        self, config: RunConfig, setup: dict | None = None, model_info: ModelInfo | None = None
    ):
        self.config = config
        self.table = config.table
        self.model_info = model_info or resolve(config.physics.model)
        self.model = self.model_info.build(config, setup)

    @classmethod
    def for_run(
        cls, config: RunConfig, setup_path: Path, model_file: Path | None = None
    ) -> SpectrumSimulator:
        """The simulator of a run folder: loads ``response.npz`` when the model needs it, and a
        user's model from the run folder's copy ``model_file``."""
        info = resolve(config.physics.model, copy=model_file)
        return cls(config, load_npz(setup_path) if info.prepare is not None else None, info)

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {"params": (len(self.table.free),), **self.model.shapes}

    @property
    def observed_nodes(self) -> list[str]:
        """The nodes of an observation, the network's input (``data`` and what derives from it)."""
        return [key for key in self.shapes if key not in ("params", "exp", "pgg")]

    def add_noise(self, exp: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``data`` and the nodes derived from it, for expected spectra ``exp`` (n, nbins)."""
        nodes = _nodes(self.model.noise(exp, rng))
        features = self.model.features(nodes["data"]) if hasattr(self.model, "features") else {}
        return {**nodes, **features}

    @property
    def noise_on_device(self) -> bool:
        """Whether the model draws its noise in torch too (``noise_torch``), so that training
        batches can stay on a GPU (a user's model without it trains from host batches)."""
        return hasattr(self.model, "noise_torch")

    def add_noise_torch(self, exp, generator) -> dict:
        """:meth:`add_noise` for a float32 tensor ``exp``, on its device: float32 tensors."""
        nodes = _nodes(self.model.noise_torch(exp, generator))
        features = (
            self.model.features_torch(nodes["data"])
            if hasattr(self.model, "features_torch")
            else {}
        )
        return {key: value.float() for key, value in {**nodes, **features}.items()}

    def simulate(self, theta_free: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """All nodes for given free parameters (n, n_free) in table space."""
        theta_free = np.atleast_2d(np.asarray(theta_free, dtype=float))
        out = {"params": theta_free, **self.model.expected(self.table.physical(theta_free), rng)}
        out.update(self.add_noise(out["exp"], rng))
        return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}

    def sample(self, n: int, bounds: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` joint samples with parameters drawn from the table priors truncated to ``bounds``."""
        return self.simulate(self.table.sample(bounds, n, rng), rng)


def _nodes(noise) -> dict:
    """A model's ``noise``: ``data``, or a dict of ``data`` and the other noisy nodes."""
    return dict(noise) if isinstance(noise, dict) else {"data": noise}


class NoiseResampler:
    """Draws fresh noise for ``data`` (and ``power``) from the stored ``exp`` of a batch.

    Online noise augmentation (as swyft's resampler on ``data``/``power``):
    parameters and expected spectra stay fixed, the noise is new in every epoch. It works on whole
    batches (leading axis), one vectorised draw instead of one per sample.
    """

    def __init__(self, simulator: SpectrumSimulator, seed: int):
        self.simulator = simulator
        self.rng = np.random.default_rng(seed)

    def __call__(self, batch: dict) -> dict:
        batch = dict(batch)
        exp = np.asarray(batch["exp"], dtype=float)
        for key, value in self.simulator.add_noise(exp, self.rng).items():
            batch[key] = value.astype(np.float32)
        return batch
