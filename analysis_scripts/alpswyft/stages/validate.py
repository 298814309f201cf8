"""The validation stage: the diagnostics of each grid point's last-round network.

:data:`~alpswyft.diagnostics.DIAGNOSTICS` run in order over one
:class:`~alpswyft.diagnostics.ValidationInputs`: coverage, expected limits, the frequentist limits
and the classical analysis. Results go to ``val_output/``: one NPZ per saved result,
``validation_gridpoint_<g>.json`` (the summary, with the network's SHA-256 so that a re-run skips
finished work) and the figures as PNG.
"""

from __future__ import annotations

import hashlib

from alpswyft.config import check_classical
from alpswyft.diagnostics import DIAGNOSTICS, ClassicalAnalysis, Diagnostic, ValidationInputs
from alpswyft.results import RunTree
from alpswyft.run import RunContext
from analysis_core.errors import ConfigError
from analysis_core.files import read_json, write_json


def validate(run: RunContext | RunTree) -> None:
    """Validate the last round of every grid point that finished it (skipping those already
    validated with the same network)."""
    run = RunContext.of(run)
    tree, config = run.tree, run.config
    if config.simulate_only:
        print("simulate=1 train=0: nothing is trained, so nothing is validated")
        return
    record = run.record
    last = config.training.n_truncations
    points = [
        g
        for g in range(config.training.start_grid_test_at_count, len(config.grid))
        if record.is_done(g, last)
    ]
    if not points:
        print("no grid point has finished its last round: nothing to validate")
        return
    for g in points:
        network_path = tree.network(last, g)
        if not network_path.is_file():  # e.g. train=0 with a record from an earlier trial
            print(
                f"grid point {g}: this trial holds no network of round {last} "
                f"({network_path.name}): not validated"
            )
            continue
        summary_path = tree.validation_summary(g)
        digest = network_digest(network_path, config.hash)
        if summary_path.is_file() and read_json(summary_path).get("network_sha256") == digest:
            print(f"grid point {g}: already validated with this network ({summary_path.name})")
            continue
        print(f"\ngrid point {g}: validating {network_path.relative_to(tree.root)}")
        inputs = ValidationInputs(run, g, run.network(last, g))
        summary = {"grid_point": g, "round": last, "network_sha256": digest}
        summary |= run_diagnostics(inputs, DIAGNOSTICS)
        write_json(summary_path, summary)
        print(f"grid point {g}: results in {tree.val_output.relative_to(tree.root)}/")


def network_digest(path, config_hash: str) -> str:
    """The network file's SHA-256 with the configuration's hash (the first 16 hex digits)."""
    return hashlib.sha256(path.read_bytes() + config_hash.encode()).hexdigest()[:16]


def run_diagnostics(inputs: ValidationInputs, diagnostics) -> dict:
    """Compute each diagnostic and save the figures of those that had something to compute; their
    summary entries by name."""
    entries = {d.name: d.compute(inputs) for d in diagnostics}
    draw_figures(inputs.run, inputs.grid_point, [d for d in diagnostics if entries[d.name]])
    return entries


def draw_figures(run: RunContext, grid_point: int, diagnostics: list[Diagnostic]) -> None:
    """The diagnostics' figures as ``val_output/<name>_gridpoint_<g>.png``."""
    import matplotlib.pyplot as plt

    from alpswyft.report import save_figures

    for d in diagnostics:
        figures = d.figures(run, grid_point)
        save_figures(figures, run.tree, grid_point)
        for fig in figures.values():
            if fig is not None:
                plt.close(fig)


def classical_limits(
    run: RunContext | RunTree, grid_point: int = 0, n_observations: int | None = None, **settings
) -> dict:
    """The classical analysis of a finished run's mock observations (the first ``n_observations``
    if given), as ``classical_limits=1`` would have made it, with ``settings`` (``classical_bins``,
    ``classical_realisations``, ``classical_toys``, ``classical_lattice``, ``classical_field``) in
    place of the run's: writes ``classical_limits_gridpoint_<g>.npz``, the comparison figure and
    the summary's ``classical`` entry, and prints the comparison with the network's limits.
    Returns the summary entry."""
    run = RunContext.of(run)
    tree = run.tree
    if isinstance(settings.get("classical_bins"), str):
        settings["classical_bins"] = [int(v) for v in settings["classical_bins"].split(",")]
    config = run.config.model_copy(
        update={"classical_limits": True, **{k: v for k, v in settings.items() if v is not None}}
    )
    check_classical(config)
    if n_observations is not None and n_observations < 1:
        raise ConfigError("observations", n_observations, "at least 1 mock observation")
    run = RunContext(tree, config)  # the run's variables with the given settings
    inputs = ValidationInputs(run, grid_point, network=None)
    entry = run_diagnostics(inputs, [ClassicalAnalysis(n_observations)])["classical"]
    summary_path = tree.validation_summary(grid_point)
    summary = read_json(summary_path) if summary_path.is_file() else {}
    summary["classical"] = entry
    write_json(summary_path, summary)
    return entry
