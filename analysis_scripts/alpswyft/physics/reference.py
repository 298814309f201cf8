"""gammaALPs as the reference engine, with its side effects contained.

gammaALPs draws the cluster field when a module is built and reseeds numpy's *global* random state
to do so; :func:`isolated_global_rng` saves and restores that state around every
call. The Galactic-field line of sight is taken from gammaALPs once per configuration; the full
``ModuleList.run()`` path (``alp_engine=gammaalps``) is the slow reference the fast engine
(:mod:`alpswyft.physics.propagation`) is tested against.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings

import numpy as np

from alpswyft.physics.source import DEC_DEG, RA_DEG, REDSHIFT


@contextlib.contextmanager
def isolated_global_rng():
    # gammaALPs draws its turbulent fields from numpy's legacy global generator.
    state = np.random.get_state()  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


@contextlib.contextmanager
def _quiet_stderr():
    """gammaALPs asks git for its version at import and git complains on stderr; hide that."""
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _gammaalps():
    with warnings.catch_warnings(), _quiet_stderr():
        warnings.simplefilter("ignore")
        from gammaALPs.base import environs
        from gammaALPs.core import ALP, ModuleList, Source

    logging.getLogger("gamma_alps").setLevel(logging.WARNING)
    return ALP, ModuleList, Source, environs


def gmf_domains(energy_gev: np.ndarray):
    """Jansson & Farrar 2012 regular field towards NGC 1275, in the order the beam crosses it:
    (B_T [muG], psi [rad], n_e [cm^-3], dL [kpc])."""
    ALP, _, Source, environs = _gammaalps()
    source = Source(z=REDSHIFT, ra=RA_DEG, dec=DEC_DEG)
    with isolated_global_rng():
        gmf = environs.MixGMF(
            ALP(0.0, 0.0), source, EGeV=np.asarray(energy_gev, float), model="jansson12"
        )
    return np.array(gmf.B), np.array(gmf.psi), np.array(gmf.nel), np.array(gmf.dL)


def module_list(energy_gev: np.ndarray, v: np.ndarray, seed: int | None):
    """gammaALPs' propagation (ICM Gaussian turbulence, EBL, GMF) for a physical 18-vector,
    with this project's conventions (``q = -|q|``, n in 1e-3 cm^-3, real coordinates)."""
    ALP, ModuleList, Source, _ = _gammaalps()
    source = Source(z=REDSHIFT, ra=RA_DEG, dec=DEC_DEG)
    pin = np.diag([0.5, 0.5, 0.0])
    with isolated_global_rng():
        ml = ModuleList(
            ALP(v[0], v[1]),
            source,
            pin=pin,
            EGeV=np.asarray(energy_gev, float),
            seed=seed,
            log_level="warning",
        )
        ml.add_propagation(
            "ICMGaussTurb",
            0,
            nsim=1,
            B0=v[6],
            n0=v[7] * 1e-3,
            n2=v[8] * 1e-3,
            r_abell=v[9],
            r_core=v[10],
            r_core2=v[11],
            beta=v[12],
            beta2=v[13],
            eta=v[14],
            kL=v[15],
            kH=v[16],
            q=-v[17],
            seed=seed,
        )
        ml.add_propagation("EBL", 1, eblmodel="dominguez")
        ml.add_propagation("GMF", 2, model="jansson12")
    return ml


def survival(energy_gev: np.ndarray, v: np.ndarray, seed: int | None = None):
    """P_gg from gammaALPs' ``ModuleList.run()``, and the cluster domains it used
    (B_T, psi, n_e [cm^-3], dL), so the fast engine can be fed the same field."""
    ml = module_list(energy_gev, v, seed)
    with isolated_global_rng():
        px, py, _ = ml.run(multiprocess=1)
    icm = ml.modules[0]
    domains = (np.array(icm.B), np.array(icm.psi), np.array(icm.nel), np.array(icm.dL))
    return np.squeeze(px + py), domains
