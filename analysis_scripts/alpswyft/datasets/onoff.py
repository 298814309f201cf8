"""Real observations: DL3 runs (GADF EVENTS, GTI, point-like IRFs) to ON and OFF counts per
reconstructed-energy bin, with gammapy's reflected-region background.

For each run the ON region is a circle on the source. With point-like IRFs its radius is their
``RAD_MAX`` (energy-dependent where they have a RAD_MAX table), or ``on_radius_deg``, which replaces
a fixed RAD_MAX (MAGIC's NGC 1275 run stores 0.02, its theta^2 cut in deg^2, where its Crab run of
the same format stores the radius, 0.141 deg). With full-enclosure IRFs it is ``on_radius_deg``
(default :data:`FULL_ENCLOSURE_RADIUS_DEG`) and the exposure holds the PSF's containment. The OFF regions
are the same circle placed at the source's offset from the pointing, rotated about it (wobble
observations: ``n_off`` regions, alpha = 1 / n_off). Runs stack: the counts add, and the response
of each run (exposure from its live time and the effective area at its offset, migration from its
energy dispersion) is kept with it, in its gammapy dataset.

A run with ``observation=`` (docs/guide/real_observations.md) turns the stack into the set-up arrays
of the ALP model (:func:`observation_setup`): the response of exactly these runs, the smoothed OFF
spectrum as the background model, and the observed counts, which become the run's observation.

Some DL3 files lack what gammapy needs to read them: the observatory's location (``GEOLON``,
``GEOLAT``, ``ALTITUDE``), which only serves horizontal coordinates. It is added in memory from
:data:`SITES` by the ``TELESCOP`` keyword; a file of another telescope without it is refused,
naming the keywords.
"""

from __future__ import annotations

import glob
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alpswyft.physics.response import Response
from alpswyft.physics.source import DEC_DEG, RA_DEG
from analysis_core.errors import ConfigError, PipelineError

#: (longitude deg, latitude deg, altitude m) of the sites of telescopes whose DL3 files may omit them
SITES = {"MAGIC": (-17.8906, 28.7619, 2200.0)}
#: the ON radius (deg) of a run with full-enclosure IRFs when none is given
FULL_ENCLOSURE_RADIUS_DEG = 0.1
#: the run table's columns (``OnOffSpectrum.runs``; ``run_<key>`` in the set-up arrays)
RUN_KEYS = ("obs_id", "file", "livetime_s", "offset_deg", "on_radius_deg")
#: a source farther than this from a run's pointing (deg) is outside the reflected-region method's reach
MAX_OFFSET_DEG = 2.5


@dataclass
class OnOffSpectrum:
    """Stacked ON and OFF counts per reconstructed-energy bin of several runs."""

    energy_edges: np.ndarray  # TeV, reconstructed energy
    n_on: np.ndarray  # counts per bin in the ON region
    n_off: np.ndarray  # counts per bin in all OFF regions
    alpha: np.ndarray  # per bin: ON area over OFF area (exposure-weighted over the runs)
    livetime_s: float
    runs: list[dict] = field(
        default_factory=list
    )  # per run: obs_id, file, livetime_s, offset_deg, on_radius_deg
    datasets: list = field(default_factory=list, repr=False)  # gammapy SpectrumDatasetOnOff per run

    @property
    def excess(self) -> np.ndarray:
        return self.n_on - self.alpha * self.n_off

    @classmethod
    def from_arrays(cls, arrays: dict, energy_edges_gev: np.ndarray) -> OnOffSpectrum:
        """The spectrum of a run's set-up arrays (``onoff_*``, ``run_*``; :func:`observation_setup`)."""
        runs = [
            dict(zip(RUN_KEYS, row))
            for row in zip(*(arrays[f"run_{k}"].tolist() for k in RUN_KEYS))
        ]
        return cls(
            np.asarray(energy_edges_gev, float) / 1e3,
            arrays["onoff_n_on"],
            arrays["onoff_n_off"],
            arrays["onoff_alpha"],
            float(arrays["onoff_livetime_s"]),
            runs,
        )

    def table(self) -> str:
        """Counts, excess and Li & Ma significance per bin, as text."""
        significance = li_ma(self.n_on, self.n_off, self.alpha)
        lines = [
            f"{'E_reco (TeV)':>17} {'ON':>6} {'OFF':>6} {'alpha':>6} {'excess':>8} {'sigma':>6}"
        ]
        for lo, hi, on, off, a, excess, sigma in zip(
            self.energy_edges[:-1],
            self.energy_edges[1:],
            self.n_on,
            self.n_off,
            self.alpha,
            self.excess,
            significance,
        ):
            lines.append(
                f"{f'{lo:.3g}-{hi:.3g}':>17} {on:>6.0f} {off:>6.0f} {a:>6.3f} {excess:>8.1f} {sigma:>6.1f}"
            )
        return "\n".join(lines)


def read_run(path: Path, on_radius_deg: float | None = None):
    """The gammapy ``Observation`` of one DL3 file and its live time (s), with a missing site
    location added from :data:`SITES`, and, with ``on_radius_deg``, the IRF's fixed ``RAD_MAX``
    replaced by it; a clear error for a file without EVENTS or GTI.

    The live time is the header's ``LIVETIME`` (dead time already taken off), else the good time
    intervals times ``DEADC``: gammapy 2.1 counts the dead time as live."""
    from astropy.io import fits
    from gammapy.data import Observation

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"observation = '{path}': no such file")
    with fits.open(path) as hdus:
        names = [h.name for h in hdus]
        missing = [name for name in ("EVENTS", "GTI") if name not in names]
        if missing:
            raise PipelineError(
                f"observation = '{path}' has no {' and no '.join(missing)} HDU (it has "
                f"{', '.join(names)}); a DL3 run needs its event list and good time intervals"
            )
        header = hdus["EVENTS"].header
        gti = hdus["GTI"].data
        livetime = float(
            header.get("LIVETIME", np.sum(gti["STOP"] - gti["START"]) * header.get("DEADC", 1.0))
        )
        absent = [key for key in ("GEOLON", "GEOLAT", "ALTITUDE") if key not in header]
        if absent:
            telescope = str(header.get("TELESCOP", "")).strip()
            if telescope not in SITES:
                raise PipelineError(
                    f"observation = '{path}': its EVENTS header lacks {', '.join(absent)} and its "
                    f"telescope {telescope!r} is not one of {', '.join(SITES)} whose site is known"
                )
            for key, value in zip(("GEOLON", "GEOLAT", "ALTITUDE"), SITES[telescope]):
                header[key] = value
        if on_radius_deg is not None and "RAD_MAX" in names:
            raise PipelineError(
                f"rad_max: '{path}' has an energy-dependent RAD_MAX table, which is its ON radius; "
                "leave rad_max empty"
            )
        if on_radius_deg is not None:  # a fixed RAD_MAX is replaced; full-enclosure IRFs have none
            for h in (h for h in hdus if "RAD_MAX" in h.header):
                h.header["RAD_MAX"] = on_radius_deg
        with tempfile.TemporaryDirectory() as folder:  # gammapy reads from a file
            patched = Path(folder) / path.name.replace(".gz", "")
            hdus.writeto(patched)
            observation = Observation.read(patched)
            for name in (
                "events",
                "gti",
                "aeff",
                "edisp",
                "rad_max",
                "psf",
            ):  # read now, before the file goes
                getattr(observation, name)
            return observation, livetime


def observation_files(value: str) -> list[Path]:
    """The DL3 files of the ``observation`` variable: comma-separated paths or glob patterns
    (``runs/*.fits.gz``), sorted, each file once."""
    files: list[Path] = []
    for pattern in (p.strip() for p in value.split(",") if p.strip()):
        matches = (
            sorted(glob.glob(pattern))
            if glob.has_magic(pattern)
            else [pattern]
            if Path(pattern).exists()
            else []
        )
        if not matches:
            raise ConfigError(
                "observation",
                pattern,
                "matches no file (give DL3 files or glob patterns, "
                "e.g. runs/*.fits.gz, separated by commas)",
            )
        files += [Path(m) for m in matches if Path(m) not in files]
    if not files:
        raise ConfigError("observation", value, "names no DL3 file")
    return files


def on_off_spectrum(
    paths: list[Path],
    ra_deg: float,
    dec_deg: float,
    energy_edges_tev: np.ndarray,
    n_off: int = 3,
    on_radius_deg: float | None = None,
    energy_true_edges_tev: np.ndarray | None = None,
) -> OnOffSpectrum:
    """The stacked ON/OFF spectrum of the runs ``paths`` for a source at (``ra_deg``, ``dec_deg``)
    (ICRS) in the reconstructed-energy bins ``energy_edges_tev``; the response is computed on the
    true-energy bins ``energy_true_edges_tev`` (default: 4 per reconstructed bin over the IRF's
    range)."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from gammapy.datasets import SpectrumDataset
    from gammapy.makers import (
        ReflectedRegionsBackgroundMaker,
        SpectrumDatasetMaker,
        WobbleRegionsFinder,
    )
    from gammapy.maps import MapAxis, RegionGeom
    from regions import CircleSkyRegion, PointSkyRegion

    if not paths:
        raise PipelineError("observation: no DL3 file given")
    target = SkyCoord(ra_deg, dec_deg, unit="deg", frame="icrs")
    edges = np.asarray(energy_edges_tev, dtype=float)
    e_reco = MapAxis.from_energy_edges(edges * u.TeV, name="energy")
    runs, datasets = [], []
    for path in paths:
        observation, livetime = read_run(path, on_radius_deg)
        offset = float(observation.get_pointing_icrs(observation.tmid).separation(target).deg)
        if offset > MAX_OFFSET_DEG:
            raise PipelineError(
                f"observation = '{path}': pointed {offset:.2f} deg from the source (at most "
                f"{MAX_OFFSET_DEG} deg): not an observation of it"
            )
        e_irf = observation.aeff.axes["energy_true"].edges.to_value("TeV")
        if edges[0] < e_irf[0] or edges[-1] > e_irf[-1]:
            raise PipelineError(
                f"energy range {edges[0]:g}-{edges[-1]:g} TeV: outside the effective area of "
                f"'{path}' ({e_irf[0]:.3g}-{e_irf[-1]:.3g} TeV)"
            )
        if energy_true_edges_tev is None:
            true_edges = np.geomspace(e_irf[0], e_irf[-1], 4 * len(edges))
        else:  # the requested span, within the IRF's
            given = np.asarray(energy_true_edges_tev, float)
            true_edges = np.geomspace(
                max(given[0], e_irf[0]), min(given[-1], e_irf[-1]), len(given)
            )
        e_true = MapAxis.from_energy_edges(true_edges * u.TeV, name="energy_true")
        if (
            observation.rad_max is not None
        ):  # point-like IRFs: the ON region is RAD_MAX about the source
            radius = float(np.max(observation.rad_max.quantity.to_value("deg")))
            region, containment = PointSkyRegion(target), False
        else:  # full enclosure: a circle, the PSF's containment in the exposure
            if observation.psf is None:
                raise PipelineError(
                    f"observation = '{path}' has full-enclosure IRFs without a PSF: the ON region's "
                    "containment cannot be computed"
                )
            radius = FULL_ENCLOSURE_RADIUS_DEG if on_radius_deg is None else on_radius_deg
            region, containment = CircleSkyRegion(target, radius * u.deg), True
        empty = SpectrumDataset.create(
            geom=RegionGeom.create(region=region, axes=[e_reco]), energy_axis_true=e_true
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = SpectrumDatasetMaker(
                containment_correction=containment, selection=["counts", "exposure", "edisp"]
            ).run(empty.copy(name=str(observation.obs_id)), observation)
            on_off = ReflectedRegionsBackgroundMaker(
                region_finder=WobbleRegionsFinder(n_off_regions=n_off)
            ).run(dataset, observation)
        on_off.exposure *= livetime / observation.observation_live_time_duration.to_value(
            "s"
        )  # the real live time
        datasets.append(on_off)
        runs.append(
            {
                "obs_id": int(observation.obs_id),
                "file": str(path),
                "offset_deg": offset,
                "on_radius_deg": radius,
                "livetime_s": livetime,
            }
        )
    n_on = sum(d.counts.data.ravel() for d in datasets).astype(float)
    n_off_counts = sum(d.counts_off.data.ravel() for d in datasets).astype(float)
    # alpha of the stack: the alpha-weighted OFF counts of every run over their sum
    weighted = sum(d.alpha.data.ravel() * d.counts_off.data.ravel() for d in datasets)
    livetimes = np.array([r["livetime_s"] for r in runs])
    mean_alpha = (
        sum(d.alpha.data.ravel() * t for d, t in zip(datasets, livetimes)) / livetimes.sum()
    )
    alpha = np.where(n_off_counts > 0, weighted / np.maximum(n_off_counts, 1), mean_alpha)
    return OnOffSpectrum(edges, n_on, n_off_counts, alpha, float(livetimes.sum()), runs, datasets)


#: the true-energy axis of a real observation reaches this factor below emin and above emax, so
#: that events migrating into the analysis range from outside it are counted
TRUE_ENERGY_MARGIN = 2.0


def stacked_response(spectrum: OnOffSpectrum) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The response of the stacked runs: true-energy edges (GeV), exposure per true bin (cm^2 s, the
    runs' sum) and migration (n_true, n_reco), the exposure-weighted mean of the runs' kernels."""
    exposures = [d.exposure.quantity.to_value("cm2 s").ravel() for d in spectrum.datasets]
    kernels = [d.edisp.get_edisp_kernel().pdf_matrix for d in spectrum.datasets]
    exposure = np.sum(exposures, axis=0)
    weighted = sum(x[:, None] * k for x, k in zip(exposures, kernels))
    migration = weighted / np.where(exposure > 0, exposure, 1.0)[:, None]
    edges = spectrum.datasets[0].exposure.geom.axes["energy_true"].edges.to_value("GeV")
    return edges, exposure, migration


def smooth_off_counts(n_off: np.ndarray, energy_edges: np.ndarray) -> np.ndarray:
    """The expected OFF counts per bin behind observed ones: a Poisson maximum-likelihood fit of
    log b = c0 + c1 x + c2 x^2 (x = log10 of the bin centre; fewer terms where fewer bins have
    counts). Its total is the observed total; no OFF counts give zeros."""
    from scipy.optimize import minimize

    n_off = np.asarray(n_off, float)
    if n_off.sum() == 0:
        return np.zeros_like(n_off)
    x = np.log10(np.sqrt(energy_edges[1:] * energy_edges[:-1]))
    x = x - x.mean()
    degree = int(min(2, np.count_nonzero(n_off) - 1))
    design = np.vander(x, degree + 1, increasing=True)

    def nll(c):
        log_b = np.clip(design @ c, -50, 50)
        return np.sum(np.exp(log_b) - n_off * log_b)

    start = np.zeros(degree + 1)
    start[0] = np.log(n_off.mean())
    fit = minimize(nll, start, method="Nelder-Mead" if degree == 0 else "BFGS")
    b = np.exp(np.clip(design @ fit.x, -50, 50))
    return b * n_off.sum() / b.sum()


def observation_setup(
    config, signal: bool = True, bkg: bool = True, energy_true_edges_gev: np.ndarray | None = None
):
    """The response and background model of the runs of ``config.physics.observation`` in the run's binning,
    and their arrays: ``(Response, arrays)``, the arrays holding the observed counts (``onoff_*``)
    and the run table (``run_*``). ``signal``/``bkg`` false leave the source counts or the
    background out (the simulator's switches). The true-energy axis reaches
    :data:`TRUE_ENERGY_MARGIN` beyond [emin, emax] with ``nbins_etrue`` bins, unless given."""
    files = observation_files(config.physics.observation)
    reco_edges = np.geomspace(
        config.physics.emin, config.physics.emax, config.physics.nbins + 1
    )  # GeV
    true_edges = (
        np.geomspace(
            config.physics.emin / TRUE_ENERGY_MARGIN,
            config.physics.emax * TRUE_ENERGY_MARGIN,
            config.physics.nbins_etrue + 1,
        )
        if energy_true_edges_gev is None
        else np.asarray(energy_true_edges_gev, float)
    )
    spectrum = on_off_spectrum(
        files,
        RA_DEG,
        DEC_DEG,
        reco_edges / 1e3,
        n_off=config.physics.n_off_regions,
        on_radius_deg=config.physics.rad_max,
        energy_true_edges_tev=true_edges / 1e3,
    )
    true_edges, exposure, migration = stacked_response(spectrum)
    off_background = smooth_off_counts(spectrum.n_off, reco_edges)
    response = Response(
        true_edges,
        reco_edges,
        exposure * float(signal),
        migration,
        spectrum.alpha * off_background * float(bkg),
    )
    arrays = {
        "onoff_n_on": spectrum.n_on,
        "onoff_n_off": spectrum.n_off,
        "onoff_alpha": spectrum.alpha,
        "onoff_off_background": off_background * float(bkg),
        "onoff_livetime_s": np.array(spectrum.livetime_s),
        **{f"run_{key}": np.array([run[key] for run in spectrum.runs]) for key in RUN_KEYS},
    }
    return response, arrays


def describe(arrays: dict) -> str:
    """One line per run, and the stack's counts and significance, from the set-up arrays."""
    lines = [f"{'run':>10} {'livetime (s)':>13} {'offset (deg)':>13} {'ON radius (deg)':>16}  file"]
    for obs_id, path, livetime, offset, radius in zip(*(arrays[f"run_{k}"] for k in RUN_KEYS)):
        lines.append(
            f"{obs_id:>10} {livetime:>13.1f} {offset:>13.3f} {radius:>16.4g}  {Path(str(path)).name}"
        )
    n_on, n_off, alpha = (np.asarray(arrays[f"onoff_{k}"]) for k in ("n_on", "n_off", "alpha"))
    total = li_ma(
        n_on.sum(),
        n_off.sum(),
        np.sum(alpha * n_off) / max(n_off.sum(), 1) if n_off.sum() else alpha.mean(),
    )
    lines.append(
        f"{len(arrays['run_obs_id'])} run(s), {float(arrays['onoff_livetime_s']) / 3600:.3f} h: "
        f"ON {n_on.sum():.0f}, OFF {n_off.sum():.0f}, excess {np.sum(n_on - alpha * n_off):.1f} "
        f"({float(total):.1f} sigma, Li & Ma)"
    )
    return "\n".join(lines)


def li_ma(n_on: np.ndarray, n_off: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The significance of the excess per bin, Li & Ma (1983) eq. 17, signed as the excess (0
    where there is nothing to test)."""
    n_on, n_off, alpha = (
        np.asarray(x, dtype=float) for x in np.broadcast_arrays(n_on, n_off, alpha)
    )
    total = n_on + n_off
    with np.errstate(divide="ignore", invalid="ignore"):
        on_term = np.where(n_on > 0, n_on * np.log((1 + alpha) / alpha * n_on / total), 0.0)
        off_term = np.where(n_off > 0, n_off * np.log((1 + alpha) * n_off / total), 0.0)
    ts = np.clip(2 * (on_term + off_term), 0, None)
    return np.sign(n_on - alpha * n_off) * np.sqrt(ts)


def plot_excess(spectrum: OnOffSpectrum, predicted_excess: np.ndarray | None = None):
    """The observed excess counts per bin with their errors (ON and OFF Poisson), the Li & Ma
    significance per bin below, and ``predicted_excess`` (counts per bin, e.g. the model at the
    posterior mean) over the data."""
    import matplotlib.pyplot as plt

    edges = spectrum.energy_edges
    centres = np.sqrt(edges[1:] * edges[:-1])
    error = np.sqrt(spectrum.n_on + spectrum.alpha**2 * spectrum.n_off)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(7, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.errorbar(
        centres,
        spectrum.excess,
        error,
        xerr=[centres - edges[:-1], edges[1:] - centres],
        fmt="o",
        ms=3,
        color="k",
        label=f"excess, {len(spectrum.runs)} run(s), {spectrum.livetime_s / 3600:.2f} h",
    )
    if predicted_excess is not None:
        top.stairs(predicted_excess, edges, color="C3", baseline=None, label="model")
    top.axhline(0, color="0.6", lw=0.8)
    top.set(xscale="log", ylabel="excess counts per bin")
    top.legend(fontsize=8)
    bottom.stairs(
        li_ma(spectrum.n_on, spectrum.n_off, spectrum.alpha),
        edges,
        color="C0",
        fill=True,
        alpha=0.6,
    )
    bottom.set(xlabel="reconstructed energy (TeV)", ylabel="Li & Ma (sigma)")
    fig.tight_layout()
    return fig
