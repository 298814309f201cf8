"""A synthetic POLAR rate file (``nf1rate.root``) with injected transients of known truth.

The real file is not distributable; this one has its structure (one TTree named after the file
stem, one row per 1 s bin, the same branches and dtypes) and the behaviour a background model has to
learn:

- the orbit of Tiangong-2: 42.8 deg inclination, 5535.4 s period, ~393 km, the Earth turning below;
- South-Atlantic-Anomaly passages: no rows inside (the instrument is off), rates raised near its
  edge, and an activation that decays with ``time_since_saa``;
- rates modulated by the geomagnetic cut-off (a tilted dipole gives ``B_r``, ``B_theta``,
  ``B_phi`` and ``fe_cosmic``), altitude and temperature, plus the Crab (``crabarf``) and the Sun;
- 13 channels that are the original's nested event selections (:data:`CHANNELS`), not energy
  bands: each detected event has a multiplicity (one bar, 2-8 bars, more than 8), a largest bar
  deposit (below 15 keV, 15-20, 20-30, 30-50, 50-70, above 70 keV) and may fall in the window
  after a cosmic; the events of these 36 kinds are Poisson counts, and a channel counts the kinds
  its selection takes (:data:`MEMBERSHIP`), so every count of channel 1 is also in 0, 5, 6 and
  10. Photons, charged particles (many bars, hard, strongly cut-off dependent: channel 11), the
  SAA's soft activation, the Crab and the Sun have spectra of their own; ``rate_err =
  sqrt(counts) / dt``;
- transients: GRB-like spikes (fast rise, exponential decay, 1-100 s, harder than the background)
  at the known POLAR GRB times inside the file and at random times, and slow, soft solar-flare-like
  events (soft: single bars, low deposits). Their truth (times, peak significance in channel 0)
  is written beside the file as
  ``<stem>_truth.csv``.

The background depends on the time only through the branches, so a model of the branches can
predict it to within the Poisson noise.
"""

from __future__ import annotations

import csv
import datetime
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from polar.data import read_grbs

#: changes whenever the generator makes other files from the same settings (a run then regenerates its data)
VERSION = 2  # 2: nested event-selection channels
PERIOD_S = 5535.4
INCLINATION_DEG = 42.8
SIDEREAL_DAY_S = 86164.0905
EARTH_RADIUS_KM = 6371.2
DIPOLE_POLE_DEG = (80.65, -72.68)  # geographic latitude, longitude of the geomagnetic north pole
SAA_CENTRE_DEG, SAA_HALF_AXES_DEG = (-27.0, -50.0), (12.0, 40.0)
CRAB_DEG = (83.633, 22.014)  # RA, Dec
#: bar-deposit thresholds of the selections, keV; an event's class is how many it exceeds (0..5)
THRESHOLDS_KEV = (15, 20, 30, 50, 70)
MULTIPLICITIES = ("one bar", "2-8 bars", "more than 8 bars")


def _selections() -> np.ndarray:
    """(13, 3, 6, 2) membership of the event kinds (multiplicity, deposit class, after a cosmic)."""
    member = np.zeros((13, 3, 6, 2), dtype=bool)
    for j in range(5):
        member[j, 0, j + 1 :] = True  # single bar above THRESHOLDS_KEV[j]
        member[5 + j, :, j + 1 :] = True  # any bar above it
    member[10] = True  # any
    member[11, 2] = True  # more than 8 bars
    member[12, :, :, 0] = True  # any, not in a post-cosmic window
    return member


MEMBERSHIP = _selections().reshape(13, -1)
N_KINDS = MEMBERSHIP.shape[1]


def _spectrum(multiplicity, deposit) -> np.ndarray:
    """(3, 6) probabilities of an event's multiplicity and largest-deposit class."""
    table = np.outer(multiplicity, deposit)
    return table / table.sum()


#: counts/s at the mean modulation and the (multiplicity, deposit) spectrum of each component
PHOTONS = 2600.0, _spectrum([0.55, 0.43, 0.02], [0.30, 0.15, 0.20, 0.17, 0.08, 0.10])
CHARGED = 700.0, _spectrum([0.05, 0.35, 0.60], [0.04, 0.04, 0.10, 0.20, 0.22, 0.40])
ACTIVATION = 900.0, _spectrum([0.75, 0.25, 0.0], [0.45, 0.25, 0.20, 0.07, 0.02, 0.01])
GRB_SPECTRUM = _spectrum(
    [0.35, 0.62, 0.03], [0.08, 0.07, 0.15, 0.25, 0.17, 0.28]
)  # harder than the background
FLARE_SPECTRUM = _spectrum([0.85, 0.15, 0.0], [0.55, 0.30, 0.12, 0.03, 0.0, 0.0])
SUN_SPECTRUM = _spectrum([0.9, 0.1, 0.0], [0.6, 0.3, 0.1, 0.0, 0.0, 0.0])
SCALAR_BRANCHES = (
    "unix_time",
    "glat",
    "glon",
    "altitude",
    "temperature",
    "fe_cosmic",
    "raz",
    "decz",
    "rax",
    "decx",
    "is_orbit_up",
    "time_since_saa",
    "crabarf",
    "sun",
    "sun_spot",
    "B_r",
    "B_theta",
    "B_phi",
)


@dataclass
class Transient:
    kind: str  # grb, known_grb, flare
    name: str
    t_start: float
    t_peak: float
    t_stop: float
    peak_significance: float = (
        0.0  # max over bins of injected counts / sqrt(background counts), channel 0
    )
    observable: bool = True  # False when the event falls into an SAA gap


def _unit(ra, dec):
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def _gmst_rad(unix_time):
    days = (unix_time - 946728000.0) / 86400.0  # since J2000.0
    return np.deg2rad((280.46061837 + 360.98564736629 * days) % 360.0)


def _sun_radec(unix_time):
    d = (unix_time - 946728000.0) / 86400.0
    mean_long, anomaly = np.deg2rad(280.460 + 0.9856474 * d), np.deg2rad(357.528 + 0.9856003 * d)
    ecl = mean_long + np.deg2rad(1.915) * np.sin(anomaly) + np.deg2rad(0.020) * np.sin(2 * anomaly)
    eps = np.deg2rad(23.439)
    return np.arctan2(np.cos(eps) * np.sin(ecl), np.cos(ecl)), np.arcsin(np.sin(eps) * np.sin(ecl))


def context(unix_time: np.ndarray, t0: float) -> dict[str, np.ndarray]:
    """The orbital and instrument branches at ``unix_time`` (s), SAA rows included."""
    elapsed = unix_time - t0
    u = 2 * np.pi * elapsed / PERIOD_S + 0.3  # argument of latitude
    inc, node = np.deg2rad(INCLINATION_DEG), 1.0
    r = np.stack(
        [
            np.cos(u) * np.cos(node) - np.sin(u) * np.cos(inc) * np.sin(node),
            np.cos(u) * np.sin(node) + np.sin(u) * np.cos(inc) * np.cos(node),
            np.sin(u) * np.sin(inc),
        ],
        axis=-1,
    )
    v = np.stack(
        [
            -np.sin(u) * np.cos(node) - np.cos(u) * np.cos(inc) * np.sin(node),
            -np.sin(u) * np.sin(node) + np.cos(u) * np.cos(inc) * np.cos(node),
            np.cos(u) * np.sin(inc),
        ],
        axis=-1,
    )
    ra_z, dec_z = np.arctan2(r[:, 1], r[:, 0]), np.arcsin(r[:, 2])
    lon = (ra_z - _gmst_rad(unix_time) + np.pi) % (2 * np.pi) - np.pi
    lat = dec_z
    altitude = 393.0 + 4.0 * np.sin(u - 0.7) - 0.3 * elapsed / 86400.0

    pole_lat, pole_lon = np.deg2rad(DIPOLE_POLE_DEG)
    mag_lat = np.arcsin(
        np.sin(lat) * np.sin(pole_lat) + np.cos(lat) * np.cos(pole_lat) * np.cos(lon - pole_lon)
    )
    scale = (EARTH_RADIUS_KM / (EARTH_RADIUS_KM + altitude)) ** 3 * 30000.0  # nT
    cutoff_gv = 14.9 * np.cos(mag_lat) ** 4 * (EARTH_RADIUS_KM / (EARTH_RADIUS_KM + altitude)) ** 2
    temperature = 18.0 + 2.5 * np.sin(u + 1.2) + 1.0 * np.sin(2 * np.pi * elapsed / 86400.0)

    sun_ra, sun_dec = _sun_radec(unix_time)
    zenith = r
    crab = _unit(*np.deg2rad(CRAB_DEG))
    day = np.floor(elapsed / 86400.0)
    return {
        "glat": np.rad2deg(lat),
        "glon": np.rad2deg(lon),
        "altitude": altitude,
        "temperature": temperature,
        "fe_cosmic": 1.0 / (1.0 + (cutoff_gv / 3.0) ** 1.2),
        "raz": np.rad2deg(ra_z) % 360.0,
        "decz": np.rad2deg(dec_z),
        "rax": np.rad2deg(np.arctan2(v[:, 1], v[:, 0])) % 360.0,
        "decx": np.rad2deg(np.arcsin(v[:, 2])),
        "is_orbit_up": (np.cos(u) > 0).astype(np.int32),
        "crabarf": np.clip(zenith @ crab, 0.0, None) ** 1.5,
        "sun": (np.sum(zenith * _unit(sun_ra, sun_dec), axis=-1) > -0.34).astype(np.int32),
        "sun_spot": 25.0 + 5.0 * np.sin(2 * np.pi * day / 27.0),
        "B_r": -2.0 * scale * np.sin(mag_lat),
        "B_theta": scale * np.cos(mag_lat),
        "B_phi": 0.08 * scale * np.sin(lon - pole_lon) * np.cos(pole_lat),
    }


def saa_distance(glat, glon):
    """Elliptical distance from the SAA centre in units of its half-axes (< 1: inside)."""
    return np.hypot(
        (glat - SAA_CENTRE_DEG[0]) / SAA_HALF_AXES_DEG[0],
        (glon - SAA_CENTRE_DEG[1]) / SAA_HALF_AXES_DEG[1],
    )


def post_cosmic_fraction(branches: dict[str, np.ndarray]) -> np.ndarray:
    """Fraction of the events that fall in the window after a cosmic (what channel 12 drops)."""
    return 0.02 + 0.06 * branches["fe_cosmic"]


def _with_post_cosmic(rates: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """(n, 3, 6) rates of the event kinds split into (n, 3, 6, 2): outside, inside the window."""
    f = fraction[:, None, None, None]
    return rates[..., None] * np.concatenate([1 - f, f], axis=-1)


def background(branches: dict[str, np.ndarray]) -> np.ndarray:
    """Expected background counts/s of the event kinds (n, N_KINDS), a function of the branches only."""
    halo = np.exp(-np.clip(saa_distance(branches["glat"], branches["glon"]) - 1.0, 0.0, None) / 0.6)
    modulation = (1 + 0.0015 * (branches["altitude"] - 393.0)) * (
        1 - 0.002 * (branches["sun_spot"] - 25.0)
    )
    photons = (
        PHOTONS[0]
        * (0.5 + branches["fe_cosmic"])
        * modulation
        * (1 - 0.003 * (branches["temperature"] - 18.0))
    )
    charged = CHARGED[0] * (0.1 + 2.0 * branches["fe_cosmic"] ** 1.5) * modulation
    activation = ACTIVATION[0] * (0.6 * halo + 0.35 * np.exp(-branches["time_since_saa"] / 900.0))
    rates = (
        photons[:, None, None] * PHOTONS[1]
        + charged[:, None, None] * CHARGED[1]
        + activation[:, None, None] * ACTIVATION[1]
        + 30.0 * branches["crabarf"][:, None, None] * GRB_SPECTRUM
        + 10.0 * branches["sun"][:, None, None] * SUN_SPECTRUM
    )
    return _with_post_cosmic(rates, post_cosmic_fraction(branches)).reshape(len(rates), -1)


def channels(kinds: np.ndarray) -> np.ndarray:
    """Channel rates (n, 13) of event-kind rates or counts (n, N_KINDS)."""
    return kinds @ MEMBERSHIP.T.astype(kinds.dtype)


def _time_since_saa(unix_time, in_saa, t0):
    exits = np.zeros_like(in_saa)
    exits[1:] = in_saa[:-1] & ~in_saa[1:]
    last_exit = np.maximum.accumulate(np.where(exits, unix_time, -np.inf))
    return np.where(np.isfinite(last_exit), unix_time - last_exit, unix_time - t0 + 20000.0)


def _profile(kind: str, t: np.ndarray, event: Transient) -> np.ndarray:
    """Shape of an event, peak 1, averaged over each 1 s bin (4 sub-samples)."""
    sub = t[:, None] - 0.5 + (np.arange(4) + 0.5) / 4
    x = sub - event.t_start
    rise = event.t_peak - event.t_start
    if kind == "flare":
        decay = (event.t_stop - event.t_peak) / 4.0
        shape = np.where(
            x < rise, np.exp(-0.5 * ((x - rise) / (rise / 2.5)) ** 2), np.exp(-(x - rise) / decay)
        )
    else:
        decay = (event.t_stop - event.t_peak) / 5.0
        shape = np.where(
            x < rise,
            np.clip(x / rise, 0.0, None) * np.exp(1 - np.clip(x / rise, 0.0, None)),
            np.exp(-(x - rise) / decay),
        )
    return np.where(x >= 0, shape, 0.0).mean(axis=1)


def generate(
    path: Path,
    start: str,
    days: float,
    seed: int,
    random_grbs_per_day: float,
    flares_per_day: float,
    grb_list: Path,
) -> list[Transient]:
    """Write the synthetic file and its truth CSV; returns the injected transients."""
    from polar.export import write_trees

    rng = np.random.default_rng(seed)
    t0 = datetime.datetime.fromisoformat(start).replace(tzinfo=datetime.UTC).timestamp()
    unix_time = t0 + np.arange(int(days * 86400), dtype=float)
    t1 = unix_time[-1]
    branches = context(unix_time, t0)
    in_saa = saa_distance(branches["glat"], branches["glon"]) < 1.0
    branches["time_since_saa"] = _time_since_saa(unix_time, in_saa, t0)
    expected = background(branches)
    expected_0 = channels(expected)[:, 0]  # the significance is counted in channel 0
    post_cosmic = post_cosmic_fraction(branches)

    events = _draw_events(rng, t0, t1, days, random_grbs_per_day, flares_per_day, grb_list)
    injected = np.zeros_like(expected)
    for event in events:
        window = (unix_time >= event.t_start - 1) & (unix_time <= event.t_stop + 1)
        spectrum = FLARE_SPECTRUM if event.kind == "flare" else GRB_SPECTRUM
        shape = _profile(event.kind, unix_time[window], event)
        kinds = _with_post_cosmic(shape[:, None, None] * spectrum, post_cosmic[window]).reshape(
            len(shape), -1
        )
        # the amplitude gives the drawn peak significance in channel 0 against its background there
        per_unit = channels(kinds)[:, 0]
        peak = np.argmax(per_unit) if window.any() else 0
        amplitude = (
            event.peak_significance * np.sqrt(expected_0[window][peak]) / per_unit[peak]
            if window.any()
            else 0.0
        )
        injected[window] += amplitude * kinds
        keep = window & ~in_saa
        event.observable = bool(keep.any()) and not in_saa[np.searchsorted(unix_time, event.t_peak)]
        if keep.any():
            event.peak_significance = float(
                (channels(injected[keep])[:, 0] / np.sqrt(expected_0[keep])).max()
            )

    keep = ~in_saa
    counts = channels(rng.poisson(expected[keep] + injected[keep]).astype(np.float64))  # dt = 1 s
    columns = {"unix_time": unix_time[keep], **{k: v[keep] for k, v in branches.items()}}
    columns = {
        name: np.asarray(
            columns[name], dtype=np.int32 if name in ("is_orbit_up", "sun") else np.float64
        )
        for name in SCALAR_BRANCHES
    }
    columns["rate"] = counts.astype(np.float32)
    columns["rate_err"] = np.sqrt(np.maximum(counts, 1.0)).astype(np.float32)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_trees(path, {path.stem: columns})
    write_truth(truth_path(path), events)
    return events


def _draw_events(
    rng, t0, t1, days, random_grbs_per_day, flares_per_day, grb_list
) -> list[Transient]:
    events: list[Transient] = []

    def free(t, margin):
        return all(abs(t - e.t_peak) > margin for e in events)

    def grb(kind, name, t_trigger):
        duration = float(np.exp(rng.uniform(np.log(1.0), np.log(100.0))))
        rise = max(0.3, 0.1 * duration)
        events.append(
            Transient(
                kind,
                name,
                t_trigger - rise,
                t_trigger,
                t_trigger + duration,
                float(np.exp(rng.uniform(np.log(5.0), np.log(60.0)))),
            )
        )

    for name, t in read_grbs(grb_list):
        if t0 + 300 < t < t1 - 300:
            grb("known_grb", name, t)
    for i in range(int(round(random_grbs_per_day * days))):
        t = rng.uniform(t0 + 300, t1 - 300)
        if free(t, 600):
            grb("grb", f"injected_grb_{i}", t)
    for i in range(int(round(flares_per_day * days))):
        t = rng.uniform(t0 + 3000, t1 - 4000)
        duration = rng.uniform(600, 3000)
        if free(t, duration + 600):
            events.append(
                Transient(
                    "flare",
                    f"injected_flare_{i}",
                    t - 0.3 * duration,
                    t,
                    t + duration,
                    float(np.exp(rng.uniform(np.log(5.0), np.log(40.0)))),
                )
            )
    return sorted(events, key=lambda e: e.t_peak)


def truth_path(path: Path) -> Path:
    return Path(path).with_name(f"{Path(path).stem}_truth.csv")


def write_truth(path: Path, events: list[Transient]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(Transient("", "", 0, 0, 0))))
        writer.writeheader()
        for event in events:
            writer.writerow(asdict(event))


def read_truth(path: Path) -> list[Transient]:
    with open(path, newline="") as f:
        return [
            Transient(
                r["kind"],
                r["name"],
                float(r["t_start"]),
                float(r["t_peak"]),
                float(r["t_stop"]),
                float(r["peak_significance"]),
                r["observable"] == "True",
            )
            for r in csv.DictReader(f)
        ]
