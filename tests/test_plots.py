"""The figures of a run, one test each: their panels, axis labels (with units) and titles; and the
corner plot of a network with a subset of the 2D marginals."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import toy_variables, validated_toy_run  # noqa: E402

from alpswyft import plots  # noqa: E402
from alpswyft.config import load_run_config  # noqa: E402
from alpswyft.coverage import CoverageResult  # noqa: E402
from alpswyft.limits import LimitCoverageResult, LimitResult  # noqa: E402
from alpswyft.run import RunContext  # noqa: E402


def test_the_corner_leaves_out_the_pairs_without_a_2d_marginal():
    """restricted_posterior=3 with three POIs and one plane: three 1D panels and one 2D panel, every
    column labelled under its lowest panel and the 2D panel's row beside it."""
    config = load_run_config(toy_variables())[0]
    edges = np.linspace(0, 1, 11)
    post = {
        "box": np.array([[0, 1]] * 3),
        "truth": np.array([0.5, 0.5, 0.5]),
        "edges_1d": np.array([edges] * 3),
        "density_1d": np.ones((3, 10)),
        "pairs": np.array([[0, 1]]),
        "density_2d": np.ones((1, 10, 10)),
    }
    fig = plots.draw_corner(post, ["a", "b", "c"], [0, 1, 2], config, "corner")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4
    axes = np.array(fig.axes).reshape(3, 3)
    assert (
        axes[1, 0].get_visible() and not axes[2, 0].get_visible() and not axes[2, 1].get_visible()
    )
    assert [axes[1, 0].get_xlabel(), axes[1, 1].get_xlabel(), axes[2, 2].get_xlabel()] == [
        "a",
        "b",
        "c",
    ]
    assert axes[1, 0].get_ylabel() == "b" and axes[0, 0].get_xlabel() == ""


# ------------------------------------------------------------------ every figure of a run


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A small toy_line run, 2 rounds, trained and validated (HPD limits only): the context the
    figures of a run take."""
    tree = validated_toy_run(
        tmp_path_factory.mktemp("figures"),
        n_sim_train="600",
        n_prior_samples="5_000",
        max_epochs="5",
        n_sim_coverage="60",
        n_sim_explim="10",
        DRP_coverage_parameters="1000, 60, 0, 0, 1",
        limit_method="hpd",
    )
    return RunContext(tree)


def labels(fig) -> list[tuple[str, str, str]]:
    """(x label, y label, title) of every visible panel."""
    return [(a.get_xlabel(), a.get_ylabel(), a.get_title()) for a in fig.axes if a.get_visible()]


def test_mock_observation(small_run):
    fig = plots.mock_observation(small_run)
    assert labels(fig) == [("x", "y", "")]  # a toy's curve: x and y have no unit


def test_posteriors_1d(small_run):
    fig = plots.posteriors_1d(small_run)
    assert labels(fig) == [("a", "posterior density", ""), ("b", "posterior density", "")]
    assert "exact posterior" in fig.get_suptitle()  # toy_line with Gaussian noise


def test_posteriors_1d_zoomed(small_run):
    fig = plots.posteriors_1d_zoomed(small_run)
    assert [x for x, _, _ in labels(fig)] == ["a", "b"]


def test_posteriors_2d(small_run):
    fig = plots.posteriors_2d(small_run)
    assert labels(fig) == [("a", "b", "round 0"), ("a", "b", "round 1")]
    assert "68 %, 95 %" in fig.get_suptitle()


def test_corner(small_run):
    fig = plots.corner(small_run)
    assert labels(fig) == [("", "", ""), ("a", "b", ""), ("b", "", "")]
    assert fig.get_suptitle().startswith("Round 1")


def test_training_curves(small_run):
    fig = plots.training_curves(small_run)
    assert labels(fig) == [("step", "loss", "round 0"), ("step", "loss", "round 1")]


def test_coverage_zz(small_run):
    fig = plots.coverage_zz(small_run)
    panels = labels(fig)
    assert [t for _, _, t in panels] == [
        f"{m}: {k}" for m in ("a", "b", "a-b") for k in ("z–z", "p–p")
    ]
    assert set(panels[1][:2]) == {"nominal credibility", "empirical coverage"}
    assert "60 coverage simulations never trained on" in fig.get_suptitle()


def test_tarp(small_run):
    fig = plots.tarp(small_run)
    assert labels(fig) == [("credibility α", "expected coverage", m) for m in ("a", "b", "a-b")]


def test_expected_limits(small_run):
    fig = plots.expected_limits(small_run)
    assert labels(fig) == [("a", "b", f"excluded at {level} % credibility") for level in (68, 95)]
    assert "over 10 mock observations" in fig.get_suptitle()


def test_false_exclusions(small_run):
    fig = plots.false_exclusions(small_run)
    maps = [panel for panel in labels(fig) if panel[2]]
    assert maps == [("a", "b", f"false exclusions at {level} %") for level in (68, 95)]
    assert [y for x, y, t in labels(fig) if not t] == [
        "fraction of observations"
    ] * 2  # colour bars


def test_the_figures_a_run_has_nothing_for_are_none(small_run):
    """No extra observations, a mock observation, no frequentist or classical limits."""
    assert plots.extra_observations(small_run) is None
    assert plots.observed_spectrum(small_run) is None
    assert plots.limit_coverage(small_run) is None
    assert plots.classical_comparison(small_run) is None


# ------------------------------------------------------------- from results in memory


def test_coverage_figures_of_a_result_in_memory(small_run):
    """A calibrated result made in memory (uniform HPD masses and TARP fractions): the z-z and
    p-p curves lie on the diagonal within their bands, and the figures draw it, not the run's."""
    rng = np.random.default_rng(0)
    result = CoverageResult.from_statistics(
        ["a"],
        ["random"],
        rng.uniform(size=(1, 400)),
        rng.uniform(size=(1, 1, 400)),
        rng.uniform(size=(1, 400)),
    )
    inside = result.hpd["low"] - 0.05 <= result.hpd["nominal"]
    assert inside.all() and (result.hpd["nominal"] <= result.hpd["high"] + 0.05).all()
    fig = plots.coverage_zz(small_run, result=result)
    assert [t for _, _, t in labels(fig)] == ["a: z–z", "a: p–p"]
    assert "400 coverage simulations" in fig.get_suptitle()
    assert labels(plots.tarp(small_run, result=result)) == [
        ("credibility α", "expected coverage", "a")
    ]


def test_limit_coverage_of_a_result_in_memory(small_run):
    """Coverage maps made in memory: one column per method, one row per level, each titled with
    its overall coverage; saved and loaded, the result is the same."""
    limits = LimitResult.load(small_run.tree, 0)
    levels, n = np.array([0.68, 0.95]), 50
    shape = (1, 2, limits.edges_x.shape[1] - 1, limits.edges_y.shape[1] - 1)
    covered = np.zeros((1, 2, n), bool)
    covered[0, 0, :34], covered[0, 1, :48] = True, True
    maps = {
        m: {
            "smooth": np.broadcast_to(levels[None, :, None, None], shape).copy(),
            "sigma": np.full(shape, 0.02),
            "binned": np.zeros((1, 2, 5, 5)),
            "binned_low": np.zeros((1, 2, 5, 5)),
            "binned_high": np.ones((1, 2, 5, 5)),
            "binned_n": np.ones((1, 2, 5, 5)),
            "covered": covered,
        }
        for m in ("frequentist", "hpd")
    }
    result = LimitCoverageResult(
        levels, ("frequentist", "hpd"), limits.edges_x, limits.edges_y, np.zeros((1, n, 2)), maps
    )
    fig = plots.limit_coverage(small_run, result=result)
    titles = [t for _, _, t in labels(fig) if t]
    assert titles == [
        "Neyman (frequentist), 68 %: 0.680 overall",
        "HPD (Bayesian), 68 %: 0.680 overall",
        "Neyman (frequentist), 95 %: 0.960 overall",
        "HPD (Bayesian), 95 %: 0.960 overall",
    ]
    assert "50 simulations never trained on" in fig.get_suptitle()
    # saved and read back, it is the same result
    result.save(small_run.tree, 7)
    again = LimitCoverageResult.load(small_run.tree, 7)
    assert again.methods == result.methods and np.array_equal(again.maps["hpd"]["covered"], covered)
    LimitCoverageResult.path(small_run.tree, 7).unlink()


def test_the_stage_and_the_report_draw_the_same_figures(small_run):
    """The figures of each diagnostic come from its saved results: the ones the stage saved as
    files, and none where it computed nothing."""
    from alpswyft.diagnostics import DIAGNOSTICS

    drawn = {d.name: set(d.figures(small_run, 0)) for d in DIAGNOSTICS}
    assert drawn == {
        "coverage": {"coverage_zz", "tarp"},
        "expected_limits": {"expected_limits", "false_exclusions"},
        "frequentist": set(),
        "classical": set(),
    }
    for names in drawn.values():
        for name in names:
            assert (small_run.tree.val_output / f"{name}_gridpoint_0.png").is_file()
