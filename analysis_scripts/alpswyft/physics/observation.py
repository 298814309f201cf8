"""The simulated CTA observation of NGC 1275: counts, the original's output chain, noise, features.

Per simulation (physics spec 1.5, 1.6, 2.6, 2.7):

1. P_gg(E) on the true-energy bin centres (fast engine or gammaALPs), 1 for ``spectral_fit``;
2. true-bin fluxes F_j = int P_gg dN/dE dE (4-point Gauss-Legendre in ln E per bin, P_gg
   interpolated linearly in ln E), folded through the response: expected counts N_i;
3. ``exp`` = max(log10 N - y0, floor_exp), the floored log10 residual against the null
   hypothesis y0 = max(log10 N0, floor_exp), N0 being the counts at the table's Null values;
4. ``data``: Poisson (or Gaussian) noise drawn from 10**(exp + y0), then the same chain with
   ``floor_obs`` -- drawn from ``exp`` alone, so noise can be redrawn each time a sample is loaded;
5. ``power``: |FFT(data)| zero-padded to ``len_fft`` points, up to ``max_freq`` cycles per decade.

:func:`prepare` computes what does not change between simulations (response, line of sight, null
counts) once per configuration; the configuration stage stores it as ``response.npz``.
"""

from __future__ import annotations

import numpy as np

from alpswyft.physics.alp import LineOfSight, cluster_domains, ecpl
from alpswyft.physics.response import Response, build_response

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(4)


def _null_vector(config) -> np.ndarray:
    return config.table.physical(config.table.null)[0]


def prepare(config) -> dict[str, np.ndarray]:
    """Response, EBL, Galactic field and null counts for a configuration (arrays to save)."""
    response = build_response(
        config.irf_path, config.emin, config.emax, config.nbins, config.nbins_etrue,
        config.livetime, config.on_region, config.on_region_radius,
    )
    los = LineOfSight.compute(response.e_true)
    arrays = {f"response_{k}": v for k, v in vars(response).items()}
    arrays.update(
        ebl_attenuation=los.ebl_attenuation,
        **{f"gmf_{k}": a for k, a in zip(("b", "psi", "n_el", "length"), los.gmf_domains)},
    )
    model = ALPModel(config, arrays)
    rng = np.random.default_rng(config.ALP_seed if config.ALP_seed is not None else config.sim_seed)
    counts, pgg = model.counts(_null_vector(config), rng)
    arrays.update(null_counts=counts, null_pgg=pgg)
    return arrays


class ALPModel:
    """Model ``""`` (ALP) and ``spectral_fit`` / ``spectral_fit_log`` (no P_gg) on the CTA response."""

    def __init__(self, config, setup: dict[str, np.ndarray]):
        self.config = config
        self.with_alp = config.model == ""
        self.response = Response(**{k[9:]: setup[k] for k in setup if k.startswith("response_")})
        self.los = LineOfSight(
            self.response.e_true,
            setup["ebl_attenuation"],
            tuple(setup[f"gmf_{k}"] for k in ("b", "psi", "n_el", "length")),
        )
        edges = np.log(self.response.e_true_edges)
        half = 0.5 * np.diff(edges)[:, None]
        self._ln_nodes = 0.5 * (edges[1:] + edges[:-1])[:, None] + half * _GL_NODES
        self._weights = half * _GL_WEIGHTS * np.exp(self._ln_nodes)  # dE = E dlnE
        self.null_counts = setup.get("null_counts")
        decades_per_bin = np.log10(config.emax / config.emin) / config.nbins
        self.len_fts = int(config.max_freq * decades_per_bin * config.len_fft)

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {
            "exp": (self.config.nbins,),
            "data": (self.config.nbins,),
            "pgg": (self.config.nbins_etrue,),
            "power": (self.len_fts,),
        }

    # -- physics
    def survival(self, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not self.with_alp:
            return np.ones(len(self.response.e_true))
        field_rng = np.random.default_rng(self.config.ALP_seed) if self.config.ALP_seed is not None else rng
        if self.config.alp_engine == "gammaalps":
            from alpswyft.physics import reference

            seed = int(field_rng.integers(2**31 - 1))
            return reference.survival(self.response.e_true, v, seed)[0]
        return self.los.survival(v[0], v[1], cluster_domains(v, field_rng))

    def use_gpu(self) -> bool:
        """Batch the propagation on a GPU: fast engine, a new field per simulation, CUDA present."""
        if not (self.with_alp and self.config.alp_engine == "fast" and self.config.ALP_seed is None):
            return False
        import torch

        return torch.cuda.is_available()

    def fold(self, v: np.ndarray, pgg: np.ndarray) -> np.ndarray:
        """Expected counts per reconstructed bin for a physical 18-vector and its P_gg."""
        p_nodes = np.interp(self._ln_nodes, np.log(self.response.e_true), pgg)
        dnde = ecpl(np.exp(self._ln_nodes), v[2], v[3], v[4], v[5])
        flux = np.sum(p_nodes * dnde * self._weights, axis=1)
        return self.response.counts(flux)

    def counts(self, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Expected counts per reconstructed bin and P_gg per true bin for a physical 18-vector."""
        pgg = self.survival(v, rng)
        return self.fold(v, pgg), pgg

    # -- output chain
    @property
    def null_level(self) -> np.ndarray:
        return _log_floor(self.null_counts, self.config.floor_exp)

    def residual(self, counts: np.ndarray, floor) -> np.ndarray:
        y0 = self.null_level
        y = _log(counts)
        with np.errstate(invalid="ignore"):
            r = np.where(np.isneginf(y) & np.isneginf(y0), 0.0, y - y0)
        return r if floor is None else np.maximum(r, floor)

    def expected(self, theta: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``exp`` (n, nbins) and ``pgg`` (n, nbins_etrue) for physical parameter vectors (n, 18).

        With a GPU the n field realisations are drawn and propagated as one batch
        (:mod:`alpswyft.physics.batched`, complex128); the random numbers are the same as on the CPU.
        """
        theta = np.atleast_2d(theta)
        if len(theta) > 1 and self.use_gpu():
            from alpswyft.physics.batched import survival_batch

            pgg = survival_batch(theta, rng, self.los)
        else:
            pgg = np.array([self.survival(v, rng) for v in theta])
        counts = np.array([self.fold(v, p) for v, p in zip(theta, pgg)])
        return {"exp": self.residual(counts, self.config.floor_exp), "pgg": pgg}

    def noise(self, exp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mean = 10.0 ** (exp + self.null_level)
        if self.config.noise == "gauss":
            observed = mean + self.config.noise_sigma * rng.standard_normal(mean.shape)
        else:
            observed = rng.poisson(mean).astype(float)
        return self.residual(observed, self.config.floor_obs)

    def features(self, data: np.ndarray) -> dict[str, np.ndarray]:
        spectrum = np.abs(np.fft.rfft(data, n=self.config.len_fft, axis=-1))
        return {"power": spectrum[..., : self.len_fts]}


def _log(counts):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, np.log10(np.where(counts > 0, counts, 1.0)), -np.inf)


def _log_floor(counts, floor):
    y = _log(counts)
    return y if floor is None else np.maximum(y, floor)
