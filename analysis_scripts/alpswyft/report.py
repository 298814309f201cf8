"""The analysis report: text summaries and the executed notebook of a run.

The template ``analysis_scripts/notebooks/analysis_results.ipynb`` is executed with papermill
against a run folder and saved there, with its outputs, as ``analysis_results.ipynb``; the figures
also go to ``val_output/`` as PNG. It can be re-executed on its own:
``python analysis_scripts/make_report.py <run folder>``.
"""

from __future__ import annotations

from pathlib import Path

from alpswyft.errors import PipelineError
from alpswyft.pipeline import load_config, load_record
from alpswyft.results import RunTree, read_json

TEMPLATE = Path(__file__).resolve().parents[1] / "notebooks" / "analysis_results.ipynb"


def configuration_summary(tree: RunTree) -> str:
    """The run's model, rounds and parameter table as text."""
    provenance = read_json(tree.config)
    config = load_config(tree)
    lines = [
        f"run '{config.run_name}', trial {provenance['trial']}, configuration hash {provenance['config_hash']}",
        f"model {config.model!r}, noise {config.noise}, {config.nbins} bins on [{config.emin:g}, {config.emax:g}]",
        f"{config.n_rounds} rounds, training simulations per round {config.n_sim_train}, "
        f"prior bank {config.n_prior_samples}, grid points {len(config.grid)}",
        "",
        f"{'row':>5} {'name':>12} {'free':>5} {'bounds / value':>22} {'obs':>9} {'log':>4} {'prior':>12} {'POI':>4}",
    ]
    poi = {config.POI_indices[k]: k for k in range(len(config.POI_indices))}
    free_index = 0
    for p in config.table.parameters:
        if p.free:
            where = f"[{p.bounds[0]:g}, {p.bounds[1]:g}]"
            is_poi = "yes" if free_index in poi else ""
            free_index += 1
        else:
            where, is_poi = f"{p.value:g}", ""
        obs = "" if p.obs is None else f"{p.obs:g}"
        lines.append(
            f"{p.variable:>5} {p.name:>12} {'yes' if p.free else 'no':>5} {where:>22} {obs:>9} "
            f"{int(p.log):>4} {str(p.prior):>12} {is_poi:>4}"
        )
    for warning in provenance.get("warnings", []):
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def truncation_table(tree: RunTree, grid_point: int = 0) -> str:
    """Box, posterior mean and standard deviation of each POI per round."""
    config = load_config(tree)
    record = load_record(tree, config)
    lines = [f"{'round':>5} {'POI':>10} {'box':>24} {'next box':>24} {'mean':>10} {'std':>9} {'val_loss':>9}"]
    for entry in record.rounds(grid_point):
        for i, name in zip(config.POI_indices, config.poi_names):
            post = entry["posterior"].get(name, {})
            box, new = entry["bounds"][i], entry["truncated_bounds"][i]
            lines.append(
                f"{entry['round']:>5} {name:>10} {f'[{box[0]:+.3g}, {box[1]:+.3g}]':>24} "
                f"{f'[{new[0]:+.3g}, {new[1]:+.3g}]':>24} {post.get('mean', float('nan')):>10.4g} "
                f"{post.get('std', float('nan')):>9.3g} {_loss(entry):>9s}"
            )
    return "\n".join(lines)


def _loss(entry: dict) -> str:
    """A round's best validation loss, or 'loaded' for a network reused without training."""
    loss = entry["training"].get("best_val_loss")
    return "loaded" if loss is None else f"{loss:+.4f}"


def grid_summary(tree: RunTree) -> str:
    """Best validation loss of every round of every grid point, with its hyperparameters."""
    config = load_config(tree)
    record = load_record(tree, config)
    lines = [f"{'grid point':>10}  {'val_loss per round':<30}  hyperparameters"]
    for key, point in sorted(record.data["grid_points"].items(), key=lambda item: int(item[0])):
        losses = "  ".join(f"{_loss(r):>7s}" for r in point["rounds"])
        lines.append(f"{key:>10}  {losses:<30}  {point['hyperparams']}")
    return "\n".join(lines)


def save_figure(fig, tree: RunTree, name: str) -> Path:
    tree.val_output.mkdir(parents=True, exist_ok=True)
    path = tree.val_output / f"{name}.png"
    fig.savefig(path, dpi=110)
    return path


def execute(tree: RunTree) -> Path:
    """Execute the template against the run folder; a failing cell fails the report."""
    import papermill

    if not tree.config.exists():
        raise PipelineError(f"{tree.root} is not a run folder (no config.json)")
    papermill.execute_notebook(
        str(TEMPLATE),
        str(tree.notebook),
        parameters={"run_dir": str(tree.root)},
        cwd=str(tree.root),
        kernel_name="python3",
        progress_bar=False,
    )
    print(f"executed notebook: {tree.notebook}")
    tree.mark_finished(notebook=tree.notebook.name)
    return tree.notebook
