"""open_run on a run folder and on an archived trial: stores, kept posteriors, extra observations,
new observations inferred, errors that name what is wrong, and the report of an archived trial
written beside the archive, never into it."""

import numpy as np
import pytest
from conftest import configure_in_process, folder_snapshot, run_rounds, toy_variables

from alpswyft import compare_runs, open_run
from alpswyft.stages.validate import validate
from analysis_core.errors import ConfigError, PipelineError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_trials(tmp_path_factory):
    """A one-round toy_line run with an extra observation, run twice in the same folder (the
    second trial, another sim_seed and two rounds, archives the first as archive/trial__0)."""
    base = tmp_path_factory.mktemp("workbench")
    monkeypatch = pytest.MonkeyPatch()
    trees = []
    for seed, rounds in (("0", "0"), ("1", "1")):
        variables = toy_variables(
            n_truncations=rounds,
            n_sim_train="1_000",
            n_prior_samples="5_000",
            max_epochs="8",
            n_sim_explim="20",
            n_sim_coverage="100",
            DRP_coverage_parameters="1000, 100, 0, 0, 1",
            extra_observations="a=-1, b=1, seed=4",
            sim_seed=seed,
            limit_method="hpd",
        )
        trees.append(configure_in_process(base, monkeypatch, variables))
        run_rounds(trees[-1])
        validate(trees[-1])
    monkeypatch.undo()
    return trees[-1].root, trees[-1].archive / "trial__0"


def test_the_archived_trial_is_read_as_it_is(two_trials):
    current, archived = two_trials
    before = folder_snapshot(archived)
    run = open_run(archived)
    assert run.config.sim_seed == 0 and open_run(current).config.sim_seed == 1
    assert [entry["round"] for entry in run.rounds] == [0]
    training = run.store("training")
    assert (
        training.params.shape == (1_000, 2)
        and len(run.store("prior")) == 5_000
        and len(run.store("explim")) == 20
    )
    assert np.allclose(run.store("explim").params, run.config.table.obs)  # the POIs pinned at Obs.
    assert training.read("exp", 7).shape == (7, 50)
    extra = run.extra_observations
    assert np.allclose(extra["params"], [[-1.0, 1.0]]) and list(extra["seed"]) == [4]
    kept, inferred = (
        run.posterior(extra=0),
        run.infer({key: value[0] for key, value in extra.items()}),
    )
    assert np.allclose(kept.mean(), inferred.mean(), atol=1e-4) and np.allclose(kept.truth, [-1, 1])
    assert np.allclose(
        run.posterior().mean(), run.infer().mean(), atol=1e-4
    )  # the mock observation
    import swyft

    lrs = kept.to_swyft()  # swyft's own weights and plots on the kept samples
    _, weights = swyft.lightning.utils.get_weighted_samples(lrs, ["a", "b"])
    assert np.allclose(
        weights.numpy() / weights.numpy().sum(), kept.weights(pair=("a", "b"))
    )  # swyft: mean 1
    assert len(swyft.plot_corner(lrs, ["a", "b"], bins=30).axes) == 4
    fig = run.sim.plot_spectra(training, n=30, over=run.observation).figure
    assert len(fig.axes[0].lines) == 31
    assert folder_snapshot(archived) == before


def test_coverage_rounds_and_a_truth_outside_the_box_through_the_workbench(two_trials):
    import matplotlib.pyplot as plt

    current, archived = two_trials
    before = folder_snapshot(archived)
    old = open_run(archived)
    both = old.plot_coverage(kind=("zz", "pp"))
    assert [a.get_title() for a in both.axes if a.get_visible()] == [
        f"{marginal}: {kind}" for marginal in ("a", "b", "a-b") for kind in ("z–z", "p–p")
    ]
    pp = old.plot_coverage(kind="pp", marginals=["a-b"])
    assert [a.get_title() for a in pp.axes if a.get_visible()] == ["a-b: p–p"]
    assert len(old.plot_coverage(kind="tarp").axes) >= 3
    with pytest.raises(
        ConfigError, match="marginals = 'c': the run's coverage has the marginals a, b, a-b"
    ):
        old.plot_coverage(marginals=["c"])
    with pytest.raises(ConfigError, match="kind = 'qq': expected zz or pp"):
        old.plot_coverage(kind="qq")
    assert folder_snapshot(archived) == before
    run = open_run(current)
    assert [entry["round"] for entry in run.rounds] == [0, 1]
    zoomed = run.plot_rounds()
    assert zoomed.axes and all(ax.get_xlabel() for ax in zoomed.axes if ax.get_visible())
    posteriors = [run.infer(round=r) for r in (0, 1)]
    assert posteriors[1].values.shape[1] == 2 and [p.round for p in posteriors] == [0, 1]
    assert np.all(np.ptp(posteriors[1].values, axis=0) <= np.ptp(posteriors[0].values, axis=0))
    with pytest.warns(UserWarning, match=r"the observation's a = 5 lies outside the prior box"):
        run.infer(run.sim.observe(a=5, b=0, seed=2))
    plt.close("all")


def test_errors_name_what_is_wrong(two_trials, tmp_path):
    run = open_run(two_trials[0])
    with pytest.raises(ConfigError, match="kind = 'posterior': expected one of train, training"):
        run.store("posterior")
    with pytest.raises(
        ConfigError, match="round = '2': expected a finished round of grid point 0: 0"
    ):
        run.infer(round=2)
    with pytest.raises(ConfigError, match="grid_point = '3': expected 0 ... 0"):
        run.bank(grid_point=3)
    with pytest.raises(ConfigError, match="extra = '1': expected 0 ... 0"):
        run.posterior(extra=1)
    with pytest.raises(ConfigError, match="observation\\['data'\\]"):
        run.infer(np.zeros(7))
    with pytest.raises(ConfigError, match="infer takes one observation"):
        run.infer(run.sim.observe(a=[0.1, 0.2]))
    with pytest.raises(PipelineError, match="no fixed-nuisance network"):
        run.infer(fixed_nuisances=True)
    with pytest.raises(PipelineError, match="is not a run folder"):
        open_run(tmp_path)


def test_the_report_of_an_archived_trial_goes_beside_the_archive(two_trials):
    from alpswyft.report import execute
    from alpswyft.results import RunTree

    current, archived = two_trials
    before = folder_snapshot(archived)
    notebook = execute(RunTree(archived))
    assert notebook == current / "reports" / "trial__0" / "analysis_results.ipynb"
    assert (
        notebook.with_suffix(".html").is_file()
        and (notebook.parent / "extra_observations_gridpoint_0.png").is_file()
    )
    assert folder_snapshot(archived) == before
    text = notebook.read_text()
    assert "Posterior(round 0" in text  # the workbench cells ran


def test_two_runs_compared_on_the_same_observations(two_trials):
    """Run a's own expected limit is reproduced exactly; a run compared with itself has no false
    exclusions; the other trial (another sim_seed) gives its own limit on a's observations."""
    current, archived = two_trials
    comparison = compare_runs(archived, current)
    stored = np.load(open_run(archived).tree.validation_data("expected_limits", 0))
    assert np.array_equal(comparison.fraction_a, stored["fraction"]) and comparison.n == 20
    assert comparison.fraction_b.shape == (1, 2, 50, 50) and 0 <= comparison.false_b.max() <= 1
    assert np.all(comparison.false_b <= comparison.fraction_b)
    itself = compare_runs(archived, archived, levels=(0.9,))
    assert itself.false_a.max() == 0 == itself.false_b.max() and itself.levels == (0.9,)
    assert "median excluded area a" in repr(comparison)
    assert len(comparison.plot().axes) == 6 and len(comparison.plot_posteriors().axes) == 2
