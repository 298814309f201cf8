#!/usr/bin/env python
"""What 16 bins per flux state cost magic_like against MAGIC's 26 / 24 / 19 (README, "A MAGIC-like
analysis"): the classical analysis (MAGIC's likelihood: WStat per state, the nine spectral
nuisances profiled, 100 fixed field realisations and their 6th best) of the same number of mock
observations for each binning, on the (m, g) grid of "MAGIC's method on the same inputs".

The mock observations are drawn as a run draws its expected-limit ones: m and g at their Obs.
values (no ALP), the nine spectral parameters from their prior, a new field realisation each.
Thresholds are Wilks' chi2_2 (each cell's own pseudo-experiments would cost about 20 min per
binning): the ratio of the two binnings' limits is the measurement, not the limits themselves.

Usage: .venv/bin/python docs/measure_magic_binning.py [--observations 20] [--bins 16] [--realisations 100]
(10-20 min on 2 cores at these sizes). Prints the median limits at 10, 46, 100 and 300 neV and
their ratio, and writes docs/magic_like_binning.png.
"""

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from alpswyft import (
    classical,  # noqa: E402
    setups,  # noqa: E402
)
from alpswyft.config import load_run_config  # noqa: E402
from alpswyft.physics import magic  # noqa: E402
from alpswyft.runscript import evaluate_run_script  # noqa: E402
from alpswyft.simulator import SpectrumSimulator  # noqa: E402

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
LEVEL = 0.95


def mock_counts(config, setup, n: int, seed: int) -> tuple[object, np.ndarray]:
    """The model of ``setup`` and ``n`` of its mock observations' ON/OFF counts."""
    simulator = SpectrumSimulator(config, setup)
    box = np.array(config.table.initial_bounds, float)
    box[config.POI_indices] = config.table.obs[
        config.POI_indices, None
    ]  # no ALP, as the expected-limit store
    nodes = simulator.sample(n, box, np.random.default_rng(seed))
    return simulator.model, classical.observation_counts(simulator.model, nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=20)
    parser.add_argument(
        "--bins", type=int, default=16, help="grid cells per axis of the (m, g) box"
    )
    parser.add_argument("--realisations", type=int, default=100)
    parser.add_argument(
        "--dl3",
        type=Path,
        default=REPO.parent / "shared" / "data" / "irfs" / "magicDL3_05059487.fits.gz",
    )
    args = parser.parse_args()
    variables = evaluate_run_script(REPO / "cluster_runs" / "magic_like.sh")
    variables["observation"] = str(args.dl3.resolve())
    config, _ = load_run_config(variables)
    binnings = {
        f"{config.nbins} bins per state": None,
        "MAGIC's " + " / ".join(map(str, magic.MAGIC_NBINS)): magic.MAGIC_NBINS,
    }
    results = {}
    for label, state_nbins in binnings.items():
        start = time.perf_counter()
        model, counts = mock_counts(
            config, setups.magic_like(config, state_nbins), args.observations, config.sim_seed
        )
        limits = classical.expected_limits(
            model,
            config,
            counts,
            (args.bins, args.bins),
            args.realisations,
            n_toys=0,
            lattice=0,
            seed=config.sim_seed,
        )
        results[label] = limits
        print(
            f"{label}: {args.observations} mock observations in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
    masses = classical.COMPARISON_MASSES
    print(f"\nmedian expected limit at {LEVEL:.0%}, Wilks' thresholds, g (1e-11 /GeV)")
    print(f"{'':>28}" + "".join(f"{m:>10g} neV" for m in masses))
    bands = {label: limits.expected(LEVEL, method="wilks") for label, limits in results.items()}
    medians = {}
    for label, limits in results.items():
        medians[label] = [
            classical.depth_at(bands[label][2:3], limits.edges_x, m)[0] for m in masses
        ]
        print(
            f"{label:>28}"
            + "".join(f"{'-' if v is None else f'{v:.3g}':>14}" for v in medians[label])
        )
    coarse, fine = medians.values()
    print(
        f"{'ratio 16 bins / MAGIC':>28}"
        + "".join(
            f"{'-' if a is None or b is None else f'{a / b:.2f}':>14}" for a, b in zip(coarse, fine)
        )
    )

    fig, ax = plt.subplots(figsize=(6, 4))
    for (label, limits), color in zip(results.items(), ("C0", "C3")):
        band = bands[label]
        m = 10 ** (0.5 * (limits.edges_x[1:] + limits.edges_x[:-1]))
        ax.step(m, 10 ** band[2], where="mid", color=color, label=f"{label}: median")
        ax.fill_between(
            m,
            10 ** band[1],
            10 ** np.minimum(band[3], limits.edges_y[-1]),
            step="mid",
            color=color,
            alpha=0.2,
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="m [neV]",
        ylabel=r"g limit [$10^{-11}$ GeV$^{-1}$]",
        title=f"magic_like, classical (Wilks), {args.observations} mock observations per binning:\n"
        f"median and 68 % band of the expected {LEVEL:.0%} limit",
        ylim=(10 ** limits.edges_y[0], 10 ** limits.edges_y[-1]),
    )
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(DOCS / "magic_like_binning.png", dpi=90)
    print(f"figure written to {DOCS / 'magic_like_binning.png'}")


if __name__ == "__main__":
    main()
