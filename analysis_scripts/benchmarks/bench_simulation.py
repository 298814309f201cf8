#!/usr/bin/env python
"""Per-simulation cost of the ALP simulator: the original-style path against the fast engine.

(a) original style: gammaALPs ``ModuleList.run()`` (new field, EBL and GMF modules each time) and a
    gammapy ``MapDataset.npred()`` of P_gg x ECPL per simulation (the original's 2 x 2 deg map);
(b) fast: this project's simulator (field recurrence + propagation kernel + precomputed response).

Prints median and p90 seconds per simulation on one core and their ratio, at the default kH (8.51)
and at the kH prior edge (70.8 kpc^-1), simulations per second on all cores, and the peak memory of
a simulation worker at the prior edge.

Usage: .venv/bin/python analysis_scripts/benchmarks/bench_simulation.py [--n 100] [--n-reference 20] [--n-edge 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")

ROWS = [
    "[-2, 4] | -6 | -6 | 1 | U | m | neV",
    "[-2, 1] | -5 | -5 | 1 | U | g | 1e-11/GeV",
    "-8.812 | | | 1 | U | Amplitude | TeV-1cm-2s-1",
    "2.11 | | | 0 | U | index | 1",
    "300 | | | 0 | U | E0 | GeV",
    "2.75 | | | 1 | U | Ecut | GeV",
    "25 | | | 0 | U | rms_B | muG",
    "46 | | | 0 | U | e_norm | 1e-3cm-3",
    "4.05 | | | 0 | U | e_norm_2 | 1e-3cm-3",
    "500 | | | 0 | U | cluster_ext | kpc",
    "57 | | | 0 | U | e_dens_1 | kpc",
    "268 | | | 0 | U | e_dens_2 | kpc",
    "1.2 | | | 0 | U | e_dens_3 | 1",
    "0.69 | | | 0 | U | e_dens_4 | 1",
    "0.62 | | | 0 | U | B_scaling | 1",
    "-0.41 | | | 1 | U | Max_turb | kpc-1",
    "0.93 | | | 1 | U | min_turb | kpc-1",
    "1.97 | | | 0 | U | turb_index | 1",
]


#: The kH prior edge, 10**1.85 = 70.8 kpc^-1 (35 400 domains).
EDGE = {"param17": "1.85 | | | 1 | U | min_turb | kpc-1"}


def default_config(**overrides):
    from alpswyft.config import load_run_config

    variables = {
        "run_name": "bench",
        "model": "",
        "POI_indices": "0,1",
        "n_sim_train": "1",
        "hyperparams": "--learning_rate (float) : 5e-3 --stopping_patience (int) : 6 --blocks (int) : 2 "
        "--features (int) : 64 --dropout (float) : 0.1",
        **{f"param{i + 1}": row for i, row in enumerate(ROWS)},
        **overrides,
    }
    return load_run_config(variables)[0]


def timings(function, n: int) -> np.ndarray:
    function()  # warm-up (numba, caches)
    out = []
    for _ in range(n):
        start = time.perf_counter()
        function()
        out.append(time.perf_counter() - start)
    return np.array(out)


def original_style(config, n: int, vectors: np.ndarray | None = None) -> np.ndarray:
    """gammaALPs run() + gammapy npred per simulation, as the original pipeline did, at the physical
    18-vectors ``vectors`` in turn (default: the Obs. values with m = 10 neV, g = 1e-11/GeV)."""
    import operator

    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from gammapy.data import FixedPointingInfo, Observation
    from gammapy.datasets import MapDataset
    from gammapy.irf import load_irf_dict_from_file
    from gammapy.makers import MapDatasetMaker
    from gammapy.maps import MapAxis, WcsGeom
    from gammapy.modeling.models import (
        CompoundSpectralModel,
        ExpCutoffPowerLawSpectralModel,
        FoVBackgroundModel,
        PointSpatialModel,
        SkyModel,
        TemplateSpectralModel,
    )

    from alpswyft.physics import reference

    pointing = SkyCoord(49.950667, 41.511694, unit="deg")
    irfs = load_irf_dict_from_file(config.irf_path)
    obs = Observation.create(
        pointing=FixedPointingInfo(fixed_icrs=pointing), livetime=10 * u.h, irfs=irfs
    )
    reco = MapAxis.from_energy_bounds(20 * u.GeV, 6 * u.TeV, 90, name="energy")
    true = MapAxis.from_energy_bounds(20 * u.GeV, 6 * u.TeV, 180, name="energy_true")
    migra = MapAxis.from_edges(np.linspace(0.5, 2, 181), name="migra")
    geom = WcsGeom.create(skydir=pointing, width=(2, 2), binsz=0.02, axes=[reco])
    dataset = MapDatasetMaker(selection=["exposure", "edisp", "background"]).run(
        MapDataset.create(geom, energy_axis_true=true, migra_axis=migra, name="d"), obs
    )
    energy = true.center.to_value("GeV")
    if vectors is None:
        vectors = config.table.physical(config.table.obs)
        vectors[:, 0], vectors[:, 1] = 10.0, 1.0
    rng = np.random.default_rng(0)
    draws = iter(np.resize(np.arange(len(vectors)), n + 1))

    def one():
        v = vectors[next(draws)]
        pgg, _ = reference.survival(energy, v, int(rng.integers(2**31 - 1)))
        ecpl = ExpCutoffPowerLawSpectralModel(
            amplitude=v[2] * u.Unit("TeV-1 cm-2 s-1"),
            index=v[3],
            reference=v[4] * u.GeV,
            lambda_=1 / (v[5] * u.GeV),
        )
        template = TemplateSpectralModel(energy=energy * u.GeV, values=pgg * u.Unit(""))
        spectral = CompoundSpectralModel(template, ecpl, operator.mul)
        dataset.models = [
            SkyModel(
                spectral_model=spectral, spatial_model=PointSpatialModel.from_position(pointing)
            ),
            FoVBackgroundModel(dataset_name="d"),
        ]
        return dataset.npred().get_spectrum().data

    return timings(one, n)


def fast(config, n: int) -> np.ndarray:
    from alpswyft.models import MODELS
    from alpswyft.simulator import SpectrumSimulator

    simulator = SpectrumSimulator(config, MODELS[""].prepare(config))
    rng = np.random.default_rng(1)
    box = config.table.initial_bounds
    return timings(lambda: simulator.sample(1, box, rng), n)


def fast_batch_throughput(config, seconds: float = 10.0) -> float:
    """Simulations per second with every core busy (one process, numba threads over energies
    would compete; so one single-threaded process per core, as the local back-end runs)."""
    cores = len(os.sched_getaffinity(0))
    here = os.path.dirname(os.path.abspath(__file__))
    code = (
        "import sys, time, numpy as np, numba; numba.set_num_threads(1);"
        f"sys.path.insert(0, {here!r}); import bench_simulation as b;"
        "from alpswyft.models import MODELS; from alpswyft.simulator import SpectrumSimulator;"
        "c = b.default_config(); s = SpectrumSimulator(c, MODELS[''].prepare(c));"
        "r = np.random.default_rng(); s.sample(1, c.table.initial_bounds, r);"
        "t = time.perf_counter(); n = 0\n"
        f"while time.perf_counter() - t < {seconds:f}: s.sample(1, c.table.initial_bounds, r); n += 1\n"
        "print(n / (time.perf_counter() - t))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(cores)
    ]
    return sum(float(p.communicate()[0].strip().splitlines()[-1]) for p in procs)


def threaded_throughput(config, chunk: int = 64, seconds: float = 10.0) -> float:
    """Simulations per second of one process with a numba thread per core, simulating chunks of
    ``chunk`` (one realisation per thread at a time), as a worker given several cores does."""
    import numba

    from alpswyft.models import MODELS
    from alpswyft.simulator import SpectrumSimulator

    numba.set_num_threads(len(os.sched_getaffinity(0)))
    simulator = SpectrumSimulator(config, MODELS[""].prepare(config))
    rng = np.random.default_rng(2)
    simulator.sample(chunk, config.table.initial_bounds, rng)
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        simulator.sample(chunk, config.table.initial_bounds, rng)
        n += chunk
    numba.set_num_threads(1)
    return n / (time.perf_counter() - start)


def peak_memory_at_prior_edge() -> tuple[float, float]:
    """Peak resident memory (MB) of a simulation worker at kH = 70.8: like the pipeline's workers it
    loads the precomputed set-up (response.npz) and never imports gammapy. Returns (peak after three
    simulations, peak before simulating), read from VmHWM, which starts afresh in a new program."""
    import tempfile

    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as tmp:
        setup = os.path.join(tmp, "response.npz")
        prepare = (
            f"import sys, numpy as np; sys.path.insert(0, {here!r}); import bench_simulation as b;"
            "from alpswyft.models import MODELS; c = b.default_config(**b.EDGE); "
            f"np.savez({setup!r}, **MODELS[''].prepare(c))"
        )
        subprocess.run([sys.executable, "-c", prepare], check=True, capture_output=True)
        simulate = (
            f"import sys, numpy as np, numba; numba.set_num_threads(1); sys.path.insert(0, {here!r});"
            "import bench_simulation as b; from alpswyft.simulator import SpectrumSimulator; c "
            "= b.default_config(**b.EDGE);"
            f"s = SpectrumSimulator.for_run(c, {setup!r}); before = b.peak_rss_mb();"
            "s.sample(3, c.table.initial_bounds, np.random.default_rng(0)); print(b.peak_rss_mb(), before)"
        )
        out = subprocess.run(
            [sys.executable, "-c", simulate], capture_output=True, text=True, check=True
        ).stdout.split()
    return float(out[-2]), float(out[-1])


def peak_rss_mb() -> float:
    """This program's peak resident memory (VmHWM), MB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="fast simulations timed")
    parser.add_argument(
        "--n-reference", type=int, default=20, help="original-style simulations timed"
    )
    parser.add_argument(
        "--n-edge", type=int, default=4, help="original-style simulations timed at the kH edge"
    )
    args = parser.parse_args()

    import numba

    numba.set_num_threads(1)
    for label, config, n_reference, n in (
        ("default kH = 8.51 (4255 domains)", default_config(), args.n_reference, args.n),
        (
            "kH prior edge 70.8 (35 400 domains)",
            default_config(**EDGE),
            args.n_edge,
            max(4, args.n // 5),
        ),
    ):
        print(f"{label}: 20 GeV-6 TeV, 90 reco / 180 true bins, 1 core")
        reference_times = original_style(config, n_reference)
        fast_times = fast(config, n)
        for name, t in (
            ("original style (gammaALPs run + gammapy npred)", reference_times),
            ("fast engine", fast_times),
        ):
            print(
                f"  {name:48s} median {np.median(t):.4f} s  p90 {np.percentile(t, 90):.4f} s  (n={len(t)})"
            )
        print(f"  ratio of medians: {np.median(reference_times) / np.median(fast_times):.1f}x")
    config = default_config()
    cores = len(os.sched_getaffinity(0))
    print(
        f"fast engine on all {cores} cores: {fast_batch_throughput(config):.1f} simulations/s (a process per core); "
        f"{threaded_throughput(config):.1f} simulations/s (one process, {cores} threads, chunks of 64)"
    )
    peak, baseline = peak_memory_at_prior_edge()
    print(
        f"peak memory of a worker at kH = 70.8: {peak:.0f} MB (before simulating: {baseline:.0f} MB)"
    )


if __name__ == "__main__":
    main()
