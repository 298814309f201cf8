"""The fast engine on an NVIDIA GPU: two fused kernels per batch of field realisations (numba-cuda).

- :func:`_field_kernel`, one thread per (realisation, domain): the two transverse field components
  as sums over their modes, the density profile, and the field's magnitude and direction. The modes
  (amplitudes and phases) are those of :func:`alpswyft.physics.alp.field_modes`, drawn on the CPU
  from the simulation's ``numpy.random.Generator``: the fields, and so the results, are those of
  the CPU path to rounding, whatever the device.
- :func:`_propagation_kernel`, one block per realisation and one thread per energy: the state
  stays in registers through the cluster's domains, the EBL and the Galactic domains, with the
  per-domain transfer written once for both targets (``propagation.domain_step_with``).

Double precision throughout, with the device's sin and cos (exact at every phase, so there is no
:data:`~.propagation.PHASE_LIMIT` here). Without a GPU the kernels run in numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``), which is how the tests check them against the CPU kernel.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import cuda

from alpswyft.physics.alp import electron_density
from alpswyft.physics.propagation import (
    P_A,
    P_AG,
    P_CMB,
    P_PL,
    domain_step_with,
    qed_term,
    turn_states,
)
from alpswyft.physics.source import REDSHIFT

#: Threads per block of the field kernel (domains); the propagation kernel has one per energy.
THREADS = 128
#: Realisations per launch (bounds the device memory: ~140 kB per realisation at the default kH).
BATCH = 4096

_TINY = np.finfo(float).tiny


@cuda.jit(device=True)
def _sincos(x):
    return math.sin(x), math.cos(x)


_domain_step = cuda.jit(device=True)(domain_step_with(_sincos))
_turn_states = cuda.jit(device=True)(turn_states)
_qed_term = cuda.jit(device=True)(qed_term)
_electron_density = cuda.jit(device=True)(electron_density)


def available() -> bool:
    """A CUDA device numba can use (never the simulator)."""
    try:
        return not numba.config.ENABLE_CUDASIM and cuda.is_available()
    except Exception:  # noqa: BLE001 - a missing driver or toolkit means: no GPU
        return False


@cuda.jit
def _field_kernel(
    vectors, k, amplitude, phase, mode_start, dom_start, b_out, cos_out, sin_out, n_out, length_out
):
    i = cuda.blockIdx.y
    d = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    first = dom_start[i]
    if d >= dom_start[i + 1] - first:
        return
    step = 1.0 / vectors[i, 16]
    left, right = d * step, (d + 1) * step
    r = 0.5 * (left + right)
    b_t, b_u = 0.0, 0.0
    for m in range(mode_start[i], mode_start[i + 1]):
        b_t += amplitude[0, m] * math.cos(k[m] * r + phase[0, m])
        b_u += amplitude[1, m] * math.cos(k[m] * r + phase[1, m])
    n0, n2, eta = vectors[i, 7], vectors[i, 8], vectors[i, 14]
    n_e = _electron_density(
        r,
        n0,
        n2,
        max(vectors[i, 10], _TINY),
        max(vectors[i, 11], _TINY),
        vectors[i, 12],
        vectors[i, 13],
    )
    magnitude = math.sqrt(b_t * b_t + b_u * b_u)
    j = first + d
    b_out[j] = magnitude * (n_e / max(n0 + n2, _TINY)) ** eta
    cos_out[j] = b_u / magnitude if magnitude > 0 else 1.0  # psi = atan2(B_t, B_u)
    sin_out[j] = b_t / magnitude if magnitude > 0 else 0.0
    n_out[j] = n_e * 1e-3
    length_out[j] = right - left


@cuda.jit(device=True)
def _through(E, m_nev, g_11, b, cos_psi, sin_psi, n_el, length, lo, hi, state):
    """The states through domains [lo, hi) and back to the lab frame."""
    ur0, ui0, wr0, wi0, ar0, ai0, ur1, ui1, wr1, wi1, ar1, ai1 = state
    inv_E = 1.0 / E
    delta_a = -P_A * m_nev * m_nev * inv_E
    delta_cmb = P_CMB * E
    c_prev, s_prev = 1.0, 0.0
    for d in range(lo, hi):
        c, s = cos_psi[d] * c_prev + sin_psi[d] * s_prev, sin_psi[d] * c_prev - cos_psi[d] * s_prev
        c_prev, s_prev = cos_psi[d], sin_psi[d]
        ur0, ui0, wr0, wi0, ur1, ui1, wr1, wi1 = _turn_states(
            c, s, ur0, ui0, wr0, wi0, ur1, ui1, wr1, wi1
        )
        wr0, wi0, ar0, ai0, wr1, wi1, ar1, ai1 = _domain_step(
            E,
            inv_E,
            delta_a,
            delta_cmb,
            P_PL * n_el[d],
            _qed_term(b[d]),
            P_AG * g_11 * b[d],
            length[d],
            wr0,
            wi0,
            ar0,
            ai0,
            wr1,
            wi1,
            ar1,
            ai1,
        )
    ur0, ui0, wr0, wi0, ur1, ui1, wr1, wi1 = _turn_states(
        c_prev, -s_prev, ur0, ui0, wr0, wi0, ur1, ui1, wr1, wi1
    )
    return ur0, ui0, wr0, wi0, ar0, ai0, ur1, ui1, wr1, wi1, ar1, ai1


@cuda.jit
def _propagation_kernel(
    vectors,
    energy,
    ebl_root,
    dom_start,
    b,
    cos_psi,
    sin_psi,
    n_el,
    length,
    gmf_b,
    gmf_cos,
    gmf_sin,
    gmf_n,
    gmf_length,
    out,
):
    i = cuda.blockIdx.x
    m_nev, g_11 = vectors[i, 0], vectors[i, 1]
    for e in range(cuda.threadIdx.x, energy.shape[0], cuda.blockDim.x):
        state = (
            1.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            1.0,
            0.0,
            0.0,
            0.0,
        )  # photons along x and y
        state = _through(
            energy[e] * (1 + REDSHIFT),
            m_nev,
            g_11,
            b,
            cos_psi,
            sin_psi,
            n_el,
            length,
            dom_start[i],
            dom_start[i + 1],
            state,
        )
        root = ebl_root[e]
        ur0, ui0, wr0, wi0, ar0, ai0, ur1, ui1, wr1, wi1, ar1, ai1 = state
        state = (
            ur0 * root,
            ui0 * root,
            wr0 * root,
            wi0 * root,
            ar0,
            ai0,
            ur1 * root,
            ui1 * root,
            wr1 * root,
            wi1 * root,
            ar1,
            ai1,
        )
        state = _through(
            energy[e],
            m_nev,
            g_11,
            gmf_b,
            gmf_cos,
            gmf_sin,
            gmf_n,
            gmf_length,
            0,
            gmf_b.shape[0],
            state,
        )
        ur0, ui0, wr0, wi0, ar0, ai0, ur1, ui1, wr1, wi1, ar1, ai1 = state
        out[i, e] = 0.5 * (
            ur0 * ur0
            + ui0 * ui0
            + wr0 * wr0
            + wi0 * wi0
            + ur1 * ur1
            + ui1 * ui1
            + wr1 * wr1
            + wi1 * wi1
        )


def domain_counts(vectors: np.ndarray) -> np.ndarray:
    """Cluster domains per realisation: as many as :func:`~.alp.cluster_field` makes (numpy's
    length of ``arange(0, r_abell, 1 / kH)``, ceil(r_abell / (1 / kH)), less one)."""
    return np.ceil(vectors[:, 9] / (1.0 / vectors[:, 16])).astype(np.int64) - 1


def survival_many(vectors: np.ndarray, modes: list, los) -> np.ndarray:
    """P_gg (n, n_E) on the GPU for physical 18-vectors (n, 18) and their field modes
    (:func:`~.alp.field_modes`), through the cluster, the EBL and the Galactic field of ``los``
    (a :class:`~.alp.LineOfSight`)."""
    vectors = np.ascontiguousarray(vectors, dtype=float)
    out = np.empty((len(vectors), len(los.energy)))
    gmf_b, gmf_psi, gmf_n, gmf_length = los.gmf_domains
    gmf = [cuda.to_device(a) for a in (gmf_b, np.cos(gmf_psi), np.sin(gmf_psi), gmf_n, gmf_length)]
    energy, ebl_root = cuda.to_device(los.energy), cuda.to_device(np.sqrt(los.ebl_attenuation))
    for lo in range(0, len(vectors), BATCH):
        rows = slice(lo, lo + BATCH)
        v, batch_modes = vectors[rows], modes[rows]
        n_dom = domain_counts(v)
        dom_start = np.concatenate([[0], np.cumsum(n_dom)])
        mode_start = np.cumsum([0] + [len(k) for k, _, _ in batch_modes])
        k = np.concatenate([k for k, _, _ in batch_modes])
        amplitude = np.ascontiguousarray(np.concatenate([a for _, a, _ in batch_modes], axis=1))
        phase = np.ascontiguousarray(np.concatenate([p for _, _, p in batch_modes], axis=1))
        fields = [cuda.device_array(int(dom_start[-1])) for _ in range(5)]
        v_d, dom_start_d = cuda.to_device(v), cuda.to_device(dom_start)
        grid = (max(1, math.ceil(n_dom.max() / THREADS)), len(v))
        _field_kernel[grid, THREADS](
            v_d,
            cuda.to_device(k),
            cuda.to_device(amplitude),
            cuda.to_device(phase),
            cuda.to_device(mode_start),
            dom_start_d,
            *fields,
        )
        result = cuda.device_array((len(v), len(los.energy)))
        per_energy = min(
            1024, 32 * math.ceil(len(los.energy) / 32)
        )  # whole warps, one pass over the energies
        _propagation_kernel[len(v), per_energy](
            v_d, energy, ebl_root, dom_start_d, *fields, *gmf, result
        )
        out[rows] = result.copy_to_host()
    return out
