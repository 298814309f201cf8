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
rho_in = diag(1/2, 1/2, 0) gives P_gg = 1/2 sum_{s in x,y} sum_{i in x,y} ``|(T e_s)_i|^2``. That is
exact, needs no N_E x N_dom array (memory is O(N_E + N_dom)) and runs in parallel over energies
or, for several realisations, over realisations (:meth:`~alpswyft.physics.alp.LineOfSight.survival_many`).
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


def qed_term(b_field):
    """P_QED B^2 (1 + 1.2x)/(1 + 1.33x + 0.56x^2), x = B / B_crit (B in muG): the QED part of
    Delta_QED / E, written once for numba, numba-cuda and torch tensors alike."""
    x = b_field / B_CRIT_MUG
    return P_QED * b_field * b_field * (1.0 + 1.2 * x) / (1.0 + 1.33 * x + 0.56 * x * x)


_qed_term = numba.njit(inline="always")(qed_term)


@numba.njit(cache=True)
def _domain_terms(b_field, psi, n_el, g_11):
    """What depends on the domain only, for both kernels: P_pl n, P_QED B^2 (1 + 1.2x)/(1 + 1.33x
    + 0.56x^2), P_ag g B, and the rotation (cos, sin) into each domain's frame from the previous
    one, the last entry back to the lab frame."""
    n_dom = b_field.shape[0]
    plasma = np.empty(n_dom)
    qed = np.empty(n_dom)
    mixing = np.empty(n_dom)
    turn_c = np.empty(n_dom + 1)
    turn_s = np.empty(n_dom + 1)
    previous = 0.0
    for d in range(n_dom):
        plasma[d] = P_PL * n_el[d]
        qed[d] = _qed_term(b_field[d])
        mixing[d] = P_AG * g_11 * b_field[d]
        turn_c[d] = math.cos(psi[d] - previous)
        turn_s[d] = math.sin(psi[d] - previous)
        previous = psi[d]
    turn_c[n_dom] = math.cos(-previous)
    turn_s[n_dom] = math.sin(-previous)
    return plasma, qed, mixing, turn_c, turn_s


@numba.njit(parallel=True, cache=True)
def propagate_states_scalar(energy, b_field, psi, n_el, length, m_nev, g_11, states):
    """Apply the domains, first to last, to the states (n_E, 3, 2) in place: one energy at a
    time through all domains, with libm's sin and cos (the reference of :func:`propagate_states`,
    and its fallback for phases beyond :data:`PHASE_LIMIT`).

    Arguments:
        energy: (n_E,) photon energies in GeV in the frame of the domains.
        b_field: (n_dom,) transverse field (muG) of the domains, in the order the beam crosses
            them (as are the next three).
        psi: (n_dom,) its angle (rad).
        n_el: (n_dom,) electron density (cm^-3).
        length: (n_dom,) domain length (kpc).
        m_nev: ALP mass (neV).
        g_11: ALP coupling (1e-11 GeV^-1).
        states: (n_E, 3, 2) complex128, columns are the propagated initial states.

    In the frame of a domain's field, with photon components A_u = c A_x - s A_y (perpendicular)
    and A_w = s A_x + c A_y (parallel), c = cos psi, s = sin psi, the transfer matrix is
    exp(-i lambda_1 L) on A_u and the 2x2 mixing matrix
    [[p2 sin^2 + p3 cos^2, (p3 - p2) sin cos], [(p3 - p2) sin cos, p2 cos^2 + p3 sin^2]] on (A_w, a),
    with p_k = exp(-i lambda_k L) and alpha the mixing angle; this equals gammaALPs' T1, T2, T3.
    The states stay in the domain frame and are turned by psi_{d+1} - psi_d between domains. The
    phase exp(-i lambda_1 L) is common to all components of a domain and is left out: it cancels
    in every ``|amplitude|^2`` (the states differ from T e_s by a phase, P_gg does not).
    """
    n_e = energy.shape[0]
    n_dom = b_field.shape[0]
    plasma, qed, mixing, turn_c, turn_s = _domain_terms(b_field, psi, n_el, g_11)
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


# Cody-Waite reduction by pi/2 in three parts and the minimax polynomials of sin and cos on
# [-pi/4, pi/4] (the constants of fdlibm's __kernel_sin/__kernel_cos): exact to a few 1e-16 for
# |x| < PHASE_LIMIT, where k pi/2 is still exact in the first part.
_TWO_OVER_PI = 6.36619772367581382433e-01
_PIO2 = (1.57079632673412561417e00, 6.07710050630396597660e-11, 2.02226624871116645580e-21)
_S = (
    -1.66666666666666324348e-01,
    8.33333333332248946124e-03,
    -1.98412698298579493134e-04,
    2.75573137070700676789e-06,
    -2.50507602534068634195e-08,
    1.58969099521155010221e-10,
)
_C = (
    4.16666666666666019037e-02,
    -1.38888888888741095749e-03,
    2.48015872894767294178e-05,
    -2.75573143513906633035e-07,
    2.08757232129817482790e-09,
    -1.13596475577881948265e-11,
)
PHASE_LIMIT = 1.6e6


@numba.njit(inline="always")
def sincos(x):
    """(sin x, cos x) without branches or libm calls, so that loops over it vectorise."""
    k = math.floor(x * _TWO_OVER_PI + 0.5)
    r = ((x - k * _PIO2[0]) - k * _PIO2[1]) - k * _PIO2[2]
    z = r * r
    s = r + r * z * (_S[0] + z * (_S[1] + z * (_S[2] + z * (_S[3] + z * (_S[4] + z * _S[5])))))
    c = (
        1.0
        - 0.5 * z
        + z * z * (_C[0] + z * (_C[1] + z * (_C[2] + z * (_C[3] + z * (_C[4] + z * _C[5])))))
    )
    q = np.int32(k) & 3  # the quadrant: the selects below compile to blends, not branches
    odd = (q & 1) == 1
    sin_x = c if odd else s
    cos_x = s if odd else c
    return (-sin_x if q >= 2 else sin_x), (-cos_x if q == 1 or q == 2 else cos_x)


#: Energies per block of the vectorised kernel (blocks of one realisation run in parallel).
BLOCK = 64
#: Rows of the real state layout: (u, w, a) of state 0, then of state 1; real part, then imaginary.
PHOTON_ROWS = (0, 1, 2, 3, 6, 7, 8, 9)


def propagate_states(energy, b_field, psi, n_el, length, m_nev, g_11, states):
    """Apply the domains, first to last, to the states (n_E, 3, 2) in place (see
    :func:`propagate_states_scalar` for the arguments and the physics).

    Energies are the inner loop, over contiguous real and imaginary parts with the domain terms
    hoisted and the branch-free :func:`sincos`, so that the loop vectorises; blocks of energies run
    in parallel. Where a phase could exceed :data:`PHASE_LIMIT` the scalar kernel runs instead.
    """
    energy = np.ascontiguousarray(energy, dtype=np.float64)
    if max_phase(energy, b_field, n_el, length, m_nev, g_11) >= PHASE_LIMIT:
        propagate_states_scalar(energy, b_field, psi, n_el, length, m_nev, g_11, states)
        return
    parts = np.empty((12, len(energy)))
    for k in range(6):
        column, component = divmod(k, 3)
        parts[2 * k] = states[:, component, column].real
        parts[2 * k + 1] = states[:, component, column].imag
    _propagate_parts(energy, b_field, psi, n_el, length, m_nev, g_11, parts)
    for k in range(6):
        column, component = divmod(k, 3)
        states[:, component, column] = parts[2 * k] + 1j * parts[2 * k + 1]


@numba.njit(cache=True)
def max_phase(energy, b_field, n_el, length, m_nev, g_11) -> float:
    """An upper bound of ``|lambda L|`` over energies and domains (every term is largest at one end of
    the energy range); the vectorised kernel is exact below :data:`PHASE_LIMIT`."""
    e_lo, e_hi = energy.min(), energy.max()
    bound = 0.0
    for d in range(b_field.shape[0]):
        b = b_field[d]
        per_length = (
            2.0 * (P_PL * n_el[d] / e_lo + P_A * m_nev * m_nev / e_lo)
            + 2.0 * (7.0 * P_QED * b * b * e_hi + P_CMB * e_hi)
            + 2.0 * P_AG * abs(g_11) * b
        )
        bound = max(bound, per_length * length[d])
    return bound


@numba.njit(parallel=True, cache=True)
def _propagate_parts(energy, b_field, psi, n_el, length, m_nev, g_11, parts):
    plasma, qed, mixing, turn_c, turn_s = _domain_terms(b_field, psi, n_el, g_11)
    for block in numba.prange((energy.shape[0] + BLOCK - 1) // BLOCK):
        _propagate_block(
            energy, block * BLOCK, plasma, qed, mixing, turn_c, turn_s, length, m_nev, parts
        )


@numba.njit(cache=True)
def propagate_parts_serial(energy, b_field, psi, n_el, length, m_nev, g_11, parts):
    """:func:`propagate_states` on the real layout ``parts`` (12, n_E) (rows: see
    :data:`PHOTON_ROWS`), on the calling thread: the kernel of one realisation among many that run
    in parallel. The caller checks :func:`max_phase`."""
    plasma, qed, mixing, turn_c, turn_s = _domain_terms(b_field, psi, n_el, g_11)
    for lo in range(0, energy.shape[0], BLOCK):
        _propagate_block(energy, lo, plasma, qed, mixing, turn_c, turn_s, length, m_nev, parts)


def domain_step_with(sincos):
    """The transfer of one domain applied to one energy's two states (w, a components, real and
    imaginary parts), written once for every target and compiled with that target's ``sincos``."""

    def domain_step(
        E, inv_E, delta_a, delta_cmb, plasma, qed, d_ag, L, wr0, wi0, ar0, ai0, wr1, wi1, ar1, ai1
    ):
        delta_pl = -plasma * inv_E
        delta_qed = qed * E
        d_perp = delta_pl + 2.0 * delta_qed + delta_cmb
        d_par = delta_pl + 3.5 * delta_qed + delta_cmb
        diff = d_par - delta_a
        d_osc = math.sqrt(diff * diff + 4.0 * d_ag * d_ag)
        mixed = d_osc > 0.0
        inv_osc = 1.0 / (d_osc if mixed else 1.0)  # one division: sqrt and div bound the CPU loop
        sin_cos = d_ag * inv_osc
        cos2 = 0.5 * (1.0 + diff * inv_osc) if mixed else 1.0
        sin2 = 1.0 - cos2
        s2, c2 = sincos((0.5 * (d_par + delta_a - d_osc) - d_perp) * L)  # relative to lambda_1
        s3, c3 = sincos((0.5 * (d_par + delta_a + d_osc) - d_perp) * L)
        # m = p2 (.) + p3 (.) with p = cos l - i sin l
        mwwr, mwwi = c2 * sin2 + c3 * cos2, -(s2 * sin2 + s3 * cos2)
        mwar, mwai = (c3 - c2) * sin_cos, (s2 - s3) * sin_cos
        maar, maai = c2 * cos2 + c3 * sin2, -(s2 * cos2 + s3 * sin2)
        return (
            mwwr * wr0 - mwwi * wi0 + mwar * ar0 - mwai * ai0,
            mwwr * wi0 + mwwi * wr0 + mwar * ai0 + mwai * ar0,
            mwar * wr0 - mwai * wi0 + maar * ar0 - maai * ai0,
            mwar * wi0 + mwai * wr0 + maar * ai0 + maai * ar0,
            mwwr * wr1 - mwwi * wi1 + mwar * ar1 - mwai * ai1,
            mwwr * wi1 + mwwi * wr1 + mwar * ai1 + mwai * ar1,
            mwar * wr1 - mwai * wi1 + maar * ar1 - maai * ai1,
            mwar * wi1 + mwai * wr1 + maar * ai1 + maai * ar1,
        )

    return domain_step


def turn_states(c, s, ur0, ui0, wr0, wi0, ur1, ui1, wr1, wi1):
    """The photon components of both states turned by the angle of (c, s) = (cos, sin)."""
    return (
        c * ur0 - s * wr0,
        c * ui0 - s * wi0,
        s * ur0 + c * wr0,
        s * ui0 + c * wi0,
        c * ur1 - s * wr1,
        c * ui1 - s * wi1,
        s * ur1 + c * wr1,
        s * ui1 + c * wi1,
    )


_domain_step = numba.njit(inline="always")(domain_step_with(sincos))
_turn_states = numba.njit(inline="always")(turn_states)


@numba.njit(cache=True, fastmath={"contract"})
def _propagate_block(energy, lo, plasma, qed, mixing, turn_c, turn_s, length, m_nev, parts):
    """Energies [lo, lo + BLOCK) of ``parts`` through every domain."""
    n_dom = plasma.shape[0]
    hi = min(lo + BLOCK, energy.shape[0])
    E = energy[lo:hi].copy()
    inv_E = 1.0 / E
    delta_a = -P_A * m_nev * m_nev * inv_E
    delta_cmb = P_CMB * E
    ur0, ui0, wr0, wi0, ar0, ai0 = (
        parts[0, lo:hi].copy(),
        parts[1, lo:hi].copy(),
        parts[2, lo:hi].copy(),
        parts[3, lo:hi].copy(),
        parts[4, lo:hi].copy(),
        parts[5, lo:hi].copy(),
    )
    ur1, ui1, wr1, wi1, ar1, ai1 = (
        parts[6, lo:hi].copy(),
        parts[7, lo:hi].copy(),
        parts[8, lo:hi].copy(),
        parts[9, lo:hi].copy(),
        parts[10, lo:hi].copy(),
        parts[11, lo:hi].copy(),
    )
    for d in range(n_dom + 1):
        c, s = turn_c[d], turn_s[d]
        for j in range(hi - lo):  # into domain d's frame (the last turn: back to the lab frame)
            ur0[j], ui0[j], wr0[j], wi0[j], ur1[j], ui1[j], wr1[j], wi1[j] = _turn_states(
                c, s, ur0[j], ui0[j], wr0[j], wi0[j], ur1[j], ui1[j], wr1[j], wi1[j]
            )
        if d == n_dom:
            break
        pl, qd, d_ag, L = plasma[d], qed[d], mixing[d], length[d]
        for j in range(hi - lo):
            wr0[j], wi0[j], ar0[j], ai0[j], wr1[j], wi1[j], ar1[j], ai1[j] = _domain_step(
                E[j],
                inv_E[j],
                delta_a[j],
                delta_cmb[j],
                pl,
                qd,
                d_ag,
                L,
                wr0[j],
                wi0[j],
                ar0[j],
                ai0[j],
                wr1[j],
                wi1[j],
                ar1[j],
                ai1[j],
            )
    for k, row in enumerate((ur0, ui0, wr0, wi0, ar0, ai0, ur1, ui1, wr1, wi1, ar1, ai1)):
        parts[k, lo:hi] = row


def unpolarised_states(n_energies: int) -> np.ndarray:
    """Initial states (n_E, 3, 2): photons polarised along x and along y, no ALPs."""
    states = np.zeros((n_energies, 3, 2), dtype=np.complex128)
    states[:, 0, 0] = 1.0
    states[:, 1, 1] = 1.0
    return states


def photon_survival(states: np.ndarray) -> np.ndarray:
    """P_gg of an unpolarised beam from its propagated states: 1/2 sum ``|photon components|^2``."""
    return 0.5 * np.sum(np.abs(states[:, :2, :]) ** 2, axis=(1, 2))


@numba.njit(cache=True, fastmath={"contract", "reassoc"})
def gaussian_turbulence(r0, dr, n, k, amplitude, phase, out):
    """One transverse component of a Gaussian-turbulent field on the even grid r_i = r0 + i dr:
    B(r_i) = sum_n a_n cos(k_n r_i + phase_n).

    Each mode is advanced from r_i to r_{i+1} by a rotation (cos k dr, sin k dr), which costs four
    multiplications instead of a cosine; the rounding error grows like i * 1e-16. The modes are the
    inner loop (a vectorised sum, hence ``reassoc``); the grid points follow one another.
    """
    n_k = k.shape[0]
    c = np.empty(n_k)
    s = np.empty(n_k)
    step_c = np.empty(n_k)
    step_s = np.empty(n_k)
    for m in range(n_k):
        c[m] = amplitude[m] * math.cos(k[m] * r0 + phase[m])
        s[m] = amplitude[m] * math.sin(k[m] * r0 + phase[m])
        step_c[m] = math.cos(k[m] * dr)
        step_s[m] = math.sin(k[m] * dr)
    for i in range(n):
        total = 0.0
        for m in range(n_k):
            total += c[m]
            c_m = c[m]
            c[m] = c_m * step_c[m] - s[m] * step_s[m]
            s[m] = s[m] * step_c[m] + c_m * step_s[m]
        out[i] = total
