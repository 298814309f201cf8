"""The simulation stage's SLURM job arrays meeting the scheduler's failures on the real test
cluster: a node that fails under a simulation job run with ``--no-requeue``, and a task out of
memory. (The back-end's side of each failure: ``tests/analysis_core/test_slurm_faults.py``.)"""

from __future__ import annotations

import pytest
from conftest import configure_in_process, toy_variables
from slurm_cluster import Fault, fail_the_node

from alpswyft.run import RunContext
from alpswyft.stages.simulate import simulate_round
from alpswyft.stores import check_store
from analysis_core.errors import PipelineError

pytestmark = pytest.mark.slow

SMALL = {
    "on_cluster": "slurm",
    "n_truncations": "0",
    "n_sim_train": "200",
    "n_prior_samples": "400",
    "n_jobs_sim": "1",
    "limit_method": "hpd",
    "max_memory_sim": "1",
}


def configure_on_slurm(base, monkeypatch, **overrides):
    return configure_in_process(base, monkeypatch, toy_variables(**{**SMALL, **overrides}))


def test_a_node_failure_without_requeue_resubmits_the_chunks_and_completes_the_stores(
    slurm_cluster, tmp_path, monkeypatch, capsys
):
    """The node goes DOWN while the first store's chunks run (``--no-requeue``: they end
    NODE_FAIL) and is RESUMEd 15 s later; the chunks are resubmitted and every store is complete."""
    tree = configure_on_slurm(tmp_path, monkeypatch, sbatch_extra="--no-requeue")
    thread = Fault("ALP_simulations", fail_the_node(slurm_cluster))
    simulate_round(tree, 0, 0)
    thread.join()
    out = capsys.readouterr().out
    assert "chunk 0: NODE_FAIL (its node failed)" in out, out
    assert "resubmitting (attempt 1 of slurm_max_attempts = 3)" in out
    run = RunContext.of(tree)
    requests = run.store_requests(0, 0)
    assert {"train", "prior"} <= set(requests)
    for request in requests.values():
        check_store(request, run.simulator.shapes if request.kind != "prior" else None)
    assert list((tree.sim_output / "slurm").glob("*_attempt2.sh"))


def test_a_simulation_out_of_memory_stops_naming_max_memory_sim(
    slurm_cluster, tmp_path, monkeypatch
):
    """Each task's set-up line takes 1.5 GB of the task's 1 GB (``max_memory_sim=1``): the
    store's tasks run out of memory, and the stage stops naming max_memory_sim and the memory
    reached, without resubmitting them."""
    hungry = 'python3 -c "b = bytearray(1536 * 2**20); import time; time.sleep(2)"'
    tree = configure_on_slurm(tmp_path, monkeypatch, job_setup=hungry)
    with pytest.raises(
        PipelineError,
        match=r"\d+ SLURM task\(s\) of ALP_simulations_store ran out of memory, its limit being 1 "
        r"GB \(max_memory_sim = 1 GB per CPU × 1 CPU\): store chunk 0 reached \d\.\d\d GB; "
        r"store chunk 1 reached \d\.\d\d GB; .* Raise max_memory_sim in the run script",
    ):
        simulate_round(tree, 0, 0)
    assert not list((tree.sim_output / "slurm").glob("*_attempt2.sh"))
