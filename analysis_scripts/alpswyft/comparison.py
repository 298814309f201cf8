"""Two runs compared on the same mock observations: their expected limits, the false exclusions
of one against the other, and their posteriors overlaid (e.g. informed against agnostic priors,
or two networks).

>>> comparison = alpswyft.compare_runs("analysis_results/informed", "analysis_results/agnostic")
>>> print(comparison); comparison.plot(); comparison.plot_posteriors()
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alpswyft import plots
from alpswyft.inference import PlanePosteriors
from alpswyft.limits import ExclusionCounter, percent, plane_edges
from alpswyft.workbench import Run, open_run
from analysis_core.errors import ConfigError, PipelineError


def compare_runs(
    a: Run | str | Path,
    b: Run | str | Path,
    grid_point: int | None = None,
    levels=None,
    n: int = 100,
    seed: int = 0,
) -> Comparison:
    """Two runs' expected limits on the same mock observations: run ``a``'s expected-limit
    simulations (or, if it has none, ``n`` observations simulated with ``a``'s simulator at its
    Obs. values, seeded by ``seed``), inferred with each run's last-round network on the grid of
    ``a``'s prediction planes at ``levels`` (default: ``a``'s ``credibility_levels``). E.g.
    informed against agnostic priors, or two networks. The planes must hold the same parameters.
    """
    a, b = (run if isinstance(run, Run) else open_run(run) for run in (a, b))
    names_a, names_b = (_plane_names(run) for run in (a, b))
    if names_a != names_b:
        raise ConfigError(
            "prediction_pairs",
            f"{names_a} and {names_b}",
            "the two runs' planes must hold the same parameters",
        )
    if not names_a:
        raise ConfigError("prediction_pairs", "", "the runs have no prediction planes to compare")
    levels = tuple(levels or a.config.validation.credibility_levels)
    observations = _comparison_observations(a, b, n, seed)
    edges = plane_edges(a.config)
    counters, planes = {}, {}
    for key, run in (("a", a), ("b", b)):
        g = run.grid_point_of(grid_point)
        r = run.round_of(None, g)
        box = run.record.bounds(g, r) if run.record is not None else run.config.table.initial_bounds
        counters[key] = [ExclusionCounter(x, y, levels) for x, y in edges]
        nodes = {k: observations[k] for k in run.sim.simulator.observed_nodes}
        planes[key] = PlanePosteriors(run.config, run.network(r, g), nodes, box, counters[key])
    n_obs = len(observations["data"])
    for s in range(n_obs):
        excluded_a, excluded_b = planes["a"].excluded(s), planes["b"].excluded(s)
        for counter, mine, other in zip(counters["a"], excluded_a, excluded_b):
            counter.add(mine, other)
        for counter, mine, other in zip(counters["b"], excluded_b, excluded_a):
            counter.add(mine, other)
    return Comparison(a, b, names_a, levels, counters["a"], counters["b"], n_obs)


def _plane_names(run: Run) -> list[tuple[str, str]]:
    names = run.config.poi_names
    return [(names[i], names[j]) for i, j in run.config.validation.prediction_pairs]


def _comparison_observations(a: Run, b: Run, n: int, seed: int) -> dict[str, np.ndarray]:
    """The mock observations both runs are inferred on, with every node either network reads."""
    wanted = sorted(set(a.sim.simulator.observed_nodes) | set(b.sim.simulator.observed_nodes))
    try:
        store = a.store("explim")
        observations = {key: store[key] for key in ("params", *a.sim.simulator.observed_nodes)}
    except PipelineError:
        rng = np.random.default_rng(seed)
        theta = a.config.table.physical(np.tile(a.config.table.obs, (n, 1)))
        observations = dict(a.sim.observe(theta, rng=rng).nodes)
    missing = [key for key in wanted if key not in observations]
    if missing and hasattr(b.sim.model, "features"):
        observations.update(b.sim.model.features(np.asarray(observations["data"], float)))
    for key in wanted:
        shape_b = tuple(b.sim.simulator.shapes[key]) if key in b.sim.simulator.shapes else None
        if key not in observations or (
            shape_b is not None and np.shape(observations[key])[1:] != shape_b
        ):
            raise ConfigError(
                "b",
                str(b.path),
                f"its network reads {key!r} of shape {shape_b}, which run a's "
                "observations do not have: the two runs must observe the same spectrum (nbins, model)",
            )
    return observations


class Comparison:
    """Two runs' expected limits on the same observations (:func:`compare_runs`): ``fraction_a``,
    ``fraction_b`` (n_planes, n_levels, nx, ny) of observations excluding each cell, and the false
    exclusions ``false_b`` (cells ``b`` excludes and ``a`` does not) and ``false_a``."""

    def __init__(self, a: Run, b: Run, planes, levels, counters_a, counters_b, n: int):
        self.a, self.b, self.planes, self.levels, self.n = a, b, planes, levels, n
        self.edges = [(c.edges_x, c.edges_y) for c in counters_a]
        self.fraction_a = np.array([c.fraction for c in counters_a])
        self.fraction_b = np.array([c.fraction for c in counters_b])
        self.false_a = np.array([c.false_fraction for c in counters_a])
        self.false_b = np.array([c.false_fraction for c in counters_b])
        self.area_a = np.array([np.median(np.array(c.areas), axis=0) for c in counters_a])
        self.area_b = np.array([np.median(np.array(c.areas), axis=0) for c in counters_b])

    def __repr__(self) -> str:

        lines = [f"Comparison of {self.n} mock observations: a = {self.a.path}, b = {self.b.path}"]
        for p, (x, y) in enumerate(self.planes):
            for k, level in enumerate(self.levels):
                lines.append(
                    f"  {x}-{y} at {percent(level)}: median excluded area a {self.area_a[p, k]:.3f}, "
                    f"b {self.area_b[p, k]:.3f}; b excludes where a does not in up to {self.false_b[p, k].max():.0%} "
                    f"of the observations, a where b does not in up to {self.false_a[p, k].max():.0%}"
                )
        return "\n".join(lines)

    def plot(self, labels=("a", "b")):
        """The two median expected limits per plane and level over the published limits (top row),
        and the false exclusions of b against a (bottom row). Returns the figure."""
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D

        config = self.a.config
        n_planes, n_levels = len(self.planes), len(self.levels)
        fig, axes = plt.subplots(
            2 * n_planes, n_levels, figsize=(5.2 * n_levels, 8.8 * n_planes), squeeze=False
        )
        for p, (i, j) in enumerate(config.validation.prediction_pairs):
            ex, ey = self.edges[p]
            xc, yc = 0.5 * (ex[1:] + ex[:-1]), 0.5 * (ey[1:] + ey[:-1])
            fi, fj = config.physics.POI_indices[i], config.physics.POI_indices[j]
            for k, level in enumerate(self.levels):
                top, bottom = axes[2 * p][k], axes[2 * p + 1][k]
                for fraction, color, style in (
                    (self.fraction_a, "k", "-"),
                    (self.fraction_b, "C3", "--"),
                ):
                    if fraction[p, k].max() >= 0.5:
                        top.contour(
                            xc,
                            yc,
                            fraction[p, k].T,
                            levels=[0.5],
                            colors=color,
                            linestyles=style,
                            linewidths=1.8,
                        )
                top.set_xlim(ex[0], ex[-1])
                top.set_ylim(ey[0], ey[-1])
                handles = [
                    Line2D([], [], color="k", lw=1.8, label=f"median expected limit, {labels[0]}"),
                    Line2D(
                        [],
                        [],
                        color="C3",
                        lw=1.8,
                        ls="--",
                        label=f"median expected limit, {labels[1]}",
                    ),
                ]
                if plots.published_overlay(top, config, fi, fj):
                    handles += top.get_legend_handles_labels()[0]
                top.legend(handles=handles, fontsize=7, loc="lower left")
                top.set_title(f"excluded at {percent(level)}")
                mesh = bottom.pcolormesh(
                    ex,
                    ey,
                    self.false_b[p, k].T,
                    cmap="Reds",
                    vmin=0,
                    vmax=max(0.05, float(self.false_b[p].max())),
                )
                fig.colorbar(mesh, ax=bottom, label="fraction of observations")
                bottom.set_title(f"{labels[1]} excludes, {labels[0]} does not ({percent(level)})")
                for ax in (top, bottom):
                    ax.set_xlabel(plots.axis_label(config, fi))
                    ax.set_ylabel(plots.axis_label(config, fj))
        fig.suptitle(f"Two runs on the same {self.n} mock observations")
        fig.tight_layout()
        return fig

    def plot_posteriors(self, observation=None, labels=("a", "b")):
        """One observation (default: run a's mock observation) inferred with both runs' last-round
        networks: their 1D marginals overlaid (the POIs both runs infer). Returns the figure."""
        common = [name for name in self.a.config.poi_names if name in self.b.config.poi_names]
        if not common:
            raise ConfigError("POI_indices", "", "the two runs infer no parameter in common")
        observation = self.a.observation if observation is None else observation
        post_a, post_b = self.a.infer(observation), self.b.infer(observation)
        fig = post_a.plot_1d(color="k", label=labels[0])
        axes = {name: ax for name, ax in zip(post_a.names, fig.axes)}
        binned = post_b.densities()
        for k, name in enumerate(post_b.names):
            if name in axes:
                centres = 0.5 * (binned["edges_1d"][k][1:] + binned["edges_1d"][k][:-1])
                axes[name].plot(
                    centres, binned["density_1d"][k], color="C3", ls="--", label=labels[1]
                )
        fig.axes[0].legend(fontsize=8)
        return fig
