"""The fast propagation engine against gammaALPs' ModuleList.run() on the same field realisation."""

import numpy as np
import pytest
from alp_config import DEFAULT_VECTOR

from alpswyft.physics import propagation, reference
from alpswyft.physics.alp import LineOfSight, cluster_domains

ENERGY = np.geomspace(20, 6000, 180)


@pytest.fixture(scope="module")
def line_of_sight():
    return LineOfSight.compute(ENERGY)


def test_prefactors_equal_gammaalps():
    from gammaALPs.base import transfer

    assert propagation.P_AG == pytest.approx(transfer.prefactor_Delta_ag.value, rel=1e-12)
    assert propagation.P_A == pytest.approx(transfer.prefactor_Delta_a.value, rel=1e-12)
    assert propagation.P_PL == pytest.approx(transfer.prefactor_Delta_pl.value, rel=1e-12)
    assert propagation.P_CMB == pytest.approx(transfer.prefactor_Delta_CMB.value, rel=1e-12)
    assert propagation.P_QED == pytest.approx(transfer.prefactor_Delta_QED.value, rel=1e-12)
    assert propagation.B_CRIT_MUG == pytest.approx(transfer.Bcrit_muGauss.value, rel=1e-12)


@pytest.mark.parametrize(
    ("m", "g"), [(1e-6, 1e-5), (1.0, 0.5), (10.0, 1.0), (0.1, 3.0), (100.0, 10.0), (30.0, 30.0)]
)
def test_same_field_same_survival(line_of_sight, m, g):
    v = np.array(DEFAULT_VECTOR, float)
    v[0], v[1] = m, g
    expected, domains = reference.survival(ENERGY, v, seed=7)
    ours = line_of_sight.survival(m, g, domains)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-8)
    if g >= 1:
        assert expected.min() < 0.7  # strong mixing is really tested (EBL alone: 0.68 at 6 TeV)


def test_prior_edge_kh(line_of_sight):
    v = np.array(DEFAULT_VECTOR, float)
    v[0], v[1], v[16] = 3.0, 2.0, 70.8
    expected, domains = reference.survival(ENERGY, v, seed=1)
    assert len(domains[0]) > 35_000
    np.testing.assert_allclose(
        line_of_sight.survival(3.0, 2.0, domains), expected, rtol=0, atol=1e-8
    )


def test_null_survival_is_ebl_attenuation(line_of_sight):
    from ebltable.tau_from_model import OptDepth

    v = np.array(DEFAULT_VECTOR, float)
    rng = np.random.default_rng(0)
    from alpswyft.physics.alp import cluster_domains

    p = line_of_sight.survival(1e-6, 1e-5, cluster_domains(v, rng))
    tau = OptDepth.readmodel(model="dominguez").opt_depth(0.017559, ENERGY / 1e3)
    np.testing.assert_allclose(p, np.exp(-np.ravel(tau)), atol=1e-8)
    assert p[0] == pytest.approx(1.0, abs=1e-3) and p[-1] < 0.75


def test_gammaalps_global_rng_is_isolated():
    # gammaALPs uses numpy's legacy global generator, the one this test watches.
    np.random.seed(123)  # noqa: NPY002
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    reference.survival(ENERGY[:10], np.array(DEFAULT_VECTOR, float), seed=5)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002


def test_the_branch_free_sincos_over_the_phase_range_of_the_physics():
    import numba

    x = np.concatenate(
        [
            np.linspace(-10, 10, 20_001),
            np.geomspace(1e-12, propagation.PHASE_LIMIT, 20_001),
            -np.geomspace(1e-12, propagation.PHASE_LIMIT, 2_001),
            np.arange(-8, 9) * np.pi / 4,
        ]
    )
    values = numba.njit(lambda a: [propagation.sincos(v) for v in a])(x)
    s, c = np.array(values).T
    # as exact as libm's, whose result for |x| ~ 1e6 is itself uncertain by the ulp of x (2e-10)
    assert np.abs(s - np.sin(x)).max() < 5e-16 and np.abs(c - np.cos(x)).max() < 5e-16


@pytest.mark.parametrize(
    "m, g, kh", [(10.0, 1.0, None), (1e4, 10.0, None), (1e-2, 3.0, 70.8), (1e4, 10.0, 1.0)]
)
def test_the_vectorised_kernel_equals_the_scalar_one(m, g, kh):
    """The vectorised kernel against the one-energy-at-a-time kernel with libm's sin and cos, at
    the default kH, the prior edges in m, g and kH, and the longest domains (kH = 1)."""
    v = np.array(DEFAULT_VECTOR, float)
    v[0], v[1] = m, g
    if kh:
        v[16] = kh
    domains = cluster_domains(v, np.random.default_rng(3))
    energy = np.geomspace(20, 6000, 180) * 1.017559
    ours, reference = propagation.unpolarised_states(180), propagation.unpolarised_states(180)
    propagation.propagate_states(energy, *domains, m, g, ours)
    propagation.propagate_states_scalar(energy, *domains, m, g, reference)
    np.testing.assert_allclose(
        propagation.photon_survival(ours),
        propagation.photon_survival(reference),
        rtol=0,
        atol=1e-12,
    )


def test_the_field_recurrence_equals_the_sum_of_its_modes():
    rng = np.random.default_rng(0)
    k = np.geomspace(3.9e-4, 70.8, 300)
    amplitude, phase = rng.random(300), 2 * np.pi * rng.random(300)
    out = np.empty(35_400)
    propagation.gaussian_turbulence(0.007, 1 / 70.8, len(out), k, amplitude, phase, out)
    r = 0.007 + np.arange(len(out)) / 70.8
    direct = np.array([np.sum(amplitude * np.cos(k * x + phase)) for x in r[::97]])
    np.testing.assert_allclose(out[::97], direct, rtol=0, atol=1e-10 * amplitude.sum())


def test_realisations_in_parallel_equal_one_at_a_time(line_of_sight):
    """LineOfSight.survival_many (one realisation per thread) against survival (energies in
    parallel), including a realisation beyond the phase limit (left to the scalar kernel)."""
    from alpswyft.physics.alp import cluster_field, field_modes

    vs = np.array([DEFAULT_VECTOR] * 4, float)
    vs[:, 0], vs[:, 1] = [10.0, 1.0, 1e4, 0.3], [1.0, 3.0, 10.0, 0.5]
    vs[2, 15], vs[2, 16] = 0.01, 0.05  # domains of 20 kpc: phases beyond PHASE_LIMIT
    vs[3, 9] = 300.0
    rng = np.random.default_rng(8)
    modes = [field_modes(v, rng) for v in vs]
    cluster = cluster_field(vs[2], *modes[2])
    assert (
        propagation.max_phase(ENERGY, cluster[0], cluster[2], cluster[3], 1e4, 10.0)
        > propagation.PHASE_LIMIT
    )
    many = line_of_sight.survival_many(vs, modes)
    one = np.array(
        [line_of_sight.survival(v[0], v[1], cluster_field(v, *m)) for v, m in zip(vs, modes)]
    )
    np.testing.assert_allclose(many, one, rtol=0, atol=1e-13)
    assert many[:2].min() < 0.7
