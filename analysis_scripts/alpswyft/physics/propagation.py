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
    """
    n_e = energy.shape[0]
    n_dom = b_field.shape[0]
    for e in numba.prange(n_e):
        E = energy[e]
        delta_a = -P_A * m_nev * m_nev / E
        delta_cmb = P_CMB * E
        s00 = states[e, 0, 0]
        s10 = states[e, 1, 0]
        s20 = states[e, 2, 0]
        s01 = states[e, 0, 1]
        s11 = states[e, 1, 1]
        s21 = states[e, 2, 1]
        for d in range(n_dom):
            B = b_field[d]
            x = B / B_CRIT_MUG
            delta_qed = P_QED * E * B * B * (1.0 + 1.2 * x) / (1.0 + 1.33 * x + 0.56 * x * x)
            delta_pl = -P_PL * n_el[d] / E
            d_perp = delta_pl + 2.0 * delta_qed + delta_cmb
            d_par = delta_pl + 3.5 * delta_qed + delta_cmb
            d_ag = P_AG * g_11 * B
            diff = d_par - delta_a
            d_osc = math.sqrt(diff * diff + 4.0 * d_ag * d_ag)
            if d_osc > 0.0:
                sin_cos = d_ag / d_osc
                cos2 = 0.5 * (1.0 + diff / d_osc)
                sin2 = 0.5 * (1.0 - diff / d_osc)
            else:
                sin_cos, cos2, sin2 = 0.0, 1.0, 0.0
            L = length[d]
            p1 = complex(math.cos(d_perp * L), -math.sin(d_perp * L))
            l2 = 0.5 * (d_par + delta_a - d_osc) * L
            l3 = 0.5 * (d_par + delta_a + d_osc) * L
            p2 = complex(math.cos(l2), -math.sin(l2))
            p3 = complex(math.cos(l3), -math.sin(l3))
            c = math.cos(psi[d])
            s = math.sin(psi[d])
            # T = p1 T1 + p2 T2 + p3 T3 (symmetric)
            a22 = p2 * sin2 + p3 * cos2
            a2m = -p2 * sin_cos + p3 * sin_cos
            t00 = p1 * c * c + s * s * a22
            t01 = -p1 * c * s + s * c * a22
            t11 = p1 * s * s + c * c * a22
            t02 = s * a2m
            t12 = c * a2m
            t22 = p2 * cos2 + p3 * sin2
            n00 = t00 * s00 + t01 * s10 + t02 * s20
            n10 = t01 * s00 + t11 * s10 + t12 * s20
            n20 = t02 * s00 + t12 * s10 + t22 * s20
            n01 = t00 * s01 + t01 * s11 + t02 * s21
            n11 = t01 * s01 + t11 * s11 + t12 * s21
            n21 = t02 * s01 + t12 * s11 + t22 * s21
            s00, s10, s20, s01, s11, s21 = n00, n10, n20, n01, n11, n21
        states[e, 0, 0] = s00
        states[e, 1, 0] = s10
        states[e, 2, 0] = s20
        states[e, 0, 1] = s01
        states[e, 1, 1] = s11
        states[e, 2, 1] = s21


def unpolarised_states(n_energies: int) -> np.ndarray:
    """Initial states (n_E, 3, 2): photons polarised along x and along y, no ALPs."""
    states = np.zeros((n_energies, 3, 2), dtype=np.complex128)
    states[:, 0, 0] = 1.0
    states[:, 1, 1] = 1.0
    return states


def photon_survival(states: np.ndarray) -> np.ndarray:
    """P_gg of an unpolarised beam from its propagated states: 1/2 sum |photon components|^2."""
    return 0.5 * np.sum(np.abs(states[:, :2, :]) ** 2, axis=(1, 2))


@numba.njit(parallel=True, cache=True)
def gaussian_turbulence(r, k, amplitude, phase, out):
    """One transverse component of a Gaussian-turbulent field: sum_n a_n cos(k_n r + phase_n)."""
    for i in numba.prange(r.shape[0]):
        total = 0.0
        for n in range(k.shape[0]):
            total += amplitude[n] * math.cos(k[n] * r[i] + phase[n])
        out[i] = total
