"""Vetting intervals by eye, as the original's users did, in the report notebook (ipywidgets).

:class:`Explorer` holds a run's predictions and pull cores and recomputes clusters, intersections
and combination intervals for any threshold k and gap veto ``discard_w`` (seconds), so that its
widgets answer at once:

- :meth:`Explorer.pulls`: a target's pull against time with its histogram, the +-k sigma lines
  and the flagged rows in red; sliders for k;
- :meth:`Explorer.predictions`: a target's prediction against its measured value over the
  validation rows, whole and zoomed (the original's visualizer);
- :meth:`Explorer.grbs`: the grid of the known GRBs in the data (light curve, prediction, trigger
  line, flagged rows), or of their pulls; sliders for the window and k;
- :meth:`Explorer.clusters`: the length-integral scatter of one target's clusters; the chosen
  cluster is circled and its light curve, prediction and pulls are drawn (k, window, sign,
  discard_w);
- :meth:`Explorer.combinations`: the same for the intervals of an exact channel combination or a
  "more than i channels" level.

Every view is also a plain function returning a matplotlib figure (``*_figure``), which the
widgets redraw and which can be called, saved or tested without a kernel. Executed without a
front end (papermill) the widgets are built and drawn once; opened in Jupyter they respond.
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from polar import plots
from polar.data import target_labels, target_names
from polar.intervals import Core, find, more_than, pulls


class Explorer:
    """The interactive views of one run: ``predictions`` (predictions.npz), ``intervals``
    (intervals.json), the run's ``config`` and the known ``grbs`` [(name, unix time)]."""

    def __init__(self, predictions: dict, intervals: dict, config, grbs: list[tuple[str, float]]):
        self.p = predictions
        self.t = predictions["unix_time"]
        self.targets, self.labels = target_names(predictions), target_labels(predictions)
        self.pull = pulls(predictions["rate"], predictions["predicted"], predictions["rate_err"])
        self.cores = [Core(c["mu"], c["sigma"]) for c in intervals["cores"]]
        #: (pull - mu) / sigma per row and target
        self.z = (self.pull - np.array([c.mu for c in self.cores])) / np.array(
            [c.sigma for c in self.cores]
        )
        self.settings = config.intervals
        self.k = max(self.settings.thresholds)
        self.window_s = config.report.window_s
        self.known_grbs = [(name, t) for name, t in grbs if np.any(np.abs(self.t - t) <= 1.5)]
        self._find = lru_cache(maxsize=32)(self._search)

    # -- the search at any setting ------------------------------------------------------------

    def _search(self, k: float, discard_w: float):
        return find(
            self.t,
            self.pull,
            self.cores,
            self.targets,
            k,
            self.settings.min_channels,
            self.settings.max_gap_s,
            self.p["rate"],
            discard_w,
        )

    def clusters_at(self, k: float, discard_w: float, target: str, sign: int) -> list:
        """The clusters of the target named ``target`` and ``sign`` at threshold ``k`` and gap veto
        ``discard_w`` (s), largest integral first."""
        clusters = [
            c
            for c in self._find(float(k), float(discard_w))[0]
            if c.channel == target and c.sign == sign
        ]
        return sorted(clusters, key=lambda c: -c.integral)

    def combinations_at(self, k: float, discard_w: float, sign: int) -> dict[str, list]:
        """The combination intervals of ``sign`` by name (exact sets, then "more than i"), longest first."""
        named: dict[str, list] = {}
        for c in self._find(float(k), float(discard_w))[2]:
            if c.sign == sign:
                named.setdefault(c.combination, []).append(c)
        order = sorted(
            (n for n in named if not n.startswith("#")), key=lambda n: (-len(named[n]), n)
        )
        order += [more_than(i) for i in range(len(self.targets)) if more_than(i) in named]
        return {name: sorted(named[name], key=lambda c: -c.n_bins) for name in order}

    # -- figures ------------------------------------------------------------------------------

    def pull_figure(self, j: int = 0, k: float | None = None):
        """Pull of target ``j`` against time, +-k sigma about the fitted mean, flagged rows in red,
        and the histogram at the side."""
        k = self.k if k is None else k
        core, pull, hours = self.cores[j], self.pull[:, j], (self.t - self.t[0]) / 3600
        flagged = np.abs(self.z[:, j]) > k
        fig, (ax, side) = plt.subplots(
            1, 2, figsize=(11, 3.2), sharey=True, gridspec_kw={"width_ratios": [5, 1]}
        )
        ax.plot(hours[~flagged], pull[~flagged], ",", color="0.35", rasterized=True)
        ax.plot(
            hours[flagged],
            pull[flagged],
            ".",
            ms=3,
            color="C3",
            label=f"{flagged.sum()} rows beyond {k:g} sigma",
        )
        limit = min(
            max(12.0, (k + 1) * core.sigma),
            np.nanmax(np.abs(pull)) if np.isfinite(pull).any() else 12.0,
        )
        for level in (core.mu - k * core.sigma, core.mu + k * core.sigma):
            ax.axhline(level, color="C3", lw=0.8)
            side.axhline(level, color="C3", lw=0.8)
        side.hist(
            np.clip(pull, -limit, limit), bins=120, orientation="horizontal", color="0.6", log=True
        )
        ax.set(
            xlabel="hours from the first row",
            ylabel=f"pull of {self.labels[j]}",
            ylim=(-limit, limit),
            title=f"{self.labels[j]}: +-{k:g} sigma about mu {core.mu:+.2f}",
        )
        ax.legend(loc="upper right", fontsize=8)
        side.set(xlabel="rows", xlim=(0.5, None))
        fig.tight_layout()
        return fig

    def window_axes(
        self,
        axes,
        centre: float,
        half_width: float,
        j: int,
        k: float,
        title: str = "",
        span: tuple[float, float] | None = None,
    ):
        """Light curve and prediction of target ``j`` (axes[0]) and its pull (axes[1], if given)
        around ``centre``, flagged rows in red, the centre as a dashed line and ``span`` shaded."""
        window = np.abs(self.t - centre) <= half_width
        x = self.t[window] - centre
        flagged = np.abs(self.z[window, j]) > k
        rate, predicted = self.p["rate"][window, j], self.p["predicted"][window, j]
        ax = axes[0]
        ax.plot(x, rate, ".", ms=2, color="0.4")
        ax.plot(x[flagged], rate[flagged], ".", ms=3, color="C3")
        ax.plot(x, predicted, color="C0", lw=1)
        ax.set_title(title, fontsize=7)
        for a in axes:
            a.axvline(0, color="k", ls="--", lw=0.6)
            if span is not None:
                a.axvspan(span[0] - centre, span[1] - centre, color="C1", alpha=0.15, lw=0)
        if len(axes) > 1:
            core = self.cores[j]
            axes[1].plot(x, self.pull[window, j], ".", ms=2, color="0.4")
            axes[1].plot(x[flagged], self.pull[window, j][flagged], ".", ms=3, color="C3")
            for level in (core.mu - k * core.sigma, core.mu + k * core.sigma):
                axes[1].axhline(level, color="C3", lw=0.6)

    def grb_figure(
        self,
        window_s: float | None = None,
        k: float | None = None,
        j: int = 0,
        quantity: str = "rate",
    ):
        """The known GRBs in the data on a grid of up to 5 x 5: ``quantity`` "rate" (measured,
        predicted, flagged rows) or "pull" of target ``j``, ``window_s`` seconds around each trigger."""
        window_s, k = window_s or self.window_s, self.k if k is None else k
        shown = self.known_grbs[:25]
        cols = min(5, max(1, len(shown)))
        rows = max(1, -(-len(shown) // cols))
        fig, axes = plt.subplots(
            rows, cols, figsize=(max(2.6 * cols, 6.5), 2.0 * rows + 0.7), squeeze=False
        )
        for ax, (name, trigger) in zip(axes.flat, shown):
            if quantity == "pull":
                window = np.abs(self.t - trigger) <= window_s / 2
                flagged = np.abs(self.z[window, j]) > k
                ax.plot(self.t[window] - trigger, self.pull[window, j], ".", ms=2, color="0.4")
                ax.plot(
                    (self.t[window] - trigger)[flagged],
                    self.pull[window, j][flagged],
                    ".",
                    ms=3,
                    color="C3",
                )
                ax.axvline(0, color="k", ls="--", lw=0.6)
                ax.set_title(name, fontsize=7)
            else:
                self.window_axes([ax], trigger, window_s / 2, j, k, name)
            ax.tick_params(labelsize=6)
        for ax in list(axes.flat)[len(shown) :]:
            ax.axis("off")
        if not shown:
            axes[0, 0].text(0.5, 0.5, "no known GRB in the data", ha="center", va="center")
        what = (
            f"pull of {self.labels[j]}"
            if quantity == "pull"
            else f"{self.labels[j]} (grey), its prediction (blue)"
        )
        fig.suptitle(
            f"known GRBs: {what}\n{window_s:g} s windows, red: beyond {k:g} sigma", fontsize=9
        )
        fig.tight_layout()
        return fig

    def interval_figure(
        self, intervals: list, chosen: int, window_s: float, k: float, j: int, title: str
    ):
        """Length-integral (or length-rows) scatter of ``intervals`` with the ``chosen`` one
        circled, and its light curve, prediction and pulls of target ``j`` around it."""
        fig = plt.figure(figsize=(11, 4.2))
        scatter = fig.add_subplot(1, 3, 1)
        curve, pull = fig.add_subplot(2, 3, (2, 3)), fig.add_subplot(2, 3, (5, 6))
        if not intervals:
            scatter.text(
                0.5,
                0.5,
                "none at these settings",
                ha="center",
                va="center",
                transform=scatter.transAxes,
            )
            fig.tight_layout()
            return fig
        lengths = np.array([c.t_stop - c.t_start for c in intervals])
        sizes = np.array([getattr(c, "integral", c.n_bins) for c in intervals], dtype=float)
        scatter.scatter(lengths, sizes, s=8, color="0.4")
        scatter.scatter(
            lengths[chosen], sizes[chosen], s=80, facecolors="none", edgecolors="C3", lw=1.5
        )
        scatter.set_xscale("symlog", linthresh=1)
        if sizes.min() > 0:
            scatter.set_yscale("log")
        scatter.set(
            xlabel="length (s)",
            ylabel="integral (Hz)" if hasattr(intervals[0], "integral") else "rows",
            title=f"{len(intervals)} {title}",
        )
        c = intervals[chosen]
        centre = 0.5 * (c.t_start + c.t_stop)
        self.window_axes(
            [curve, pull],
            centre,
            max(window_s, c.t_stop - c.t_start) / 2,
            j,
            k,
            f"#{chosen}: {c.t_start:.0f} - {c.t_stop:.0f} ({c.t_stop - c.t_start:.0f} s)",
            (c.t_start, c.t_stop),
        )
        curve.set_ylabel(self.labels[j])
        pull.set(ylabel="pull", xlabel="time from the centre (s)")
        fig.tight_layout()
        return fig

    # -- widgets ------------------------------------------------------------------------------

    def _sliders(self, window: bool = True, veto: bool = False) -> dict:
        out = {
            "k": widgets.FloatSlider(value=self.k, min=1, max=10, step=0.5, description="k (sigma)")
        }
        if window:
            out["window_s"] = widgets.FloatSlider(
                value=self.window_s,
                min=10,
                max=max(2000, self.window_s),
                step=10,
                description="window (s)",
            )
        if veto:
            out["discard_w"] = widgets.FloatSlider(
                value=self.settings.discard_w, min=0, max=300, step=5, description="discard_w (s)"
            )
            out["sign"] = widgets.ToggleButtons(
                options=[("excess", 1), ("deficit", -1)], value=1, description="sign"
            )
        return out

    def _target(self, description: str = "target"):
        return widgets.Dropdown(
            options=[(label, j) for j, label in enumerate(self.labels)],
            value=0,
            description=description,
        )

    @staticmethod
    def _panel(controls: dict, draw):
        """Controls above an output area that ``draw(**values)`` fills; drawn once now."""
        out = widgets.Output()

        def current():
            return draw(**{name: c.value for name, c in controls.items()})

        def redraw(_=None):
            out.clear_output(wait=True)
            with out:
                fig = current()
                display(fig)
                plt.close(fig)

        for c in controls.values():
            c.observe(redraw, names="value")
        redraw()
        return Panel(
            [
                widgets.HBox(list(controls.values())[:3]),
                widgets.HBox(list(controls.values())[3:]),
                out,
            ],
            current,
        )

    def pulls(self):
        controls = {"j": self._target(), **self._sliders(window=False)}
        return self._panel(controls, self.pull_figure)

    def predictions(self):
        """Each target's prediction against its measured value over the validation rows (the
        training rows behind), whole and in four zooms."""
        return self._panel({"j": self._target()}, lambda j: plots.prediction_vs_target(self.p, j))

    def grbs(self):
        controls = {
            **self._sliders(),
            "j": self._target(),
            "quantity": widgets.ToggleButtons(
                options=["rate", "pull"], value="rate", description="show"
            ),
        }
        return self._panel(controls, self.grb_figure)

    def clusters(self):
        controls = {
            **self._sliders(veto=True),
            "j": self._target("channel"),
            "chosen": widgets.Dropdown(description="cluster"),
        }

        def refresh(_=None):  # the choice lists the clusters at the current settings
            found = self.clusters_at(
                controls["k"].value,
                controls["discard_w"].value,
                self.targets[controls["j"].value],
                controls["sign"].value,
            )
            _offer(
                controls["chosen"],
                [(f"#{i}: {c.length_s:.0f} s, {c.integral:.3g} Hz", i) for i, c in enumerate(found)]
                or [("none", 0)],
            )

        for name in ("k", "discard_w", "j", "sign"):
            controls[name].observe(refresh, names="value")
        refresh()

        def draw(k, window_s, discard_w, sign, j, chosen):
            found = self.clusters_at(k, discard_w, self.targets[j], sign)
            return self.interval_figure(
                found,
                min(chosen or 0, max(len(found) - 1, 0)),
                window_s,
                k,
                j,
                f"{'excess' if sign > 0 else 'deficit'} clusters of {self.labels[j]}",
            )

        return self._panel(controls, draw)

    def combinations(self):
        controls = {
            **self._sliders(veto=True),
            "combination": widgets.Dropdown(description="channels"),
            "chosen": widgets.Dropdown(description="interval"),
            "j": self._target("drawn"),
        }

        def refresh_names(_=None):
            named = self.combinations_at(
                controls["k"].value, controls["discard_w"].value, controls["sign"].value
            )
            options = [
                (f"more than {n.rsplit('_', 1)[1]}" if n.startswith("#") else n, n) for n in named
            ]
            _offer(
                controls["combination"],
                [(f"{label} ({len(named[n])})", n) for label, n in options] or [("none", "")],
            )
            refresh_intervals()

        def refresh_intervals(_=None):
            named = self.combinations_at(
                controls["k"].value, controls["discard_w"].value, controls["sign"].value
            )
            combination = controls["combination"].value
            found = named.get(combination, [])
            if combination and not combination.startswith("#"):  # draw a channel of the combination
                controls["j"].value = self.targets.index(combination.split("_")[0])
            _offer(
                controls["chosen"],
                [
                    (f"#{i}: {c.t_stop - c.t_start:.0f} s, {c.n_bins} rows", i)
                    for i, c in enumerate(found)
                ]
                or [("none", 0)],
            )

        for name in ("k", "discard_w", "sign"):
            controls[name].observe(refresh_names, names="value")
        controls["combination"].observe(refresh_intervals, names="value")
        refresh_names()

        def draw(k, window_s, discard_w, sign, combination, chosen, j):
            found = self.combinations_at(k, discard_w, sign).get(combination, [])
            return self.interval_figure(
                found,
                min(chosen or 0, max(len(found) - 1, 0)),
                window_s,
                k,
                j,
                f"intervals of {combination or 'no combination'}",
            )

        return self._panel(controls, draw)


def _offer(dropdown, options: list[tuple[str, object]]) -> None:
    """New choices for ``dropdown``, keeping its value where it is still offered, else the first."""
    keep = dropdown.value if dropdown.value in [value for _, value in options] else options[0][1]
    dropdown.options = options
    dropdown.value = keep


class Panel(widgets.VBox):
    """An explorer's widgets, and, for a page without a kernel (the HTML report), the figure they
    show first as a static image: ``analysis_core.notebooks.render_html`` keeps that one."""

    def __init__(self, children, current):
        super().__init__(children)
        self._current = current

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        fig = self._current()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        plt.close(fig)
        image = base64.b64encode(buffer.getvalue()).decode()
        bundle["text/html"] = (
            f'<img src="data:image/png;base64,{image}"/><p><em>The first view of these controls: '
            "open the notebook in Jupyter and run it to move them.</em></p>"
        )
        return bundle
