"""A model of one's own for alpswyft: a power law with a Gaussian line, observed with Poisson noise.

Used by cluster_runs/user_model.sh (model=user_models/power_law_line.py), and in Python by
ALPSim(model="cluster_runs/user_models/power_law_line.py"). The interface is documented in
alpswyft/models.py and in docs/guide/extending.md, "Adding a model".
"""

import numpy as np


class Model:
    """Power law with a Gaussian line, N(x) = N0 x^-gamma + A exp(-(x - mu)^2 / 2 w^2), Poisson counts."""

    # The parameter table: one row per entry of theta, seven columns as in a run script.
    parameters = (
        # bounds  | Obs. | Null | log? | prior | name  | unit
        "[1, 3]   | 2    | 2    | 1    | U     | N0    | counts",  # log10 of the counts at x = 1
        "[1.5, 3] | 2.2  | 2.2  | 0    | U     | gamma | 1",
        "[0, 100] | 40   | 0    | 0    | U     | A     | counts",
        "[2, 8]   | 4    | 4    | 0    | U     | mu    | 1",
        "0.3      | 0.3  | 0.3  | 0    | U     | w     | 1",
    )
    # What ALPSim(model=...) uses unless told otherwise: 40 points on [1, 10].
    settings = {"emin": 1, "emax": 10, "nbins": 40, "noise": "poisson"}

    def __init__(self, config, setup=None):
        self.x = np.linspace(config.emin, config.emax, config.nbins)

    @property
    def shapes(self):
        return {"exp": self.x.shape, "data": self.x.shape}

    def expected(self, theta, rng):
        """Expected counts (n, nbins) for physical parameters theta (n, 5)."""
        n0, gamma, a, mu, w = (theta[:, i : i + 1] for i in range(5))
        return {"exp": n0 * self.x**-gamma + a * np.exp(-0.5 * ((self.x - mu) / w) ** 2)}

    def noise(self, exp, rng):
        return rng.poisson(exp).astype(float)
