"""Batched photon-ALP propagation in torch, for many field realisations at once on a GPU.

The same equations as :func:`alpswyft.physics.propagation.propagate_states` (field frame, common
phase dropped), vectorised over (realisation, energy) and stepped over domains. Realisations with
fewer domains are padded with empty domains (L = 0, no turn), which leave the states unchanged.
The cluster field is evaluated on the device too (:func:`cluster_fields`), from the modes of
:func:`~alpswyft.physics.alp.field_modes`, so a batch is reproducible from its seed and equal to the
CPU path to rounding. The fused kernels of :mod:`alpswyft.physics.gpu` do the same in two launches
instead of about 40 per domain; this path remains for machines where only torch reaches CUDA.

``dtype`` selects float64/complex128 (default) or float32/complex64; the benchmark
(``analysis_scripts/benchmarks/bench_gpu.py``) measures how far single precision drifts over
thousands of domains before it is used.
"""

from __future__ import annotations

import numpy as np
import torch

from alpswyft.physics.alp import electron_density
from alpswyft.physics.propagation import P_A, P_AG, P_CMB, P_PL, qed_term
from alpswyft.physics.source import REDSHIFT


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def propagate(energy, b_field, psi, n_el, length, m_nev, g_11, states):
    """Propagate ``states`` (batch, n_E, 3, 2) complex through domains (batch, n_dom) in place.

    ``energy`` (n_E,) GeV in the domains' frame; ``m_nev``, ``g_11`` (batch,).
    """
    real = b_field.dtype
    energy = energy.to(real)[None, :]
    inv_e = 1.0 / energy
    delta_a = -P_A * (m_nev.to(real) ** 2)[:, None] * inv_e
    delta_cmb = P_CMB * energy
    qed_d = qed_term(b_field)
    plasma_d = P_PL * n_el
    mixing_d = P_AG * g_11.to(real)[:, None] * b_field
    previous = torch.cat([torch.zeros_like(psi[:, :1]), psi[:, :-1]], dim=1)
    turn = psi - previous
    turn_c, turn_s = torch.cos(turn), torch.sin(turn)
    u, w, a = states[:, :, 0, :], states[:, :, 1, :], states[:, :, 2, :]
    for d in range(b_field.shape[1]):
        c, s = turn_c[:, d, None, None], turn_s[:, d, None, None]
        u, w = c * u - s * w, s * u + c * w
        delta_pl = -plasma_d[:, d, None] * inv_e
        delta_qed = qed_d[:, d, None] * energy
        d_perp = delta_pl + 2.0 * delta_qed + delta_cmb
        d_par = delta_pl + 3.5 * delta_qed + delta_cmb
        d_ag = mixing_d[:, d, None]
        diff = d_par - delta_a
        d_osc = torch.sqrt(diff * diff + 4.0 * d_ag * d_ag)
        safe = torch.where(d_osc > 0, d_osc, torch.ones_like(d_osc))
        sin_cos = torch.where(d_osc > 0, d_ag / safe, torch.zeros_like(d_osc))
        cos2 = torch.where(d_osc > 0, 0.5 * (1.0 + diff / safe), torch.ones_like(d_osc))
        sin2 = 1.0 - cos2
        L = length[:, d, None]
        l2 = (0.5 * (d_par + delta_a - d_osc) - d_perp) * L
        l3 = (0.5 * (d_par + delta_a + d_osc) - d_perp) * L
        p2 = torch.polar(torch.ones_like(l2), -l2)[..., None]
        p3 = torch.polar(torch.ones_like(l3), -l3)[..., None]
        sin2, cos2, sin_cos = sin2[..., None], cos2[..., None], sin_cos[..., None]
        m_ww = p2 * sin2 + p3 * cos2
        m_wa = (p3 - p2) * sin_cos
        m_aa = p2 * cos2 + p3 * sin2
        w, a = m_ww * w + m_wa * a, m_wa * w + m_aa * a
    back_c = torch.cos(-psi[:, -1])[:, None, None]
    back_s = torch.sin(-psi[:, -1])[:, None, None]
    u, w = back_c * u - back_s * w, back_s * u + back_c * w
    states[:, :, 0, :], states[:, :, 1, :], states[:, :, 2, :] = u, w, a
    return states


def cluster_fields(vectors: np.ndarray, modes: list, device, dtype=torch.float64, chunk: int = 64):
    """Field realisations for physical 18-vectors (batch, 18) and their modes, padded to a common
    domain count.

    Returns tensors (batch, n_dom): B_T [muG], psi [rad], n_e [cm^-3], dL [kpc] (0 in padding).
    """
    batch = len(vectors)
    grids = [np.arange(0.0, v[9], 1.0 / v[16]) for v in vectors]
    n_dom = max(len(g) for g in grids) - 1
    n_k = max(len(k) for k, _, _ in modes)
    k_all = np.zeros((batch, n_k))
    amp = np.zeros((batch, 2, n_k))
    phase = np.zeros((batch, 2, n_k))
    r_all = np.zeros((batch, n_dom))
    length = np.zeros((batch, n_dom))
    density = np.zeros((batch, n_dom))
    scale = np.zeros((batch, n_dom))
    for i, (v, bounds, (k, amplitude, phases)) in enumerate(zip(vectors, grids, modes)):
        n0, n2, r_core, r_core2, beta, beta2, eta = v[7], v[8], v[10], v[11], v[12], v[13], v[14]
        k_all[i, : len(k)] = k
        amp[i, :, : len(k)] = amplitude
        phase[i, :, : len(k)] = phases
        r = 0.5 * (bounds[1:] + bounds[:-1])
        m = len(r)
        r_all[i, :m] = r
        length[i, :m] = np.diff(bounds)
        dens = electron_density(r, n0, n2, r_core, r_core2, beta, beta2)
        density[i, :m] = dens * 1e-3
        scale[i, :m] = (dens / (n0 + n2)) ** eta
    t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    k_t, amp_t, phase_t, r_t = t(k_all), t(amp), t(phase), t(r_all)
    components = torch.empty((batch, 2, n_dom), dtype=dtype, device=device)
    for start in range(0, batch, chunk):
        sl = slice(start, start + chunk)
        argument = k_t[sl, None, :, None] * r_t[sl, None, None, :] + phase_t[sl, :, :, None]
        components[sl] = torch.einsum("bcn,bcnr->bcr", amp_t[sl], torch.cos(argument))
    b_t, b_u = components[:, 0], components[:, 1]
    psi = torch.atan2(b_t, b_u)
    valid = t(length) > 0
    last = psi.gather(1, (valid.sum(1) - 1).clamp(min=0)[:, None])
    psi = torch.where(valid, psi, last)  # padding: no turn
    return torch.hypot(b_t, b_u) * t(scale), psi, t(density), t(length)


def survival_batch(vectors: np.ndarray, modes: list, los, device=None, dtype=torch.float64):
    """P_gg (batch, n_E) for physical 18-vectors (batch, 18) and their field modes, through the
    cluster, the EBL and the Galactic field of ``los`` (a :class:`~alpswyft.physics.alp.LineOfSight`)."""
    device = default_device() if device is None else device
    complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    vectors = np.atleast_2d(vectors)
    batch, n_e = len(vectors), len(los.energy)
    b, psi, n_el, length = cluster_fields(vectors, modes, device, dtype)
    m = torch.as_tensor(vectors[:, 0], device=device)
    g = torch.as_tensor(vectors[:, 1], device=device)
    energy = torch.as_tensor(los.energy, dtype=dtype, device=device)
    states = torch.zeros((batch, n_e, 3, 2), dtype=complex_dtype, device=device)
    states[:, :, 0, 0] = 1.0
    states[:, :, 1, 1] = 1.0
    propagate(energy * (1 + REDSHIFT), b, psi, n_el, length, m, g, states)
    states[:, :, :2, :] *= torch.as_tensor(
        np.sqrt(los.ebl_attenuation), dtype=dtype, device=device
    )[None, :, None, None]
    gmf = [
        torch.as_tensor(a, dtype=dtype, device=device)[None].expand(batch, -1)
        for a in los.gmf_domains
    ]
    propagate(energy, *gmf, m, g, states)
    return (0.5 * torch.sum(torch.abs(states[:, :, :2, :]) ** 2, dim=(2, 3))).double().cpu().numpy()
