"""The instrument response, built once from a GADF IRF file with gammapy.

For a point source on the pointing axis (offset 0) and an ON region, the expected counts in
reconstructed-energy bin i are

    N_i = sum_j F_j X_j f_j K_ji + B_i,

with F_j the flux integrated over true-energy bin j (cm^-2 s^-1), X_j = A_eff(E_j, 0) T_live the
exposure (cm^2 s), f_j the fraction of the PSF inside the ON region, K_ji the migration
probability from true bin j to reconstructed bin i, and B_i the background counts in the ON
region. True and reconstructed axes both span [emin, emax] (log bins).

ON regions: ``point`` (default) is a disk of radius ``on_region_radius`` degrees around the
source, with f_j from the PSF; ``legacy`` is a 2 deg x 2 deg box, which holds the
whole PSF (f_j = 1) and much more background.

:func:`build_response` is the only place that calls gammapy; simulations use the arrays in
:class:`Response`, which the configuration stage stores in the run folder (``response.npz``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from analysis_core.errors import ConfigError
from analysis_core.files import save_npz

LEGACY_BOX_DEG = 2.0
PIXEL_DEG = 0.01


@dataclass
class Response:
    """Arrays of the folded response; energies in GeV."""

    e_true_edges: np.ndarray  # (n_true + 1,)
    e_reco_edges: np.ndarray  # (n_reco + 1,)
    exposure: np.ndarray  # (n_true,) cm^2 s, times the ON-region PSF containment
    migration: np.ndarray  # (n_true, n_reco)
    background: np.ndarray  # (n_reco,) counts in the ON region

    @property
    def e_true(self) -> np.ndarray:
        """Log-centres of the true-energy bins (GeV)."""
        return np.sqrt(self.e_true_edges[1:] * self.e_true_edges[:-1])

    @property
    def e_reco(self) -> np.ndarray:
        return np.sqrt(self.e_reco_edges[1:] * self.e_reco_edges[:-1])

    def counts(self, true_flux: np.ndarray) -> np.ndarray:
        """Expected counts (..., n_reco) from bin-integrated true fluxes (..., n_true) in cm^-2 s^-1."""
        return (true_flux * self.exposure) @ self.migration + self.background

    def scaled(self, livetime_h: float, signal: bool = True, bkg: bool = True) -> Response:
        """This response (built for 1 h) for ``livetime_h`` hours; ``signal``/``bkg`` false leave the
        source counts or the background out."""
        return Response(
            self.e_true_edges,
            self.e_reco_edges,
            self.exposure * (livetime_h if signal else 0.0),
            self.migration,
            self.background * (livetime_h if bkg else 0.0),
        )


def build_response(
    irf_file: Path,
    emin: float,
    emax: float,
    nbins: int,
    nbins_etrue: int,
    livetime_h: float,
    on_region: str = "point",
    on_region_radius: float = 0.2,
    edisp: bool = True,
) -> Response:
    """Fold the IRFs of ``irf_file`` for a source at offset 0 (gammapy 2.1, called once).

    ``edisp=False`` leaves the energy dispersion out: the true axis is the reconstructed one (nbins
    bins) and the migration the identity.
    """
    import astropy.units as u
    from gammapy.irf import load_irf_dict_from_file
    from gammapy.maps import MapAxis

    path = Path(irf_file)
    if not path.is_file():
        raise ConfigError("IRF_file", str(irf_file), "no such file")
    try:
        irfs = load_irf_dict_from_file(path)
    except Exception as error:  # noqa: BLE001 - any failure to read means "not a GADF IRF file"
        raise ConfigError(
            "IRF_file", str(irf_file), f"is not a readable GADF IRF file ({error})"
        ) from None
    missing = [
        name
        for name in ("aeff", "edisp", "bkg") + (("psf",) if on_region == "point" else ())
        if name not in irfs
    ]
    if missing:
        raise ConfigError(
            "IRF_file",
            str(irf_file),
            f"needs a full-enclosure IRF with {', '.join(missing)} (missing)",
        )
    aeff, bkg = irfs["aeff"], irfs["bkg"]
    lo, hi = aeff.axes["energy_true"].edges[[0, -1]].to_value("GeV")
    if emin < lo or emax > hi:
        raise ConfigError(
            "emin/emax",
            f"{emin:g}-{emax:g} GeV",
            f"must lie inside the IRF's energy range {lo:.4g}-{hi:.4g} GeV",
        )

    e_reco_edges = np.geomspace(emin, emax, nbins + 1)
    e_true_edges = np.geomspace(emin, emax, nbins_etrue + 1) if edisp else e_reco_edges
    nbins_etrue = len(e_true_edges) - 1
    axis_true = MapAxis.from_edges(e_true_edges * u.GeV, name="energy_true", interp="log")
    axis_reco = MapAxis.from_edges(e_reco_edges * u.GeV, name="energy", interp="log")
    centres_true = axis_true.center
    offset = 0 * u.deg
    livetime = livetime_h * u.h

    exposure = (aeff.evaluate(energy_true=centres_true, offset=offset) * livetime).to_value("cm2 s")
    if edisp:
        kernel = irfs["edisp"].to_edisp_kernel(
            offset=offset, energy_axis_true=axis_true, energy_axis=axis_reco
        )
        migration = kernel.pdf_matrix
    else:
        migration = np.eye(nbins)

    if on_region == "legacy":
        half = LEGACY_BOX_DEG / 2
        containment = np.ones(nbins_etrue)
    else:
        half = on_region_radius
        containment = np.asarray(
            irfs["psf"].containment(
                rad=on_region_radius * u.deg, energy_true=centres_true, offset=offset
            )
        )
    centres = np.arange(-half + PIXEL_DEG / 2, half, PIXEL_DEG)
    lon, lat = np.meshgrid(centres, centres, indexing="ij")
    inside = (
        np.ones_like(lon, bool) if on_region == "legacy" else lon**2 + lat**2 <= on_region_radius**2
    )
    rate = bkg.integrate_log_log(
        axis_name="energy",
        energy=e_reco_edges[:, None, None] * u.GeV,
        fov_lon=lon[None] * u.deg,
        fov_lat=lat[None] * u.deg,
    )  # (n_reco, n_pix, n_pix), integrated over each energy bin
    pixel_sr = np.deg2rad(PIXEL_DEG) ** 2
    background = (
        np.sum(rate.to_value("1 / (s sr)") * inside, axis=(1, 2)) * pixel_sr
    ) * livetime.to_value("s")
    return Response(
        e_true_edges, e_reco_edges, exposure * containment, np.asarray(migration), background
    )


#: Part of every cache key: raise it when what a cached kind computes changes.
CACHE_FORMAT = 1

#: Arrays computed in this process, by kind and digest of what they are computed from.
_BUILT: dict[str, dict[str, np.ndarray]] = {}


def cache_dir() -> Path:
    """Where set-up arrays are kept between sessions: ``$ALPSWYFT_CACHE``, else
    ``$XDG_CACHE_HOME/alpswyft`` (``~/.cache/alpswyft``)."""
    if os.environ.get("ALPSWYFT_CACHE"):
        return Path(os.environ["ALPSWYFT_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "alpswyft"


def cached_arrays(kind: str, key: str, compute) -> dict[str, np.ndarray]:
    """``compute()`` (a dict of arrays) once per ``key``: kept in memory and on disk under
    :func:`cache_dir`. The cache is only a shortcut: where it cannot be written, it is computed."""
    digest = f"{kind}_{hashlib.sha256(f'{CACHE_FORMAT}:{key}'.encode()).hexdigest()[:24]}"
    if digest in _BUILT:
        return _BUILT[digest]
    try:
        path = cache_dir() / f"{digest}.npz"
    except RuntimeError:  # no home directory to put it in
        path = None
    try:
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except (OSError, ValueError, TypeError):
        arrays = compute()
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                save_npz(path, **arrays)
        except OSError:
            pass  # a read-only home: computed again next time
    _BUILT[digest] = arrays
    return arrays


def cached_response(
    irf_file: Path,
    emin: float,
    emax: float,
    nbins: int,
    nbins_etrue: int,
    on_region: str = "point",
    on_region_radius: float = 0.2,
    edisp: bool = True,
) -> Response:
    """:func:`build_response` for a livetime of 1 h (scale it with :meth:`Response.scaled`), built
    once per IRF file (its SHA-256) and arguments (:func:`cached_arrays`)."""
    path = Path(irf_file)
    if not path.is_file():
        raise ConfigError("IRF_file", str(irf_file), "no such file")
    key = hashlib.sha256(path.read_bytes()).hexdigest() + repr(
        (
            float(emin),
            float(emax),
            int(nbins),
            int(nbins_etrue),
            on_region,
            float(on_region_radius),
            bool(edisp),
        )
    )
    arrays = cached_arrays(
        "response",
        key,
        lambda: vars(
            build_response(
                path, emin, emax, nbins, nbins_etrue, 1.0, on_region, on_region_radius, edisp
            )
        ),
    )
    return Response(**{f.name: arrays[f.name] for f in fields(Response)})
