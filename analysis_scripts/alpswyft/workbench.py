"""A finished run as a workbench: its configuration, stores, simulator and trained networks, to
ask them new questions from a notebook.

>>> import alpswyft
>>> run = alpswyft.open_run("cluster_runs/analysis_results/alp_default")   # or an archive/trial__N folder
>>> run.config, run.rounds, run.sim          # the configuration, the truncation record's rounds, its ALPSim
>>> post = run.infer(run.sim.observe(m=10, g=3, seed=1))   # a NEW observation, the last round's network
>>> post.plot_1d(); post.plot_2d(); post.corner()
>>> run.store("training", round=0).params    # a store's parameters (table space: log10 where the table is)
>>> run.store("training").plot_params()
>>> run.sim.plot_spectra(run.store("training"), n=100, over=run.observation)
>>> run.confidence_set(run.sim.observe(m=30, g=0.5, seed=1)).plot()   # frequentist, the run's calibration

Nothing is written into the run folder: an archived trial is read as it is.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from pathlib import Path

import numpy as np

from alpswyft import classical as cl
from alpswyft import neyman, values
from alpswyft.limits import LimitResult, fractions_from_maps, percent
from alpswyft.neyman import METHOD_WORDS, METHODS
from alpswyft.run import RunContext
from alpswyft.stores import KIND_NAMES, read_store
from alpswyft.truncation import TruncationRecord, normalised_weights, weighted_quantiles
from analysis_core import notices
from analysis_core.errors import ConfigError, PipelineError
from analysis_core.files import load_npz


def open_run(path: str | Path, grid_point: int = 0) -> Run:
    """The run (or archived trial) in folder ``path``; ``grid_point`` is the default one of its
    methods."""
    return Run(path, grid_point)


class Run:
    """A run folder with a configuration (see :func:`open_run`).

    Attributes: ``config`` (the validated :class:`~alpswyft.config.RunConfig`), ``record`` (its
    truncation record), ``tree`` (the folder's paths), ``grid_point`` (the default grid point),
    ``context`` (the :class:`~alpswyft.run.RunContext` the stages and figures share).
    """

    def __init__(self, path: str | Path, grid_point: int = 0):
        self.context = RunContext(Path(path))
        self.tree = self.context.tree
        if not self.tree.config.is_file():
            raise PipelineError(
                f"{self.tree.config} does not exist: {path} is not a run folder with a configuration"
            )
        self.config = self.context.config
        self.record = (
            TruncationRecord.load(self.tree.record) if self.tree.record.is_file() else None
        )
        self.grid_point = self.grid_point_of(grid_point)
        self._networks: dict = {}
        self._banks: dict = {}

    def __repr__(self) -> str:
        done = len(self.done_rounds())
        return (
            f"Run({str(self.tree.root)!r}: model {self.config.physics.model or 'ALP'!r}, POIs "
            f"{', '.join(self.config.poi_names)}; grid point {self.grid_point}, {done} of "
            f"{self.config.n_rounds} rounds done)"
        )

    # ------------------------------------------------------------------ what the run holds

    @property
    def path(self) -> Path:
        return self.tree.root

    @property
    def rounds(self) -> list[dict]:
        """The truncation record's entries of the default grid point's rounds (box, truncated box,
        training figures, 1D posterior summary)."""
        return self.record.rounds(self.grid_point) if self.record is not None else []

    def done_rounds(self, grid_point: int | None = None) -> list[int]:
        g = self.grid_point_of(grid_point)
        if self.record is None:
            return []
        return [entry["round"] for entry in self.record.rounds(g) if entry.get("status") == "done"]

    @cached_property
    def sim(self):
        """The run's simulator (:meth:`alpswyft.ALPSim.from_run`)."""
        from alpswyft.sim import ALPSim

        return ALPSim.from_run(self.tree.root)

    @property
    def observation(self) -> dict[str, np.ndarray]:
        """The mock observation (``true_obs.npz``: params, exp, data and the nodes the network sees)."""
        if not self.tree.true_obs.is_file():
            raise PipelineError(
                f"{self.tree.true_obs} does not exist: the run has no mock observation yet"
            )
        return load_npz(self.tree.true_obs)

    @property
    def extra_observations(self) -> dict[str, np.ndarray]:
        """The ``extra_observations`` as simulated (``extra_obs.npz``: params in table space, seed,
        exp, data, ...; a leading axis per observation); empty without them."""
        return load_npz(self.tree.extra_obs) if self.tree.extra_obs.is_file() else {}

    def table_values(self, physical: np.ndarray) -> np.ndarray:
        """Free-parameter values in table space (log10 where the table is) of full physical vectors
        (..., n_parameters), as ``ALPSim`` takes and returns them."""
        physical = np.asarray(physical, float)
        columns = [i for i, p in enumerate(self.config.table.parameters) if p.free]
        values = physical[..., columns]
        logs = np.array([p.log for p in self.config.table.free])
        return np.where(logs, np.log10(np.where(logs, values, 1.0)), values)

    # ------------------------------------------------------------------ stores

    def store(
        self, kind: str = "training", round: int | None = None, grid_point: int | None = None
    ) -> Store:  # noqa: A002
        """A store of the run: ``training``, ``coverage`` (the last round's simulations beyond
        the training rows), ``prior`` (the inference bank), ``explim`` (expected limits) or
        ``fixed`` (the fixed-nuisance network's training store); ``round`` defaults to the last."""
        if kind not in KIND_NAMES:
            raise ConfigError("kind", kind, f"expected one of {', '.join(KIND_NAMES)}")
        g = self.grid_point_of(grid_point)
        r = self.round_of(round, g)
        path = self.context.store_path(KIND_NAMES[kind].name, r, g)
        if not (path / ".zgroup").is_file():
            raise PipelineError(
                f"the {kind} store of round {r}, grid point {g} ({path}) does not exist"
            )
        start, stop = 0, None
        if KIND_NAMES[kind].name == "train":
            n_train = self.config.n_train_round(r)
            start, stop = (n_train, None) if kind == "coverage" else (0, n_train)
        return Store(path, kind, r, g, self, start, stop)

    def network(
        self,
        round: int | None = None,
        grid_point: int | None = None,  # noqa: A002
        fixed_nuisances: bool = False,
    ):
        """The trained network of a round and grid point (default: the last round), in eval mode;
        ``fixed_nuisances``: the last round's fixed-nuisance network."""
        g = self.grid_point_of(grid_point)
        r = self.round_of(round, g)
        key = (r, g, fixed_nuisances)
        if fixed_nuisances and r != self.done_rounds(g)[-1]:
            raise ConfigError(
                "round",
                r,
                f"the fixed-nuisance network belongs to the last round, {self.done_rounds(g)[-1]}",
            )
        if fixed_nuisances and not self.tree.fixed_network(g).is_file():
            raise PipelineError(
                f"{self.tree.fixed_network(g)} does not exist: the run has no fixed-nuisance network "
                "(fixed_nuisance_limits=0, or its last round has not finished)"
            )
        if key not in self._networks:
            notices.once(
                "network",
                "alpswyft: loading torch, swyft and the run's network; the first time in a "
                "process takes about 10 s",
            )
            self._networks[key] = self.context.network(r, g, fixed_nuisances)
        return self._networks[key]

    def bank(self, round: int | None = None, grid_point: int | None = None) -> np.ndarray:  # noqa: A002
        """The prior bank (N, n_free) of a round, in table space: the samples a posterior weights."""
        g = self.grid_point_of(grid_point)
        r = self.round_of(round, g)
        if (r, g) not in self._banks:
            self._banks[r, g] = self.store("prior", r, g).params.astype(float)
        return self._banks[r, g]

    def infer(
        self,
        observation=None,
        round: int | None = None,
        grid_point: int | None = None,  # noqa: A002
        fixed_nuisances: bool = False,
    ) -> Posterior:
        """The posterior of an observation with the trained network of a round (default: the
        last) on its prior bank.

        ``observation``: a :class:`~alpswyft.sim.Spectrum` from ``run.sim.observe(...)`` (its
        parameters become the posterior's truth), a dict of nodes (``data``, ``power``, ...;
        ``params`` in table space as the truth), or the ``data`` array alone; default: the run's
        mock observation.
        """
        from alpswyft.inference import logratios_on_bank

        g = self.grid_point_of(grid_point)
        r = self.round_of(round, g)
        nodes, truth = self._observation_nodes(
            self.observation if observation is None else observation
        )
        network = self.network(r, g, fixed_nuisances)
        bank = self.bank(r, g)
        logratios = logratios_on_bank(network, nodes, bank)
        lr_1d = logratios[0] if network.estimator_1d is not None else None
        lr_2d = logratios[-1] if network.estimator_2d is not None else None
        columns = network.poi_columns
        return self._posterior(
            bank,
            columns,
            lr_1d,
            lr_2d,
            network.pairs if lr_2d is not None else [],
            None if truth is None else truth[columns],
            r,
            g,
        )

    def posterior(
        self,
        round: int | None = None,
        grid_point: int | None = None,  # noqa: A002
        extra: int | None = None,
    ) -> Posterior:
        """The mock observation's posterior of a round as the run computed it, from the log-ratios it
        kept on the prior bank (``train_output/posteriors/logratios_round_*.npz``): no network is
        evaluated. ``extra=k``: the k-th (from 0) extra observation's, with the last round."""
        g = self.grid_point_of(grid_point)
        if extra is not None:
            return self._extra_posterior(extra, g)
        r = self.round_of(round, g)
        path = self.tree.bank_logratios(r, g)
        if not path.is_file():
            raise PipelineError(
                f"{path} does not exist: the run did not keep its log-ratios (an older run); "
                "run.infer() evaluates the network instead"
            )
        kept = load_npz(path)
        columns = list(self.config.physics.POI_indices)
        bank = self.bank(r, g)[kept["rows"]]
        return self._posterior(
            bank,
            columns,
            kept.get("logratios_1d"),
            kept.get("logratios_2d"),
            [tuple(p) for p in kept["pairs"]],
            self.config.table.obs[columns],
            r,
            g,
        )

    def _extra_posterior(self, k: int, g: int) -> Posterior:
        path = self.tree.extra_posteriors(g)
        if not path.is_file():
            raise PipelineError(
                f"{path} does not exist: the run has no extra_observations (or its last round "
                "has not finished)"
            )
        kept = load_npz(path)
        n = len(kept["params"])
        if not isinstance(k, int | np.integer) or not 0 <= k < n:
            raise ConfigError("extra", k, f"expected 0 ... {n - 1} (the run's extra observations)")
        columns = list(self.config.physics.POI_indices)
        r = self.round_of(None, g)
        return self._posterior(
            self.bank(r, g),
            columns,
            kept["logratios_1d"][k] if "logratios_1d" in kept else None,
            kept["logratios_2d"][k] if "logratios_2d" in kept else None,
            [tuple(p) for p in kept["pairs"]],
            kept["params"][k][columns],
            r,
            g,
        )

    def _posterior(self, bank, columns, lr_1d, lr_2d, pairs, truth, r: int, g: int) -> Posterior:
        box = (
            self.record.bounds(g, r)
            if self.record is not None
            else self.config.table.initial_bounds
        )
        free = self.config.table.free
        return Posterior(
            names=[free[i].name for i in columns],
            labels=[free[i].label for i in columns],
            values=bank[:, columns],
            logratios_1d=lr_1d,
            logratios_2d=lr_2d,
            pairs=pairs,
            box=np.asarray(box, float)[columns],
            truth=truth,
            config=self.config,
            round=r,
        )

    def expected_limits(self, levels=None, grid_point: int | None = None) -> LimitResult:
        """The expected limits at other confidence ``levels`` (default: the run's), recomputed
        from the per-simulation log-ratio maps the validation stage kept (no network) and, for
        the frequentist and CLs limits, its calibration: a :class:`~alpswyft.limits.LimitResult`
        (``.fraction["hpd"]``, ``["frequentist"]``, ``["cls"]``, ``["fixed"]``; it also reads as
        the layout of ``expected_limits_gridpoint_*.npz``)."""
        from alpswyft.frequentist import check_level, fractions_from_centres

        g = self.grid_point_of(grid_point)
        path = self.tree.validation_data("expected_limits_logratios", g)
        if not path.is_file():
            raise PipelineError(
                f"{path} does not exist: the run has no expected limits (or is older than the kept maps)"
            )
        maps = load_npz(path)
        result = LimitResult.load(self.tree, g)
        if result is None:
            raise PipelineError(f"{LimitResult.path(self.tree, g)} does not exist")
        levels = tuple(levels or self.config.validation.credibility_levels)
        fraction = {**result.fraction, "hpd": fractions_from_maps(maps, levels)}
        if "logratios_fixed" in maps:
            fraction["fixed"] = fractions_from_maps(maps, levels, "logratios_fixed")
        calibration = self.tree.validation_data("limit_calibration", g)
        if "logratios_centres" in maps and calibration.is_file():
            data = np.load(calibration)
            for level in levels:
                check_level(level, int(data["k"]), int(data["statistic"].shape[-1]))
            for method in result.methods:
                fraction[method] = fractions_from_centres(
                    maps["logratios_centres"], calibration, levels, method
                )
        # the false exclusions against round 0 are not kept per simulation
        return replace(result, levels=np.array(levels), fraction=fraction, false_fraction=None)

    def plot_rounds(self, grid_point: int | None = None):
        """The report's 1D posteriors of every round, zoomed to the last round's box with the
        regions truncated away shaded. Returns the figure."""
        from alpswyft import plots

        return plots.posteriors_1d_zoomed(self.context, self.grid_point_of(grid_point))

    def plot_coverage(self, kind="zz", marginals=None, grid_point: int | None = None):
        """The report's HPD coverage test: empirical against nominal coverage of the coverage
        simulations, ``kind`` ``zz`` (z-scores), ``pp`` (credibility), both (``("zz", "pp")``) or
        ``tarp`` (TARP's expected coverage); ``marginals``: names of the marginals drawn (default
        all, e.g. ``["m", "m-g"]``). Returns the figure."""
        from alpswyft import plots

        g = self.grid_point_of(grid_point)
        if kind == "tarp":
            if marginals is not None:
                raise ConfigError("marginals", marginals, "kind='tarp' draws every marginal")
            return plots.tarp(self.context, g)
        return plots.coverage_zz(self.context, g, kinds=kind, marginals=marginals)

    def plot_expected_limits(
        self, levels=None, grid_point: int | None = None, method: str | None = None
    ):
        """The report's expected-limit maps at ``levels`` (see :meth:`expected_limits`), of
        ``method`` (default: the first of the run's ``limit_method``)."""
        from alpswyft import plots

        return plots.draw_expected_limits(
            self.config, self.expected_limits(levels, grid_point), method
        )

    def confidence_set(
        self,
        observation=None,
        level: float | None = None,
        method: str | None = None,
        pair=None,
        grid_point: int | None = None,
    ) -> ConfidenceSet:
        """The confidence set of an observation on a ``prediction_pairs`` plane (default: the
        first) with the last round's network and the run's calibration: the cells that ``method``
        (``frequentist``, ``cls`` or ``hpd``; default: the first of ``limit_method``) excludes at
        ``level`` (default: the highest of the run's levels). ``observation`` as for
        :meth:`infer` (default: the run's mock or real observation)."""
        from alpswyft.inference import observation_features

        method = method or self.config.validation.limit_method[0]
        if method not in METHODS:
            raise ConfigError("method", method, f"expected one of {', '.join(METHODS)}")
        level = float(max(self.config.validation.credibility_levels) if level is None else level)
        pairs = [tuple(p) for p in self.config.validation.prediction_pairs]
        names = [(self.config.poi_names[i], self.config.poi_names[j]) for i, j in pairs]
        if pair is not None and tuple(pair) not in names:
            raise ConfigError(
                "pair", pair, f"expected a prediction_pairs plane: {', '.join(map(str, names))}"
            )
        p = 0 if pair is None else names.index(tuple(pair))
        exclusions = self.frequentist_test(pairs[p], (level,), (method,), grid_point)
        network, plane = exclusions.plane.network, exclusions.plane
        nodes, truth = self._observation_nodes(
            self.observation if observation is None else observation
        )
        features = observation_features(network, {k: v[None] for k, v in nodes.items()})[0]
        return ConfidenceSet(
            self.config, plane, exclusions, features, method, level, names[p], truth
        )

    def classical(
        self,
        observation=None,
        *,
        bins: tuple[int, int] = (25, 25),
        n_realisations: int = 100,
        seed: int | None = None,
        field: str | None = None,
    ):
        """The classical likelihood scan of an observation (:mod:`alpswyft.classical`): at each
        cell centre of a ``bins`` grid over the (m, g) box and each of ``n_realisations`` field
        realisations (seeded from ``seed``, default the run's ``sim_seed``), the spectrum fitted
        by maximum likelihood. ``observation``: a :meth:`ALPSim.observe` spectrum, counts
        (nbins,; ON/OFF [n_on | n_off]), or None (the run's observation, its counts from the stored
        residual).
        ``field``: the field's free parameters (B0) held at their Obs. values (``obs``) or drawn with
        each realisation from their prior (``prior``); default the run's ``classical_field``.
        Returns a :class:`~alpswyft.classical.ClassicalScan`: ``.ts("quantile")`` (MAGIC's
        combination) or ``.ts("marginal")``, ``.excluded(level)`` (Wilks)."""
        from alpswyft.sim import Spectrum

        if n_realisations < cl.MIN_REALISATIONS:
            raise ConfigError(
                "n_realisations",
                n_realisations,
                f"at least {cl.MIN_REALISATIONS} for MAGIC's "
                f"{cl.MAGIC_QUANTILE:.0%} quantile over the realisations",
            )
        fitter = cl.make_fitter(self.sim.model, self.config)
        if observation is None:
            counts = cl.observation_counts(self.sim.model, self.observation)
        elif isinstance(observation, Spectrum):
            if observation.observed_counts is None or np.ndim(observation.observed_counts) != 1:
                raise ConfigError(
                    "observation",
                    "an expected spectrum or several",
                    "one run.sim.observe(...) spectrum",
                )
            counts = observation.observed_counts
            if observation.observed_off is not None:
                counts = np.concatenate([counts, observation.observed_off])
        else:
            counts = np.asarray(observation, float)
        points, edges_x, edges_y = cl.grid_points(self.config, bins)
        seed = self.config.simulation.sim_seed if seed is None else seed
        bank = cl.survival_bank(
            self.sim.model,
            self.config,
            points,
            n_realisations,
            seed,
            field or self.config.validation.classical_field,
        )
        return cl.scan(fitter, counts, points, bank, (edges_x, edges_y))

    def frequentist_test(self, pair, levels, methods, grid_point: int | None = None):
        """The run's test of a ``prediction_pairs`` plane (POI positions ``pair``) with the last
        round's network and its calibration (``limit_calibration_gridpoint_<g>.npz``): an
        :class:`alpswyft.frequentist.Exclusions` of ``methods`` at ``levels``, each level checked
        against what the calibration can serve; CLs only where the run simulated the null
        hypothesis."""
        from alpswyft import frequentist as fq

        g = self.grid_point_of(grid_point)
        path = self.tree.validation_data("limit_calibration", g)
        if not path.is_file():
            raise PipelineError(
                f"{path} does not exist: the run has no calibration of the frequentist test "
                "(limit_method=hpd, or no expected limits: set n_sim_calibration)"
            )
        data = np.load(path)
        for level in levels:
            fq.check_level(level, int(data["k"]), int(data["statistic"].shape[-1]))
        p = [tuple(q) for q in self.config.validation.prediction_pairs].index(tuple(pair))
        critical, null_maps = fq.load_critical(path, p)
        if "cls" in methods and null_maps is None:
            raise PipelineError(
                "the run has no CLs calibration: it simulated no null hypothesis (limit_method without cls)"
            )
        r = self.round_of(None, g)
        box = np.asarray(self.record.bounds(g, r), float)
        plane = fq.PlaneStatistic(
            self.config, self.network(r, g), pair, data["edges_x"][p], data["edges_y"][p], box
        )
        return fq.Exclusions(plane, critical, tuple(levels), tuple(methods), null_maps)

    def _observation_nodes(self, observation) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """The network's input nodes of an observation, and its parameters in table space (or None)."""
        from alpswyft.sim import Spectrum

        wanted = self.sim.simulator.observed_nodes
        truth = None
        if isinstance(observation, Spectrum):
            if np.ndim(observation.exp) != 1:
                raise ConfigError(
                    "observation",
                    f"{np.shape(observation.exp)[0]} spectra",
                    "infer takes one observation (call it once per spectrum)",
                )
            if observation.data is None:
                raise ConfigError(
                    "observation",
                    "an expected spectrum",
                    "use run.sim.observe(...), not expected(...)",
                )
            nodes, truth = dict(observation.nodes), self.table_values(observation.params)
        elif isinstance(observation, dict):
            nodes = dict(observation)
            truth = np.asarray(nodes["params"], float) if "params" in nodes else None
        else:
            nodes = {"data": np.asarray(observation, float)}
        if set(wanted) - set(nodes) and "data" in nodes and hasattr(self.sim.model, "features"):
            derived = self.sim.model.features(np.asarray(nodes["data"], float)[None])
            nodes.update({k: np.asarray(v)[0] for k, v in derived.items() if k not in nodes})
        if truth is not None:
            values.warn_outside_box(self.config.table.free, truth, "the observation's")
        missing = sorted(set(wanted) - set(nodes))
        if missing:
            raise ConfigError(
                "observation",
                ", ".join(sorted(nodes)),
                f"the network needs the nodes {', '.join(wanted)}",
            )
        shapes = self.sim.simulator.shapes
        for key in wanted:
            if np.shape(nodes[key]) != tuple(shapes[key]):
                raise ConfigError(
                    f"observation[{key!r}]",
                    f"shape {np.shape(nodes[key])}",
                    f"expected {tuple(shapes[key])}, the run's {key}",
                )
        return {key: np.asarray(nodes[key], float) for key in wanted}, truth

    # ------------------------------------------------------------------ checks

    def grid_point_of(self, grid_point: int | None) -> int:
        """``grid_point``, checked against the run's grid, or the default one for None."""
        if grid_point is None:
            return self.grid_point
        n = len(self.config.grid)
        if not isinstance(grid_point, int | np.integer) or not 0 <= grid_point < n:
            raise ConfigError(
                "grid_point", grid_point, f"expected 0 ... {n - 1} (the run's hyperparameter grid)"
            )
        return int(grid_point)

    def round_of(self, round_: int | None, grid_point: int) -> int:
        """``round_``, checked to have finished at ``grid_point``, or the last finished for None."""
        done = self.done_rounds(grid_point)
        if not done:
            raise PipelineError(
                f"no round of grid point {grid_point} has finished in {self.tree.root}"
            )
        if round_ is None:
            return done[-1]
        if round_ not in done:
            raise ConfigError(
                "round",
                round_,
                f"expected a finished round of grid point {grid_point}: "
                f"{', '.join(map(str, done))}",
            )
        return int(round_)


class ConfidenceSet:
    """One observation's confidence set on a plane (see :meth:`Run.confidence_set`): ``excluded``
    (nx, ny) bool, ``statistic`` (nx, ny) its t, ``critical`` (nx, ny) the critical value of the
    Neyman test (frequentist), on the plane's ``edges_x``/``edges_y`` (table units)."""

    def __init__(
        self, config, plane, exclusions, features, method: str, level: float, names, truth=None
    ):

        self.config, self.plane, self.exclusions, self.features = (
            config,
            plane,
            exclusions,
            features,
        )
        self.method, self.level, self.names = method, level, tuple(names)
        self.truth = None if truth is None else (truth[plane.fi], truth[plane.fj])
        self.logratios = plane.logratios(features)[0]
        self.excluded = exclusions(self.logratios)[method][0]
        self.statistic = neyman.statistic_map(self.logratios).reshape(plane.shape)
        self.critical = exclusions.critical.quantile(exclusions.neighbours, level).reshape(
            plane.shape
        )
        self.edges_x, self.edges_y = plane.edges_x, plane.edges_y

    def __repr__(self) -> str:

        return (
            f"ConfidenceSet({METHOD_WORDS[self.method]}, {percent(self.level)}, plane {self.names[0]}-{self.names[1]}: "
            f"{self.excluded.mean():.1%} of the plane excluded)"
        )

    def excludes(self, **point) -> bool:
        """Whether the set excludes a point given by the plane's two parameter names in physical
        units (as ``ALPSim`` takes them, e.g. ``m=3000, g=0.1``), tested at the point itself."""
        values = []
        for name, index in zip(self.names, (self.plane.fi, self.plane.fj)):
            if name not in point:
                raise ConfigError(
                    name, "missing", f"give the point as {self.names[0]}=..., {self.names[1]}=..."
                )
            parameter = self.config.table.free[index]
            values.append(np.log10(point[name]) if parameter.log else float(point[name]))
        cells, at_point = self.plane.logratios(self.features, values)
        return bool(self.exclusions.at_point(cells, at_point, values)[self.method][0])

    def plot(self, ax=None):
        """The excluded cells (shaded), the published limits on the (m, g) plane and the truth."""
        import matplotlib.pyplot as plt

        from alpswyft.plots import published_overlay

        if ax is None:
            _, ax = plt.subplots(figsize=(5.6, 4.6))
        ax.pcolormesh(
            self.edges_x,
            self.edges_y,
            self.excluded.T.astype(float),
            cmap="Greys",
            vmin=0,
            vmax=2.5,
        )
        published_overlay(ax, self.config, self.plane.fi, self.plane.fj)
        if self.truth is not None:
            ax.plot(*self.truth, "*", color="crimson", ms=12, label="truth")
        free = self.config.table.free
        ax.set(
            xlabel=free[self.plane.fi].label,
            ylabel=free[self.plane.fj].label,
            title=f"excluded (grey) at {percent(self.level)}, {METHOD_WORDS[self.method]}",
        )
        ax.legend(fontsize=7, loc="lower left")
        return ax


class Store:
    """One zarr store of a run, read lazily: ``params`` (table space), ``exp``, ``data`` and any
    other node by name (``store["power"]``), ``physical_params`` in the table's units."""

    def __init__(
        self,
        path: Path,
        kind: str,
        round_: int,
        grid_point: int,
        run: Run,
        start: int = 0,
        stop: int | None = None,
    ):
        self.path, self.kind, self.round, self.grid_point = Path(path), kind, round_, grid_point
        self.run, self.start, self.stop = run, start, stop
        self._cache: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        return f"Store({self.kind}, round {self.round}, grid point {self.grid_point}: {len(self)} samples, {self.path})"

    def __len__(self) -> int:
        return len(self["params"])

    def __getitem__(self, node: str) -> np.ndarray:

        if node not in self._cache:
            self._cache[node] = read_store(self.path, [node], self.start, self.stop)[node]
        return self._cache[node]

    def read(self, node: str, n: int | None = None) -> np.ndarray:
        """The first ``n`` rows of a node (all with None)."""
        if n is None or node in self._cache:
            return self[node][:n]
        stop = self.start + n if self.stop is None else min(self.stop, self.start + n)
        return read_store(self.path, [node], self.start, stop)[node]

    params = property(lambda self: self["params"])
    exp = property(lambda self: self["exp"])
    data = property(lambda self: self["data"])

    @property
    def physical_params(self) -> np.ndarray:
        """Full parameter vectors (n, n_parameters) in the table's units."""
        return self.run.config.table.physical(self.params)

    def plot_params(self, bins: int = 40, axes=None):
        """Histograms of every free parameter of the store, with the round's box (dashed) and the
        mock observation's value (red). Returns the figure."""
        import matplotlib.pyplot as plt

        table = self.run.config.table
        n = len(table.free)
        if axes is None:
            columns = min(n, 4)
            fig, axes = plt.subplots(
                -(-n // columns),
                columns,
                figsize=(3.6 * columns, 2.9 * -(-n // columns)),
                squeeze=False,
            )
            axes = axes.ravel()
        fig = axes[0].figure
        box = (
            self.run.record.bounds(self.grid_point, self.round)
            if self.run.record is not None
            else table.initial_bounds
        )
        for k, (ax, p) in enumerate(zip(axes, table.free)):
            ax.hist(self.params[:, k], bins=bins, color="0.55")
            for edge in box[k]:
                ax.axvline(edge, color="C2", ls="--", lw=1)
            lo, hi = box[k]
            if lo <= table.obs[k] <= hi:
                ax.axvline(table.obs[k], color="crimson", lw=1.5)
            else:
                ax.set_title(
                    f"Obs. {table.obs[k]:.3g}: outside the box", fontsize=8, color="crimson"
                )
            ax.set_xlim(lo - 0.03 * (hi - lo), hi + 0.03 * (hi - lo))
            ax.set_xlabel(p.label)
        for ax in list(axes)[n:]:
            ax.set_visible(False)
        fig.suptitle(
            f"{self.kind} store, round {self.round}: {len(self)} samples (dashed: the round's box; red: Obs.)"
        )
        fig.tight_layout()
        return fig


class Posterior:
    """Marginal posteriors of one observation: the prior bank's POI ``values`` (N, n_poi),
    weighted by the network's 1D and 2D log-ratios (``logratios_1d`` (N, n_poi),
    ``logratios_2d`` (N, n_pairs) for ``pairs`` of POI positions), on the round's ``box``."""

    def __init__(
        self, names, labels, values, logratios_1d, logratios_2d, pairs, box, truth, config, round
    ):  # noqa: A002
        self.names, self.labels, self.values = list(names), list(labels), np.asarray(values, float)
        # kept as float32; weights in float64, whose exponent reaches the posterior's far tails
        self.logratios_1d, self.logratios_2d = (
            None if lr is None else np.asarray(lr, float) for lr in (logratios_1d, logratios_2d)
        )
        self.pairs, self.box, self.truth, self.config, self.round = (
            [tuple(p) for p in pairs],
            box,
            truth,
            config,
            round,
        )

    def __repr__(self) -> str:
        lines = [f"Posterior(round {self.round}, {len(self.values)} prior samples)"]
        if self.logratios_1d is not None:
            q = self.quantiles([0.16, 0.5, 0.84])
            for k, name in enumerate(self.names):
                truth = "" if self.truth is None else f"   truth {self.truth[k]:.3g}"
                lines.append(
                    f"  {name:>12s}  median {q[k, 1]:.3g}  68 % [{q[k, 0]:.3g}, {q[k, 2]:.3g}]{truth}"
                )
        else:
            lines.append(
                "  2D marginals only: "
                + ", ".join(f"({self.names[i]}, {self.names[j]})" for i, j in self.pairs)
            )
        return "\n".join(lines)

    def _index(self, name) -> int:
        if isinstance(name, int | np.integer):
            return int(name)
        if name not in self.names:
            raise ConfigError(
                "name", name, f"expected a POI of the posterior: {', '.join(self.names)}"
            )
        return self.names.index(name)

    def _pair(self, pair) -> int:
        pair = tuple(self._index(p) for p in pair)
        if pair not in self.pairs:
            names = (
                ", ".join(f"({self.names[i]}, {self.names[j]})" for i, j in self.pairs) or "none"
            )
            raise ConfigError("pair", pair, f"expected a 2D marginal of the network: {names}")
        return self.pairs.index(pair)

    def _need(self, which: str):
        lr = self.logratios_1d if which == "1d" else self.logratios_2d
        if lr is None:
            raise PipelineError(
                f"the network has no {which.upper()} marginals (restricted_posterior)"
            )
        return lr

    def weights(self, name=None, pair=None) -> np.ndarray:
        """Normalised weights of the bank's samples for a 1D marginal (``name``) or a 2D one
        (``pair`` of names)."""
        if pair is not None:
            return normalised_weights(self._need("2d"))[:, self._pair(pair)]
        return normalised_weights(self._need("1d"))[:, self._index(name)]

    def to_swyft(self) -> list:
        """The posterior as swyft's ``LogRatioSamples`` (1D, then 2D), for swyft's own plots, e.g.
        ``swyft.plot_corner(post.to_swyft(), post.names)``."""
        import torch

        import swyft

        samples = []
        if self.logratios_1d is not None:
            samples.append(
                swyft.LogRatioSamples(
                    torch.as_tensor(self.logratios_1d),
                    torch.as_tensor(self.values[:, :, None]),
                    np.array([[name] for name in self.names]),
                )
            )
        if self.logratios_2d is not None:
            samples.append(
                swyft.LogRatioSamples(
                    torch.as_tensor(self.logratios_2d),
                    torch.as_tensor(
                        np.stack([self.values[:, [i, j]] for i, j in self.pairs], axis=1)
                    ),
                    np.array([[self.names[i], self.names[j]] for i, j in self.pairs]),
                )
            )
        return samples

    def quantiles(self, q) -> np.ndarray:
        """Weighted quantiles (n_poi, len(q)) of every 1D marginal."""
        return np.array(
            [
                weighted_quantiles(self.values[:, k], self.weights(k), q)
                for k in range(len(self.names))
            ]
        )

    def mean(self) -> np.ndarray:
        return np.array(
            [np.sum(self.values[:, k] * self.weights(k)) for k in range(len(self.names))]
        )

    def std(self) -> np.ndarray:
        mean = self.mean()
        return np.sqrt(
            [
                np.sum((self.values[:, k] - mean[k]) ** 2 * self.weights(k))
                for k in range(len(self.names))
            ]
        )

    def densities(self, bins_1d: int = 100, bins_2d: int = 50) -> dict:
        """Binned marginals on the box, as the pipeline's ``posterior_round_*.npz`` holds them."""
        from alpswyft.inference import binned_posterior

        return {
            "box": self.box,
            "truth": self.truth,
            **binned_posterior(
                self.values,
                self.logratios_1d,
                self.logratios_2d,
                self.pairs,
                self.box,
                bins_1d,
                bins_2d,
            ),
        }

    def plot_1d(self, bins: int = 100, axes=None, color: str = "k", label: str | None = None):
        """The 1D marginals, with the truth (red) when known; ``axes`` overlays onto earlier ones.
        Returns the figure."""
        from alpswyft import plots

        return plots.draw_posteriors_1d(
            self.densities(bins_1d=bins), self.labels, axes, color, label
        )

    def plot_2d(self, pairs=None, bins: int = 50):
        """The 2D marginals (68 % and 95 % regions; published limits on an (m, g) plane) of
        ``pairs`` (names; default: all). Returns the figure."""
        from alpswyft import plots

        chosen = (
            [self._pair(p) for p in pairs] if pairs is not None else list(range(len(self.pairs)))
        )
        self._need("2d")
        return plots.draw_posteriors_2d(
            self.densities(bins_2d=bins), self.labels, chosen, self._columns(), self.config
        )

    def corner(self, bins_1d: int = 100, bins_2d: int = 50):
        """Corner plot: 1D marginals on the diagonal, 2D ones below. Returns the figure."""
        from alpswyft import plots

        return plots.draw_corner(
            self.densities(bins_1d, bins_2d),
            self.labels,
            self._columns(),
            self.config,
            f"Round {self.round}: marginal posteriors on its box"
            + (" (red: truth)" if self.truth is not None else ""),
        )

    def _columns(self) -> list[int]:
        """The free-parameter columns of the POIs (for the table's labels and published limits)."""
        names = self.config.table.free_names
        return [names.index(n) for n in self.names]
