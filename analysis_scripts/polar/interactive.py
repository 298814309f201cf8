"""Light curves as plotly figures for the HTML report: they zoom, pan and show values on hover in
any browser, without a kernel (the plotly.js library is embedded once, in the first figure)."""

from __future__ import annotations

import numpy as np

from polar.data import target_labels, target_names
from polar.intervals import pulls


def _figure(n_rows: int, titles: list[str], height: int):
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=n_rows, cols=1, shared_xaxes=True, vertical_spacing=0.04, subplot_titles=titles
    )
    fig.update_layout(
        height=height,
        margin={"l": 60, "r": 20, "t": 90, "b": 40},
        template="plotly_white",
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


def light_curve(
    predictions: dict,
    cores: list[dict],
    centre: float,
    half_width: float,
    k: float,
    channels=(0, 1, 6, 12),
    title: str = "",
):
    """Measured value with its error, prediction and the rows beyond ``k`` sigma (red) of a few
    targets by name (``channels``; the first target if none is one), ``half_width`` s around
    ``centre`` (unix s); time in s from the centre."""
    import plotly.graph_objects as go

    t = predictions["unix_time"]
    window = np.abs(t - centre) <= half_width
    names, labels = target_names(predictions), target_labels(predictions)
    shown = [names.index(str(c)) for c in channels if str(c) in names] or [0]
    fig = _figure(len(shown), [labels[j] for j in shown], 220 * len(shown) + 90)
    x = t[window] - centre
    for row, j in enumerate(shown, start=1):
        rate, err, predicted = (
            predictions[key][window, j] for key in ("rate", "rate_err", "predicted")
        )
        z = (pulls(rate, predicted, err) - cores[j]["mu"]) / cores[j]["sigma"]
        first = row == 1
        fig.add_trace(
            go.Scatter(
                x=x,
                y=rate,
                mode="markers",
                marker={"size": 3, "color": "#666"},
                error_y={"array": err, "thickness": 0.5, "width": 0},
                name="measured",
                legendgroup="measured",
                showlegend=first,
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=predicted,
                mode="lines",
                line={"color": "#1f77b4", "width": 1.5},
                name="predicted",
                legendgroup="predicted",
                showlegend=first,
            ),
            row=row,
            col=1,
        )
        flagged = np.abs(z) > k
        fig.add_trace(
            go.Scatter(
                x=x[flagged],
                y=rate[flagged],
                mode="markers",
                marker={"size": 5, "color": "#d62728"},
                name=f"beyond {k:g} sigma",
                legendgroup="flagged",
                showlegend=first,
                customdata=z[flagged],
                hovertemplate="%{x:.0f} s: %{y:.1f} Hz, %{customdata:+.1f} sigma",
            ),
            row=row,
            col=1,
        )
        fig.add_vline(x=0, line={"dash": "dash", "width": 1, "color": "black"}, row=row, col=1)
    fig.update_xaxes(title_text="time from the event (s)", row=len(shown), col=1)
    fig.update_layout(title={"text": title, "font": {"size": 13}})
    return fig


def overview(predictions: dict, j: int = 0, bin_s: float = 60.0, max_gap_s: float = 1.5):
    """The whole run of target ``j``: measured and predicted rate averaged over ``bin_s`` s
    (gaps left empty), in hours from the first row."""
    import plotly.graph_objects as go

    t = predictions["unix_time"]
    bins = np.floor((t - t[0]) / bin_s).astype(np.int64)
    edges = np.flatnonzero(np.diff(bins)) + 1
    starts = np.concatenate([[0], edges])
    counts = np.diff(np.concatenate([starts, [len(t)]]))
    mean = {
        key: np.add.reduceat(predictions[key][:, j], starts) / counts
        for key in ("rate", "predicted")
    }
    hours = (bins[starts] * bin_s + 0.5 * bin_s) / 3600
    gap = np.diff(t[starts], prepend=t[0]) > bin_s + max_gap_s
    hours = np.where(gap, np.nan, hours)  # plotly breaks the lines at NaN
    fig = _figure(1, [f"{target_labels(predictions)[j]} in {bin_s:g} s bins"], 360)
    fig.add_trace(
        go.Scatter(
            x=hours,
            y=mean["rate"],
            mode="lines",
            line={"color": "#666", "width": 1},
            name="measured",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=hours,
            y=mean["predicted"],
            mode="lines",
            line={"color": "#1f77b4", "width": 1},
            name="predicted",
        )
    )
    fig.update_xaxes(title_text="hours from the first row")
    return fig


def to_html(fig, first: bool) -> str:
    """The figure as an HTML fragment; ``first`` embeds plotly.js (once per page is enough)."""
    import plotly.io as pio

    return pio.to_html(
        fig, full_html=False, include_plotlyjs=bool(first), config={"displaylogo": False}
    )
