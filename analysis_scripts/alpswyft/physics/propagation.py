"""Photon-ALP propagation through a sequence of domains (the fast engine).

In each domain of length L with transverse field B_T at angle psi, electron density n, the
photon-ALP state (A_x, A_y, a) evolves with the 3x3 transfer matrix

    T_d = sum_k exp(-i lambda_k L) T_k,

built from the momentum differences of Raffelt & Stodolsky (1988) as gammaALPs writes them
(``gammaALPs.base.transfer``; Meyer, Horns & Raue 2013, arXiv:1302.1208):

    Delta_pl = -P_pl n / E,   Delta_QED = P_QED E B^2 (1 + 1.2 x)/(1 + 1.33 x + 0.56 x^2),
    Delta_CMB = P_CMB E,      Delta_perp = Delta_pl + 2 Delta_QED + Delta_CMB,
    Delta_par = Delta_pl + 3.5 Delta_QED + Delta_CMB,
    Delta_a = -P_a m^2 / E,   Delta_ag = P_ag g B,    x = B / B_cr,

with E in GeV, B in muG, n in cm^-3, m in neV, g in 1e-11 GeV^-1, L in kpc and every Delta in
kpc^-1. Instead of multiplying N_E x N_dom full matrices (gammaALPs), the kernel applies each domain's
matrix, built on the fly, to the two photon polarisation states: an unpolarised beam
rho_in = diag(1/2, 1/2, 0) gives P_gg = 1/2 sum_{s in x,y} sum_{i in x,y} |(T e_s)_i|^2. That is
exact, needs no N_E x N_dom array (memory is O(N_E + N_dom)) and runs in parallel over energies.
``tests/physics/test_propagation.py`` compares it with gammaALPs' ``ModuleList.run()``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# Prefactors of the momentum differences, in kpc^-1 for the units above, computed from astropy
# constants exactly as gammaALPs does (tests/physics/test_propagation.py checks them).
P_AG = 0.015274030582766664
P_A = 0.0781869152993949
P_PL = 0.0001078074255168072
P_CMB = 7.969267332972187e-08
P_QED = 4.142870239468205e-09
B_CRIT_MUG = 4.414005230711856e19


@numba.njit(parallel=True, cache=True)
def propagate_states(energy, b_field, psi, n_el, length, m_nev, g_11, states):
    """Apply the domains, first to last, to the states (n_E, 3, 2) in place.

    Arguments:
        energy: (n_E,) photon energies in GeV in the frame of the domains.
        b_field, psi, n_el, length: (n_dom,) transverse field (muG), its angle (rad), electron
            density (cm^-3) and domain length (kpc), in the order the beam crosses them.
        m_nev, g_11: ALP mass (neV) and coupling (1e-11 GeV^-1).
        states: (n_E, 3, 2) complex128, columns are the propagated initial states.

    In the frame of a domain's field, with photon components A_u = c A_x - s A_y (perpendicular)
    and A_w = s A_x + c A_y (parallel), c = cos psi, s = sin psi, the transfer matrix is
    exp(-i lambda_1 L) on A_u and the 2x2 mixing matrix
    [[p2 sin^2 + p3 cos^2, (p3 - p2) sin cos], [(p3 - p2) sin cos, p2 cos^2 + p3 sin^2]] on (A_w, a),
    with p_k = exp(-i lambda_k L) and alpha the mixing angle; this equals gammaALPs' T1, T2, T3.
    The states stay in the domain frame and are turned by psi_{d+1} - psi_d between domains. The
    phase exp(-i lambda_1 L) is common to all components of a domain and is left out: it cancels
    in every |amplitude|^2 (the states differ from T e_s by a phase, P_gg does not).
    """
    n_e = energy.shape[0]
    n_dom = b_field.shape[0]
    plasma = np.empty(n_dom)  # P_pl n
    qed = np.empty(n_dom)  # P_QED B^2 (1 + 1.2x)/(1 + 1.33x + 0.56x^2)
    mixing = np.empty(n_dom)  # P_ag g B
    turn_c = np.empty(n_dom + 1)  # rotation into domain d's frame from the previous one
    turn_s = np.empty(n_dom + 1)
    previous = 0.0
    for d in range(n_dom):
        B = b_field[d]
        x = B / B_CRIT_MUG
        plasma[d] = P_PL * n_el[d]
        qed[d] = P_QED * B * B * (1.0 + 1.2 * x) / (1.0 + 1.33 * x + 0.56 * x * x)
        mixing[d] = P_AG * g_11 * B
        turn_c[d] = math.cos(psi[d] - previous)
        turn_s[d] = math.sin(psi[d] - previous)
        previous = psi[d]
    turn_c[n_dom] = math.cos(-previous)  # back to the lab frame
    turn_s[n_dom] = math.sin(-previous)
    for e in numba.prange(n_e):
        E = energy[e]
        inv_E = 1.0 / E
        delta_a = -P_A * m_nev * m_nev * inv_E
        delta_cmb = P_CMB * E
        u0, w0, a0 = states[e, 0, 0], states[e, 1, 0], states[e, 2, 0]
        u1, w1, a1 = states[e, 0, 1], states[e, 1, 1], states[e, 2, 1]
        for d in range(n_dom + 1):
            c = turn_c[d]
            s = turn_s[d]
            u0, w0 = c * u0 - s * w0, s * u0 + c * w0
            u1, w1 = c * u1 - s * w1, s * u1 + c * w1
            if d == n_dom:
                break
            delta_pl = -plasma[d] * inv_E
            delta_qed = qed[d] * E
            d_perp = delta_pl + 2.0 * delta_qed + delta_cmb
            d_par = delta_pl + 3.5 * delta_qed + delta_cmb
            d_ag = mixing[d]
            diff = d_par - delta_a
            d_osc = math.sqrt(diff * diff + 4.0 * d_ag * d_ag)
            if d_osc > 0.0:
                sin_cos = d_ag / d_osc
                cos2 = 0.5 * (1.0 + diff / d_osc)
            else:
                sin_cos, cos2 = 0.0, 1.0
            sin2 = 1.0 - cos2
            L = length[d]
            l2 = (0.5 * (d_par + delta_a - d_osc) - d_perp) * L  # relative to lambda_1
            l3 = (0.5 * (d_par + delta_a + d_osc) - d_perp) * L
            p2 = complex(math.cos(l2), -math.sin(l2))
            p3 = complex(math.cos(l3), -math.sin(l3))
            m_ww = p2 * sin2 + p3 * cos2
            m_wa = (p3 - p2) * sin_cos
            m_aa = p2 * cos2 + p3 * sin2
            w0, a0 = m_ww * w0 + m_wa * a0, m_wa * w0 + m_aa * a0
            w1, a1 = m_ww * w1 + m_wa * a1, m_wa * w1 + m_aa * a1
        states[e, 0, 0], states[e, 1, 0], states[e, 2, 0] = u0, w0, a0
        states[e, 0, 1], states[e, 1, 1], states[e, 2, 1] = u1, w1, a1


def unpolarised_states(n_energies: int) -> np.ndarray:
    """Initial states (n_E, 3, 2): photons polarised along x and along y, no ALPs."""
    states = np.zeros((n_energies, 3, 2), dtype=np.complex128)
    states[:, 0, 0] = 1.0
    states[:, 1, 1] = 1.0
    return states


def photon_survival(states: np.ndarray) -> np.ndarray:
    """P_gg of an unpolarised beam from its propagated states: 1/2 sum |photon components|^2."""
    return 0.5 * np.sum(np.abs(states[:, :2, :]) ** 2, axis=(1, 2))


@numba.njit(cache=True)
def gaussian_turbulence(r0, dr, n, k, amplitude, phase, out):
    """One transverse component of a Gaussian-turbulent field on the even grid r_i = r0 + i dr:
    B(r_i) = sum_n a_n cos(k_n r_i + phase_n).

    Each mode is advanced from r_i to r_{i+1} by a rotation (cos k dr, sin k dr), which costs four
    multiplications instead of a cosine; the rounding error grows like i * 1e-16.
    """
    for i in range(n):
        out[i] = 0.0
    for m in range(k.shape[0]):
        a = amplitude[m]
        c = math.cos(k[m] * r0 + phase[m])
        s = math.sin(k[m] * r0 + phase[m])
        step_c = math.cos(k[m] * dr)
        step_s = math.sin(k[m] * dr)
        for i in range(n):
            out[i] += a * c
            c, s = c * step_c - s * step_s, s * step_c + c * step_s
