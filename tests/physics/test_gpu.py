"""The fused GPU kernels against the CPU kernel: in numba's CUDA simulator here, on the device
where there is one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from alp_config import DEFAULT_VECTOR

REPO = Path(__file__).resolve().parents[2]

# Realisations of different lengths (the field kernel's grid covers the longest), strong and weak
# mixing, a field that follows the density (eta = 0.62) and one against it (eta = -0.5).
SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, "{tests}")
from alp_config import DEFAULT_VECTOR
from alpswyft.physics import gpu
from alpswyft.physics.alp import LineOfSight, field_modes

edges = np.geomspace(20, 6000, 181)
data = np.load("{los}")  # the benchmarks' line of sight: no gammaALPs needed (a GPU machine may lack it)
los = LineOfSight(np.sqrt(edges[1:] * edges[:-1])[::30], data["ebl"][::30], tuple(data["gmf"]))
vectors = np.array([DEFAULT_VECTOR] * 3, float)
vectors[:, 0], vectors[:, 1] = [10.0, 1e3, 0.1], [3.0, 10.0, 0.5]
vectors[:, 9] = [12.0, 20.0, 6.0]  # r_abell: 102, 170 and 51 domains
vectors[2, 14] = -0.5
rng = np.random.default_rng(2)
modes = [field_modes(v, rng) for v in vectors]
ours = gpu.survival_many(vectors, modes, los)
cpu = los.survival_many(vectors, modes)
print(json.dumps({{"gpu": ours.tolist(), "cpu": cpu.tolist(), "simulator": bool(gpu.numba.config.ENABLE_CUDASIM)}}))
"""


def run_kernels(simulator: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO / "analysis_scripts")}
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    script = SCRIPT.format(
        tests=REPO / "tests", los=REPO / "analysis_scripts" / "benchmarks" / "los_default.npz"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_agreement(result):
    ours, cpu = np.array(result["gpu"]), np.array(result["cpu"])
    assert ours.shape == cpu.shape == (3, 6)
    np.testing.assert_allclose(ours, cpu, rtol=0, atol=1e-10)
    assert cpu.min() < 0.9  # the mixing is really exercised


def test_the_fused_kernels_equal_the_cpu_kernel_in_the_simulator():
    result = run_kernels(simulator=True)
    assert result["simulator"]
    check_agreement(result)


@pytest.mark.gpu
def test_the_fused_kernels_equal_the_cpu_kernel_on_the_device():
    check_agreement(run_kernels(simulator=False))


def test_domain_counts_are_those_of_the_cpu_field():
    from alpswyft.physics.alp import cluster_field, field_modes
    from alpswyft.physics.gpu import domain_counts

    rng = np.random.default_rng(0)
    vectors = np.array([DEFAULT_VECTOR] * 200, float)
    vectors[:, 9], vectors[:, 16] = rng.uniform(300, 1000, 200), 10 ** rng.uniform(0.62, 1.85, 200)
    vectors[:3, 9], vectors[:3, 16] = (
        [500, 100, 7],
        [10**0.93, 10.0, 1.0],
    )  # r_abell kH integral: edge cases
    cpu = [len(cluster_field(v, *field_modes(v, rng))[0]) for v in vectors]
    np.testing.assert_array_equal(domain_counts(vectors), cpu)
