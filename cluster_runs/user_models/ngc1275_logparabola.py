"""An ALP-model variant for alpswyft: NGC 1275 with a log-parabola intrinsic spectrum.

Used by cluster_runs/alp_logparabola.sh (model=user_models/ngc1275_logparabola.py), and in Python
by ALPSim(model="cluster_runs/user_models/ngc1275_logparabola.py"). Everything but the intrinsic
spectrum is the shipped ALP model's (alpswyft/physics/alp_model.py): the cluster and its field, the
EBL, the Galactic field, the CTA response, the noise and the power features. A variant may override
further parts in the same way: ``line_of_sight`` (another EBL model or Galactic field) or
``survival_batch`` (another cluster or propagation); docs/guide/extending.md, "Adding a model".
"""

import numpy as np

from alpswyft.physics.alp_model import ALP_ROWS, ALPModel


class Model(ALPModel):
    """NGC 1275 with a log-parabola spectrum, dN/dE = A (E/E0)^(-alpha - beta ln(E/E0)), seen by CTA."""

    # The shipped ALP table with the spectrum's rows 4 and 6 (index and Ecut) replaced; the defaults
    # match the shipped cut-off power law's flux, slope and curvature at E0 = 300 GeV.
    parameters = (
        *ALP_ROWS[:2],
        "-9.044 | -9.044 | -9.044 | 1 | U | Amplitude | TeV^{-1}cm^{-2}s^{-1}",
        "2.64   | 2.64   | 2.64   | 0 | U | alpha     | none",
        ALP_ROWS[4],  # E0 in GeV
        "0.267  | 0.267  | 0.267  | 0 | U | beta      | none",
        *ALP_ROWS[6:],
    )

    def intrinsic(self, theta, energy_gev):
        """dN/dE per GeV cm^2 s for physical vectors theta (n, 18): theta[:, 2] is A per TeV
        cm^2 s, theta[:, 3] alpha, theta[:, 4] E0 in GeV, theta[:, 5] beta (natural log, as
        gammapy's LogParabolaSpectralModel)."""
        theta = np.atleast_2d(theta)
        shape = (len(theta),) + (1,) * np.ndim(energy_gev)
        a, alpha, e0, beta = (theta[:, i].reshape(shape) for i in (2, 3, 4, 5))
        x = np.asarray(energy_gev, float) / e0
        return a * 1e-3 * x ** (-alpha - beta * np.log(x))
