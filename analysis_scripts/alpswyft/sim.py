"""The simulator in a notebook: spectra, P_gg and plots for chosen parameters.

>>> from alpswyft import ALPSim
>>> sim = ALPSim()                                  # the shipped run.sh physics, CTA North
>>> sim.expected(m=10, g=1)                         # expected counts, residual, P_gg, ...
>>> sim.observe(m=10, g=1, seed=0)                  # one noise realisation
>>> sim.survival(m=10, g=1)                         # P_gg(E) on the true-energy bins
>>> sim.plot(m=10, g=1, null=True, survival=True)   # counts with Poisson bands, the null, P_gg
>>> sim2 = sim.configure(livetime=50, on_region="legacy", bkg=False)
>>> ALPSim.from_run("cluster_runs/analysis_results/alp_default")   # exactly a run's simulator
>>> ALPSim(model="toy_line").plot(a=0.5, b=-0.3)

Settings are the run-script variables of the observation and the model (``nbins``, ``emin``,
``livetime``, ``IRF_file``, ``on_region``, ``noise``, ``floor_exp``, ``ALP_seed``, ``alp_engine``,
``param1`` ... rows, ...), validated by :func:`alpswyft.config.load_run_config` with the run
configuration's rules and messages, plus the switches ``signal``, ``bkg`` and ``edisp``.

Parameters are given by their table names in physical units, as the table's unit column says (for
the ALP model m in neV and g in 1e-11 GeV^-1, not log10; ``log=True`` takes log10 values), or as
a full vector ``theta``; every parameter not given takes its default (the table's Obs. value, or
its fixed value). Arrays of values give one spectrum each, in one call (on a GPU in one batch).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from alpswyft import sim_plots, values
from alpswyft.config import PHYSICS_VARIABLES, RunConfig, load_run_config, raw
from alpswyft.models import is_model_file, resolve
from alpswyft.physics.alp import check_cluster_values
from alpswyft.results import RunTree
from alpswyft.simulator import SpectrumSimulator
from alpswyft.stores import read_store
from alpswyft.values import suggest
from analysis_core import notices
from analysis_core.errors import ConfigError, PipelineError
from analysis_core.files import load_npz, read_json

#: Run-script variables the simulator takes (what a simulation is made from), besides param<N>.
SETTINGS = tuple(name for name in PHYSICS_VARIABLES if name not in ("model", "model_params"))


@dataclass
class Spectrum:
    """Spectra of n parameter vectors; arrays have a leading axis n, dropped when every parameter
    was given as a single number.

    ``x`` holds the reconstructed-energy bin centres in GeV (ALP models; ``edges`` their edges) or
    the model's x grid (toy models). ``exp`` is the model's output node as the pipeline stores it:
    for ALP models the floored log10 residual against the null-hypothesis counts.
    """

    x: np.ndarray
    params: np.ndarray  # physical parameter vectors (n, n_params), in the table's units
    exp: np.ndarray
    counts: np.ndarray | None = None  # expected counts per bin (ALP models)
    null_counts: np.ndarray | None = None  # counts of the null hypothesis (ALP models)
    pgg: np.ndarray | None = None  # photon survival probability on ``energy_true``
    energy_true: np.ndarray | None = None  # true-energy bin centres, GeV
    edges: np.ndarray | None = None
    data: np.ndarray | None = (
        None  # observe(): the noisy ``exp`` (floored log10 residual for ALP models)
    )
    observed_counts: np.ndarray | None = None  # observe(): the counts drawn (ALP models)
    observed_off: np.ndarray | None = None  # observe(), real observations: the OFF counts drawn
    nodes: dict = field(default_factory=dict)  # every node of the simulator (power, ...)

    def __repr__(self) -> str:
        n = len(self.exp) if np.ndim(self.exp) == 2 else 1
        parts = [f"{n} spectr{'um' if n == 1 else 'a'} of {np.shape(self.exp)[-1]} bins"]
        if self.edges is not None:
            parts[0] += f" on [{self.edges[0]:.4g}, {self.edges[-1]:.4g}] GeV"
        per = "" if n == 1 else " in all"
        for name, what in (("counts", "expected"), ("observed_counts", "observed")):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{what} {np.sum(value):.4g} counts{per}")
        if self.pgg is not None:
            parts.append(f"P_gg on {np.shape(self.pgg)[-1]} true energies")
        parts.append(f"nodes {', '.join(self.nodes) or 'exp'}")
        return f"Spectrum({'; '.join(parts)})"

    @property
    def log_counts(self) -> np.ndarray | None:
        """log10 of the expected counts (-inf where 0)."""
        if self.counts is None:
            return None
        with np.errstate(divide="ignore"):
            return np.log10(self.counts)

    @property
    def residual(self) -> np.ndarray:
        """The floored log10 residual against the null hypothesis (``exp``)."""
        return self.exp


class ALPSim:
    """A simulator of the observed spectrum for chosen parameters (see the module docstring).

    ``model``: ``""`` (the ALP model of NGC 1275), ``log``, ``spectral_fit``, ``spectral_fit_log``,
    ``toy_line``, ``toy_poly``, ``toy_sine`` or the path of a model file (docs/guide/extending.md, "Adding a
    model"). ``signal``, ``bkg``, ``edisp``: the source counts, the background and the energy
    dispersion on or off (ALP models). Any other keyword is a run-script variable of the observation
    and the model (:data:`SETTINGS` and ``param1`` ... ``paramK``); the rest take the run script's
    defaults, and a model's own ``settings`` (a toy's x range and noise) where it has them.
    """

    def __init__(
        self,
        model: str = "",
        *,
        signal: bool = True,
        bkg: bool = True,
        edisp: bool = True,
        **settings,
    ):
        self._init(_variables(str(model), settings), dict(signal=signal, bkg=bkg, edisp=edisp))

    def _init(
        self,
        variables: dict[str, str],
        switches: dict,
        setup: dict | None = None,
        run_dir: Path | None = None,
    ) -> None:
        for name, value in switches.items():
            if not isinstance(value, bool | np.bool_ | int) or value not in (0, 1):
                raise ConfigError(name, value, "expected True or False")
        config, messages = load_run_config(variables, pipeline=False)
        for message in messages:
            warnings.warn(message, stacklevel=3)
        info = resolve(config.physics.model)
        self.alp = info.alp
        if not self.alp and not all(switches.values()):
            off = ", ".join(f"{k}=False" for k, v in switches.items() if not v)
            raise ConfigError(
                off,
                config.physics.model,
                "signal, bkg and edisp switch parts of the CTA response (ALP models only)",
            )
        if setup is None and info.prepare is not None:
            setup = info.prepare(config, **switches) if self.alp else info.prepare(config)
        self._variables, self.run_dir = variables, run_dir
        self.switches = {k: bool(v) for k, v in switches.items()}
        self.config: RunConfig = config
        self.setup = setup
        self.simulator = SpectrumSimulator(config, setup, info)
        self.model = self.simulator.model
        self.table = config.table
        self.names = [p.name for p in self.table.parameters]
        self.units = [p.unit for p in self.table.parameters]
        self.defaults = self.table.physical(self.table.obs)[
            0
        ]  # physical, the table's Obs./fixed values
        self.null_params = self.table.physical(self.table.null)[0]

    # ------------------------------------------------------------------ construction

    def configure(
        self,
        *,
        signal: bool | None = None,
        bkg: bool | None = None,
        edisp: bool | None = None,
        **settings,
    ) -> ALPSim:
        """A new simulator with some settings changed (the others stay; another ``model`` starts
        from its own defaults). Only what they change is rebuilt: the gammapy response is built once
        per IRF file, binning, ON region and ``edisp`` (and kept on disk), a new ``livetime`` only
        scales it."""
        if (
            "model" in settings
            and _setting("model", settings["model"]) != self.config.physics.model
        ):
            variables = _variables(
                str(settings.pop("model")), settings
            )  # another model starts from its defaults
        else:
            variables = {**self._variables, **_settings(settings)}
        switches = dict(self.switches)
        switches.update(
            {k: v for k, v in dict(signal=signal, bkg=bkg, edisp=edisp).items() if v is not None}
        )
        new = object.__new__(type(self))
        new._init(variables, switches)
        return new

    @classmethod
    def from_observation(
        cls, observation: str | Path | list, model: str = "", **settings
    ) -> ALPSim:
        """The simulator of a real observation: DL3 files (a path, a glob pattern such as
        ``runs/*.fits.gz``, or a list of them) of NGC 1275, as a run with ``observation=`` has it.
        Settings as for :class:`ALPSim`; those of the observation are ``rad_max`` (the ON radius in
        deg replacing a fixed RAD_MAX of the IRFs), ``n_off_regions`` and ``background_scatter``.
        The observed nodes (``data``, ``n_off``, ``power``) are :attr:`observation`."""
        paths = [observation] if isinstance(observation, str | Path) else list(observation)
        return cls(model, observation=",".join(str(p) for p in paths), **settings)

    @property
    def observation(self) -> dict[str, np.ndarray] | None:
        """A real observation's nodes, as the networks see them (None for a mock observation)."""
        nodes = self.model.observation_nodes() if self.alp else None
        return (
            None if nodes is None else {k: np.asarray(v[0], np.float32) for k, v in nodes.items()}
        )

    @classmethod
    def from_run(cls, run_dir: str | Path) -> ALPSim:
        """Exactly the simulator of a run (or of an archived trial folder): its configuration
        (``config.json``), its instrument response and null counts (``response.npz``), its model
        file; its mock observation is ``true_obs``."""
        tree = RunTree(Path(run_dir))
        if not tree.config.is_file():
            raise PipelineError(
                f"{tree.config} does not exist: {run_dir} is not a run folder with a configuration"
            )
        provenance = read_json(tree.config)
        config = RunConfig(**provenance["variables"])
        variables = {name: raw(getattr(config, name)) for name in SETTINGS}
        model = (
            str(tree.model_file) if is_model_file(config.physics.model) else config.physics.model
        )  # a run's own copy
        variables.update(_run_placeholders(), model=model)
        variables.update(
            {f"param{i + 1}": row for i, row in enumerate(config.physics.model_params)}
        )
        setup = load_npz(tree.setup) if resolve(variables["model"]).prepare is not None else None
        sim = object.__new__(cls)
        sim._init(variables, dict(signal=True, bkg=True, edisp=True), setup, tree.root)
        sim.true_obs = load_npz(tree.true_obs) if tree.true_obs.is_file() else None
        return sim

    def __repr__(self) -> str:
        c = self.config
        lines = [f"ALPSim(model={c.model!r}: {self.simulator.model_info.description})"]
        if self.alp:
            off = [k for k, v in self.switches.items() if not v]
            if self.model.on_off:
                runs = self.model.observation
                where = (
                    f"{len(runs['run_obs_id'])} DL3 run(s), {float(runs['onoff_livetime_s']) / 3600:.3g} h, "
                    f"ON/OFF ({c.n_off_regions} OFF regions, background scatter {c.background_scatter:g})"
                )
            else:
                where = f"{c.livetime:g} h, {c.irf_path.name}, ON region {c.on_region}" + (
                    f" r = {c.on_region_radius:g} deg" if c.on_region == "point" else ""
                )
            lines.append(
                f"  {c.nbins} bins on [{c.emin:g}, {c.emax:g}] GeV ({len(self.model.response.e_true)} true), "
                + where
                + f", noise {c.noise}, engine {c.alp_engine}, ALP_seed {c.ALP_seed}"
                + (f"; off: {', '.join(off)}" if off else "")
            )
        else:
            lines.append(
                f"  {c.nbins} points on [{c.emin:g}, {c.emax:g}] ({c.geometry}), noise {c.noise}"
                + (f" sigma {c.noise_sigma:g}" if c.noise == "gauss" else "")
            )
        lines.append(f"  {'parameter':>12s}  {'default':>10s}  {'null':>10s}  unit")
        for name, value, null, unit in zip(self.names, self.defaults, self.null_params, self.units):
            lines.append(f"  {name:>12s}  {value:10.4g}  {null:10.4g}  {unit}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ parameters

    def theta(self, theta=None, log: bool | tuple | list = False, **params) -> np.ndarray:
        """Physical parameter vectors (n, n_params) from values by name (in the table's units;
        log10 values for the names in ``log``, or all with ``log=True``) on top of ``theta`` (a full
        vector or (n, n_params) array; default: :attr:`defaults`)."""
        base = self.defaults if theta is None else np.asarray(theta, float)
        if base.shape[-1] != len(self.names) or base.ndim > 2:
            k = len(self.names)
            raise ConfigError(
                "theta",
                f"shape {base.shape}",
                f"expected ({k},) or (n, {k}): {', '.join(self.names)}",
            )
        log_names = set(self.names) if log is True else set(log or ())
        unknown = sorted((set(params) | log_names) - set(self.names))
        if unknown:
            given = {**params, **{name: "log" for name in log_names}}
            raise ConfigError(
                ", ".join(unknown),
                ", ".join(str(given[k]) for k in unknown),
                f"not a parameter of model {self.config.physics.model!r}; "
                f"its parameters are {', '.join(self.names)}" + suggest(unknown[0], self.names),
            )
        parameters = self.table.parameters
        columns = {
            name: values.numbers(
                name, value, "" if name in log_names else self.units[self.names.index(name)]
            )
            for name, value in params.items()
        }
        sizes = {len(v) for v in columns.values() if v.ndim == 1} | (
            {len(base)} if base.ndim == 2 else set()
        )
        if any(v.ndim > 1 for v in columns.values()) or len(sizes) > 1:
            shapes = {name: v.shape for name, v in columns.items()}
            raise ConfigError(
                ", ".join(columns), shapes, "give numbers or 1D arrays of one common length"
            )
        n = sizes.pop() if sizes else 1
        out = np.array(np.broadcast_to(base, (n, len(self.names))))
        for name, value in columns.items():
            out[:, self.names.index(name)] = 10.0**value if name in log_names else value
        values.check_domains(parameters, out, getattr(self.model, "domains", {}))
        if self.alp:
            check_cluster_values(out)
        values.warn_far_outside(parameters, out)
        return out

    def _single(self, theta, params) -> bool:
        """Whether the call asked for one spectrum (scalars only), so the leading axis is dropped."""
        return (theta is None or np.ndim(theta) == 1) and all(
            np.ndim(v) == 0 for v in params.values()
        )

    # ------------------------------------------------------------------ simulation

    def expected(
        self,
        theta=None,
        *,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
        log=False,
        **params,
    ) -> Spectrum:
        """The expected spectra for the given parameters (see :meth:`theta`).

        With ``ALP_seed=None`` every spectrum has its own cluster-field realisation, drawn from
        ``rng`` (or a generator seeded with ``seed``; None: fresh entropy).
        """
        vectors = self.theta(theta, log, **params)
        rng = rng if rng is not None else np.random.default_rng(seed)
        spectrum = self.spectrum_of(vectors, rng)
        return _squeeze(spectrum) if self._single(theta, params) else spectrum

    def spectrum_of(self, vectors: np.ndarray, rng: np.random.Generator) -> Spectrum:
        """The :class:`Spectrum` of physical parameter vectors (n, n_params), noise from ``rng``."""
        if not self.alp:
            nodes = self.model.expected(vectors, rng)
            return Spectrum(self.x, vectors, np.asarray(nodes["exp"], float), nodes=dict(nodes))
        if len(vectors) > 1 and self.config.physics.ALP_seed is None:
            notices.once(
                "propagation",
                "alpswyft: the first batch of fields in a process loads the compiled propagation "
                "kernel (a few seconds; after an install it compiles once, about 30 s)",
            )
        counts, pgg = self.model.counts(vectors, rng)
        exp = self.model.residual(counts, self.config.physics.floor_exp)
        response = self.model.response
        return Spectrum(
            self.x,
            vectors,
            exp,
            counts,
            self.model.null_counts,
            pgg,
            response.e_true,
            response.e_reco_edges,
            nodes={"exp": exp, "pgg": pgg},
        )

    def observe(
        self,
        theta=None,
        *,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
        log=False,
        **params,
    ) -> Spectrum:
        """One noise realisation of each expected spectrum: ``data`` (and for ALP models the
        ``observed_counts`` behind it) with every node the network sees (e.g. ``power``). The
        field realisation and the noise come from ``rng`` (or ``seed``), as in a simulation."""
        vectors = self.theta(theta, log, **params)
        rng = rng if rng is not None else np.random.default_rng(seed)
        spectrum = self.noise(self.spectrum_of(vectors, rng), rng=rng)
        return _squeeze(spectrum) if self._single(theta, params) else spectrum

    def noise(
        self,
        expected,
        *,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> Spectrum:
        """One noise realisation of given expected spectra, as a simulation draws it: a
        :class:`Spectrum` from :meth:`expected` (a copy with ``data``, ``observed_counts`` and the
        observed nodes added) or an array of ``exp`` rows (n, nbins) as the stores hold them (the
        floored log10 residuals of ALP models). The noise comes from ``rng`` (or ``seed``)."""
        rng = rng if rng is not None else np.random.default_rng(seed)
        if isinstance(expected, Spectrum):
            single = np.ndim(expected.exp) == 1
            spectrum = _unsqueeze(expected) if single else replace(expected)
        else:
            exp = self.spectrum_rows("expected", expected)
            single = np.ndim(expected) == 1
            spectrum = Spectrum(
                self.x,
                np.full((len(exp), len(self.names)), np.nan),  # parameters not known
                exp,
                null_counts=self.model.null_counts if self.alp else None,
                edges=self.model.response.e_reco_edges if self.alp else None,
                nodes={"exp": exp},
            )
        spectrum.nodes = dict(spectrum.nodes)
        if self.alp:
            spectrum.observed_counts, spectrum.observed_off = self.model.draw_counts(
                spectrum.exp, rng
            )
            spectrum.data = self.model.residual(
                spectrum.observed_counts, self.config.physics.floor_obs
            )
            spectrum.nodes.update(data=spectrum.data, **self.model.features(spectrum.data))
            if spectrum.observed_off is not None:
                spectrum.nodes["n_off"] = spectrum.observed_off
        else:
            spectrum.nodes.update(self.simulator.add_noise(spectrum.exp, rng))
            spectrum.data = spectrum.nodes["data"]
        return _squeeze(spectrum) if single else spectrum

    def spectrum_rows(
        self, name: str, rows, size: int | None = None, what: str = "bin"
    ) -> np.ndarray:
        """Spectra given as arrays: (size,) or (n, size) numbers (default size: the bins of
        ``exp``), as (n, size), else a ConfigError naming ``name`` and the shape expected."""
        size = size or self.simulator.shapes["exp"][0]
        array = values.numbers(name, rows, "")
        if array.ndim not in (1, 2) or array.shape[-1] != size:
            raise ConfigError(
                name,
                f"shape {array.shape}",
                f"({size},) or (n, {size}): one value per {what} of the {size} {what}s",
            )
        return np.atleast_2d(array)

    def survival(
        self,
        theta=None,
        *,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
        log=False,
        **params,
    ) -> np.ndarray:
        """P_gg(E) on the true-energy bin centres :attr:`energy_true` (GeV): ALP mixing in the
        cluster and the Milky Way and EBL absorption, for an unpolarised beam."""
        if not self.alp:
            raise ConfigError(
                "model",
                self.config.physics.model,
                "has no photon survival probability (ALP models only)",
            )
        vectors = self.theta(theta, log, **params)
        pgg = self.model.survival_batch(
            vectors, rng if rng is not None else np.random.default_rng(seed)
        )
        return pgg[0] if self._single(theta, params) else pgg

    def counts_of(self, residual, observed: bool = False) -> np.ndarray:
        """Counts from stored ALP-model nodes (``exp``, ``data``: log10 residuals against the null;
        the nodes themselves for other models). ``observed``: the rows are ``data``, so a bin at
        ``floor_obs`` whose floor is below one count held 0 counts, and is returned as 0."""
        rows = self.spectrum_rows("residual", residual)
        rows = rows if np.ndim(residual) == 2 else rows[0]
        if not self.alp:
            return rows
        counts = 10.0 ** (rows + self.model.null_level)
        floor = self.config.physics.floor_obs
        if observed and floor is not None:
            below_one = 10.0 ** (floor + self.model.null_level) < 1.0
            counts = np.where((rows <= floor) & below_one, 0.0, counts)
        return counts

    # ------------------------------------------------------------------ axes

    @property
    def x(self) -> np.ndarray:
        """Reconstructed-energy bin centres in GeV (ALP models) or the x grid of a toy model."""
        if self.alp:
            return self.model.response.e_reco
        if hasattr(self.model, "x"):
            return self.model.x
        return np.arange(self.simulator.shapes["exp"][0])

    @property
    def energy_true(self) -> np.ndarray:
        """True-energy bin centres in GeV, the energies of P_gg."""
        return self.model.response.e_true

    # ------------------------------------------------------------------ stores and plots

    def read_store(
        self,
        store: str | Path = "store",
        n: int | None = None,
        nodes: tuple[str, ...] = ("params", "exp", "data"),
    ) -> dict[str, np.ndarray]:
        """The first ``n`` samples of a store: a path, or the name of a store of this run
        (``store``, ``store_round_1_gridpoint_0``, ...; see docs/guide/outputs.md, "Stores")."""
        path = Path(store)
        if not (path / ".zgroup").exists() and self.run_dir is not None:
            path = RunTree(self.run_dir).stores / str(store)
        return read_store(path, list(nodes), 0, n)

    def plot(
        self,
        theta=None,
        *,
        kind: str = "counts",
        null: bool = False,
        survival: bool = False,
        observed: bool = True,
        bands: bool = True,
        seed: int | None = None,
        ax=None,
        color=None,
        label: str | None = None,
        log=False,
        observed_style: dict | None = None,
        **params,
    ):
        """Draw the expected spectra for the given parameters (see :meth:`theta`).

        ``kind``: ``counts`` (counts per bin), ``dnde`` (dN/dE in GeV^-1 cm^-2 s^-1, the counts
        unfolded with the spectrum's own response) or ``residual`` (the floored log10 residual the
        network sees). A single spectrum gets its 68 % and 95 % noise bands and one realisation as
        points with error bars (``observed``, drawn with ``seed``); ``null`` adds the null
        hypothesis, ``survival`` a panel of P_gg(E). ``ax`` (an Axes, or the pair this returns with
        ``survival``) overlays onto an earlier plot, leaving its title alone. Other keywords are
        parameters by name or matplotlib line properties of the expected spectra (``linestyle``,
        ``alpha``, ``lw``, ...); ``observed_style`` holds those of the observed points (``marker``,
        ``alpha``, ...). Returns the Axes (or the pair).
        """
        return sim_plots.plot(
            self,
            theta,
            kind=kind,
            null=null,
            survival=survival,
            observed=observed,
            bands=bands,
            seed=seed,
            ax=ax,
            color=color,
            label=label,
            log=log,
            observed_style=observed_style,
            params=params,
        )

    def plot_spectra(
        self,
        exp=None,
        data=None,
        *,
        n: int | None = None,
        over=None,
        kind: str = "counts",
        residuals: bool = True,
        null=False,
        pgg=None,
        ax=None,
        color=None,
        label: str | None = None,
        alpha: float | None = None,
    ):
        """Draw spectra made elsewhere: rows of ``exp`` as lines,
        rows of ``data`` as points, e.g. 100 spectra of a training store over the mock observation.
        ``exp`` may be a store (``run.store("training")``) or a dict of nodes (``read_store``):
        its expected spectra are drawn. ``n``: at most that many rows. ``over``: an observation
        drawn on top as points (a dict with ``data``, e.g. ``run.observation``, or a
        :class:`Spectrum` from :meth:`observe`). ``residuals``: the arrays are the stored nodes
        (log10 residuals for ALP models), else counts. Observed bins with 0 counts are drawn as
        upper limits. ``null``: True draws the simulator's null hypothesis, an array that one (a
        residual row as the stores hold it). ``pgg``: P_gg rows (ALP models; e.g. a store's
        ``pgg`` node) drawn in a panel below. Returns the Axes (the pair with ``pgg``)."""
        if hasattr(exp, "read") or isinstance(exp, dict):
            exp = exp.read("exp", n) if hasattr(exp, "read") else exp["exp"]
        if n is not None:
            exp, data = (None if rows is None else np.atleast_2d(rows)[:n] for rows in (exp, data))
        return sim_plots.plot_spectra(
            self,
            exp,
            data,
            over=None
            if over is None
            else (over.data if isinstance(over, Spectrum) else over["data"]),
            kind=kind,
            residuals=residuals,
            null=null,
            pgg=pgg,
            ax=ax,
            color=color,
            label=label,
            alpha=alpha,
        )


def _settings(settings: dict) -> dict[str, str]:
    """Keyword settings as raw run-script values; unknown names are refused."""
    known = lambda name: name in SETTINGS or name == "model" or re.fullmatch(r"param\d+", name)  # noqa: E731
    unknown = sorted(k for k in settings if not known(k))
    if unknown:
        raise ConfigError(
            ", ".join(unknown),
            ", ".join(str(settings[k]) for k in unknown),
            "not a setting of the simulator; it takes model, signal, bkg, edisp, "
            f"{', '.join(SETTINGS)} and param1 ... paramK",
        )
    return {name: _setting(name, value) for name, value in settings.items()}


def _setting(name: str, value) -> str:
    """One raw value; file paths are taken relative to the working directory."""
    if (name == "IRF_file" and str(value)) or (name == "model" and is_model_file(str(value))):
        return str(Path(value).resolve())
    if name == "observation":
        return ",".join(str(Path(p.strip()).resolve()) for p in str(value).split(",") if p.strip())
    return raw(value)


def _run_placeholders() -> dict[str, str]:
    """Variables a run needs that the simulator does not use."""
    return {"run_name": "ALPSim", "POI_indices": "0", "n_sim_train": "1"}


def _variables(model: str, settings: dict) -> dict[str, str]:
    """The raw variables of a simulator: placeholders, the model's default rows and settings, then
    ``settings``."""
    model = _setting("model", model)
    info = resolve(model)
    variables = _run_placeholders()
    variables.update({name: raw(value) for name, value in info.settings.items()})
    variables.update({f"param{i + 1}": row for i, row in enumerate(info.rows)})
    variables.update(_settings(settings))
    variables["model"] = model
    return variables


_PER_SPECTRUM = ("params", "exp", "counts", "pgg", "data", "observed_counts", "observed_off")


def _unsqueeze(spectrum: Spectrum) -> Spectrum:
    """A copy of a single spectrum with the leading axis of :func:`_squeeze` restored."""
    rows = {
        name: value[None]
        for name in _PER_SPECTRUM
        if (value := getattr(spectrum, name)) is not None
    }
    return replace(spectrum, **rows, nodes={k: v[None] for k, v in spectrum.nodes.items()})


def _squeeze(spectrum: Spectrum) -> Spectrum:
    """Drop the leading axis of a single spectrum's per-spectrum arrays."""
    for name in _PER_SPECTRUM:
        value = getattr(spectrum, name)
        if value is not None:
            setattr(spectrum, name, value[0])
    spectrum.nodes = {k: v[0] for k, v in spectrum.nodes.items()}
    return spectrum
