"""The set-up arrays of the shipped models, computed once per configuration.

A model's set-up is what does not change between simulations: the response scaled to the live
time, the line of sight (EBL, Galactic field) and the null-hypothesis counts. The configuration
stage stores it as ``response.npz``; :class:`~alpswyft.models.ModelInfo` names each model's set-up
function. Here the instrument is read: a CTA IRF file (:mod:`alpswyft.physics.response`) or the
DL3 runs of a real observation (:mod:`alpswyft.datasets.onoff`); the physics receives the arrays.
"""

from __future__ import annotations

import numpy as np

from alpswyft.datasets.onoff import TRUE_ENERGY_MARGIN, observation_setup
from alpswyft.physics.alp_model import ALPModel, line_of_sight, los_arrays, setup_arrays
from alpswyft.physics.magic import STATES, MagicLike, state_config, state_vectors
from alpswyft.physics.response import Response, cached_response
from analysis_core.errors import ConfigError


def cta(
    config,
    signal: bool = True,
    bkg: bool = True,
    edisp: bool = True,
    model_class: type = ALPModel,
) -> dict[str, np.ndarray]:
    """Response, EBL, Galactic field and null counts of the CTA models (``""``, ``log``,
    ``spectral_fit``, ``spectral_fit_log``) for a configuration.

    The gammapy response is built once per IRF file and binning (:func:`cached_response`, for 1 h)
    and scaled to ``livetime``; ``signal``, ``bkg`` and ``edisp`` switch the source counts, the
    background and the energy dispersion. With ``observation=`` the response, background and
    counts are those of its DL3 runs (:func:`real_observation`). ``model_class``: the configured
    ALP model's class (:attr:`ModelInfo.prepare <alpswyft.models.ModelInfo.prepare>` passes it), so
    a variant's own spectrum, line of sight and propagation make its null counts.
    """
    if config.physics.observation:
        return real_observation(config, signal, bkg, edisp, model_class)
    response = cached_response(
        config.irf_path,
        config.physics.emin,
        config.physics.emax,
        config.physics.nbins,
        config.physics.nbins_etrue,
        config.physics.on_region,
        config.physics.on_region_radius,
        edisp,
    )
    return setup_arrays(
        config,
        response.scaled(config.physics.livetime, signal, bkg),
        model_class.line_of_sight(response.e_true),
        model_class=model_class,
    )


def real_observation(
    config, signal: bool, bkg: bool, edisp: bool, model_class: type = ALPModel
) -> dict[str, np.ndarray]:
    """:func:`cta` for a real observation (``observation=``): the response of its runs, its
    smoothed OFF spectrum as the background model and its counts."""
    if not edisp:
        raise ConfigError(
            "edisp", False, "a real observation is always folded with its runs' energy dispersion"
        )
    response, arrays = observation_setup(config, signal, bkg)
    return setup_arrays(
        config, response, model_class.line_of_sight(response.e_true), arrays, model_class
    )


def magic_like(config, state_nbins: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
    """Per state (keys ``<state>__...``): the MAGIC run's response in the state's energy range
    scaled to its live time, the smoothed OFF background likewise, and the null counts; once, the
    line of sight on the common true-energy axis (``nbins_etrue`` bins over [emin/2, 2 emax] of
    all states). Each state has ``nbins`` reconstructed-energy bins, or with ``state_nbins`` one
    number per state (e.g. :data:`~alpswyft.physics.magic.MAGIC_NBINS`; the model then takes its
    binning from the set-up)."""
    if state_nbins is not None and (len(state_nbins) != len(STATES) or min(state_nbins) < 2):
        raise ConfigError(
            "state_nbins",
            state_nbins,
            f"{len(STATES)} numbers of bins (>= 2), one per state "
            f"({', '.join(s.name for s in STATES)})",
        )
    if not config.physics.observation:
        raise ConfigError(
            "observation",
            "",
            "model=magic_like takes the response and background of a MAGIC DL3 run: "
            "give its file, e.g. observation=magicDL3_05059487.fits.gz",
        )
    true_edges = np.geomspace(
        min(s.emin for s in STATES) / TRUE_ENERGY_MARGIN,
        max(s.emax for s in STATES) * TRUE_ENERGY_MARGIN,
        config.physics.nbins_etrue + 1,
    )
    arrays: dict[str, np.ndarray] = {}
    for k, state in enumerate(STATES):
        nbins = None if state_nbins is None else state_nbins[k]
        response, observed = observation_setup(
            state_config(config, state, nbins), energy_true_edges_gev=true_edges
        )
        scale = state.livetime_h * 3600.0 / float(observed["onoff_livetime_s"])
        response = Response(
            response.e_true_edges,
            response.e_reco_edges,
            response.exposure * scale,
            response.migration,
            response.background * scale,
        )
        observed.update(
            onoff_off_background=observed["onoff_off_background"] * scale,
            onoff_livetime_s=np.array(state.livetime_h * 3600.0),
        )
        arrays.update({f"{state.name}__{k}": v for k, v in observed.items()})
        arrays.update({f"{state.name}__response_{k}": v for k, v in vars(response).items()})
    arrays.update(los_arrays(line_of_sight(np.sqrt(true_edges[1:] * true_edges[:-1]))))
    model = MagicLike(config, arrays)
    rng = np.random.default_rng(
        config.physics.ALP_seed
        if config.physics.ALP_seed is not None
        else config.simulation.sim_seed
    )
    null = config.table.physical(config.table.null)
    pgg = model.survival_batch(null, rng)
    for k, (state, sub) in enumerate(zip(STATES, model.states)):
        arrays[f"{state.name}__null_counts"] = sub.fold(state_vectors(null, k), pgg)[0]
    return arrays
