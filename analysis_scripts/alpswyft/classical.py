"""The classical likelihood analysis of an ALP-model run: MAGIC's method on the run's inputs.

For an observation's counts n_b and each (m, g) of a grid and each of N field realisations r,
the spectral nuisances nu (log10 amplitude, index, log10 cut-off: those free in the run's table,
within its prior box) are fitted by maximum likelihood:

    D_r(m, g) = min over nu of -2 ln L(n | mu(nu; m, g, r)),

with mu_b = sum_j [E_j exposure_j sum_q P_gg(E_jq) dN/dE(E_jq; nu) w_jq] M_jb + B_b, the run's
forward model (:class:`alpswyft.physics.observation.ALPModel`, the same quadrature and the same
floor of the expectation), and -2 ln L the Poisson deviance 2 sum (mu - n + n ln(n / mu)) with the
background B known (the CTA mock). The field's strength B0 and the cluster stay at their Obs.
values: the classical analysis treats the field through its realisations only.

Two combinations over the realisations (say which one a limit uses):

- ``quantile`` (MAGIC's, classical): D(m, g) is the 5 % quantile of D_r over the realisations, the
  6th best of 100 (MAGIC, Phys. Rev. Lett. 128, 2022; a conservative choice: the realisations
  that fit worst do not count);
- ``marginal``: D(m, g) = -2 ln (mean over r of exp(-D_r / 2)), the profile likelihood averaged over
  the realisations, the field's treatment of the network (which integrates the spectrum over its
  prior instead of profiling it).

TS(m, g) = D(m, g) - min over the grid of D, and a point is excluded at ``level`` when TS exceeds
its threshold, Wilks' chi2_2 quantile.

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
from analysis_core.errors import ConfigError

#: The spectral nuisances the fits profile, by table name, when free in the run.
SPECTRAL_NUISANCES = ("Amplitude", "index", "Ecut")
#: The combinations over the field realisations.
COMBINATIONS = ("quantile", "marginal")
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


@dataclass
class Nuisances:
    """The profiled spectral parameters: positions in the run's free-parameter vector, their
    columns among (log10 amplitude, index, log10 cut-off), and their box (table space)."""

    free_index: list[int]
    columns: list[int]
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, config) -> Nuisances:
        free = config.table.free
        names = [p.name for p in free]
        index, columns = [], []
        for column, name in enumerate(SPECTRAL_NUISANCES):
            if name in names:
                p = free[names.index(name)]
                if p.log != (name != "index"):
                    raise ConfigError(f"param{p.row}", p.name, f"the classical fits take {name} "
                                      + ("in log10 (log? 1)" if name != "index" else "linear (log? 0)"))
                index.append(names.index(name))
                columns.append(column)
        bounds = config.table.initial_bounds
        return cls(index, columns, np.array([bounds[i][0] for i in index], float),
                   np.array([bounds[i][1] for i in index], float))


class SpectralFit:
    """Batched maximum-likelihood fits of the spectral nuisances of an ALP model, for a bank of
    P_gg (one per grid point and realisation) and one observation's counts.

    ``model``: the run's :class:`~alpswyft.physics.observation.ALPModel`; ``config``: its
    :class:`~alpswyft.config.RunConfig`.
    """

    def __init__(self, model, config, device=None):
        import torch

        from alpswyft.physics.batched import default_device

        if not getattr(model, "with_alp", False) or not hasattr(model, "response"):
            raise ConfigError("model", config.model, "the classical analysis fits ALP models with a spectrum "
                              "(not a toy model)")
        if getattr(model, "on_off", False):
            raise ConfigError("observation", config.observation, "the classical fits of ON/OFF data (WStat) are not "
                              "in this version: they fit mock observations with a known background")
        self.torch = torch
        self.device = device or default_device()
        self.nuisances = Nuisances.of(config)
        t = lambda a: torch.as_tensor(np.asarray(a, float), dtype=torch.float64, device=self.device)  # noqa: E731
        response = model.response
        energy, weights, self.index, interp = model.quadrature
        self.energy = t(energy)  # (n_true, 4) GeV
        self.weights = t(weights * response.exposure[:, None])  # dE and the exposure
        self.interp = t(interp)
        self.migration, self.background = t(response.migration), t(response.background)
        floor = config.floor_exp
        self.floor = None if floor is None else t(10.0 ** (model.null_level + floor))
        obs = config.table.physical(config.table.obs)[0]
        self.e0 = float(obs[4])
        # every spectral parameter at its Obs. value (table space): the starting point and the fixed ones
        start = [math.log10(obs[2]), float(obs[3]), math.log10(obs[5])]
        self.start = t(start)

    def nodes(self, pgg: np.ndarray):
        """P_gg at the quadrature nodes (batch, n_true, 4) from P_gg on the true-bin centres."""
        pgg = self.torch.as_tensor(np.asarray(pgg, float), dtype=self.torch.float64, device=self.device)
        i = self.torch.as_tensor(self.index, device=self.device)
        return pgg[:, i - 1] * (1.0 - self.interp) + pgg[:, i] * self.interp

    def expectation(self, p_nodes, nu, derivatives: bool = False):
        """mu (batch, nbins) for the full spectral vectors nu (batch, 3): log10 amplitude, index,
        log10 cut-off; with ``derivatives`` also d mu / d nu (batch, 3, nbins) and the second
        derivatives (batch, 3, 3, nbins) (zero where the floor holds mu)."""
        torch = self.torch
        log_e = torch.log(self.energy / self.e0)
        x = self.energy / 10.0 ** nu[:, 2, None, None]
        f = 1e-3 * 10.0 ** nu[:, 0, None, None] * torch.exp(-nu[:, 1, None, None] * log_e - x) * p_nodes * self.weights
        mu = f.sum(-1) @ self.migration + self.background
        floored = None if self.floor is None else mu < self.floor
        if floored is not None:
            mu = torch.where(floored, self.floor.expand_as(mu), mu)
        if not derivatives:
            return mu
        # d f / d nu_i = f g_i with g = (ln 10, -ln(E/E0), ln 10 E/Ecut): every derivative is a
        # combination of six moments of f over the nodes, folded once
        log_e = log_e.expand_as(x)
        moments = torch.stack([f, f * log_e, f * x, f * log_e**2, f * log_e * x, f * x**2], 1).sum(-1) @ self.migration
        s0, sl, sx, sll, slx, sxx = moments.unbind(1)
        first = torch.stack([_LN10 * s0, -sl, _LN10 * sx], 1)
        second = torch.stack([
            torch.stack([_LN10**2 * s0, -_LN10 * sl, _LN10**2 * sx], 1),
            torch.stack([-_LN10 * sl, sll, -_LN10 * slx], 1),
            torch.stack([_LN10**2 * sx, -_LN10 * slx, _LN10**2 * (sxx - sx)], 1),
        ], 1)
        if floored is not None:
            first = torch.where(floored[:, None], 0.0, first)
            second = torch.where(floored[:, None, None], 0.0, second)
        return mu, first, second

    def objective(self, counts: np.ndarray, pgg: np.ndarray):
        """-2 ln L of ``counts`` as a function of the free nuisances (a sequence, table space)
        for one P_gg (n_true,), the others at their Obs. values: what :meth:`fit` minimises, for a
        minimiser called point by point (iminuit)."""
        n = self.torch.as_tensor(np.asarray(counts, float), dtype=self.torch.float64, device=self.device)
        nodes = self.nodes(np.asarray(pgg, float)[None])

        def deviance(values) -> float:
            nu = self.start.clone()[None]
            nu[0, self.nuisances.columns] = self.torch.as_tensor(values, dtype=self.torch.float64, device=self.device)
            return float(self.deviance(n, self.expectation(nodes, nu))[0])

        return deviance

    def deviance(self, counts, mu):
        """The Poisson deviance 2 sum (mu - n + n ln(n / mu)) over the last axis (torch)."""
        torch = self.torch
        log_term = torch.where(counts > 0, counts * torch.log(torch.where(counts > 0, counts, 1.0) / mu), 0.0)
        return 2.0 * (mu - counts + log_term).sum(-1)

    def fit(self, counts: np.ndarray, pgg: np.ndarray, iterations: int = 60, tolerance: float = 1e-9,
            chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
        """The smallest -2 ln L (batch,) and its nuisances (batch, n_nuisances; table space) of
        ``counts`` (nbins,) for each P_gg (batch, n_true): projected, damped Newton steps within
        the prior box, from the Obs. values."""
        out_d, out_nu = [], []
        for start in range(0, len(pgg), chunk):
            d, nu = self._fit(counts, pgg[start:start + chunk], iterations, tolerance)
            out_d.append(d)
            out_nu.append(nu)
        return np.concatenate(out_d), np.concatenate(out_nu)

    def _fit(self, counts, pgg, iterations, tolerance):
        torch = self.torch
        p_nodes = self.nodes(pgg)
        n = torch.as_tensor(np.asarray(counts, float), dtype=torch.float64, device=self.device)
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
            nodes, nu_a, d_a, damping_a = p_nodes[active], nu[active], d[active], damping[active]
            mu, first, second = self.expectation(nodes, nu_a, derivatives=True)
            first, second = first[:, cols], second[:, cols][:, :, cols]
            ratio = n / mu
            grad = 2.0 * torch.einsum("bit,bt->bi", first, 1.0 - ratio)
            hess = 2.0 * (torch.einsum("bit,bjt,bt->bij", first, first, ratio / mu)
                          + torch.einsum("bijt,bt->bij", second, 1.0 - ratio))
            fisher = 2.0 * torch.einsum("bit,bjt,bt->bij", first, first, 1.0 / mu)
            _, info = torch.linalg.cholesky_ex(hess)
            hess = torch.where((info == 0)[:, None, None], hess, fisher)
            # at a bound with the gradient pushing outwards: that parameter stays
            value = nu_a[:, cols]
            held = ((value <= low) & (grad > 0)) | ((value >= high) & (grad < 0))
            grad = torch.where(held, 0.0, grad)
            hess = torch.where(held[:, :, None] | held[:, None, :], eye.expand_as(hess), hess)
            scale = torch.diagonal(hess, dim1=1, dim2=2).abs().clamp_min(1e-12)
            step = torch.linalg.solve(hess + damping_a[:, None, None] * torch.diag_embed(scale), grad[..., None])[..., 0]
            trial = nu_a.clone()
            trial[:, cols] = torch.clamp(value - step, low, high)
            d_trial = self.deviance(n, self.expectation(nodes, trial))
            better = d_trial <= d_a
            nu[active] = torch.where(better[:, None], trial, nu_a)
            d[active] = torch.where(better, d_trial, d_a)
            damping[active] = torch.where(better, damping_a * 0.3, damping_a * 10.0).clamp(1e-9, 1e9)
            # converged: a step that gains less than the tolerance, or one too small to matter
            gain = torch.where(better, d_a - d_trial, torch.zeros_like(d_a))
            done = (better & (gain < tolerance)) | (step.abs().amax(1) < 1e-9) if k else better
            active = active[~done]
        return d.cpu().numpy(), nu[:, cols].cpu().numpy()


def survival_bank(model, config, points: np.ndarray, n_realisations: int, seed: int) -> np.ndarray:
    """P_gg (n_points, n_realisations, n_true) at (m, g) ``points`` (n_points, 2; table space:
    log10 neV, log10 1e-11 /GeV) for ``n_realisations`` field realisations, each the same field at
    every point; every other parameter at its Obs. value."""
    from alpswyft.physics.alp import field_modes

    obs = config.table.physical(config.table.obs)[0]
    rows = config.table.free
    names = [p.name for p in rows]
    free = np.tile(config.table.obs, (len(points), 1))
    free[:, names.index("m")], free[:, names.index("g")] = points[:, 0], points[:, 1]
    vectors = config.table.physical(free)
    rng = np.random.default_rng(seed)
    bank = np.empty((len(points), n_realisations, len(model.response.e_true)))
    for r in range(n_realisations):
        modes = field_modes(obs, rng)
        bank[:, r] = model.survival_with_modes(vectors, [modes] * len(points))
    return bank


def grid_points(config, bins: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cell centres (nx * ny, 2) of a ``bins`` grid over the (m, g) box of the run's table
    (table space), x slowest, and the grid's edges in m and g."""
    names = [p.name for p in config.table.free]
    if "m" not in names or "g" not in names:
        raise ConfigError("model", config.model or "ALP", "the classical analysis scans free m and g")
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
        from scipy import stats

        return self.ts(combination) > stats.chi2.ppf(level, 2)


def scan(fitter: SpectralFit, counts: np.ndarray, points: np.ndarray, bank: np.ndarray, edges=(None, None)) -> ClassicalScan:
    """The fits of one observation's ``counts`` at every point and realisation of ``bank``
    (:func:`survival_bank`)."""
    n_points, n_real, n_true = bank.shape
    start = time.perf_counter()
    d, nu = fitter.fit(counts, bank.reshape(-1, n_true))
    return ClassicalScan(np.asarray(points, float), d.reshape(n_points, n_real), nu.reshape(n_points, n_real, -1),
                         *edges, seconds=time.perf_counter() - start)
