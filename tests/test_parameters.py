"""Parameter table rows and priors."""

import numpy as np
from scipy import stats

from alpswyft.parameters import ParameterTable, parse_row


def test_free_row_with_colon_bounds_and_log():
    p, warnings = parse_row(1, " [-2:4] | -6 | -6 | 1 | U | m | neV ")
    assert p.free and p.bounds == (-2.0, 4.0) and p.log and p.obs == -6 and p.null == -6
    assert p.name == "m" and p.unit == "neV" and warnings == []


def test_fixed_row():
    p, warnings = parse_row(5, " 300 | 300 | 300 | 0 | U | E0 | GeV ")
    assert not p.free and p.value == 300 and warnings == []


def test_underscores_in_numbers():
    p, _ = parse_row(1, "[1_000, 2_000] | 1_500 | 1_500 | 0 | U | n | 1")
    assert p.bounds == (1000, 2000)


def test_uniform_prior_samples_stay_in_box():
    table = ParameterTable([parse_row(1, "[-3,3] | 0 | 0 | 0 | U | a | 1")[0]])
    x = table.sample(np.array([[-0.5, 0.25]]), 10_000, np.random.default_rng(1))
    assert x.shape == (10_000, 1)
    assert x.min() >= -0.5 and x.max() <= 0.25
    assert stats.kstest(x[:, 0], stats.uniform(-0.5, 0.75).cdf).pvalue > 1e-3


def test_truncated_normal_prior():
    table = ParameterTable([parse_row(1, "[0,3] | 1 | 1 | 0 | N(1,0.5) | a | 1")[0]])
    x = table.sample(np.array([[0.0, 3.0]]), 20_000, np.random.default_rng(2))[:, 0]
    reference = stats.truncnorm((0 - 1) / 0.5, (3 - 1) / 0.5, loc=1, scale=0.5)
    assert x.min() >= 0 and x.max() <= 3
    assert stats.kstest(x, reference.cdf).pvalue > 1e-3


def test_sampling_is_reproducible():
    table = ParameterTable([parse_row(1, "[-3,3] | 0 | 0 | 0 | U | a | 1")[0]])
    box = np.array([[-3.0, 3.0]])
    a = table.sample(box, 5, np.random.default_rng(7))
    b = table.sample(box, 5, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_physical_inserts_fixed_and_exponentiates_logs():
    rows = [
        "[-2,4] | 0 | 0 | 1 | U | m | neV",
        "2 | | | 1 | U | k | 1",
        "[0,1] | 0 | 0 | 0 | U | b | 1",
    ]
    table = ParameterTable([parse_row(i + 1, r)[0] for i, r in enumerate(rows)])
    full = table.physical(np.array([[1.0, 0.5], [0.0, 0.25]]))
    np.testing.assert_allclose(full, [[10.0, 100.0, 0.5], [1.0, 100.0, 0.25]])
