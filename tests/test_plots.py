"""Report figures: the corner plot of a network with a subset of the 2D marginals."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from conftest import toy_variables  # noqa: E402

from alpswyft import plots  # noqa: E402
from alpswyft.config import load_run_config  # noqa: E402


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
