"""The batched torch propagation (the GPU path) equals the numba kernel on the same fields."""

import numpy as np
import pytest
import torch
from alp_config import DEFAULT_VECTOR

from alpswyft.physics.alp import LineOfSight, cluster_field, field_modes
from alpswyft.physics.batched import survival_batch

ENERGY = np.geomspace(20, 6000, 40)


@pytest.fixture(scope="module")
def line_of_sight():
    return LineOfSight.compute(ENERGY)


def test_batch_equals_numba_with_different_domain_counts(line_of_sight):
    vs = np.array([DEFAULT_VECTOR] * 3, float)
    vs[:, 0], vs[:, 1] = [1.0, 10.0, 0.3], [0.5, 2.0, 3.0]
    vs[2, 16] = 3.0  # fewer domains: padded in the batch
    vs[1, 9] = 300.0
    rng = np.random.default_rng(5)
    modes = [field_modes(v, rng) for v in vs]
    batch = survival_batch(vs, modes, line_of_sight, device=torch.device("cpu"))
    reference = np.array(
        [line_of_sight.survival(v[0], v[1], cluster_field(v, *m)) for v, m in zip(vs, modes)]
    )
    np.testing.assert_allclose(batch, reference, atol=1e-10)
    assert batch.min() < 0.7


def test_single_precision_is_close_but_not_exact(line_of_sight):
    vs = np.array([DEFAULT_VECTOR] * 2, float)
    vs[:, 0], vs[:, 1] = 10.0, 2.0
    rng = np.random.default_rng(1)
    modes = [field_modes(v, rng) for v in vs]
    p64 = survival_batch(vs, modes, line_of_sight, torch.device("cpu"), torch.float64)
    p32 = survival_batch(vs, modes, line_of_sight, torch.device("cpu"), torch.float32)
    assert 0 < np.max(np.abs(p64 - p32)) < 1e-3
