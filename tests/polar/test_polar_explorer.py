"""The explorer's searches at any k and discard_w, its widgets, and the interactive light curves,
on a hand-made day with known excesses, one deficit and a gap."""

import matplotlib
import numpy as np
import pytest

from polar import config as polar_config
from polar import interactive
from polar.explorer import Explorer
from polar.intervals import more_than

matplotlib.use("Agg")
TARGETS = [0, 1, 2]
T0 = 1.5e9


def _predictions():
    """3000 one-second rows at 1000 Hz, rows 2000-2099 missing (a gap); excesses of 10 sigma in
    all channels at rows 1000-1009 and in channels 0 and 1 just before the gap (1995-1999); a
    deficit of 8 sigma in channel 2 at rows 500-504."""
    rng = np.random.default_rng(1)
    rows = np.r_[0:2000, 2100:3000]
    predicted = np.full((len(rows), 3), 1000.0)
    rate_err = np.sqrt(predicted)
    rate = predicted + rate_err * rng.normal(size=predicted.shape).clip(-3.5, 3.5)
    index = {row: i for i, row in enumerate(rows)}
    for first, last, channels, sigmas in (
        (1000, 1009, [0, 1, 2], 10),
        (1995, 1999, [0, 1], 10),
        (500, 504, [2], -8),
    ):
        for row in range(first, last + 1):
            rate[index[row], channels] = (
                predicted[index[row], channels] + sigmas * rate_err[index[row], channels]
            )
    return {
        "unix_time": T0 + rows.astype(float),
        "rate": rate,
        "rate_err": rate_err,
        "predicted": predicted,
        "targets": np.array([str(t) for t in TARGETS]),
        "part": np.full(len(rows), "val"),
        "grb_masked": np.zeros(len(rows), bool),
    }


@pytest.fixture(scope="module")
def explorer():
    config = polar_config.load(
        None,
        [
            "intervals.thresholds=[5]",
            "intervals.min_channels=1",
            "intervals.discard_w=30",
            "report.window_s=200",
        ],
    )
    intervals = {"cores": [{"channel": c, "mu": 0.0, "sigma": 1.0} for c in TARGETS]}
    return Explorer(
        _predictions(), intervals, config, [("GRB_A", T0 + 1004), ("GRB_elsewhere", T0 - 1e5)]
    )


def test_the_gap_veto_of_any_width_removes_the_cluster_at_the_gap(explorer):
    starts = lambda found: [c.t_start - T0 for c in found]  # noqa: E731
    assert starts(explorer.clusters_at(5, 0, "0", 1)) == [1000, 1995] or starts(
        explorer.clusters_at(5, 0, "0", 1)
    ) == [1995, 1000]
    assert starts(explorer.clusters_at(5, 30, "0", 1)) == [1000]
    assert starts(explorer.clusters_at(5, 3, "0", 1)) == [
        1000
    ]  # the gap starts one row after the cluster
    assert [c.integral for c in explorer.clusters_at(5, 30, "0", 1)] == pytest.approx(
        [10 * (1000 + 10 * np.sqrt(1000))]
    )
    assert (
        starts(explorer.clusters_at(5, 30, "2", -1)) == [500]
        and explorer.clusters_at(5, 30, "0", -1) == []
    )


def test_combinations_are_exact_channel_sets_then_more_than_levels(explorer):
    named = explorer.combinations_at(5, 30, 1)
    assert list(named) == ["0_1_2", more_than(0), more_than(1), more_than(2)]
    assert [c.n_bins for c in named["0_1_2"]] == [10]
    assert "0_1" in explorer.combinations_at(5, 0, 1)  # the excess at the gap, without the veto
    assert list(explorer.combinations_at(5, 30, -1)) == ["2", more_than(0)]
    assert explorer.combinations_at(9, 30, -1) == {}


def _controls(panel) -> dict:
    return {c.description: c for box in panel.children[:2] for c in box.children}


def test_the_cluster_explorer_lists_the_clusters_at_its_settings(explorer):
    panel = explorer.clusters()
    controls = _controls(panel)
    assert len(controls["cluster"].options) == 1
    controls["discard_w (s)"].value = 0
    assert len(controls["cluster"].options) == 2 and controls["cluster"].value == 0
    controls["sign"].value = -1
    assert controls["cluster"].options == (("none", 0),)
    controls["channel"].value = 2
    assert controls["cluster"].options[0][0].startswith("#0: 4 s")


def test_the_combination_explorer_follows_sign_and_k(explorer):
    controls = _controls(explorer.combinations())
    assert (
        controls["channels"].value == "0_1_2"
        and controls["interval"].options[0][0] == "#0: 9 s, 10 rows"
    )
    controls["sign"].value = -1
    assert (
        controls["channels"].value == "2" and controls["drawn"].value == 2
    )  # a channel of the combination
    controls["k (sigma)"].value = 9
    assert controls["channels"].options == (("none", ""),) and controls["interval"].options == (
        ("none", 0),
    )


def test_a_panel_has_a_static_image_for_a_page_without_kernel(explorer):
    bundle = explorer.pulls()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/html"].startswith('<img src="data:image/png;base64,')


def test_the_pull_figure_marks_the_rows_beyond_k(explorer):
    fig = explorer.pull_figure(0, 5)
    flagged = fig.axes[0].lines[1]
    assert len(flagged.get_xdata()) == 10 + 5 and flagged.get_label() == "15 rows beyond 5 sigma"
    assert (
        explorer.pull_figure(2, 7).axes[0].lines[1].get_label() == "15 rows beyond 7 sigma"
    )  # 10 up, 5 down
    assert explorer.pull_figure(2, 9).axes[0].lines[1].get_label() == "10 rows beyond 9 sigma"


def test_the_grb_grid_shows_the_known_grbs_in_the_data(explorer):
    assert [name for name, _ in explorer.known_grbs] == ["GRB_A"]
    fig = explorer.grb_figure(quantity="pull")
    assert fig.axes[0].get_title() == "GRB_A" and len(fig.axes[0].lines[1].get_xdata()) == 10
    fig = explorer.grb_figure(window_s=4, quantity="rate")  # rows 1002 - 1006
    assert len(fig.axes[0].lines[0].get_xdata()) == 5


def test_the_interactive_light_curve_marks_the_flagged_rows_and_embeds_plotly_once():
    predictions = _predictions()
    cores = [{"mu": 0.0, "sigma": 1.0}] * 3
    fig = interactive.light_curve(
        predictions, cores, T0 + 1004, 100, 5.0, channels=(0, 2), title="an excess"
    )
    flagged = [trace for trace in fig.data if trace.name == "beyond 5 sigma"]
    assert len(flagged) == 2 and [len(trace.x) for trace in flagged] == [10, 10]
    first, later = interactive.to_html(fig, first=True), interactive.to_html(fig, first=False)
    assert len(first) > 1_000_000 > 100_000 > len(later)  # plotly.js is in the first one only
    overview = interactive.overview(predictions, 0, bin_s=60)
    assert np.isnan(overview.data[0].x).sum() == 1  # the line breaks at the gap


def test_the_interactive_figures_render_in_a_browser_without_kernel(chromium, tmp_path):
    from browser import render

    predictions = _predictions()
    cores = [{"mu": 0.0, "sigma": 1.0}] * 3
    figures = [
        interactive.overview(predictions, 0),
        interactive.light_curve(predictions, cores, T0 + 1004, 100, 5.0),
    ]
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body>"
        + "".join(interactive.to_html(f, first=n == 0) for n, f in enumerate(figures))
        + "</body></html>"
    )
    dom = render(chromium, page, tmp_path / "page.png", height=1400)
    assert dom.count('class="main-svg"') >= 2 * len(figures)  # plotly drew every figure
    from PIL import Image

    pixels = np.asarray(Image.open(tmp_path / "page.png").convert("L"))
    assert pixels.shape == (1400, 1300) and (pixels < 128).mean() > 0.002  # not a blank page
