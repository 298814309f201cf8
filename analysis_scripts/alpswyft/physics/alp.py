"""The Perseus cluster and the photon-ALP conversion towards NGC 1275: the intrinsic spectrum, the
electron density, the turbulent cluster field, and P_gg along the line of sight.

The 18-entry parameter vector, in this order (physical units after 10**x of log10 rows):

====  ============  ==========================================  =====================
idx   name          meaning                                     unit
====  ============  ==========================================  =====================
0     m             ALP mass                                    neV
1     g             photon-ALP coupling                         1e-11 GeV^-1
2     Amplitude     dN/dE at E0                                 TeV^-1 cm^-2 s^-1
3     index         photon index Gamma                          -
4     E0            reference energy                            GeV
5     Ecut          cut-off energy                              GeV
6     rms_B         B0, rms field at the cluster centre         muG
7     e_norm        n0, first density normalisation             1e-3 cm^-3
8     e_norm_2      n2, second density normalisation            1e-3 cm^-3
9     cluster_ext   r_abell, extent of the field                kpc
10    e_dens_1      r_core                                      kpc
11    e_dens_2      r_core2                                     kpc
12    e_dens_3      beta                                        -
13    e_dens_4      beta2                                       -
14    B_scaling     eta, B proportional to n_e^eta              -
15    Max_turb      kL, smallest wavenumber                     kpc^-1
16    min_turb      kH, largest wavenumber                      kpc^-1
17    turb_index    ``|q|``: the spectrum is k^q, q < 0         -
====  ============  ==========================================  =====================

Conventions (``docs/guide/original_pipeline.md`` lists where they differ from the original
pipeline's):

- ``turb_index`` is ``|q|`` and the field uses ``q = -|q|``;
- n0 and n2 are in 1e-3 cm^-3 and enter the plasma term as n * 1e-3 cm^-3;
- the source is NGC 1275 at its (RA, Dec) (:mod:`alpswyft.physics.source`);
- degenerate cluster parameters (r_core = 0, n2 = 0, kL >= kH, ...) are refused at configuration
  time (:func:`check_cluster_ranges`).

Every random number comes from the ``numpy.random.Generator`` given to :meth:`ALPModel.expected`.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from alpswyft.physics.propagation import (
    PHASE_LIMIT,
    PHOTON_ROWS,
    gaussian_turbulence,
    max_phase,
    photon_survival,
    propagate_parts_serial,
    propagate_states,
    unpolarised_states,
)
from alpswyft.physics.reference import gmf_domains
from alpswyft.physics.source import REDSHIFT
from analysis_core.errors import ConfigError

PARAMETER_NAMES = (
    "m",
    "g",
    "Amplitude",
    "index",
    "E0",
    "Ecut",
    "rms_B",
    "e_norm",
    "e_norm_2",
    "cluster_ext",
    "e_dens_1",
    "e_dens_2",
    "e_dens_3",
    "e_dens_4",
    "B_scaling",
    "Max_turb",
    "min_turb",
    "turb_index",
)
N_PARAMS = len(PARAMETER_NAMES)
_TINY = np.finfo(float).tiny


# ------------------------------------------------------------------ intrinsic spectrum


def ecpl(energy_gev, amplitude, index, e0_gev, ecut_gev):
    """dN/dE of a power law with exponential cut-off, per GeV cm^2 s (amplitude per TeV)."""
    return amplitude * 1e-3 * (energy_gev / e0_gev) ** (-index) * np.exp(-energy_gev / ecut_gev)


# ------------------------------------------------------------------ cluster


def electron_density(r, n0, n2, r_core, r_core2, beta, beta2):
    """Double-beta profile n(r) in the units of n0, n2 (r in kpc): for arrays, and compiled for
    scalars in the numba and numba-cuda field kernels."""
    return n0 * (1 + (r / r_core) ** 2) ** (-1.5 * beta) + n2 * (1 + (r / r_core2) ** 2) ** (
        -1.5 * beta2
    )


_electron_density = numba.njit(inline="always")(electron_density)


def turbulence_spectrum(k, b0, kl, kh, q):
    """Transverse correlation C(k) = pi/4 B0^2 F_q(k/kH) of Meyer et al. 2014 (arXiv:1406.5972), A.

    F_q includes the normalisation (q + 3) / (kH^(q+3) - kL^(q+3)) (1/ln(kH/kL) for q = -3).
    """
    x = np.asarray(k, float) / kh
    norm = 1.0 / math.log(kh / kl) if q == -3 else (q + 3.0) / (kh ** (q + 3.0) - kl ** (q + 3.0))
    inner = x >= kl / kh
    f = np.empty_like(x)
    xi, xo = x[inner], x[~inner]
    if q == 0:
        f[inner] = kh**2 * (0.5 * (1 - xi**2) - xi**2 * np.log(xi))
        f[~inner] = 0.5 * (kh**2 - kl**2) + (xo * kh) ** 2 * math.log(kh / kl)
    elif q == -2:
        f[inner] = 0.5 * (1 - xi**2) - np.log(xi)
        f[~inner] = math.log(kh / kl) + 0.5 * (xo * kh) ** 2 * (kl**-2 - kh**-2)
    else:
        f[inner] = kh ** (q + 2) * ((1 - xi ** (q + 2)) / (q + 2) + xi**2 * (1 - xi**q) / q)
        f[~inner] = (kh ** (q + 2) - kl ** (q + 2)) / (q + 2) + (xo * kh) ** 2 / q * (kh**q - kl**q)
    return math.pi / 4 * b0**2 * norm * f


def turbulence_modes(kl: float, kh: float):
    """Wavenumbers k_n and widths dk_n: log-spaced from kMin = 1e-3 kL to kH, as gammaALPs."""
    k_min = 1e-3 * kl
    n = int(math.ceil(10.0 * (math.log10(kh) - math.log10(k_min)) ** 2))
    nodes = np.geomspace(k_min, kh, n)
    return nodes[:-1], np.diff(nodes)


def cluster_domains(v: np.ndarray, rng: np.random.Generator):
    """One Gaussian-turbulent field realisation along the line of sight from the cluster centre.

    ``v`` is the physical 18-vector. Returns (B_T [muG], psi [rad], n_e [cm^-3], dL [kpc]) per
    domain; domains have length 1/kH from 0 to r_abell.
    """
    return cluster_field(np.asarray(v, float), *field_modes(v, rng))


def field_modes(v: np.ndarray, rng: np.random.Generator):
    """The random part of a field realisation: wavenumbers k_n (kpc^-1) and, for the two
    transverse components, amplitudes (muG) and phases (rad) of the modes, each (2, n_k).

    The draws, per component: n_k uniforms for the Rayleigh amplitudes, then n_k for the phases.
    """
    return field_modes_many(np.asarray(v, float)[None], rng)[0]


def field_modes_many(vectors: np.ndarray, rng: np.random.Generator) -> list:
    """:func:`field_modes` for each of the vectors (n, 18), in order, from one draw of uniforms
    (the same numbers as n calls)."""
    weights = [
        _mode_weights(float(v[6]), max(float(v[15]), _TINY), float(v[16]), float(v[17]))
        for v in vectors
    ]
    sizes = [len(k) for k, _ in weights]
    u = rng.random(4 * sum(sizes))
    ends = np.cumsum([4 * n for n in sizes])
    modes = []
    for (k, weight), n, end in zip(weights, sizes, ends):
        draws = u[end - 4 * n : end].reshape(2, 2, n)  # (component, amplitude or phase, mode)
        modes.append((k, np.sqrt(weight * np.log(1.0 / draws[:, 0])), 2.0 * math.pi * draws[:, 1]))
    return modes


@functools.lru_cache(maxsize=64)
def _mode_weights(b0: float, kl: float, kh: float, q_abs: float):
    """k_n and 2 C(k_n) dk_n / pi, the squared Rayleigh scale of each mode (cached: in most
    analyses the spectrum's parameters are fixed)."""
    k, dk = turbulence_modes(kl, kh)
    return k, turbulence_spectrum(k, b0, kl, kh, -q_abs) / math.pi * dk * 2.0


@numba.njit(cache=True)
def cluster_field(v, k, amplitude, phase):
    """The domains of :func:`cluster_domains` from the modes of :func:`field_modes`."""
    b0, n0, n2, r_abell, r_core, r_core2, beta, beta2, eta, kl, kh, q_abs = v[6:18]
    # an open bound at 0 (agnostic priors reach it): the limit of the profile there
    r_core, r_core2 = max(r_core, _TINY), max(r_core2, _TINY)
    bounds = np.arange(0.0, r_abell, 1.0 / kh)
    n_dom = bounds.shape[0] - 1
    b_t, b_u = np.empty(n_dom), np.empty(n_dom)
    gaussian_turbulence(
        0.5 * (bounds[0] + bounds[1]), 1.0 / kh, n_dom, k, amplitude[0], phase[0], b_t
    )
    gaussian_turbulence(
        0.5 * (bounds[0] + bounds[1]), 1.0 / kh, n_dom, k, amplitude[1], phase[1], b_u
    )
    b_field, psi, density, length = (
        np.empty(n_dom),
        np.empty(n_dom),
        np.empty(n_dom),
        np.empty(n_dom),
    )
    total = max(n0 + n2, _TINY)
    for d in range(n_dom):
        r = 0.5 * (bounds[d] + bounds[d + 1])
        n_e = _electron_density(r, n0, n2, r_core, r_core2, beta, beta2)
        b_field[d] = math.hypot(b_t[d], b_u[d]) * (n_e / total) ** eta
        psi[d] = math.atan2(b_t[d], b_u[d])
        density[d] = n_e * 1e-3
        length[d] = bounds[d + 1] - bounds[d]
    return b_field, psi, density, length


def check_cluster_ranges(table) -> list[str]:
    """Refuse parameter ranges that make the cluster model degenerate;
    returns warnings about what is accepted: ranges that start at 0 (an open bound) and kL and kH
    ranges that overlap (the prior is then restricted to kL < kH, see :meth:`ALPModel.constraint`)."""
    low, high = np.empty(N_PARAMS), np.empty(N_PARAMS)
    for i, p in enumerate(table.parameters):
        lo, hi = p.bounds if p.free else (p.value, p.value)
        low[i], high[i] = (10**lo, 10**hi) if p.log else (lo, hi)
    variables = [p.variable for p in table.parameters]
    warnings = check_cluster_limits(low, high, variables, [p.name for p in table.parameters])
    if high[15] >= low[16]:
        fraction = table.rejected_fraction(table.initial_bounds)
        warnings.append(
            f"{variables[15]}/{variables[16]}: the kL range (up to {high[15]:.3g}) overlaps the kH range (from "
            f"{low[16]:.3g}): the prior is the product prior restricted to kL < kH, drawn by rejection "
            f"({100 * fraction:.1f} % of the draws in the prior box are rejected), in every store and bank"
        )
    return warnings


def check_cluster_values(theta: np.ndarray) -> None:
    """The same rules for physical 18-vectors (n, 18), e.g. values given to the simulator; here
    every vector must have kL < kH."""
    theta = np.atleast_2d(theta)
    check_cluster_limits(theta.min(axis=0), theta.max(axis=0), PARAMETER_NAMES, PARAMETER_NAMES)
    bad = theta[:, 15] >= theta[:, 16]
    if bad.any():
        raise ConfigError(
            "Max_turb/min_turb",
            f"kL = {theta[bad, 15][0]:g}, kH = {theta[bad, 16][0]:g}",
            "every kL (Max_turb) must be smaller than every kH (min_turb)",
        )


#: Parameters that must be positive, with why; a range may start at 0 (an open bound).
_POSITIVE = (
    (9, "the field extent r_abell"),
    (10, "r_core (division by zero at 0)"),
    (11, "r_core2 (0 would silently switch to a single-beta profile)"),
    (8, "n2 (0 would silently switch to a single-beta profile)"),
    (13, "beta2 (<= 0 would silently switch the density model)"),
    (15, "kL"),
    (16, "kH"),
    (7, "n0"),
)


def check_cluster_limits(low, high, variables, names) -> list[str]:
    """The rules on the lowest and highest physical value of each of the 18 parameters; errors
    name ``variables[i]`` (a table row, or the parameter itself). Returns warnings."""
    warnings = []
    for i, why in _POSITIVE:
        if low[i] < 0 or high[i] <= 0:
            raise ConfigError(variables[i], names[i], f"{why} must be > 0 (a range may start at 0)")
        if low[i] == 0:
            warnings.append(
                f"{variables[i]} ({names[i]}): the range starts at 0, an open bound: a draw of exactly 0 "
                "(probability 0) is computed as the limit of the cluster model there"
            )
    if low[6] < 0:
        raise ConfigError(variables[6], names[6], "rms_B must be >= 0")
    if low[17] < 0:
        raise ConfigError(variables[17], names[17], "give |q| >= 0; the spectrum is k^(-|q|)")
    if low[15] >= high[16]:
        raise ConfigError(
            f"{variables[15]}/{variables[16]}",
            f"kL from {low[15]:g}, kH up to {high[16]:g}",
            "kL (Max_turb) must be smaller than kH (min_turb): here every kL is at least every kH",
        )
    return warnings


# ------------------------------------------------------------------ line of sight and P_gg


class LineOfSight:
    """What does not change between simulations: energies, EBL attenuation, Galactic field."""

    def __init__(self, energy_gev: np.ndarray, ebl_attenuation: np.ndarray, gmf_domains: tuple):
        self.energy = np.ascontiguousarray(energy_gev, float)
        self.ebl_attenuation = np.ascontiguousarray(ebl_attenuation, float)
        self.gmf_domains = tuple(np.ascontiguousarray(a, float) for a in gmf_domains)

    @classmethod
    def compute(cls, energy_gev: np.ndarray) -> LineOfSight:
        """Dominguez et al. 2011 EBL (ebltable) and the Jansson & Farrar 2012 regular Galactic field
        along the line of sight to NGC 1275 (gammaALPs), once per configuration."""
        from ebltable.tau_from_model import OptDepth

        tau = OptDepth.readmodel(model="dominguez").opt_depth(
            REDSHIFT, np.asarray(energy_gev) / 1e3
        )
        return cls(energy_gev, np.exp(-np.asarray(tau).ravel()), gmf_domains(energy_gev))

    def survival(self, m_nev: float, g_11: float, cluster: tuple) -> np.ndarray:
        """P_gg(E) for an unpolarised beam through the cluster, the EBL and the Milky Way."""
        states = unpolarised_states(len(self.energy))
        b, psi, n_el, dl = cluster
        propagate_states(self.energy * (1 + REDSHIFT), b, psi, n_el, dl, m_nev, g_11, states)
        states[:, :2, :] *= np.sqrt(self.ebl_attenuation)[:, None, None]
        b, psi, n_el, dl = self.gmf_domains
        propagate_states(self.energy, b, psi, n_el, dl, m_nev, g_11, states)
        return photon_survival(states)

    def survival_many(self, vectors: np.ndarray, modes: list) -> np.ndarray:
        """P_gg (n, n_E) for physical 18-vectors (n, 18) and their field modes (:func:`field_modes`),
        the realisations in parallel (one per thread, each through the whole line of sight)."""
        vectors = np.ascontiguousarray(vectors, dtype=float)
        starts = np.cumsum([0] + [len(k) for k, _, _ in modes])
        k = np.concatenate([k for k, _, _ in modes])
        amplitude = np.concatenate([a for _, a, _ in modes], axis=1)
        phase = np.concatenate([p for _, _, p in modes], axis=1)
        out = np.empty((len(vectors), len(self.energy)))
        done = _survival_many(
            vectors,
            k,
            amplitude,
            phase,
            starts,
            self.energy,
            np.sqrt(self.ebl_attenuation),
            *self.gmf_domains,
            out,
        )
        for i in np.flatnonzero(~done):  # a phase beyond the vectorised kernel's range
            v = vectors[i]
            out[i] = self.survival(v[0], v[1], cluster_field(v, *modes[i]))
        return out


@numba.njit(parallel=True, cache=True)
def _survival_many(
    vectors, k, amplitude, phase, starts, energy, ebl_root, gmf_b, gmf_psi, gmf_n, gmf_l, out
):
    """:meth:`LineOfSight.survival` for each vector, in parallel over vectors; returns False where a
    phase exceeds :data:`PHASE_LIMIT` (left to the scalar kernel)."""
    n_e = energy.shape[0]
    cluster_energy = energy * (1 + REDSHIFT)
    done = np.zeros(vectors.shape[0], dtype=np.bool_)
    for i in numba.prange(vectors.shape[0]):
        v = vectors[i]
        lo, hi = starts[i], starts[i + 1]
        b, psi, n_el, dl = cluster_field(v, k[lo:hi], amplitude[:, lo:hi], phase[:, lo:hi])
        m_nev, g_11 = v[0], v[1]
        if (
            max(
                max_phase(cluster_energy, b, n_el, dl, m_nev, g_11),
                max_phase(energy, gmf_b, gmf_n, gmf_l, m_nev, g_11),
            )
            >= PHASE_LIMIT
        ):
            continue
        parts = np.zeros((12, n_e))
        parts[0, :] = 1.0  # the two photon polarisations, no ALPs
        parts[8, :] = 1.0
        propagate_parts_serial(cluster_energy, b, psi, n_el, dl, m_nev, g_11, parts)
        for row in PHOTON_ROWS:
            parts[row, :] *= ebl_root
        propagate_parts_serial(energy, gmf_b, gmf_psi, gmf_n, gmf_l, m_nev, g_11, parts)
        for e in range(n_e):
            total = 0.0
            for row in PHOTON_ROWS:
                total += parts[row, e] * parts[row, e]
            out[i, e] = 0.5 * total
        done[i] = True
    return done
