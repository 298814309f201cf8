r"""The ``model`` variable: the shipped forward models and users' model files, one registration path.

A model is a class with this interface (the shipped ones in :mod:`alpswyft.physics` have it too):

``parameters``
    its parameter-table rows, seven ``|``-separated columns each, as a run script writes them
    (``bounds | obs | null | log? | prior | name | unit``), in the order of the vector that
    ``expected`` takes. They say how many rows a run script needs and are the defaults of
    :class:`~alpswyft.sim.ALPSim`.
``settings`` (optional)
    run variables the model is meant to be used with (e.g. ``{"emin": -1, "emax": 1}`` for a curve on
    [-1, 1]), which :class:`~alpswyft.sim.ALPSim` takes unless told otherwise.
``__init__(self, config, setup=None)``
    ``config`` is the validated :class:`~alpswyft.config.RunConfig` (``nbins``, ``emin``,
    ``emax``, ``noise``, ``noise_sigma``, ...); ``setup`` the arrays of ``prepare``.
``shapes``
    ``{node: shape}`` of ``exp``, ``data`` and every other node ``expected`` or ``features`` returns.
``expected(self, theta, rng)``
    a dict with at least ``exp``, shape (n, \*shapes["exp"]), for physical parameter vectors
    ``theta`` of shape (n, len(parameters)); random numbers only from the generator ``rng``.
``noise(self, exp, rng)``
    ``data``, one noisy realisation of each ``exp`` (or a dict of ``data`` and further noisy nodes,
    as the ALP model's ``n_off`` for a real observation).
``features(self, data)`` (optional)
    nodes derived from ``data`` (a dict; e.g. the ALP model's ``power``).
``prepare(config)`` (optional, a staticmethod)
    arrays computed once per configuration (a run stores them as ``response.npz``).
``constraint(theta)`` (optional, a staticmethod)
    a boolean mask of the physical vectors (n, n_params) the model allows: the prior is then the
    product prior restricted to them, drawn by rejection (the ALP model's kL < kH).
``domains`` (optional)
    ``{name: (">" or ">=", bound)}``: the physical domains :mod:`alpswyft.values` checks values
    given to :class:`~alpswyft.sim.ALPSim` against.

A class deriving from :class:`~alpswyft.physics.alp_model.ALPModel` is an ALP model
(:attr:`ModelInfo.alp`), whatever its name: it has the CTA set-up of :func:`alpswyft.setups.cta`
made with its own spectrum, line of sight and propagation, and overrides only the parts it
changes (``intrinsic``, ``line_of_sight``, ``survival_batch``; docs/guide/extending.md).

``model=path/to/my_model.py`` (a run script, or ``ALPSim(model=...)``) names a file defining such
a class called ``Model``. A run copies the file into its folder as ``model.py`` (its SHA-256 is in
``config.json`` and in the stores' simulation hash) and every stage loads that copy. The
configuration stage builds the model and calls it once on the table's Obs. values, so a model whose
outputs do not have the shapes it declares stops the run before anything is written.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alpswyft import setups
from alpswyft.parameters import parse_row
from alpswyft.physics import alp_model, magic, toy
from analysis_core.errors import ConfigError
from analysis_core.plugins import file_sha256, load_class

_REQUIRED = ("parameters", "shapes", "expected", "noise")


@dataclass(frozen=True)
class ModelInfo:
    """A model class with where it comes from (``path`` and ``sha256`` for a user's file)."""

    name: str
    cls: type
    path: Path | None = None
    sha256: str = ""

    @property
    def n_params(self) -> int:
        return len(self.cls.parameters)

    @property
    def rows(self) -> list[str]:
        """The model's default parameter rows."""
        return list(self.cls.parameters)

    @property
    def settings(self) -> dict:
        return dict(getattr(self.cls, "settings", {}))

    @property
    def prepare(self):
        """The set-up function ``prepare(config) -> dict``, or None: the registered one, the class's
        own ``prepare``, or that of the nearest registered class it derives from. A registered
        function with a ``model_class`` argument gets the class (a variant's own physics)."""
        if self.cls not in _SETUPS and getattr(self.cls, "prepare", None) is not None:
            return self.cls.prepare
        registered = next((_SETUPS[c] for c in self.cls.__mro__ if c in _SETUPS), None)
        if registered is not None and "model_class" in inspect.signature(registered).parameters:
            return functools.partial(registered, model_class=self.cls)
        return registered

    @property
    def alp(self) -> bool:
        """Whether the model is an ALP model observed through the CTA response: its class derives
        from :class:`~alpswyft.physics.alp_model.ALPModel` (a model file's variant included)."""
        return issubclass(self.cls, alp_model.ALPModel)

    @property
    def description(self) -> str:
        return (inspect.getdoc(self.cls) or self.name).splitlines()[0]

    def build(self, config, setup: dict | None = None):
        return self.cls(config, setup)


def _check_interface(cls, where: str) -> None:
    missing = [name for name in _REQUIRED if not hasattr(cls, name)]
    if missing:
        raise ConfigError(
            "model", where, f"the model class lacks {', '.join(missing)} (see alpswyft/models.py)"
        )
    rows = cls.parameters
    if isinstance(rows, str) or not all(isinstance(r, str) for r in rows) or not rows:
        raise ConfigError(
            "model", where, "'parameters' must be a list of parameter rows (strings of 7 columns)"
        )

    for i, row in enumerate(rows):
        try:
            parse_row(i + 1, row)
        except ConfigError as error:
            raise ConfigError(
                "model", where, f"its parameters[{i}] is not a valid row: {error}"
            ) from None


MODELS: dict[str, ModelInfo] = {}
#: the set-up function registered with each class, which classes derived from it inherit
_SETUPS: dict[type, Callable] = {}


def register(name: str, cls: type, setup: Callable | None = None) -> None:
    """Make ``cls`` available as ``model=name``; ``setup(config) -> dict`` computes its set-up
    arrays (default: the class's ``prepare``, if any)."""
    _check_interface(cls, name)
    if setup is not None:
        _SETUPS[cls] = setup
    MODELS[name] = ModelInfo(name, cls)


for _name, _cls, _setup in (
    ("", alp_model.ALPModel, setups.cta),
    ("log", alp_model.LogALPModel, setups.cta),
    ("spectral_fit", alp_model.SpectralFit, setups.cta),
    ("spectral_fit_log", alp_model.SpectralFitLog, setups.cta),
    ("magic_like", magic.MagicLike, setups.magic_like),
    ("toy_line", toy.ToyLine, None),
    ("toy_poly", toy.ToyPoly, None),
    ("toy_sine", toy.ToySine, None),
):
    register(_name, _cls, _setup)

#: The shipped models observed through the CTA response, on the 18-entry NGC 1275 parameter vector
#: (a model file whose class derives from ALPModel is one too: :func:`is_alp`).
ALP_MODELS = tuple(name for name, info in MODELS.items() if info.alp)


def is_model_file(value: str) -> bool:
    return str(value).endswith(".py")


def load_model_file(path: Path, label: str | None = None) -> ModelInfo:
    """The class ``Model`` of a user's file, checked for the interface (errors name the file);
    a file is imported once per content (:func:`analysis_core.plugins.load_class`)."""
    path = Path(path)
    label = label or str(path)
    cls = load_class(path, "Model", "model", label, guide="docs/guide/extending.md")
    _check_interface(cls, label)
    return ModelInfo(label, cls, path, file_sha256(path))


def resolve(value: str, copy: Path | None = None) -> ModelInfo:
    """The model ``value`` names: a shipped one, or a user's file (its run-folder ``copy`` when
    that exists, so a run keeps the model it started with)."""
    if value in MODELS:
        return MODELS[value]
    if is_model_file(value):
        if copy is not None and Path(copy).is_file():
            return load_model_file(copy, label=value)
        return load_model_file(Path(value))
    known = ", ".join(repr(m) for m in MODELS)
    raise ConfigError("model", value, f"expected one of {known} or the path of a model file (.py)")


def is_alp(value: str) -> bool:
    """Whether ``model=value`` names an ALP model (:attr:`ModelInfo.alp`)."""
    return resolve(value).alp


def check_outputs(info: ModelInfo, config, setup: dict | None = None) -> None:
    """Build the model and run it once on the table's Obs. values: every node must have the shape
    ``shapes`` declares (a wrong model stops the configuration, naming the model)."""
    try:
        model = info.build(config, setup)
        shapes = {k: tuple(v) for k, v in dict(model.shapes).items()}
        rng = np.random.default_rng(0)
        theta = config.table.physical(config.table.obs)
        out = dict(model.expected(theta, rng))
        noise = model.noise(np.asarray(out["exp"], float), rng)
        out.update(noise if isinstance(noise, dict) else {"data": noise})
        if hasattr(model, "features"):
            out.update(model.features(np.asarray(out["data"], float)))
    except ConfigError:
        raise
    except Exception as error:  # noqa: BLE001 - whatever the model raises, name it
        raise ConfigError(
            "model",
            info.name,
            f"the model fails on the Obs. values: {type(error).__name__}: {error}",
        ) from None
    for node in ("exp", "data"):
        if node not in shapes:
            raise ConfigError(
                "model", info.name, f"its shapes must include '{node}' (got {sorted(shapes)})"
            )
    for node, value in out.items():
        got = np.shape(value)
        if node not in shapes:
            raise ConfigError(
                "model", info.name, f"it returns a node '{node}' that its shapes do not declare"
            )
        if got != (1, *shapes[node]):
            raise ConfigError(
                "model",
                info.name,
                f"node '{node}' has shape {got} for one parameter vector; its shapes say (1, *{shapes[node]})",
            )
        if np.any(np.isnan(np.asarray(value, float))):
            raise ConfigError("model", info.name, f"node '{node}' holds NaN at the Obs. values")
