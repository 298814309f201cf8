"""The classical likelihood analysis of an ALP-model run: MAGIC's method on the run's inputs.

For an observation's counts n_b and each (m, g) of a grid and each of N field realisations r,
the spectral nuisances nu (log10 amplitude, index, log10 cut-off: those free in the run's table,
within its prior box) are fitted by maximum likelihood:

    D_r(m, g) = min over nu of -2 ln L(n | mu(nu; m, g, r)),

with mu_b = sum_j [E_j exposure_j sum_q P_gg(E_jq) dN/dE(E_jq; nu) w_jq] M_jb + B_b, the run's
forward model (:class:`alpswyft.physics.alp_model.ALPModel`, the same quadrature and the same
floor of the expectation), and -2 ln L the Poisson deviance 2 sum (mu - n + n ln(n / mu)) with the
background B known (the CTA mock), or for ON/OFF data (``observation=`` runs, ``magic_like``) WStat,
the OFF expectation of each bin profiled (:func:`wstat_background`). ``magic_like``'s flux states
share P_gg and each has its own nuisances (amplitude, index, lambda): -2 ln L is the sum of the
states' (:class:`JointFit`). The field's parameters free in the run besides its modes (B0,
the cluster) are not fitted: they belong to the realisations, either held at their Obs. values
(``field="obs"``, MAGIC's choice of one field model) or drawn with each realisation from their
prior (``field="prior"``, the prior the network marginalises them over).

Two combinations over the realisations (say which one a limit uses):

- ``quantile`` (MAGIC's, classical): D(m, g) is the 5 % quantile of D_r over the realisations, the
  6th best of 100 (H. Abe et al., Phys. Dark Univ. 44, 101425, 2024: the five realisations that
  happen to fit best are set aside);
- ``marginal``: D(m, g) = -2 ln (mean over r of exp(-D_r / 2)), the profile likelihood averaged over
  the realisations, the field's treatment of the network (which integrates the spectrum over its
  prior instead of profiling it).

TS(m, g) = D(m, g) - min over the grid of D, and a point is excluded at ``level`` when TS exceeds
its threshold: from pseudo-experiments (a Neyman construction: pseudo-observations drawn at the
point, each with a field realisation of its own and the spectrum at its Obs. values, scanned like
the observation; at a lattice of grid points, bilinear between them, their measured error in
:meth:`Thresholds.errors`), or Wilks' chi2_2 quantile beside it. The expected limit is the median
over the run's mock observations of each one's limit (per mass column, the coupling where TS
crosses its threshold, interpolated between cell centres), with its 68 / 95 % bands.

The realisations are the same fields at every grid point (realisation r is one draw of the
field's modes, seeded from the run's ``sim_seed``), so that D_r(m, g) is one field's likelihood
surface, as in MAGIC's analysis.

The fits are batched Newton steps in torch (float64), vectorised over grid points and
realisations, on the GPU when one is present.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy import stats

from alpswyft.limits import (
    binomial_interval,
    limit_depth,
    limit_fraction,
    mg_plane,
    published_depth,
    published_limits,
    quoted_method,
)
from alpswyft.physics.alp import field_modes, field_modes_many
from alpswyft.physics.magic import STATES, state_vectors
from analysis_core.errors import ConfigError
from analysis_core.files import save_npz

#: The spectral nuisances the fits profile, by table name, when free in the run.
SPECTRAL_NUISANCES = ("Amplitude", "index", "Ecut")
#: The combinations over the field realisations.
COMBINATIONS = ("quantile", "marginal")
#: The field's free parameters besides its modes (B0, the cluster): held at their Obs. values,
#: or drawn with each realisation from their prior (as the network marginalises them).
FIELD_TREATMENTS = ("obs", "prior")
#: MAGIC's quantile of -2 ln L over the field realisations (the 6th best of 100).
MAGIC_QUANTILE = 0.05
#: Fewest realisations for the quantile rule (its 5 % quantile then rests on at least one).
MIN_REALISATIONS = 20
_LN10 = math.log(10.0)


def magic_quantile(deviance: np.ndarray, q: float = MAGIC_QUANTILE, axis: int = -1) -> np.ndarray:
    """The ``q`` quantile of -2 ln L over the realisations (``axis``): the (floor(q N) + 1)-th
    smallest of N, for N = 100 and q = 0.05 the 6th best."""
    deviance = np.sort(np.asarray(deviance, float), axis=axis)
    n = deviance.shape[axis]
    return np.take(deviance, min(int(math.floor(q * n + 1e-9)), n - 1), axis=axis)


def marginal_deviance(deviance: np.ndarray, axis: int = -1) -> np.ndarray:
    """-2 ln of the likelihood averaged over the realisations (``axis``)."""
    deviance = np.asarray(deviance, float)
    low = np.min(deviance, axis=axis, keepdims=True)
    mean = np.mean(np.exp(-0.5 * (deviance - low)), axis=axis)
    return np.squeeze(low, axis=axis) - 2.0 * np.log(mean)


def combine(deviance: np.ndarray, combination: str) -> np.ndarray:
    """D(m, g) from D_r(m, g) (..., n_realisations) by ``combination`` (:data:`COMBINATIONS`)."""
    if combination == "quantile":
        return magic_quantile(deviance)
    if combination == "marginal":
        return marginal_deviance(deviance)
    raise ValueError(f"combination {combination!r}: expected one of {COMBINATIONS}")


def test_statistic(combined: np.ndarray) -> np.ndarray:
    """TS = D - its minimum over the grid (the last axes flattened: the grid's)."""
    combined = np.asarray(combined, float)
    return combined - np.min(combined)


#: How a profiled parameter's table value maps to the fit's coordinates (log10 amplitude, index,
#: log10 cut-off in GeV): as it is, log10 of a linear amplitude, or a linear lambda (TeV^-1, the
#: EPWL's exp(-lambda E) of magic_like) to log10(1 / lambda) in GeV. The maps are monotone, so the
#: box maps to a box and the maximum of the likelihood is the same.
_TO_FIT = {
    "identity": lambda x: x,
    "log10": np.log10,
    "lambda": lambda x: np.log10(1e3 / np.asarray(x, float)),
}
_TO_TABLE = {
    "identity": lambda x: x,
    "log10": lambda x: 10.0**x,
    "lambda": lambda x: 1e3 / 10.0 ** np.asarray(x, float),
}


def spectral_names(state: str | None = None) -> tuple[str, str, str]:
    """The table names of the spectral nuisances: the CTA model's, or a ``magic_like`` flux
    state's (amplitude, index, lambda)."""
    return (
        SPECTRAL_NUISANCES
        if state is None
        else (f"amplitude_{state}", f"index_{state}", f"lambda_{state}")
    )


def _all_spectral_names() -> set[str]:

    return {*SPECTRAL_NUISANCES, *(n for s in STATES for n in spectral_names(s.name))}


@dataclass
class Nuisances:
    """The profiled spectral parameters: positions in the run's free-parameter vector, their
    columns among the fit's coordinates (log10 amplitude, index, log10 cut-off), their box in
    those coordinates and each one's map from its table value (:data:`_TO_FIT`)."""

    free_index: list[int]
    columns: list[int]
    low: np.ndarray
    high: np.ndarray
    transforms: list[str]

    @classmethod
    def of(cls, config, state: str | None = None) -> Nuisances:
        """Those free in ``config``'s table, of the CTA model or of the ``magic_like`` flux ``state``."""
        free = config.table.free
        names = [p.name for p in free]
        index, columns, transforms = [], [], []
        for column, name in enumerate(spectral_names(state)):
            if name not in names:
                continue
            p = free[names.index(name)]
            if state is None:
                if p.log != (name != "index"):
                    raise ConfigError(
                        f"param{p.row}",
                        p.name,
                        f"the classical fits take {name} "
                        + ("in log10 (log? 1)" if name != "index" else "linear (log? 0)"),
                    )
                transform = "identity"
            else:  # magic_like: amplitude and lambda linear, as MAGIC_ROWS has them
                if p.log:
                    raise ConfigError(
                        f"param{p.row}", p.name, "the classical fits take it linear (log? 0)"
                    )
                transform = ("log10", "identity", "lambda")[column]
            index.append(names.index(name))
            columns.append(column)
            transforms.append(transform)
        bounds = config.table.initial_bounds
        box = np.sort(
            [_TO_FIT[t](np.asarray(bounds[i], float)) for i, t in zip(index, transforms)], axis=-1
        )
        box = box.reshape(len(index), 2)
        return cls(index, columns, box[:, 0], box[:, 1], transforms)

    def to_table(self, nu: np.ndarray) -> np.ndarray:
        """Fitted nuisances (..., n_nuisances; fit coordinates) in the table's units."""
        nu = np.asarray(nu, float)
        return (
            np.stack([_TO_TABLE[t](nu[..., k]) for k, t in enumerate(self.transforms)], -1)
            if self.transforms
            else nu
        )


class SpectralFit:
    """Batched maximum-likelihood fits of the spectral nuisances of an ALP model, for a bank of
    P_gg (one per grid point and realisation) and one observation's counts.

    ``model``: the run's :class:`~alpswyft.physics.alp_model.ALPModel` (or, with ``state``, the
    :class:`~alpswyft.physics.magic.MagicLike` whose flux state ``state`` this fits); ``config``:
    its :class:`~alpswyft.config.RunConfig`.

    The likelihood: Poisson with the background known (a CTA mock: counts (..., nbins)), or for
    ON/OFF data (``observation=`` runs, ``magic_like``; counts [n_on | n_off], (..., 2 nbins)) the
    Poisson likelihood of both with the OFF expectation b of each bin profiled (WStat: for source
    counts s, b maximises P(n_on | s + alpha b) P(n_off | b), in closed form).
    """

    def __init__(self, model, config, device=None, state: int | None = None):
        import torch

        from alpswyft.physics.batched import default_device

        obs = config.table.physical(config.table.obs)
        state_name = None
        if state is not None:
            model, obs, state_name = (
                model.states[state],
                state_vectors(obs, state),
                STATES[state].name,
            )
        if not getattr(model, "with_alp", False) or not hasattr(model, "response"):
            raise ConfigError(
                "model",
                config.physics.model,
                "the classical analysis fits ALP models with a spectrum (not a toy model)",
            )
        self.torch = torch
        self.device = device or default_device()
        self.nuisances = Nuisances.of(config, state_name)
        t = lambda a: torch.as_tensor(np.asarray(a, float), dtype=torch.float64, device=self.device)  # noqa: E731
        response = model.response
        energy, weights, self.index, interp = model.quadrature
        self.energy = t(energy)  # (n_true, 4) GeV
        self.weights = t(
            1e-3 * weights * response.exposure[:, None]
        )  # dE, the exposure and the 1e-3 of the amplitude
        self.interp = t(interp)
        self.index = torch.as_tensor(self.index, device=self.device, dtype=torch.long)
        self.migration = t(response.migration)
        self.nbins = self.migration.shape[1]
        #: ON/OFF (WStat): the source counts alone are folded, the background is profiled
        self.on_off = bool(getattr(model, "on_off", False))
        if self.on_off:
            self.alpha, self.off_background = t(model.alpha), t(model.off_background)
            self.background, self.floor = (
                torch.zeros(self.nbins, dtype=torch.float64, device=self.device),
                None,
            )
        else:
            self.background = t(response.background)
            floor = config.physics.floor_exp
            self.floor = None if floor is None else t(10.0 ** (model.null_level + floor))
        obs = obs[0]
        self.e0 = float(obs[4])
        self.log_e = torch.log(self.energy / self.e0)
        self.moment_weights = torch.stack(
            [
                torch.ones_like(self.energy),
                self.log_e,
                self.energy,
                self.log_e**2,
                self.log_e * self.energy,
                self.energy**2,
            ]
        )
        self.exponent_basis = torch.stack(
            [torch.ones_like(self.energy), self.log_e, self.energy]
        ).flatten(1)
        # every spectral parameter at its Obs. value (fit coordinates): the starting point and the fixed ones
        start = [math.log10(obs[2]), float(obs[3]), math.log10(obs[5])]
        self.start = t(start)

    def nodes(self, pgg: np.ndarray):
        """P_gg at the quadrature nodes times their weights, dE and the exposure (batch, n_true, 4),
        from P_gg on the true-bin centres: the factor of the spectrum that no fit changes."""
        pgg = self.torch.as_tensor(
            np.asarray(pgg, float), dtype=self.torch.float64, device=self.device
        )
        return (
            pgg[:, self.index - 1] * (1.0 - self.interp) + pgg[:, self.index] * self.interp
        ) * self.weights

    def expectation(self, p_nodes, nu, derivatives: bool = False):
        """mu (batch, nbins) for :meth:`nodes` ``p_nodes`` and the full spectral vectors nu
        (batch, 3): log10 amplitude, index, log10 cut-off; with ``derivatives`` also d mu / d nu
        (batch, 3, nbins) and the second derivatives (batch, 3, 3, nbins) (zero where the floor
        holds mu)."""
        torch = self.torch
        nu = torch.as_tensor(nu, dtype=torch.float64, device=self.device)
        inverse_cut = 10.0 ** -nu[:, 2, None]
        # ln of the spectrum at the nodes, a ln 10 - index L - E / Ecut, as one product
        exponent = (
            torch.stack([_LN10 * nu[:, 0], -nu[:, 1], -inverse_cut[:, 0]], 1) @ self.exponent_basis
        )
        f = torch.exp(exponent).view_as(p_nodes) * p_nodes
        if not derivatives:
            return self._floored(f.sum(-1) @ self.migration + self.background)[0]
        # d f / d nu_i = f g_i with g = (ln 10, -ln(E/E0), ln 10 E/Ecut): every derivative is a
        # combination of six moments of f over the nodes, sum_q f (1, L, E, L^2, L E, E^2), folded
        moments = torch.einsum("bjq,mjq->bmj", f, self.moment_weights) @ self.migration
        mu, floored = self._floored(moments[:, 0] + self.background)
        c = inverse_cut
        s0, sl, sx, sll, slx, sxx = (
            moments[:, 0],
            moments[:, 1],
            moments[:, 2] * c,
            moments[:, 3],
            moments[:, 4] * c,
            moments[:, 5] * c**2,
        )
        first = torch.stack([_LN10 * s0, -sl, _LN10 * sx], 1)
        second = torch.stack(
            [
                torch.stack([_LN10**2 * s0, -_LN10 * sl, _LN10**2 * sx], 1),
                torch.stack([-_LN10 * sl, sll, -_LN10 * slx], 1),
                torch.stack([_LN10**2 * sx, -_LN10 * slx, _LN10**2 * (sxx - sx)], 1),
            ],
            1,
        )
        if floored is not None:
            first = torch.where(floored[:, None], 0.0, first)
            second = torch.where(floored[:, None, None], 0.0, second)
        return mu, first, second

    def _floored(self, mu):
        """mu held at the run's floor of the expectation, and where it is (None: no floor)."""
        if self.floor is None:
            return mu, None
        floored = mu < self.floor
        return self.torch.where(floored, self.floor.expand_as(mu), mu), floored

    def objective(self, counts: np.ndarray, pgg: np.ndarray):
        """-2 ln L of ``counts`` as a function of the free nuisances (a sequence, table space)
        for one P_gg (n_true,), the others at their Obs. values: what :meth:`fit` minimises, for a
        minimiser called point by point (iminuit)."""
        n = self.torch.as_tensor(
            np.asarray(counts, float), dtype=self.torch.float64, device=self.device
        )
        nodes = self.nodes(np.asarray(pgg, float)[None])

        def deviance(values) -> float:
            nu = self.start.clone()[None]
            nu[0, self.nuisances.columns] = self.torch.as_tensor(
                values, dtype=self.torch.float64, device=self.device
            )
            return float(self.deviance(n, self.expectation(nodes, nu))[0])

        return deviance

    def deviance(self, counts, mu):
        """-2 ln L over the last axis (torch) less its saturated value: the Poisson deviance
        2 sum (mu - n + n ln(n / mu)) of counts (..., nbins) about mu, or for ON/OFF counts
        (..., 2 nbins) the WStat of source counts mu (the same for n_on about s + alpha b and
        n_off about b, b profiled)."""
        if not self.on_off:
            return 2.0 * (mu - counts + _xlog_ratio(self.torch, counts, mu)).sum(-1)
        return wstat_deviance(
            counts[..., : self.nbins], counts[..., self.nbins :], mu, self.alpha
        ).sum(-1)

    def _newton_weights(self, counts, mu):
        """Per bin, for d(-2 ln L)/d nu = 2 sum_b (d mu_b / d nu) r_b and the Hessian
        2 sum_b [(d mu_b / d nu)(d mu_b / d nu)^T c_b + (d^2 mu_b / d nu^2) r_b]: r, c and the
        expected c (Fisher's, positive). Poisson: r = 1 - n/mu, c = n/mu^2, 1/mu; WStat:
        :func:`wstat_weights`."""
        if not self.on_off:
            return 1.0 - counts / mu, counts / mu**2, 1.0 / mu
        return wstat_weights(counts[..., : self.nbins], counts[..., self.nbins :], mu, self.alpha)

    def draw(self, pgg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Pseudo-observations for P_gg rows (n, n_true), the spectrum at its Obs. values:
        Poisson counts (n, nbins), or ON/OFF [n_on | n_off] (n, 2 nbins) with n_off ~ Poisson(b)
        and n_on ~ Poisson(s + alpha b), b the smoothed OFF spectrum."""
        mean = self.expectation(self.nodes(pgg), self.start.repeat(len(pgg), 1)).cpu().numpy()
        if not self.on_off:
            return rng.poisson(mean).astype(float)
        b, alpha = self.off_background.cpu().numpy(), self.alpha.cpu().numpy()
        return np.concatenate(
            [rng.poisson(mean + alpha * b), rng.poisson(np.broadcast_to(b, mean.shape))], 1
        ).astype(float)

    def fit(
        self,
        counts: np.ndarray,
        pgg: np.ndarray,
        iterations: int = 60,
        tolerance: float = 1e-9,
        chunk: int = 2048,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The smallest -2 ln L (batch,) and its nuisances (batch, n_nuisances; table space) of
        ``counts`` (nbins,), or one row of counts per P_gg (batch, nbins), for each P_gg (batch,
        n_true): projected, damped Newton steps within the prior box, from the Obs. values."""
        counts = np.asarray(counts, float)
        out_d, out_nu = [], []
        for start in range(0, len(pgg), chunk):
            rows = counts if counts.ndim == 1 else counts[start : start + chunk]
            d, nu = self._fit(rows, pgg[start : start + chunk], iterations, tolerance)
            out_d.append(d)
            out_nu.append(nu)
        return np.concatenate(out_d), np.concatenate(out_nu)

    def _fit(self, counts, pgg, iterations, tolerance):
        torch = self.torch
        p_nodes = self.nodes(pgg)
        n = torch.as_tensor(counts, dtype=torch.float64, device=self.device).expand(
            len(p_nodes), -1
        )
        cols = torch.as_tensor(self.nuisances.columns, device=self.device, dtype=torch.long)
        low = torch.as_tensor(self.nuisances.low, dtype=torch.float64, device=self.device)
        high = torch.as_tensor(self.nuisances.high, dtype=torch.float64, device=self.device)
        batch, k = len(p_nodes), len(cols)
        nu = self.start.repeat(batch, 1)
        nu[:, cols] = torch.clamp(nu[:, cols], low, high)
        mu = self.expectation(p_nodes, nu)
        d = self.deviance(n, mu)
        damping = torch.full((batch,), 1e-3, dtype=torch.float64, device=self.device)
        eye = torch.eye(k, dtype=torch.float64, device=self.device)
        active = torch.arange(batch, device=self.device)  # the rows still iterating
        for _ in range(iterations):
            if len(active) == 0:
                break
            nodes, nu_a, d_a, damping_a, n_a = (
                p_nodes[active],
                nu[active],
                d[active],
                damping[active],
                n[active],
            )
            mu, first, second = self.expectation(nodes, nu_a, derivatives=True)
            first, second = first[:, cols], second[:, cols][:, :, cols]
            residual, curvature, expected = self._newton_weights(n_a, mu)
            grad = 2.0 * torch.einsum("bit,bt->bi", first, residual)
            hess = 2.0 * (
                torch.einsum("bit,bjt,bt->bij", first, first, curvature)
                + torch.einsum("bijt,bt->bij", second, residual)
            )
            fisher = 2.0 * torch.einsum("bit,bjt,bt->bij", first, first, expected)
            _, info = torch.linalg.cholesky_ex(hess)
            hess = torch.where((info == 0)[:, None, None], hess, fisher)
            # at a bound with the gradient pushing outwards: that parameter stays
            value = nu_a[:, cols]
            held = ((value <= low) & (grad > 0)) | ((value >= high) & (grad < 0))
            grad = torch.where(held, 0.0, grad)
            hess = torch.where(held[:, :, None] | held[:, None, :], eye.expand_as(hess), hess)
            scale = torch.diagonal(hess, dim1=1, dim2=2).abs().clamp_min(1e-12)
            step = torch.linalg.solve(
                hess + damping_a[:, None, None] * torch.diag_embed(scale), grad[..., None]
            )[..., 0]
            trial = nu_a.clone()
            trial[:, cols] = torch.clamp(value - step, low, high)
            d_trial = self.deviance(n_a, self.expectation(nodes, trial))
            better = d_trial <= d_a
            nu[active] = torch.where(better[:, None], trial, nu_a)
            d[active] = torch.where(better, d_trial, d_a)
            damping[active] = torch.where(better, damping_a * 0.3, damping_a * 10.0).clamp(
                1e-9, 1e9
            )
            # converged: a step that gains less than the tolerance, or one too small to matter
            gain = torch.where(better, d_a - d_trial, torch.zeros_like(d_a))
            done = (better & (gain < tolerance)) | (step.abs().amax(1) < 1e-9) if k else better
            active = active[~done]
        return d.cpu().numpy(), nu[:, cols].cpu().numpy()


class JointFit:
    """The fits of spectra that share one P_gg, each with its own nuisances (``magic_like``'s flux
    states): the likelihood factorises, so each state is fitted on its own and -2 ln L is the sum.
    Counts are the model's nodes, [n_on of every state | n_off of every state] (..., 2 sum nbins);
    the nuisances are the states' one after the other."""

    def __init__(self, model, config, device=None):
        self.states = [SpectralFit(model, config, device, k) for k in range(len(model.states))]
        self.on_off = True
        self.device = self.states[0].device
        self.nbins = sum(f.nbins for f in self.states)

    def split(self, counts: np.ndarray) -> list[np.ndarray]:
        """``counts`` (..., 2 sum nbins) as each state's [n_on | n_off]."""
        counts = np.asarray(counts, float)
        ends = np.cumsum([f.nbins for f in self.states])[:-1]
        on, off = (
            np.split(half, ends, axis=-1)
            for half in (counts[..., : self.nbins], counts[..., self.nbins :])
        )
        return [np.concatenate([a, b], -1) for a, b in zip(on, off)]

    def fit(self, counts: np.ndarray, pgg: np.ndarray, **options) -> tuple[np.ndarray, np.ndarray]:
        results = [f.fit(c, pgg, **options) for f, c in zip(self.states, self.split(counts))]
        return sum(d for d, _ in results), np.concatenate([nu for _, nu in results], -1)

    def draw(self, pgg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        parts = [f.draw(pgg, rng) for f in self.states]
        return np.concatenate(
            [p[:, : f.nbins] for p, f in zip(parts, self.states)]
            + [p[:, f.nbins :] for p, f in zip(parts, self.states)],
            1,
        )


def make_fitter(model, config, device=None) -> SpectralFit | JointFit:
    """The fits of a run's model: :class:`JointFit` over ``magic_like``'s flux states, else
    :class:`SpectralFit`."""
    return (
        JointFit(model, config, device)
        if hasattr(model, "states")
        else SpectralFit(model, config, device)
    )


def observation_counts(model, nodes: dict) -> np.ndarray:
    """The counts the fits take, from simulator nodes (``data``, the floored log10 residual, and
    for ON/OFF ``n_off``; a leading batch axis or none): the (ON) counts rounded from the
    residual, [n_on | n_off] for ON/OFF."""
    levels = (
        np.concatenate([s.null_level for s in model.states])
        if hasattr(model, "states")
        else model.null_level
    )
    counts = np.rint(10.0 ** (np.asarray(nodes["data"], float) + levels))
    return (
        np.concatenate([counts, np.asarray(nodes["n_off"], float)], -1)
        if "n_off" in nodes
        else counts
    )


def _propagation(model, vectors: np.ndarray):
    """The model that propagates P_gg and its physical vectors: ``magic_like``'s first state (all
    share P_gg) with the states' 18-vectors."""
    if hasattr(model, "states"):
        return model.states[0], state_vectors(vectors, 0)
    return model, vectors


def wstat_background(n_on, n_off, s, alpha):
    """WStat's b, the OFF expectation maximising P(n_on | s + alpha b) P(n_off | b) at source
    counts s, and the ON expectation s + alpha b (torch tensors, per bin): b = (C + sqrt(C^2 +
    4 alpha (1 + alpha) n_off s)) / (2 alpha (1 + alpha)), C = alpha (n_on + n_off) - (1 + alpha) s
    (zero where n_off = 0 and C <= 0)."""
    import torch

    s = s.clamp_min(1e-12)
    c = alpha * (n_on + n_off) - (1.0 + alpha) * s
    b = (
        (c + torch.sqrt(c * c + 4.0 * alpha * (1.0 + alpha) * n_off * s))
        / (2.0 * alpha * (1.0 + alpha))
    ).clamp_min(0.0)
    return b, s + alpha * b


def wstat_deviance(n_on, n_off, s, alpha):
    """WStat per bin (torch): -2 ln L of n_on about s + alpha b and n_off about b, b profiled
    (:func:`wstat_background`), less its saturated value."""
    import torch

    b, mu_on = wstat_background(n_on, n_off, s, alpha)
    return 2.0 * (
        mu_on - n_on + _xlog_ratio(torch, n_on, mu_on) + b - n_off + _xlog_ratio(torch, n_off, b)
    )


def wstat_weights(n_on, n_off, s, alpha):
    """The Newton weights of WStat in the source counts s, per bin (torch): r = d W / 2 ds =
    1 - n_on / mu_on (b's derivative drops out at its optimum) and c = d^2 W / 2 ds^2, from b's
    derivative by the implicit function: 1/c = mu_on^2/n_on + alpha^2 b^2/n_off (n_on/mu_on^2
    where b is held at 0), and the expected c, 1 / (mu_on + alpha^2 b)."""
    import torch

    b, mu_on = wstat_background(n_on, n_off, s, alpha)
    on_term = n_on / mu_on**2
    off_term = torch.where(b > 0, n_off / torch.where(b > 0, b, 1.0) ** 2, 0.0)
    denominator = alpha**2 * on_term + off_term
    curvature = torch.where(
        b > 0, on_term * off_term / torch.where(denominator > 0, denominator, 1.0), on_term
    )
    return 1.0 - n_on / mu_on, curvature, 1.0 / (mu_on + alpha**2 * b)


def _xlog_ratio(torch, n, mu):
    """n ln(n / mu), 0 where n = 0."""
    return torch.where(n > 0, n * torch.log(torch.where(n > 0, n, 1.0) / mu), 0.0)


def field_parameters(config) -> list[int]:
    """Positions in the free-parameter vector of the field's parameters that are free besides
    its modes (B0 and the cluster's, e.g. ``rms_B``): neither m, g nor a spectral nuisance."""
    spectral = _all_spectral_names()
    return [i for i, p in enumerate(config.table.free) if p.name not in ("m", "g", *spectral)]


def _realisation_vectors(config, n: int, field: str, rng: np.random.Generator) -> np.ndarray:
    """Free-parameter vectors (n, n_free; table space) of n field realisations: the Obs. values,
    with ``field="prior"`` the :func:`field_parameters` drawn from their prior on the box."""
    if field not in FIELD_TREATMENTS:
        raise ConfigError("classical_field", field, f"one of {', '.join(FIELD_TREATMENTS)}")
    vectors = np.tile(config.table.obs, (n, 1))
    columns = field_parameters(config)
    if field == "prior" and columns:
        vectors[:, columns] = config.table.sample(config.table.initial_bounds, n, rng)[:, columns]
    return vectors


def _at_points(config, vectors: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Physical vectors: ``vectors`` (table space) with m and g set to ``points``."""
    names = [p.name for p in config.table.free]
    free = np.array(vectors, float, copy=True)
    free[:, names.index("m")], free[:, names.index("g")] = points[:, 0], points[:, 1]
    return config.table.physical(free)


def survival_bank(
    model, config, points: np.ndarray, n_realisations: int, seed: int, field: str = "obs"
) -> np.ndarray:
    """P_gg (n_points, n_realisations, n_true) at (m, g) ``points`` (n_points, 2; table space:
    log10 neV, log10 1e-11 /GeV) for ``n_realisations`` field realisations, each the same field at
    every point (its modes, and with ``field="prior"`` its free parameters drawn from their
    prior); the spectrum at its Obs. values."""
    rng = np.random.default_rng(seed)
    realisations = _realisation_vectors(config, n_realisations, field, rng)
    bank = None
    for r, vector in enumerate(realisations):
        alp, vectors = _propagation(
            model, _at_points(config, np.tile(vector, (len(points), 1)), points)
        )
        if bank is None:
            bank = np.empty((len(points), n_realisations, len(alp.response.e_true)))
        modes = field_modes(vectors[0], rng)
        bank[:, r] = alp.survival_with_modes(vectors, [modes] * len(points))
    return bank


def grid_points(config, bins: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cell centres (nx * ny, 2) of a ``bins`` grid over the (m, g) box of the run's table
    (table space), x slowest, and the grid's edges in m and g."""
    names = [p.name for p in config.table.free]
    if "m" not in names or "g" not in names:
        raise ConfigError(
            "model", config.physics.model or "ALP", "the classical analysis scans free m and g"
        )
    if min(bins) < 5:
        raise ConfigError("bins", bins, "at least 5 x 5 cells over the (m, g) box")
    bounds = config.table.initial_bounds
    edges = [np.linspace(*bounds[names.index(name)], n + 1) for name, n in zip(("m", "g"), bins)]
    centres = [0.5 * (e[1:] + e[:-1]) for e in edges]
    x, y = np.meshgrid(*centres, indexing="ij")
    return np.column_stack([x.ravel(), y.ravel()]), edges[0], edges[1]


@dataclass
class ClassicalScan:
    """One observation's classical scan of a grid: D_r (n_points, n_realisations), the fitted
    nuisances (n_points, n_realisations, n_nuisances), the grid points (n_points, 2; table space)
    and, for a grid over the box, its edges."""

    points: np.ndarray
    deviance: np.ndarray
    nuisances: np.ndarray
    edges_x: np.ndarray | None = None
    edges_y: np.ndarray | None = None
    seconds: float = 0.0  # the fits' wall time

    @property
    def shape(self) -> tuple[int, int] | None:
        return None if self.edges_x is None else (len(self.edges_x) - 1, len(self.edges_y) - 1)

    def combined(self, combination: str = "quantile") -> np.ndarray:
        return combine(self.deviance, combination)

    def ts(self, combination: str = "quantile") -> np.ndarray:
        return test_statistic(self.combined(combination))

    def excluded(self, level: float, combination: str = "quantile") -> np.ndarray:
        """Wilks' test: TS above the chi2_2 quantile at ``level``."""
        return self.ts(combination) > stats.chi2.ppf(level, 2)


def scan(
    fitter: SpectralFit | JointFit,
    counts: np.ndarray,
    points: np.ndarray,
    bank: np.ndarray,
    edges=(None, None),
) -> ClassicalScan:
    """The fits of one observation's ``counts`` at every point and realisation of ``bank``
    (:func:`survival_bank`)."""
    n_points, n_real, n_true = bank.shape
    start = time.perf_counter()
    d, nu = fitter.fit(counts, bank.reshape(-1, n_true))
    return ClassicalScan(
        np.asarray(points, float),
        d.reshape(n_points, n_real),
        nu.reshape(n_points, n_real, -1),
        *edges,
        seconds=time.perf_counter() - start,
    )


# ---------------------------------------------------------------- thresholds and limits

#: The threshold methods: pseudo-experiments (a Neyman construction) or Wilks' chi2_2.
THRESHOLD_METHODS = ("toys", "wilks")
#: The widest grid cell (dex, in m and in g) a classical limit is read from.
MAX_CELL_DEX = 0.5
#: Masses (neV) at which the classical and the network's limits are compared.
COMPARISON_MASSES = (10.0, 46.0, 100.0, 300.0)


def toys_needed(level: float) -> int:
    """Fewest pseudo-experiments per point for a threshold at ``level``: the
    ceil(level (n + 1))-th smallest TS of n must exist (19 for 95 %, 3 for 68 %)."""
    return math.ceil(level / (1.0 - level) - 1e-9)


def order_statistic_threshold(ts: np.ndarray, level: float, axis: int = -1) -> np.ndarray:
    """The ceil(level (n + 1))-th smallest of n TS values along ``axis``: a threshold c with
    P(TS <= c) >= level for a new draw (the (n + 1)-sample rule of :mod:`alpswyft.neyman`)."""
    ts = np.sort(np.asarray(ts, float), axis=axis)
    n = ts.shape[axis]
    rank = math.ceil(level * (n + 1) - 1e-9)
    if rank > n:
        raise ConfigError(
            "classical_toys",
            n,
            f"at least {toys_needed(level)} pseudo-experiments per point "
            f"for a threshold at {level:g}",
        )
    return np.take(ts, rank - 1, axis=axis)


def check_grid(config, bins: tuple[int, int]) -> None:
    """A classical grid (cells per axis over the (m, g) box) fine enough for the plane: at
    least 5 cells and at most :data:`MAX_CELL_DEX` per cell along each axis."""
    names = [p.name for p in config.table.free]
    for name, n in zip(("m", "g"), bins):
        low, high = config.table.initial_bounds[names.index(name)]
        needed = max(5, math.ceil((high - low) / MAX_CELL_DEX - 1e-9))
        if n < needed:
            raise ConfigError(
                "classical_bins",
                n,
                f"at least 5 cells of at most {MAX_CELL_DEX} dex along {name} "
                f"(its box is {high - low:g} dex wide: {needed} or more)",
            )


def lattice_indices(shape: tuple[int, int], per_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid cells of a ``per_axis`` x ``per_axis`` lattice spanning the grid, corners included
    (cell indices along x and along y)."""
    return tuple(
        np.unique(np.round(np.linspace(0, n - 1, min(per_axis, n))).astype(int)) for n in shape
    )


def truth_survival(model, config, points: np.ndarray, seed: int, field: str = "obs") -> np.ndarray:
    """P_gg (n, n_true) at (m, g) ``points`` (table space), each with a field realisation of its
    own (as in :func:`survival_bank`), the spectrum at its Obs. values: the truths of
    pseudo-experiments."""
    rng = np.random.default_rng(seed)
    alp, vectors = _propagation(
        model, _at_points(config, _realisation_vectors(config, len(points), field, rng), points)
    )
    return alp.survival_with_modes(vectors, field_modes_many(vectors, rng))


@dataclass
class Thresholds:
    """The TS of pseudo-experiments at a lattice of grid points: each pseudo-observation drawn
    at its point (the spectrum at the Obs. values, a field realisation of its own, Poisson noise)
    and scanned over the whole grid like an observation. The lattice points form the product grid
    ``axes`` (table space); ``ts`` maps each combination to (n_lattice, n_toys); the
    pseudo-experiments' wall ``seconds``."""

    axes: tuple[np.ndarray, np.ndarray]
    ts: dict[str, np.ndarray]
    seconds: float = 0.0

    def at_lattice(self, level: float, combination: str = "quantile") -> np.ndarray:
        """The threshold at each lattice point (n_lattice,)."""
        return order_statistic_threshold(self.ts[combination], level)

    def at(self, points: np.ndarray, level: float, combination: str = "quantile") -> np.ndarray:
        """The thresholds at ``points`` (n, 2; table space): bilinear between the lattice points,
        held at the lattice's edge outside it."""
        from scipy.interpolate import RegularGridInterpolator

        values = self.at_lattice(level, combination).reshape(len(self.axes[0]), len(self.axes[1]))
        inside = np.column_stack(
            [np.clip(points[:, k], self.axes[k][0], self.axes[k][-1]) for k in range(2)]
        )
        return RegularGridInterpolator(self.axes, values)(inside)

    def errors(
        self, level: float, combination: str = "quantile", n_bootstrap: int = 200, seed: int = 0
    ) -> dict:
        """The thresholds' measured errors: the bootstrap standard deviation of each lattice
        point's (its sampling error, median and largest over the lattice), and the leave-one-out
        error of the interpolation at the lattice's inner points (each predicted by the mean of
        its four neighbours, the bilinear value midway; None without inner points)."""
        ts = self.ts[combination]
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, ts.shape[1], size=(n_bootstrap, ts.shape[1]))
        boot = np.stack([order_statistic_threshold(ts[:, d], level) for d in draws])
        sigma = boot.std(axis=0)
        values = self.at_lattice(level, combination).reshape(len(self.axes[0]), len(self.axes[1]))
        inner = [
            (i, j) for i in range(1, values.shape[0] - 1) for j in range(1, values.shape[1] - 1)
        ]
        loo = [
            values[i, j]
            - 0.25 * (values[i - 1, j] + values[i + 1, j] + values[i, j - 1] + values[i, j + 1])
            for i, j in inner
        ]
        return {
            "bootstrap_sigma_median": float(np.median(sigma)),
            "bootstrap_sigma_max": float(sigma.max()),
            "interpolation_loo_max": float(np.max(np.abs(loo))) if loo else None,
            "range": [float(values.min()), float(values.max())],
        }


def pseudo_experiment_ts(
    fitter: SpectralFit | JointFit,
    model,
    config,
    points: np.ndarray,
    bank: np.ndarray,
    own: np.ndarray,
    n_toys: int,
    seed: int,
    progress=None,
    field: str = "obs",
) -> dict[str, np.ndarray]:
    """TS at their own grid point (indices ``own`` into ``points``, (nx * ny, 2)) of ``n_toys``
    pseudo-experiments at each: drawn there (the spectrum at its Obs. values, a field realisation
    of its own, Poisson noise) and scanned over the whole grid with the ``bank``'s realisations.
    Returns each combination's (len(own), n_toys); ``progress(done)`` after each one."""
    rng = np.random.default_rng([seed, 1])
    truths = truth_survival(
        model, config, np.repeat(points[own], n_toys, axis=0), int(rng.integers(2**32)), field
    )
    counts = fitter.draw(truths, rng)
    ts = {c: np.empty((len(own), n_toys)) for c in COMBINATIONS}
    n_points, n_real, n_true = bank.shape
    flat = bank.reshape(-1, n_true)
    for t, n in enumerate(counts):
        k, toy = divmod(t, n_toys)
        d = fitter.fit(n, flat)[0].reshape(n_points, n_real)
        for c in COMBINATIONS:
            combined = combine(d, c)
            ts[c][k, toy] = combined[own[k]] - combined.min()
        if progress is not None:
            progress(t + 1)
    return ts


def pseudo_experiment_thresholds(
    fitter: SpectralFit | JointFit,
    model,
    config,
    points: np.ndarray,
    bank: np.ndarray,
    shape: tuple[int, int],
    per_axis: int,
    n_toys: int,
    seed: int,
    progress=None,
    field: str = "obs",
) -> Thresholds:
    """:func:`pseudo_experiment_ts` at each point of a ``per_axis`` lattice of the grid
    (``points`` (nx * ny, 2), x slowest)."""
    start = time.perf_counter()
    ix, iy = lattice_indices(shape, per_axis)
    grid = points.reshape(*shape, 2)
    own = np.array([i * shape[1] + j for i in ix for j in iy])
    ts = pseudo_experiment_ts(
        fitter, model, config, points, bank, own, n_toys, seed, progress, field
    )
    return Thresholds((grid[ix, 0, 0], grid[0, iy, 1]), ts, time.perf_counter() - start)


def line_cells(
    excluded_median: np.ndarray, edges_x: np.ndarray, masses
) -> list[tuple[int, int] | None]:
    """Per mass (neV): the lowest excluded cell (i, j) of the median limit's run from the top in
    the mass's column; None where the column has no limit or the mass is off the grid."""
    cells = []
    for m in masses:
        i = np.searchsorted(edges_x, math.log10(m), side="right") - 1
        if not 0 <= i < len(edges_x) - 1 or not excluded_median[i, -1]:
            cells.append(None)
            continue
        allowed = np.flatnonzero(~excluded_median[i])
        cells.append((int(i), 0 if allowed.size == 0 else int(allowed[-1] + 1)))
    return cells


def column_depths(
    ts: np.ndarray, threshold: np.ndarray, centres_y: np.ndarray, bottom: float
) -> np.ndarray:
    """The depth (log10 g) of the excluded region reaching the top of each mass column, for one
    observation's TS (nx, ny) and thresholds (nx, ny) on cell centres ``centres_y``: where TS -
    threshold crosses zero between the lowest excluded cell of the uninterrupted run from the top
    and the allowed cell below it (linear in log10 g); ``bottom`` (the grid's lower edge) where
    the whole column is excluded; NaN where the top cell is allowed."""
    z = np.asarray(ts, float) - threshold
    depths = np.full(len(z), np.nan)
    for i, column in enumerate(z):
        excluded = column > 0
        if not excluded[-1]:
            continue
        allowed = np.flatnonzero(~excluded)
        if allowed.size == 0:
            depths[i] = bottom
            continue
        j = allowed[-1]  # the allowed cell just below the run
        depths[i] = centres_y[j] + (centres_y[j + 1] - centres_y[j]) * (-column[j]) / (
            column[j + 1] - column[j]
        )
    return depths


@dataclass
class ClassicalLimits:
    """The classical analysis of a set of observations on one grid: the TS maps
    (n_observations, nx, ny) of each combination, the pseudo-experiments' thresholds (or None:
    Wilks' only) and what each part cost (wall seconds)."""

    edges_x: np.ndarray
    edges_y: np.ndarray
    ts: dict[str, np.ndarray]
    thresholds: Thresholds | None = None
    seconds: dict | None = None
    n_realisations: int = 0
    field: str = "obs"
    #: pseudo-experiments at truths on the Wilks limit line: their ``level``, ``masses`` (neV),
    #: ``points`` (table space) and MAGIC-combination TS (n_masses, n_toys); None without them
    line: dict | None = None
    #: the limit calibrated along the Wilks line (:func:`calibrated_line`): ``masses`` (neV),
    #: ``depth`` (log10 g, NaN: none) and per visited cell ``g``, ``threshold``, ``fraction``
    calibrated: dict | None = None
    #: the real observation's TS maps (nx, ny) per combination (an ``observation=`` run); None without one
    observed: dict | None = None

    def observed_at(
        self,
        level: float,
        combination: str = "quantile",
        method: str = "toys",
        masses=COMPARISON_MASSES,
    ) -> dict[str, float | None] | None:
        """The real observation's g limit (1e-11 GeV^-1, None: none) at each of ``masses`` (neV);
        None without one."""
        if not self.observed:
            return None
        depth = self.observed_depth(level, combination, method)[None]
        return {f"{m:g}": depth_at(depth, self.edges_x, m)[0] for m in masses}

    def observed_depth(
        self, level: float, combination: str = "quantile", method: str = "toys"
    ) -> np.ndarray | None:
        """The real observation's limit depth per mass column (nx; log10 g, NaN: none); None
        without one."""
        if not self.observed:
            return None
        return column_depths(
            self.observed[combination],
            self.threshold(level, combination, method),
            self.centres[1],
            self.edges_y[0],
        )

    def calibrated_depth(self, m_nev: float) -> float | None:
        """The calibrated median limit (1e-11 GeV^-1) at a comparison mass; None without one."""
        if not self.calibrated or m_nev not in list(self.calibrated["masses"]):
            return None
        depth = self.calibrated["depth"][list(self.calibrated["masses"]).index(m_nev)]
        return None if not np.isfinite(depth) else float(10.0**depth)

    def line_exclusion(self) -> list[dict]:
        """How often Wilks' test excludes a truth on its own median limit line (per comparison
        mass): for a calibrated test at most 1 - level."""
        if not self.line:
            return []

        level, rows = float(self.line["level"]), []
        for m, point, ts in zip(self.line["masses"], self.line["points"], self.line["ts"]):
            k = int(np.sum(ts > stats.chi2.ppf(level, 2)))
            rows.append(
                {
                    "m": float(m),
                    "g": float(10.0 ** point[1]),
                    "excluded": k,
                    "n": len(ts),
                    "fraction": k / len(ts),
                    "interval_68": list(binomial_interval(k, len(ts))),
                    "allowed": round(1 - level, 10),
                    "ts_median": float(np.median(ts)),
                }
            )
        return rows

    @property
    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        return 0.5 * (self.edges_x[1:] + self.edges_x[:-1]), 0.5 * (
            self.edges_y[1:] + self.edges_y[:-1]
        )

    def threshold(
        self, level: float, combination: str = "quantile", method: str = "toys"
    ) -> np.ndarray:
        """The threshold map (nx, ny) at ``level``: interpolated from the pseudo-experiments
        (``toys``) or Wilks' chi2_2 quantile (``wilks``)."""
        shape = (len(self.edges_x) - 1, len(self.edges_y) - 1)
        if method == "wilks":
            return np.full(shape, stats.chi2.ppf(level, 2))
        if method != "toys":
            raise ValueError(f"method {method!r}: expected one of {THRESHOLD_METHODS}")
        if self.thresholds is None:
            raise ValueError(
                "these limits have no pseudo-experiments (classical_toys = 0): use method='wilks'"
            )
        x, y = np.meshgrid(*self.centres, indexing="ij")
        return self.thresholds.at(
            np.column_stack([x.ravel(), y.ravel()]), level, combination
        ).reshape(shape)

    def excluded(
        self, level: float, combination: str = "quantile", method: str = "toys"
    ) -> np.ndarray:
        """Excluded cells (n_observations, nx, ny)."""
        return self.ts[combination] > self.threshold(level, combination, method)

    def fraction(
        self, level: float, combination: str = "quantile", method: str = "toys"
    ) -> np.ndarray:
        """How often each cell is excluded over the observations (nx, ny)."""
        return self.excluded(level, combination, method).mean(axis=0)

    def depths(
        self, level: float, combination: str = "quantile", method: str = "toys"
    ) -> np.ndarray:
        """Each observation's limit depth per mass column (n_observations, nx; log10 g, NaN: none)."""
        threshold = self.threshold(level, combination, method)
        return np.array(
            [
                column_depths(t, threshold, self.centres[1], self.edges_y[0])
                for t in self.ts[combination]
            ]
        )

    def expected(
        self,
        level: float,
        combination: str = "quantile",
        method: str = "toys",
        fractions=(0.023, 0.159, 0.5, 0.841, 0.977),
    ) -> np.ndarray:
        """The median expected limit and its 68 / 95 % bands per mass column (len(fractions), nx;
        log10 g): quantiles of the observations' depths, a column without a limit counted as
        above the box (+inf)."""
        depths = np.nan_to_num(self.depths(level, combination, method), nan=np.inf)
        return np.quantile(depths, fractions, axis=0, method="inverted_cdf")

    def save(self, path, **extra) -> None:

        arrays = {f"ts_{c}": v.astype(np.float32) for c, v in self.ts.items()}
        if self.thresholds is not None:
            arrays.update(
                {f"toy_ts_{c}": v for c, v in self.thresholds.ts.items()},
                lattice_x=self.thresholds.axes[0],
                lattice_y=self.thresholds.axes[1],
                toys_seconds=self.thresholds.seconds,
            )
        if self.line:
            arrays.update({f"line_{k}": np.asarray(v) for k, v in self.line.items()})
        if self.calibrated:
            arrays.update({f"calibrated_{k}": np.asarray(v) for k, v in self.calibrated.items()})
        if self.observed:
            arrays.update({f"observed_ts_{c}": v for c, v in self.observed.items()})
        save_npz(
            path,
            edges_x=self.edges_x,
            edges_y=self.edges_y,
            n_realisations=self.n_realisations,
            field=self.field,
            seconds_keys=np.array(list((self.seconds or {}).keys())),
            seconds_values=np.array(list((self.seconds or {}).values()), float),
            **arrays,
            **extra,
        )

    @classmethod
    def load(cls, path) -> ClassicalLimits:
        data = np.load(path)
        thresholds = None
        if "lattice_x" in data:
            thresholds = Thresholds(
                (data["lattice_x"], data["lattice_y"]),
                {c: data[f"toy_ts_{c}"] for c in COMBINATIONS},
                float(data["toys_seconds"]),
            )
        line = (
            {k: data[f"line_{k}"] for k in ("level", "masses", "points", "ts")}
            if "line_ts" in data
            else None
        )
        calibrated = (
            {k: data[f"calibrated_{k}"] for k in ("masses", "depth", "g", "threshold", "fraction")}
            if "calibrated_depth" in data
            else None
        )
        observed = (
            {c: data[f"observed_ts_{c}"] for c in COMBINATIONS}
            if "observed_ts_quantile" in data
            else None
        )
        return cls(
            data["edges_x"],
            data["edges_y"],
            {c: data[f"ts_{c}"].astype(float) for c in COMBINATIONS},
            thresholds,
            dict(zip(data["seconds_keys"].tolist(), data["seconds_values"].tolist())),
            int(data["n_realisations"]),
            str(data["field"]) if "field" in data else "obs",
            line,
            calibrated,
            observed,
        )


def limit_line_truths(
    fitter: SpectralFit | JointFit,
    model,
    config,
    points: np.ndarray,
    bank: np.ndarray,
    limits: ClassicalLimits,
    n_toys: int,
    seed: int,
    progress=None,
) -> int:
    """Pseudo-experiments at truths on the Wilks limit line (the median's lowest excluded cell at
    each of :data:`COMPARISON_MASSES`, at the highest level ``n_toys`` can calibrate), ``n_toys``
    each, stored in ``limits.line`` (see :meth:`ClassicalLimits.line_exclusion`); returns how many
    were drawn."""
    start = time.perf_counter()
    served = [
        level for level in config.validation.credibility_levels if toys_needed(level) <= n_toys
    ]
    if not served:
        return 0
    level, shape = max(served), limits.ts["quantile"].shape[1:]
    cells = line_cells(
        limits.fraction(level, "quantile", "wilks") >= 0.5, limits.edges_x, COMPARISON_MASSES
    )
    found = [c for c in cells if c is not None]
    n = len(found) * n_toys
    if found:
        own = np.array([i * shape[1] + j for i, j in found])
        ts = pseudo_experiment_ts(
            fitter,
            model,
            config,
            points,
            bank,
            own,
            n_toys,
            seed + 1,
            None if progress is None else lambda done: progress("limit-line truths", done, n),
            limits.field,
        )["quantile"]
        limits.line = {
            "level": level,
            "masses": np.array([m for m, c in zip(COMPARISON_MASSES, cells) if c]),
            "points": points[own],
            "ts": ts,
        }
    limits.seconds["limit_line_truths"] = time.perf_counter() - start
    return n


def calibrated_line(
    fitter: SpectralFit | JointFit,
    model,
    config,
    points: np.ndarray,
    bank: np.ndarray,
    limits: ClassicalLimits,
    n_toys: int,
    seed: int,
    max_steps: int = 6,
    progress=None,
) -> int:
    """The median expected limit with thresholds from pseudo-experiments at the cells where it is
    decided, per comparison mass of ``limits.line`` (:func:`limit_line_truths`, whose
    pseudo-experiments are the first step): from the Wilks line's cell, upwards while the mock
    observations exclude the cell with its own threshold in fewer than half of them, downwards
    while they exclude it in half or more; each new cell gets ``n_toys`` pseudo-experiments of its
    own, at most ``max_steps`` cells per mass. The depth is the centre of the lowest cell so
    excluded (the column's exclusion taken as monotone above it; none where the search upwards
    ends without an excluded cell). Stored in
    ``limits.calibrated``; returns how many pseudo-experiments were drawn. ``progress(what, done,
    total)`` after each new cell (the total: the most cells the search may visit)."""
    start, level = time.perf_counter(), float(limits.line["level"])
    shape, centres_y = limits.ts["quantile"].shape[1:], limits.centres[1]
    n_masses = len(limits.line["masses"])
    visited = {
        key: np.full((n_masses, max_steps), np.nan) for key in ("g", "threshold", "fraction")
    }
    depths, drawn = np.full(n_masses, np.nan), 0
    for k, (point, line_ts) in enumerate(zip(limits.line["points"], limits.line["ts"])):
        i = int(np.argmin(np.abs(limits.centres[0] - point[0])))
        j = int(np.argmin(np.abs(centres_y - point[1])))
        ts, direction = line_ts, 0
        for step in range(max_steps):
            threshold = order_statistic_threshold(ts, level)
            fraction = float(np.mean(limits.ts["quantile"][:, i, j] > threshold))
            for key, value in (
                ("g", centres_y[j]),
                ("threshold", threshold),
                ("fraction", fraction),
            ):
                visited[key][k, step] = value
            excluded = fraction >= 0.5
            if excluded:
                depths[k] = centres_y[j]
            direction = direction or (-1 if excluded else 1)
            if (
                (direction < 0) != excluded
                or not 0 <= j + direction < shape[1]
                or step == max_steps - 1
            ):
                break  # the boundary is found, the grid ends, or the steps run out
            j += direction
            ts = pseudo_experiment_ts(
                fitter,
                model,
                config,
                points,
                bank,
                np.array([i * shape[1] + j]),
                n_toys,
                seed + 1000 * i + j,
                None,
                limits.field,
            )["quantile"][0]
            drawn += n_toys
            if progress is not None:
                progress("calibrated-line cells", drawn // n_toys, n_masses * (max_steps - 1))
    limits.calibrated = {"masses": limits.line["masses"], "depth": depths, **visited}
    limits.seconds["calibrated_line"] = time.perf_counter() - start
    return drawn


def expected_limits(
    model,
    config,
    observations: np.ndarray,
    bins: tuple[int, int],
    n_realisations: int,
    n_toys: int,
    lattice: int,
    seed: int,
    progress=None,
    field: str = "obs",
    line_steps: int = 6,
    observed: np.ndarray | None = None,
) -> ClassicalLimits:
    """The classical analysis of ``observations`` (counts, (n, nbins) or ON/OFF (n, 2 nbins):
    :func:`observation_counts`), and of the real one ``observed`` if given, on a ``bins`` grid over
    the (m, g) box, with ``n_realisations`` field realisations and, with ``n_toys`` > 0,
    thresholds from pseudo-experiments on a ``lattice`` x ``lattice`` subset of the grid (none with
    ``lattice=0``: pseudo-experiments only along the Wilks line); the
    field's free parameters as ``field`` says (:data:`FIELD_TREATMENTS`); with pseudo-experiments
    also the Wilks line's check and its calibration cell by cell (at most ``line_steps`` cells per
    mass). ``progress(what, done, total)`` reports each observation and pseudo-experiment."""
    check_grid(config, bins)
    fitter = make_fitter(model, config)
    points, edges_x, edges_y = grid_points(config, bins)
    start = time.perf_counter()
    bank = survival_bank(model, config, points, n_realisations, seed, field)
    seconds = {"survival_bank": time.perf_counter() - start}
    start = time.perf_counter()
    ts = {c: np.empty((len(observations), *bins)) for c in COMBINATIONS}
    for s, counts in enumerate(observations):
        result = scan(fitter, counts, points, bank)
        for c in COMBINATIONS:
            ts[c][s] = result.ts(c).reshape(bins)
        if progress is not None:
            progress("observations", s + 1, len(observations))
    seconds["observations"] = time.perf_counter() - start
    thresholds = None
    if n_toys and lattice:
        thresholds = pseudo_experiment_thresholds(
            fitter,
            model,
            config,
            points,
            bank,
            bins,
            lattice,
            n_toys,
            seed,
            None
            if progress is None
            else lambda done: progress("pseudo-experiments", done, lattice**2 * n_toys),
            field,
        )
        seconds["pseudo_experiments"] = thresholds.seconds
    limits = ClassicalLimits(edges_x, edges_y, ts, thresholds, seconds, n_realisations, field)
    if observed is not None:
        result = scan(fitter, observed, points, bank)
        limits.observed = {c: result.ts(c).reshape(bins) for c in COMBINATIONS}
    n_line = (
        limit_line_truths(fitter, model, config, points, bank, limits, n_toys, seed, progress)
        if n_toys
        else 0
    )
    if limits.line:
        n_line += calibrated_line(
            fitter, model, config, points, bank, limits, n_toys, seed, line_steps, progress
        )
    fits = (
        (
            len(observations)
            + (lattice**2 * n_toys if thresholds else 0)
            + n_line
            + (observed is not None)
        )
        * bank.shape[0]
        * bank.shape[1]
    )
    seconds["fits_per_second"] = fits / sum(
        seconds.get(k, 0.0)
        for k in ("observations", "pseudo_experiments", "limit_line_truths", "calibrated_line")
    )
    return limits


def depth_at(expected: np.ndarray, edges_x: np.ndarray, m_nev: float) -> list[float | None]:
    """The rows of :meth:`ClassicalLimits.expected` (log10 g per mass column) at the column
    holding ``m_nev``, in 1e-11 GeV^-1; None where there is no limit or the mass is off the grid."""
    i = np.searchsorted(edges_x, math.log10(m_nev), side="right") - 1
    if not 0 <= i < len(edges_x) - 1:
        return [None] * len(expected)
    return [None if not np.isfinite(v) else float(10.0**v) for v in expected[:, i]]


def summary(limits: ClassicalLimits, config, masses=COMPARISON_MASSES) -> dict:
    """The validation summary of a classical analysis: per level and threshold method (MAGIC's
    quantile combination; with pseudo-experiments also the marginal one), the median expected g
    limit and its 68 / 95 % bands at ``masses``; the thresholds' range and measured errors; the
    costs."""
    levels = config.validation.credibility_levels
    methods = (
        [("toys", "quantile"), ("wilks", "quantile"), ("toys", "marginal")]
        if limits.thresholds
        else [("wilks", "quantile"), ("wilks", "marginal")]
    )
    out = {
        "grid": [len(limits.edges_x) - 1, len(limits.edges_y) - 1],
        "n_observations": len(limits.ts["quantile"]),
        "n_realisations": limits.n_realisations,
        "field": limits.field,
        "seconds": limits.seconds,
        "levels": {},
        "thresholds": {},
    }
    for level in levels:
        entry = out["levels"][f"{level:g}"] = {}
        for method, combination in methods:
            expected = limits.expected(level, combination, method)
            rows = {f"{m:g}": depth_at(expected, limits.edges_x, m) for m in masses}
            entry[f"{method}_{combination}"] = {
                "median": {m: r[2] for m, r in rows.items()},
                "band_68": {m: [r[1], r[3]] for m, r in rows.items()},
                "band_95": {m: [r[0], r[4]] for m, r in rows.items()},
                "excluded_area_median": float(
                    np.median(limits.excluded(level, combination, method).mean(axis=(1, 2)))
                ),
            }
        if limits.thresholds is not None:
            out["thresholds"][f"{level:g}"] = {
                c: limits.thresholds.errors(level, c) for c in COMBINATIONS
            }
            out["thresholds"][f"{level:g}"]["wilks"] = float(stats.chi2.ppf(level, 2))
    if limits.observed:
        out["observed"] = {
            f"{level:g}": {
                f"{method}_{combination}": limits.observed_at(level, combination, method, masses)
                for method, combination in methods
            }
            for level in levels
        }
    if limits.line:
        out["wilks_line_truths"] = limits.line_exclusion()
    if limits.calibrated:
        out["calibrated_on_the_line"] = {
            f"{m:g}": limits.calibrated_depth(float(m)) for m in limits.calibrated["masses"]
        }
    if limits.thresholds is not None:
        out["n_toys"] = int(limits.thresholds.ts["quantile"].shape[1])
        out["lattice"] = [len(a) for a in limits.thresholds.axes]
    return out


def with_network(tree, grid_point: int = 0):
    """A run's classical limits and the network's expected-limit arrays with the index of their
    (m, g) plane, (:class:`ClassicalLimits`, arrays, plane); None without either."""
    path = tree.validation_data("classical_limits", grid_point)
    plane = mg_plane(tree.validation_data("expected_limits", grid_point))
    if plane is None or not path.is_file():
        return None
    return ClassicalLimits.load(path), *plane


def compare_with_network(
    network_result,
    config,
    limits: ClassicalLimits,
    level: float = 0.95,
    masses=COMPARISON_MASSES,
    pair: int = 0,
) -> list[dict]:
    """Per mass (neV): the median expected g limit (1e-11 GeV^-1) of the network (each of its
    limit methods in ``network_result``, the layout of ``expected_limits_gridpoint_*.npz``, read
    at the centre of the lowest excluded cell; with ``fraction_fixed`` also the fixed-nuisance
    network's HPD limit), of the classical analysis (pseudo-experiment and
    Wilks thresholds, MAGIC's combination; interpolated between cell centres; and where it was
    searched, calibrated along the Wilks line at its cells' centres) and MAGIC's published one,
    with the ratio network (quoted method) / classical (the line-calibrated one, else the
    lattice's pseudo-experiments, else Wilks)."""
    k = int(np.argmin(np.abs(np.asarray(network_result["levels"]) - level)))
    ex, ey = network_result["edges_x"][pair], network_result["edges_y"][pair]
    network_methods = [
        m for m in ("frequentist", "cls", "hpd") if m == "hpd" or f"fraction_{m}" in network_result
    ]
    quoted = quoted_method(config, network_result)
    classical_methods = ["toys", "wilks"] if limits.thresholds is not None else ["wilks"]
    expected = {m: limits.expected(level, "quantile", m) for m in classical_methods}
    regions, rows = published_limits(), []
    for m in masses:
        row = {"m": m}
        for method in network_methods:
            median = np.asarray(limit_fraction(network_result, method)[pair, k]) >= 0.5
            depth = limit_depth(median, ex, ey, math.log10(m), at="centre")
            row[f"network_{method}"] = None if depth is None else float(10.0**depth)
        if (
            "fraction_fixed" in network_result
        ):  # the fixed-nuisance network (HPD): what marginalising costs
            depth = limit_depth(
                np.asarray(network_result["fraction_fixed"][pair, k]) >= 0.5,
                ex,
                ey,
                math.log10(m),
                at="centre",
            )
            row["network_hpd_fixed"] = None if depth is None else float(10.0**depth)
        for method in classical_methods:
            row[f"classical_{method}"] = depth_at(expected[method], limits.edges_x, m)[2]
        if limits.calibrated:
            row["classical_calibrated_on_the_line"] = limits.calibrated_depth(m)
        row["magic_published"] = published_depth(m, "MAGIC", regions)
        reference = (
            "classical_calibrated_on_the_line"
            if limits.calibrated
            else f"classical_{classical_methods[0]}"
        )
        ours, theirs = row[f"network_{quoted}"], row[reference]
        row["ratio"] = None if ours is None or theirs is None else ours / theirs
        rows.append(row)
    return rows


def comparison_table(rows: list[dict], level: float) -> str:
    """:func:`compare_with_network`'s rows as a text table (g in 1e-11 GeV^-1)."""
    keys = [k for k in rows[0] if k != "m"]
    cell = lambda v: "-" if v is None else f"{v:.3g}"  # noqa: E731
    lines = [
        f"median expected limits at {100 * level:.4g} %, g [1e-11 /GeV]:",
        "m [neV]  " + "  ".join(f"{k:>20}" for k in keys),
    ]
    lines += [f"{r['m']:>7g}  " + "  ".join(f"{cell(r[k]):>20}" for k in keys) for r in rows]
    return "\n".join(lines)
