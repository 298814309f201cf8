"""A synthetic POLAR rate file (``nf1rate.root``) with injected transients of known truth.

The real file is not distributable; this one has its structure (one TTree named after the file
stem, one row per 1 s bin, the same branches and dtypes) and the behaviour a background model has to
learn:

- the orbit of Tiangong-2: 42.8 deg inclination, 5535.4 s period, ~393 km, the Earth turning below;
- South-Atlantic-Anomaly passages: no rows inside (the instrument is off), rates raised near its
  edge, and an activation that decays with ``time_since_saa``;
- rates modulated by the geomagnetic cut-off (a tilted dipole gives ``B_r``, ``B_theta``,
  ``B_phi`` and ``fe_cosmic``), altitude and temperature, plus the Crab (``crabarf``) and the Sun;
- 13 channels: ``rate[0]`` counts all energies, ``rate[1]`` ... ``rate[12]`` are energy bands from
  low to high; counts are Poisson, ``rate_err = sqrt(counts) / dt``, and channel 0 is the sum of the
  others count by count;
- transients: GRB-like spikes (fast rise, exponential decay, 1-100 s, harder than the background)
  at the known POLAR GRB times inside the file and at random times, and slow, soft solar-flare-like
  events. Their truth (times, peak significance in channel 0) is written beside the file as
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

from alpswyft.polar.data import read_grbs

PERIOD_S = 5535.4
INCLINATION_DEG = 42.8
SIDEREAL_DAY_S = 86164.0905
EARTH_RADIUS_KM = 6371.2
DIPOLE_POLE_DEG = (80.65, -72.68)  # geographic latitude, longitude of the geomagnetic north pole
SAA_CENTRE_DEG, SAA_HALF_AXES_DEG = (-27.0, -50.0), (12.0, 40.0)
CRAB_DEG = (83.633, 22.014)  # RA, Dec
#: background counts/s of the 12 energy bands at the mean geomagnetic modulation
BAND_RATES = np.array([900, 800, 650, 500, 380, 290, 220, 160, 120, 85, 60, 40], dtype=float)
GRB_SPECTRUM = np.arange(1, 13, dtype=float) ** -0.5  # harder than the background
FLARE_SPECTRUM = np.array([0.5, 0.3, 0.15, 0.05] + [0.0] * 8)
SCALAR_BRANCHES = ("unix_time", "glat", "glon", "altitude", "temperature", "fe_cosmic", "raz", "decz", "rax",
                   "decx", "is_orbit_up", "time_since_saa", "crabarf", "sun", "sun_spot", "B_r", "B_theta", "B_phi")


@dataclass
class Transient:
    kind: str  # grb, known_grb, flare
    name: str
    t_start: float
    t_peak: float
    t_stop: float
    peak_significance: float = 0.0  # max over bins of injected counts / sqrt(background counts), channel 0
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
    r = np.stack([np.cos(u) * np.cos(node) - np.sin(u) * np.cos(inc) * np.sin(node),
                  np.cos(u) * np.sin(node) + np.sin(u) * np.cos(inc) * np.cos(node),
                  np.sin(u) * np.sin(inc)], axis=-1)
    v = np.stack([-np.sin(u) * np.cos(node) - np.cos(u) * np.cos(inc) * np.sin(node),
                  -np.sin(u) * np.sin(node) + np.cos(u) * np.cos(inc) * np.cos(node),
                  np.cos(u) * np.sin(inc)], axis=-1)
    ra_z, dec_z = np.arctan2(r[:, 1], r[:, 0]), np.arcsin(r[:, 2])
    lon = (ra_z - _gmst_rad(unix_time) + np.pi) % (2 * np.pi) - np.pi
    lat = dec_z
    altitude = 393.0 + 4.0 * np.sin(u - 0.7) - 0.3 * elapsed / 86400.0

    pole_lat, pole_lon = np.deg2rad(DIPOLE_POLE_DEG)
    mag_lat = np.arcsin(np.sin(lat) * np.sin(pole_lat) + np.cos(lat) * np.cos(pole_lat) * np.cos(lon - pole_lon))
    scale = (EARTH_RADIUS_KM / (EARTH_RADIUS_KM + altitude)) ** 3 * 30000.0  # nT
    cutoff_gv = 14.9 * np.cos(mag_lat) ** 4 * (EARTH_RADIUS_KM / (EARTH_RADIUS_KM + altitude)) ** 2
    temperature = 18.0 + 2.5 * np.sin(u + 1.2) + 1.0 * np.sin(2 * np.pi * elapsed / 86400.0)

    sun_ra, sun_dec = _sun_radec(unix_time)
    zenith = r
    crab = _unit(*np.deg2rad(CRAB_DEG))
    day = np.floor(elapsed / 86400.0)
    return {
        "glat": np.rad2deg(lat), "glon": np.rad2deg(lon), "altitude": altitude, "temperature": temperature,
        "fe_cosmic": 1.0 / (1.0 + (cutoff_gv / 3.0) ** 1.2),
        "raz": np.rad2deg(ra_z) % 360.0, "decz": np.rad2deg(dec_z),
        "rax": np.rad2deg(np.arctan2(v[:, 1], v[:, 0])) % 360.0, "decx": np.rad2deg(np.arcsin(v[:, 2])),
        "is_orbit_up": (np.cos(u) > 0).astype(np.int32),
        "crabarf": np.clip(zenith @ crab, 0.0, None) ** 1.5,
        "sun": (np.sum(zenith * _unit(sun_ra, sun_dec), axis=-1) > -0.34).astype(np.int32),
        "sun_spot": 25.0 + 5.0 * np.sin(2 * np.pi * day / 27.0),
        "B_r": -2.0 * scale * np.sin(mag_lat), "B_theta": scale * np.cos(mag_lat),
        "B_phi": 0.08 * scale * np.sin(lon - pole_lon) * np.cos(pole_lat),
    }


def saa_distance(glat, glon):
    """Elliptical distance from the SAA centre in units of its half-axes (< 1: inside)."""
    return np.hypot((glat - SAA_CENTRE_DEG[0]) / SAA_HALF_AXES_DEG[0], (glon - SAA_CENTRE_DEG[1]) / SAA_HALF_AXES_DEG[1])


def background(branches: dict[str, np.ndarray]) -> np.ndarray:
    """Expected background counts/s of the 12 bands (n, 12), a function of the branches only."""
    halo = np.exp(-np.clip(saa_distance(branches["glat"], branches["glon"]) - 1.0, 0.0, None) / 0.6)
    low = (np.arange(12) < 4).astype(float)
    rates = BAND_RATES * (0.5 + 1.0 * branches["fe_cosmic"][:, None])
    rates *= (1 + 0.0015 * (branches["altitude"] - 393.0))[:, None] * (1 - 0.002 * (branches["sun_spot"] - 25.0))[:, None]
    rates *= 1 + (0.6 + 0.4 * low) * halo[:, None]
    rates *= 1 + (0.2 + 0.2 * low) * np.exp(-branches["time_since_saa"] / 900.0)[:, None]
    rates *= 1 - 0.003 * low * (branches["temperature"] - 18.0)[:, None]
    rates += 30.0 * GRB_SPECTRUM / GRB_SPECTRUM.sum() * branches["crabarf"][:, None]
    rates += 10.0 * np.array([0.7, 0.3] + [0.0] * 10) * branches["sun"][:, None]
    return rates


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
        shape = np.where(x < rise, np.exp(-0.5 * ((x - rise) / (rise / 2.5)) ** 2), np.exp(-(x - rise) / decay))
    else:
        decay = (event.t_stop - event.t_peak) / 5.0
        shape = np.where(x < rise, np.clip(x / rise, 0.0, None) * np.exp(1 - np.clip(x / rise, 0.0, None)),
                         np.exp(-(x - rise) / decay))
    return np.where(x >= 0, shape, 0.0).mean(axis=1)


def generate(path: Path, start: str, days: float, seed: int, random_grbs_per_day: float, flares_per_day: float,
             grb_list: Path) -> list[Transient]:
    """Write the synthetic file and its truth CSV; returns the injected transients."""
    from alpswyft.polar.export import write_trees

    rng = np.random.default_rng(seed)
    t0 = datetime.datetime.fromisoformat(start).replace(tzinfo=datetime.timezone.utc).timestamp()
    unix_time = t0 + np.arange(int(days * 86400), dtype=float)
    t1 = unix_time[-1]
    branches = context(unix_time, t0)
    in_saa = saa_distance(branches["glat"], branches["glon"]) < 1.0
    branches["time_since_saa"] = _time_since_saa(unix_time, in_saa, t0)
    expected = background(branches)

    events = _draw_events(rng, t0, t1, days, random_grbs_per_day, flares_per_day, grb_list)
    injected = np.zeros_like(expected)
    for event in events:
        window = (unix_time >= event.t_start - 1) & (unix_time <= event.t_stop + 1)
        spectrum = FLARE_SPECTRUM if event.kind == "flare" else GRB_SPECTRUM / GRB_SPECTRUM.sum()
        shape = _profile(event.kind, unix_time[window], event)
        # the amplitude gives the drawn peak significance against the background at the peak
        amplitude = event.peak_significance * np.sqrt(expected[window].sum(axis=1).max() if window.any() else 1.0)
        injected[window] += amplitude / shape.max() * shape[:, None] * spectrum
        keep = window & ~in_saa
        event.observable = bool(keep.any()) and not in_saa[np.searchsorted(unix_time, event.t_peak)]
        if keep.any():
            event.peak_significance = float((injected[keep].sum(axis=1) / np.sqrt(expected[keep].sum(axis=1))).max())

    counts = rng.poisson(expected + injected).astype(float)  # dt = 1 s
    counts = np.concatenate([counts.sum(axis=1, keepdims=True), counts], axis=1)
    keep = ~in_saa
    columns = {"unix_time": unix_time[keep], **{k: v[keep] for k, v in branches.items()}}
    columns = {name: np.asarray(columns[name], dtype=np.int32 if name in ("is_orbit_up", "sun") else np.float64)
               for name in SCALAR_BRANCHES}
    columns["rate"] = counts[keep].astype(np.float32)
    columns["rate_err"] = np.sqrt(np.maximum(counts[keep], 1.0)).astype(np.float32)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_trees(path, {path.stem: columns})
    write_truth(truth_path(path), events)
    return events


def _draw_events(rng, t0, t1, days, random_grbs_per_day, flares_per_day, grb_list) -> list[Transient]:
    events: list[Transient] = []

    def free(t, margin):
        return all(abs(t - e.t_peak) > margin for e in events)

    def grb(kind, name, t_trigger):
        duration = float(np.exp(rng.uniform(np.log(1.0), np.log(100.0))))
        rise = max(0.3, 0.1 * duration)
        events.append(Transient(kind, name, t_trigger - rise, t_trigger, t_trigger + duration,
                                float(np.exp(rng.uniform(np.log(5.0), np.log(60.0))))))

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
            events.append(Transient("flare", f"injected_flare_{i}", t - 0.3 * duration, t, t + duration,
                                    float(np.exp(rng.uniform(np.log(5.0), np.log(40.0))))))
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
        return [Transient(r["kind"], r["name"], float(r["t_start"]), float(r["t_peak"]), float(r["t_stop"]),
                          float(r["peak_significance"]), r["observable"] == "True") for r in csv.DictReader(f)]
