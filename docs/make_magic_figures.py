#!/usr/bin/env python
"""The README's figures of real and MAGIC-like observations, from finished runs:
cluster_runs/magic_like.sh (and the same with sim_seed=1 and 2), and run.sh on the MAGIC run
(README, "Real observations").

Usage: .venv/bin/python docs/make_magic_figures.py [MAGIC_LIKE_RUN] [OBSERVATION_RUN] [SEED_RUN ...]
(defaults: cluster_runs/analysis_results/magic_like, .../magic_run, .../magic_like_seed1 and
.../magic_like_seed2). Writes docs/magic_like*.png (with the classical analysis's comparison where
the first run has one) and docs/observed_spectrum.png, and prints the ratio tables: the first
run's, and each seed's with their range.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from alpswyft import plots, report  # noqa: E402
from alpswyft.results import RunTree  # noqa: E402

DOCS = Path(__file__).resolve().parent
RESULTS = DOCS.parent / "cluster_runs" / "analysis_results"


def main(run_dir: Path, observation_run: Path, seed_runs: list[Path]) -> None:
    if observation_run.is_dir():
        plots.observed_spectrum(RunTree(observation_run)).savefig(
            DOCS / "observed_spectrum.png", dpi=90, bbox_inches="tight"
        )
    tree = RunTree(run_dir)
    plots.against_published(tree, label="MAGIC").savefig(
        DOCS / "magic_like.png", dpi=100, bbox_inches="tight"
    )
    plots.mock_observation(tree).savefig(
        DOCS / "magic_like_states.png", dpi=80, bbox_inches="tight"
    )
    print(report.published_comparison(tree, label="MAGIC"))
    classical = plots.classical_comparison(tree)
    if (
        classical is not None
    ):  # analysis_scripts/classical_limits.py run on it (WStat fits of the three states)
        classical.savefig(DOCS / "magic_like_classical.png", dpi=85, bbox_inches="tight")
        print(report.classical_comparison(tree))
    seeds = [tree] + [RunTree(p) for p in seed_runs if p.is_dir()]
    if len(seeds) > 1:
        fig, table = plots.against_published_seeds(seeds, label="MAGIC")
        fig.savefig(DOCS / "magic_like_seeds.png", dpi=100, bbox_inches="tight")
        print(
            f"\n{len(seeds)} seeds: g (1e-11 / GeV) per seed, MAGIC's, and the range of the ratio"
        )
        for row in table[::2]:
            g = [v for v in row["g"] if v is not None]
            ratio = (
                "-"
                if not g or row["g_published"] is None
                else (f"{min(g) / row['g_published']:.2f}-{max(g) / row['g_published']:.2f}")
            )
            published = "-" if row["g_published"] is None else f"{row['g_published']:.3g}"
            print(
                f"{row['m']:>7.3g}  "
                + "  ".join("-" if v is None else f"{v:.3g}" for v in row["g"])
                + f"  | {published}  | {ratio}"
            )
    print(f"figures written to {DOCS}")


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]]
    defaults = [RESULTS / "magic_like", RESULTS / "magic_run"]
    main(
        *(paths[:2] + defaults[len(paths[:2]) :]),
        paths[2:] or [RESULTS / "magic_like_seed1", RESULTS / "magic_like_seed2"],
    )
