"""Cluster model: field statistics, density profile, degenerate parameters refused."""

import re

import numpy as np
import pytest
from alp_config import DEFAULT_VECTOR, alp_variables

from alpswyft.config import load_run_config
from alpswyft.physics.alp import cluster_domains, electron_density, turbulence_modes
from analysis_core.errors import ConfigError


def test_domain_grid_and_density():
    v = np.array(DEFAULT_VECTOR, float)
    b, psi, n_el, dl = cluster_domains(v, np.random.default_rng(0))
    assert len(b) == 4255 and np.allclose(dl, 1 / v[16])
    assert n_el[0] == pytest.approx((46 + 4.05) * 1e-3, rel=1e-3)
    assert electron_density(0.0, 46, 4.05, 57, 268, 1.2, 0.69) == pytest.approx(50.05)
    assert np.all(np.abs(psi) <= np.pi)


def test_mode_count_as_gammaalps():
    k, dk = turbulence_modes(10**-0.41, 10**0.93)
    assert len(k) == 188 and np.all(dk > 0)


def two_sample_z(a, b):
    return abs(a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))


def test_field_and_survival_statistics_match_gammaalps():
    """Over 80 realisations each: mean and variance of B_T and of P_gg at three energies, ours
    (own generator) against gammaALPs' (its generator and its propagation)."""
    from alpswyft.physics import reference
    from alpswyft.physics.alp import LineOfSight

    energy = np.array([50.0, 300.0, 2000.0])
    v = np.array(DEFAULT_VECTOR, float)
    v[0], v[1] = 10.0, 1.5
    los = LineOfSight.compute(energy)
    ours_b, ours_p, theirs_b, theirs_p = [], [], [], []
    for seed in range(80):
        domains = cluster_domains(v, np.random.default_rng(seed))
        ours_b.append(domains[0][[10, 200, 1000]])
        ours_p.append(los.survival(v[0], v[1], domains))
        p, theirs = reference.survival(energy, v, seed=10_000 + seed)
        theirs_b.append(theirs[0][[10, 200, 1000]])
        theirs_p.append(p)
    for ours, theirs in ((ours_b, theirs_b), (ours_p, theirs_p)):
        ours, theirs = np.array(ours), np.array(theirs)
        for k in range(3):
            assert two_sample_z(ours[:, k], theirs[:, k]) < 4, (
                k,
                ours[:, k].mean(),
                theirs[:, k].mean(),
            )
            ratio = ours[:, k].var() / theirs[:, k].var()
            assert 0.45 < ratio < 2.2, (k, ratio)  # F(79, 79) 99.9 % interval


def test_wrong_spectrum_would_be_detected():
    """The statistics test can fail: doubling B0 moves the mean of B_T by far more than 4 sigma."""
    v = np.array(DEFAULT_VECTOR, float)
    a = np.array([cluster_domains(v, np.random.default_rng(s))[0][200] for s in range(80)])
    v[6] *= 2
    b = np.array([cluster_domains(v, np.random.default_rng(100 + s))[0][200] for s in range(80)])
    assert two_sample_z(a, b) > 4


def test_same_seed_same_field():
    v = np.array(DEFAULT_VECTOR, float)
    a = cluster_domains(v, np.random.default_rng(4))
    b = cluster_domains(v, np.random.default_rng(4))
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize(
    ("row", "value", "fragment"),
    [
        (11, "0 | | | 0 | U | e_dens_1 | kpc", "r_core"),
        (11, "[-5, 238] | 57 | 57 | 0 | U | e_dens_1 | kpc", "r_core"),
        (9, "0 | | | 0 | U | e_norm_2 | x", "n2"),
        (12, "[0, 1122] | 268 | 268 | 0 | U | e_dens_2 | kpc", None),  # an open bound at 0
        (16, "[-1.3, 0.39] | -0.41 | -0.41 | 1 | U | Max_turb | kpc^{-1}", None),
        (
            17,
            "[-1, 1.85] | 0.93 | 0.93 | 1 | U | min_turb | kpc^{-1}",
            None,
        ),  # overlapping kL: restricted
        (17, "[-3, -1] | -2 | -2 | 1 | U | min_turb | kpc^{-1}", "every kL is at least every kH"),
        (18, "-1.97 | | | 0 | U | turb_index | none", "|q|"),
    ],
)
def test_degenerate_cluster_parameters_refused(row, value, fragment):
    variables = alp_variables(**{f"param{row}": value})
    if fragment is None:  # a valid range
        load_run_config(variables)
        return
    with pytest.raises(ConfigError, match=fragment.replace("|", r"\|")):
        load_run_config(variables)


def test_overlapping_kl_and_kh_restrict_the_prior_everywhere_it_is_drawn():
    """The agnostic tables' kL in [10^-1.3, 10^0.39] and kH in [1, 10^1.85]: the prior is the product
    prior restricted to kL < kH; the rejected fraction is said once, and every draw satisfies it."""
    variables = alp_variables(
        param16="[-1.3, 0.39] | -0.41 | -0.41 | 1 | U | Max_turb | kpc^{-1}",
        param17="[0, 1.85] | 0.93 | 0.93 | 1 | U | min_turb | kpc^{-1}",
        param11="[0, 238] | 57 | 57 | 0 | U | e_dens_1 | kpc",
    )
    config, warnings = load_run_config(variables)
    (restriction,) = [w for w in warnings if "restricted to kL < kH" in w]
    table = config.table
    kl, kh = table.free_names.index("Max_turb"), table.free_names.index("min_turb")
    box = table.initial_bounds
    # the exact rejected fraction of the uniform box in log10: P(log kL >= log kH)
    lo_l, hi_l, lo_h, hi_h = box[kl][0], box[kl][1], box[kh][0], box[kh][1]
    overlap = hi_l - lo_h
    exact = 0.5 * overlap**2 / ((hi_l - lo_l) * (hi_h - lo_h))
    said = float(
        re.search(r"\(([\d.]+) % of the draws in the prior box are rejected\)", restriction)[1]
    )
    assert said == pytest.approx(100 * exact, abs=0.3)
    assert table.rejected_fraction(box) == pytest.approx(exact, abs=0.003)
    draws = table.sample(box, 20_000, np.random.default_rng(0))
    assert np.all(draws[:, kl] < draws[:, kh])
    # the restricted prior is the product prior conditioned on kL < kH: the kL marginal tilts down
    assert draws[:, kl].mean() < 0.5 * (lo_l + hi_l) - 0.01
    assert any("param11 (e_dens_1): the range starts at 0, an open bound" in w for w in warnings)


def test_an_open_bound_at_zero_is_the_limit_of_the_profile():
    v = np.array(DEFAULT_VECTOR, float)
    v[10] = 0.0  # r_core -> 0: the first beta component vanishes beyond r = 0
    b, _, n_el, _ = cluster_domains(v, np.random.default_rng(0))
    assert np.all(np.isfinite(b)) and np.all(np.isfinite(n_el))
    r = np.arange(len(n_el)) / v[16] + 0.5 / v[16]
    np.testing.assert_allclose(
        n_el, 1e-3 * electron_density(r, 0.0, v[8], 1.0, v[11], v[12], v[13]), rtol=1e-9
    )


def test_spectral_fit_log_needs_log_rows():
    with pytest.raises(ConfigError, match="spectral_fit_log"):
        load_run_config(alp_variables(model="spectral_fit_log"))


def test_alp_models_need_the_gamma_geometry():
    with pytest.raises(ConfigError, match="geom"):
        load_run_config(alp_variables(geom="simple"))


def test_missing_irf_file():
    with pytest.raises(ConfigError, match="IRF_file.*no such file"):
        load_run_config(alp_variables(IRF_file="/nonexistent/irf.fits"))
