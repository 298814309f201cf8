"""The forward model of NGC 1275 seen by CTA: counts, the residual chain, noise, features.

Per simulation:

1. P_gg(E) on the true-energy bin centres (fast engine or gammaALPs), 1 for ``spectral_fit``;
2. true-bin fluxes F_j = int P_gg dN/dE dE (4-point Gauss-Legendre in ln E per bin, P_gg
   interpolated linearly in ln E), folded through the response: expected counts N_i;
3. ``exp`` = max(log10 N - y0, floor_exp), the floored log10 residual against the null
   hypothesis y0 = max(log10 N0, floor_exp), N0 being the counts at the table's Null values;
4. ``data``: Poisson (or Gaussian) noise drawn from 10**(exp + y0), then the same chain with
   ``floor_obs`` -- drawn from ``exp`` alone, so noise can be redrawn each time a sample is loaded;
5. ``power``: ``|FFT(data)|`` zero-padded to ``len_fft`` points, up to ``max_freq`` cycles per decade.

:func:`setup_arrays` holds what does not change between simulations (response, line of sight,
null counts); :mod:`alpswyft.setups` computes it once per configuration from the run's IRF or DL3
runs, and the configuration stage stores it as ``response.npz``.

The classes are the models ``""`` (:class:`ALPModel`), ``log``, ``spectral_fit`` and
``spectral_fit_log``, registered in :mod:`alpswyft.models`.
"""

from __future__ import annotations

import functools
import os

import numba
import numpy as np

from alpswyft.physics import reference
from alpswyft.physics.alp import LineOfSight, cluster_field, ecpl, field_modes, field_modes_many
from alpswyft.physics.response import Response, cached_arrays

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(4)
_GMF_KEYS = ("b", "psi", "n_el", "length")


#: The parameter table of the shipped ``cluster_runs/run.sh``: m and g
#: free in log10 (the Obs. and Null values, 1e-6 neV and 1e-5 x 1e-11 / GeV, are "no ALP"), the
#: spectrum and the cluster fixed.
ALP_ROWS = (
    "[-2, 4]  | -6     | -6     | 1 | U | m           | neV",
    "[-2, 1]  | -5     | -5     | 1 | U | g           | e-11GeV^{-1}",
    "-8.812   | -8.812 | -8.812 | 1 | U | Amplitude   | TeV^{-1}cm^{-2}s^{-1}",
    "2.11     | 2.11   | 2.11   | 0 | U | index       | none",
    "300      | 300    | 300    | 0 | U | E0          | GeV",
    "2.75     | 2.75   | 2.75   | 1 | U | Ecut        | GeV",
    "25       | 25     | 25     | 0 | U | rms_B       | muG",
    "46       | 46     | 46     | 0 | U | e_norm      | 1e-3cm^{-3}",
    "4.05     | 4.05   | 4.05   | 0 | U | e_norm_2    | 1e-3cm^{-3}",
    "500      | 500    | 500    | 0 | U | cluster_ext | kpc",
    "57       | 57     | 57     | 0 | U | e_dens_1    | kpc",
    "268      | 268    | 268    | 0 | U | e_dens_2    | kpc",
    "1.2      | 1.2    | 1.2    | 0 | U | e_dens_3    | none",
    "0.69     | 0.69   | 0.69   | 0 | U | e_dens_4    | none",
    "0.62     | 0.62   | 0.62   | 0 | U | B_scaling   | none",
    "-0.41    | -0.41  | -0.41  | 1 | U | Max_turb    | kpc^{-1}",
    "0.93     | 0.93   | 0.93   | 1 | U | min_turb    | kpc^{-1}",
    "1.97     | 1.97   | 1.97   | 0 | U | turb_index  | none",
)


def _log10_rows(rows) -> tuple[str, ...]:
    """The same table with every row in log10 (``log?`` = 1), for the all-log models."""
    out = []
    for row in rows:
        bounds, obs, null, log, prior, name, unit = (c.strip() for c in row.split("|"))
        if log == "0":
            to_log = lambda text: f"{np.log10(float(text)):.9g}"  # noqa: E731
            bounds, obs, null = to_log(bounds), to_log(obs), to_log(null)
        out.append(" | ".join((bounds, obs, null, "1", prior, name, unit)))
    return tuple(out)


def _null_vector(config) -> np.ndarray:
    return config.table.physical(config.table.null)[0]


def line_of_sight(e_true: np.ndarray) -> LineOfSight:
    """EBL and Galactic field on these energies, computed once (:func:`cached_arrays`)."""

    def compute():
        los = LineOfSight.compute(e_true)
        return {"ebl_attenuation": los.ebl_attenuation, **dict(zip(_GMF_KEYS, los.gmf_domains))}

    arrays = cached_arrays("line_of_sight", np.asarray(e_true, float).tobytes().hex(), compute)
    return LineOfSight(e_true, arrays["ebl_attenuation"], tuple(arrays[k] for k in _GMF_KEYS))


def los_arrays(los: LineOfSight) -> dict[str, np.ndarray]:
    """The set-up arrays of a line of sight: ``ebl_attenuation`` and the Galactic field's ``gmf_*``."""
    return {
        "ebl_attenuation": los.ebl_attenuation,
        **{f"gmf_{k}": a for k, a in zip(_GMF_KEYS, los.gmf_domains)},
    }


def setup_arrays(
    config,
    response: Response,
    los: LineOfSight,
    observed: dict | None = None,
    model_class: type | None = None,
) -> dict[str, np.ndarray]:
    """The set-up arrays of a response (for the configured livetime) and line of sight, with the
    null-hypothesis counts: one simulation of ``model_class`` (default :class:`ALPModel`) at the
    table's Null values, its field realisation drawn from ``ALP_seed`` (or ``sim_seed``);
    ``observed``: the arrays of a real observation.

    The null hypothesis always has P_gg (the EBL and the field at the Null values), also for a
    model without ALP mixing: ``spectral_fit``'s own spectra have P_gg = 1, no EBL absorption,
    while its null counts are absorbed, as in the original pipeline."""
    arrays = {
        **(observed or {}),
        **{f"response_{k}": v for k, v in vars(response).items()},
        **los_arrays(los),
    }
    model = (model_class or ALPModel)(config, arrays)
    model.with_alp = True  # the null's P_gg, whatever the model's own (see above)
    rng = np.random.default_rng(config.ALP_seed if config.ALP_seed is not None else config.sim_seed)
    counts, pgg = model.counts(_null_vector(config)[None], rng)
    arrays.update(null_counts=counts[0], null_pgg=pgg[0])
    return arrays


class ALPModel:
    """ALP signature in the NGC 1275 spectrum: intrinsic spectrum x P_gg, folded through CTA."""

    parameters = ALP_ROWS
    with_alp = True
    all_log = False  # whether every table row must be in log10
    #: physical domains of the spectrum's parameters (:mod:`alpswyft.values`); the cluster's are
    #: checked by :func:`~alpswyft.physics.alp.check_cluster_values`
    domains = {
        "m": (">", 0.0),
        "g": (">=", 0.0),
        "Amplitude": (">", 0.0),
        "index": (">=", 0.0),
        "E0": (">", 0.0),
        "Ecut": (">", 0.0),
    }

    @staticmethod
    def constraint(theta: np.ndarray) -> np.ndarray:
        """The allowed physical vectors (n, 18): kL < kH (Max_turb below min_turb), where the
        turbulence spectrum is defined; a prior whose kL and kH ranges overlap is restricted to it."""
        return theta[:, 15] < theta[:, 16]

    @classmethod
    def line_of_sight(cls, e_true: np.ndarray) -> LineOfSight:
        """The EBL attenuation and the Galactic field on the true-energy bin centres ``e_true``
        (GeV), computed once per configuration into the set-up (``response.npz``): Dominguez et
        al. 2011 and Jansson & Farrar 2012. A variant overrides it for another EBL model or
        Galactic field (return a :class:`~alpswyft.physics.alp.LineOfSight`)."""
        return line_of_sight(e_true)  # the module's cached function of the same name

    def __init__(self, config, setup: dict[str, np.ndarray]):
        self.config = config
        self.response = Response(**{k[9:]: setup[k] for k in setup if k.startswith("response_")})
        self.los = LineOfSight(
            self.response.e_true,
            setup["ebl_attenuation"],
            tuple(setup[f"gmf_{k}"] for k in _GMF_KEYS),
        )
        edges = np.log(self.response.e_true_edges)
        half = 0.5 * np.diff(edges)[:, None]
        ln_nodes = 0.5 * (edges[1:] + edges[:-1])[:, None] + half * _GL_NODES
        self._e_nodes = np.exp(ln_nodes)  # (n_true, 4) GeV
        self._weights = half * _GL_WEIGHTS * self._e_nodes  # dE = E dlnE
        # P_gg at the nodes: linear in ln E between the true-bin centres, constant beyond (np.interp)
        centres = np.log(self.response.e_true)
        right = np.clip(np.searchsorted(centres, ln_nodes), 1, len(centres) - 1)
        self._interp_index = right
        self._interp_weight = np.clip(
            (ln_nodes - centres[right - 1]) / np.diff(centres)[right - 1], 0.0, 1.0
        )
        self.null_counts = setup.get("null_counts")
        # a real observation (observation=): ON/OFF counts, the background per bin a nuisance
        self.on_off = "onoff_alpha" in setup
        #: the real observation's counts and run table (``onoff_*``, ``run_*``), empty for a mock one
        self.observation = {k: v for k, v in setup.items() if k.startswith(("onoff_", "run_"))}
        if self.on_off:
            self.alpha, self.off_background = setup["onoff_alpha"], setup["onoff_off_background"]
            self.observed_on, self.observed_off = setup["onoff_n_on"], setup["onoff_n_off"]
        decades_per_bin = np.log10(config.emax / config.emin) / config.nbins
        # at most the rfft's length: coarse bins (a real observation's few) reach its end
        self.len_fts = min(
            int(config.max_freq * decades_per_bin * config.len_fft), config.len_fft // 2 + 1
        )

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {
            "exp": (self.config.nbins,),
            "data": (self.config.nbins,),
            "pgg": (len(self.response.e_true),),
            "power": (self.len_fts,),
            **({"n_off": (self.config.nbins,)} if self.on_off else {}),
        }

    # -- physics
    def survival(self, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """P_gg per true-energy bin for one physical 18-vector."""
        return self.survival_batch(np.asarray(v, float)[None], rng)[0]

    def survival_batch(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """P_gg (n, n_true) for physical vectors (n, 18), one field realisation each.

        The fast engine draws the modes of every field first, in order, then propagates: on a GPU
        as one batch (:func:`gpu_engine`), on the CPU in parallel over the realisations when there
        are at least as many as threads, else over energies. The random numbers, and so the
        results, are the same on every path (to rounding).
        """
        theta = np.atleast_2d(theta)
        if not self.with_alp:
            return np.ones((len(theta), len(self.response.e_true)))

        def field_rng():  # ALP_seed: the same field in every simulation
            return (
                rng if self.config.ALP_seed is None else np.random.default_rng(self.config.ALP_seed)
            )

        if self.config.alp_engine == "gammaalps":
            return np.array(
                [
                    reference.survival(
                        self.response.e_true, v, int(field_rng().integers(2**31 - 1))
                    )[0]
                    for v in theta
                ]
            ).reshape(len(theta), -1)
        if self.config.ALP_seed is None:
            modes = field_modes_many(theta, rng)
        else:
            modes = [field_modes(v, field_rng()) for v in theta]
        return self.survival_with_modes(theta, modes, batched=self.config.ALP_seed is None)

    def survival_with_modes(
        self, theta: np.ndarray, modes: list, batched: bool = True
    ) -> np.ndarray:
        """P_gg (n, n_true) for physical vectors (n, 18) and their fields' modes
        (:func:`~.alp.field_modes`): on a GPU as one batch when ``batched``, on the CPU in parallel
        over the vectors when there are at least as many as threads, else over energies."""
        engine = gpu_engine() if len(theta) > 1 and batched else None
        if engine == "fused":
            from alpswyft.physics import gpu

            return gpu.survival_many(theta, modes, self.los)
        if engine == "torch":
            from alpswyft.physics.batched import survival_batch

            return survival_batch(theta, modes, self.los)
        if len(theta) >= numba.get_num_threads():
            return self.los.survival_many(theta, modes)
        return np.array(
            [self.los.survival(v[0], v[1], cluster_field(v, *m)) for v, m in zip(theta, modes)]
        )

    def intrinsic(self, theta: np.ndarray, energy_gev: np.ndarray) -> np.ndarray:
        """dN/dE (per GeV cm^2 s) of the power law with cut-off for physical vectors (n, 18)."""
        theta = np.atleast_2d(theta)
        shape = (len(theta),) + (1,) * np.ndim(energy_gev)
        a, index, e0, ecut = (theta[:, i].reshape(shape) for i in (2, 3, 4, 5))
        return ecpl(np.asarray(energy_gev, float), a, index, e0, ecut)

    @property
    def quadrature(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The true-energy quadrature of :meth:`fold`: its nodes (n_true, 4) in GeV, their weights
        dE (n_true, 4), and P_gg's linear interpolation in ln E from the bin centres to the nodes
        (the right centre's index and its weight, each (n_true, 4))."""
        return self._e_nodes, self._weights, self._interp_index, self._interp_weight

    def fold(self, theta: np.ndarray, pgg: np.ndarray) -> np.ndarray:
        """Expected counts (n, nbins) for physical vectors (n, 18) and their P_gg (n, n_true)."""
        i, w = self._interp_index, self._interp_weight
        p_nodes = pgg[:, i - 1] * (1.0 - w) + pgg[:, i] * w
        flux = np.sum(p_nodes * self.intrinsic(theta, self._e_nodes) * self._weights, axis=-1)
        return self.response.counts(flux)

    def counts(self, theta: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Expected counts (n, nbins) and P_gg (n, n_true) for physical vectors (n, 18)."""
        theta = np.atleast_2d(theta)
        pgg = self.survival_batch(theta, rng)
        return self.fold(theta, pgg), pgg

    # -- output chain
    @property
    def null_level(self) -> np.ndarray:
        return _log_floor(self.null_counts, self.config.floor_exp)

    def residual(self, counts: np.ndarray, floor) -> np.ndarray:
        """log10 counts minus the null level, floored at ``floor`` (None: no floor)."""
        y0 = self.null_level
        y = _log(counts)
        with np.errstate(invalid="ignore"):
            r = np.where(np.isneginf(y) & np.isneginf(y0), 0.0, y - y0)
        return r if floor is None else np.maximum(r, floor)

    def expected(self, theta: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``exp`` (n, nbins) and ``pgg`` (n, n_true) for physical parameter vectors (n, 18)."""
        counts, pgg = self.counts(theta, rng)
        return {"exp": self.residual(counts, self.config.floor_exp), "pgg": pgg}

    def draw_counts(
        self, exp: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """One realisation of the counts behind ``exp``, drawn from the floored expectation
        10**(exp + null level): the counts (Poisson or Gaussian) and None, or
        for a real observation the ON and the OFF counts.

        ON/OFF: the expected OFF counts of each bin are a nuisance parameter, drawn per simulation
        as the smoothed observed OFF spectrum times a log-normal factor of width
        ``background_scatter`` (mean 1); then n_off ~ Poisson(b) and n_on ~ Poisson(s + alpha b),
        s being the source counts (the expectation less the mean background alpha b_smooth). The
        networks see both, so they marginalise the background rather than fix it."""
        mean = 10.0 ** (exp + self.null_level)
        if self.on_off:
            sigma = self.config.background_scatter
            signal = np.clip(mean - self.response.background, 0.0, None)
            b = self.off_background * np.exp(sigma * rng.standard_normal(mean.shape) - sigma**2 / 2)
            return rng.poisson(signal + self.alpha * b).astype(float), rng.poisson(b).astype(float)
        if self.config.noise == "gauss":
            return mean + self.config.noise_sigma * rng.standard_normal(mean.shape), None
        return rng.poisson(mean).astype(float), None

    def observed_counts(self, exp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The (ON) counts of one realisation (:meth:`draw_counts`)."""
        return self.draw_counts(exp, rng)[0]

    def noise(self, exp: np.ndarray, rng: np.random.Generator):
        """``data``, the floored log10 residual of drawn counts; for a real observation the nodes
        ``data`` (of the ON counts) and ``n_off``."""
        on, off = self.draw_counts(exp, rng)
        data = self.residual(on, self.config.floor_obs)
        return data if off is None else {"data": data, "n_off": off}

    def observation_nodes(self) -> dict[str, np.ndarray] | None:
        """The nodes of the real observation (leading axis 1), or None for a mock one."""
        if not self.on_off:
            return None
        data = self.residual(self.observed_on[None], self.config.floor_obs)
        return {"data": data, "n_off": self.observed_off[None].astype(float), **self.features(data)}

    def features(self, data: np.ndarray) -> dict[str, np.ndarray]:
        spectrum = np.abs(np.fft.rfft(data, n=self.config.len_fft, axis=-1))
        return {"power": spectrum[..., : self.len_fts]}

    # -- the same chain in torch, for batches held on a GPU (float64 inside, as above)
    def noise_torch(self, exp, generator):
        """:meth:`noise` for a tensor ``exp`` (n, nbins), drawn on its device from ``generator``."""
        import torch

        def tensor(array):
            return torch.as_tensor(array, dtype=torch.float64, device=exp.device)

        y0 = tensor(self.null_level)
        mean = 10.0 ** (exp.double() + y0)
        off = None
        if self.on_off:
            sigma = self.config.background_scatter
            z = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
            b = tensor(self.off_background) * torch.exp(sigma * z - sigma**2 / 2)
            signal = torch.clamp_min(mean - tensor(self.response.background), 0.0)
            counts = torch.poisson(signal + tensor(self.alpha) * b, generator=generator)
            off = torch.poisson(b, generator=generator)
        elif self.config.noise == "gauss":
            counts = mean + self.config.noise_sigma * torch.randn(
                mean.shape, generator=generator, dtype=mean.dtype, device=mean.device
            )
        else:
            counts = torch.poisson(mean, generator=generator)
        positive = counts > 0
        y = torch.where(positive, torch.log10(torch.where(positive, counts, 1.0)), -torch.inf)
        r = torch.where(torch.isneginf(y) & torch.isneginf(y0), 0.0, y - y0)
        data = r if self.config.floor_obs is None else torch.clamp_min(r, self.config.floor_obs)
        return data if off is None else {"data": data, "n_off": off}

    def features_torch(self, data) -> dict:
        import torch

        return {
            "power": torch.fft.rfft(data, n=self.config.len_fft, dim=-1).abs()[..., : self.len_fts]
        }


class LogALPModel(ALPModel):
    """The ALP model with every parameter in log10 (``model=log``)."""

    parameters = _log10_rows(ALP_ROWS)
    all_log = True


class SpectralFit(ALPModel):
    """The intrinsic spectrum only (P_gg = 1), folded through CTA.

    P_gg = 1 means no EBL absorption either, while the null hypothesis its residuals are taken
    against is absorbed (:func:`setup_arrays`): its ``exp`` at its own Null values is up to
    +0.1 dex at the highest energies, as in the original pipeline's ``model_spectral_fit``. A
    model file whose ``survival_batch`` returns ``self.los.ebl_attenuation`` per vector is the
    absorbed spectral fit."""

    with_alp = False


class SpectralFitLog(SpectralFit):
    """``spectral_fit`` with every parameter in log10."""

    parameters = _log10_rows(ALP_ROWS)
    all_log = True


def _log(counts):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, np.log10(np.where(counts > 0, counts, 1.0)), -np.inf)


def _log_floor(counts, floor):
    y = _log(counts)
    return y if floor is None else np.maximum(y, floor)


@functools.cache
def gpu_engine() -> str | None:
    """The GPU path for batches of new fields: ``"fused"`` (:mod:`alpswyft.physics.gpu`, numba's
    CUDA target), ``"torch"`` (:mod:`alpswyft.physics.batched`, where only torch reaches CUDA), or
    None (the CPU). ``ALPSWYFT_GPU=0`` keeps the simulation on the CPU."""
    if os.environ.get("ALPSWYFT_GPU", "1") == "0":
        return None
    from alpswyft.physics import gpu

    if gpu.available():
        return "fused"
    import torch

    return "torch" if torch.cuda.is_available() else None
