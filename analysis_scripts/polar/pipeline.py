"""The POLAR stages over a run folder ``analysis_results/<run_name>/``.

::

    config.yaml           the resolved configuration (defaults, file and overrides)
    data/                 the synthetic nf1rate.root and its truth (when data.file is "")
    train/                model.pt, training.json, logs/metrics.csv, checkpoints/ (last.ckpt resumes)
    predictions.npz       measured and predicted rates of every row (GRB windows included)
    intervals.json        pull cores, the intersections and the recovery summary
    polar_results.root    trees predictions, intersections, clusters (uproot); CSV copies beside it
    polar_report.ipynb    the executed report (and .html)

Each stage records the hash of the configuration sections it depends on and is skipped when its
output exists with the same hash, so a killed or repeated run resumes where it stopped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis_core import slurm
from analysis_core.errors import PipelineError
from analysis_core.files import load_npz, read_json, save_npz, write_json
from polar import config as polar_config
from polar import data as polar_data
from polar import intervals as polar_intervals
from polar import synthetic
from polar.config import PolarConfig

TRAIN_SECTIONS = ("data", "synthetic", "split", "model", "optimizer", "train")
SEARCH_SECTIONS = (*TRAIN_SECTIONS, "predict", "intervals")


class PolarRun:
    """Paths of a POLAR run folder."""

    def __init__(self, root: Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    train = property(lambda self: self.root / "train")
    model = property(lambda self: self.root / "train" / "model.pt")
    training = property(lambda self: self.root / "train" / "training.json")
    predictions = property(lambda self: self.root / "predictions.npz")
    intervals = property(lambda self: self.root / "intervals.json")
    export = property(lambda self: self.root / "polar_results.root")
    notebook = property(lambda self: self.root / "polar_report.ipynb")
    figures = property(lambda self: self.root / "figures")

    def load_config(self) -> PolarConfig:
        if not self.config.is_file():
            raise PipelineError(f"{self.root} is not a POLAR run folder (no config.yaml)")
        return polar_config.load(self.config)

    def data_file(self, config: PolarConfig) -> Path:
        return Path(config.data.file) if config.data.file else self.root / "data" / "nf1rate.root"

    def training_key(self, config: PolarConfig) -> str:
        """What a trained model depends on: its configuration sections and the data file's
        identity (the generator's version, or a real file's size and modification time)."""
        if config.data.file:
            stat = self.data_file(config).stat()
            identity = f"{stat.st_size}-{int(stat.st_mtime)}"
        else:
            identity = f"v{synthetic.VERSION}"
        return f"{config.section_hash(*TRAIN_SECTIONS)}-{identity}"

    def truth(self, config: PolarConfig) -> list[synthetic.Transient]:
        """The injected transients of a synthetic file (none for a real one)."""
        path = synthetic.truth_path(self.data_file(config))
        return synthetic.read_truth(path) if not config.data.file and path.is_file() else []


def _done(path: Path, key: str) -> bool:
    return path.is_file() and read_json(path).get("config_hash") == key


def configure(
    run: PolarRun, config: PolarConfig, source: Path | None = None, overrides: list[str] = ()
) -> None:
    """Write the resolved configuration (with the file it came from and the ``overrides``) and,
    for ``data.file: ""``, the synthetic data."""
    run.root.mkdir(parents=True, exist_ok=True)
    polar_config.save(config, run.config, source, overrides)
    if config.data.file:
        polar_data.read_columns(
            run.data_file(config), polar_data.tree_name(run.data_file(config), config.data)
        )
        print(f"data: {config.data.file}")
        return
    stamp = run.root / "data" / "synthetic.json"
    key = f"{config.section_hash('synthetic', 'data')}-v{synthetic.VERSION}"
    if _done(stamp, key):
        print(f"data: the synthetic file {run.data_file(config)} is already there")
        return
    s = config.synthetic
    print(
        f"data: generating {s.days:g} days of synthetic POLAR rates from {s.start} (seed {s.seed})"
    )
    events = synthetic.generate(
        run.data_file(config),
        s.start,
        s.days,
        s.seed,
        s.random_grbs_per_day,
        s.flares_per_day,
        config.data.grb_path,
    )
    print(
        f"      {len(events)} injected transients: {sum(e.kind == 'known_grb' for e in events)} at known GRB times, "
        f"{sum(e.kind == 'grb' for e in events)} random GRB-like, {sum(e.kind == 'flare' for e in events)} flare-like"
    )
    write_json(stamp, {"config_hash": key, "file": str(run.data_file(config))})


def dataset(run: PolarRun, config: PolarConfig) -> polar_data.Dataset:
    return polar_data.load(
        run.data_file(config), config.data, config.split, polar_data.read_grbs(config.data.grb_path)
    )


def train(run: PolarRun) -> None:
    from polar import model

    config = run.load_config()
    key = run.training_key(config)
    if _done(run.training, key) and run.model.is_file():
        print(f"training: done already ({run.model})")
        return
    started = run.train / "started.json"
    if run.train.is_dir() and any(run.train.iterdir()) and not _done(started, key):
        # checkpoints of another configuration: kept aside, never resumed from
        aside = run.root / f"train.superseded_{sum(1 for _ in run.root.glob('train.superseded_*'))}"
        run.train.rename(aside)
        print(f"training: the configuration changed; the earlier training is kept in {aside.name}")
    write_json(started, {"config_hash": key})
    data = dataset(run, config)
    parts = {p: int(np.sum((data.part == p) & ~data.grb_masked)) for p in ("train", "val", "test")}
    print(
        f"training: {len(data.part)} rows after the filters; {int(data.grb_masked.sum())} within "
        f"{config.data.grb_mask_s:g} s of a known GRB are not trained on; train/val/test {parts}"
    )
    summary = (
        model.from_original_checkpoint(data, config, run.train)
        if config.train.checkpoint
        else model.train(data, config, run.train)
    )
    write_json(run.training, {**summary, "config_hash": key})
    print(f"training: {kept_model(summary)}")


def kept_model(summary: dict) -> str:
    """The model kept, in words: the epoch, its validation loss, and the best one's."""
    which = "the original's model, " if summary.get("checkpoint") else ""
    text = (
        f"{which}epoch {summary['kept_epoch']} of {summary['epochs']} kept ({summary['kept']}), "
        f"validation loss {summary['kept_val_loss']:.4g}"
    )
    if summary["kept_val_loss"] != summary["best_val_loss"]:
        text += f" (the best epoch's: {summary['best_val_loss']:.4g})"
    return text + f", on {summary['device']}"


def predict(run: PolarRun) -> None:
    from analysis_core.lightning import accelerator
    from polar import model

    config = run.load_config()
    key = f"{run.training_key(config)}-{config.section_hash('predict')}"
    if run.predictions.is_file():
        with np.load(run.predictions) as done:  # reads the hash only, not the arrays
            if str(done["config_hash"]) == key:
                print(f"prediction: done already ({run.predictions.name})")
                return
    data = dataset(run, config)
    device = "cuda" if accelerator(config.train.gpus) == "gpu" else "cpu"
    predicted = model.predict(
        model.load(run.model), data.features, config.predict.batch_size, device
    )
    save_npz(
        run.predictions,
        unix_time=data.unix_time,
        rate=data.rate,
        rate_err=data.rate_err,
        predicted=predicted,
        part=data.part,
        grb_masked=data.grb_masked,
        targets=np.array(config.data.target_names),
        target_labels=np.array(config.data.target_labels),
        config_hash=key,
    )
    print(
        f"prediction: {len(predicted)} rows in batches of {config.predict.batch_size} -> {run.predictions.name}"
    )


def search(run: PolarRun) -> dict:
    """Pull cores, clusters and intersections at every threshold; matched against the known GRBs
    and, for synthetic data, the injected transients (the recovery figures)."""
    config = run.load_config()
    p = load_npz(run.predictions)
    pull = polar_intervals.pulls(p["rate"], p["predicted"], p["rate_err"])
    truth = run.truth(config)
    # fitted as on real data: outside the known GRBs' windows only, never using the injected truth
    quiet = ~p["grb_masked"]
    width = (
        polar_intervals.fit_core
        if config.intervals.width == "core_fit"
        else polar_intervals.clipped_std
    )
    cores = [width(pull[quiet, c]) for c in range(pull.shape[1])]
    if not config.intervals.subtract_mean:  # the original: pull > k sigma
        cores = [polar_intervals.Core(0.0, c.sigma) for c in cores]
    channels, labels = polar_data.target_names(p), polar_data.target_labels(p)
    known = [(name, t, t) for name, t in polar_data.read_grbs(config.data.grb_path)]
    # synthetic data: matched against the injected spans (a few seconds of slack); real data:
    # against the known trigger times, within intervals.match_s
    events, tolerance = (
        ([(e.name, e.t_start, e.t_stop) for e in truth], 2.0)
        if truth
        else (known, config.intervals.match_s)
    )
    days = _live_days(p["unix_time"], config.intervals.max_gap_s)
    results = {
        "config_hash": config.section_hash(*SEARCH_SECTIONS),
        "live_days": days,
        "cores": [
            {"channel": ch, "label": label, "mu": c.mu, "sigma": c.sigma}
            for ch, label, c in zip(channels, labels, cores)
        ],
        "thresholds": {},
    }
    all_clusters, all_intersections, all_combinations, counts = [], [], [], {}
    settings = config.intervals
    for k in settings.thresholds:
        figures, counted = {}, []
        for veto in sorted(
            {settings.discard_w, 0.0}, reverse=True
        ):  # the run's, then without the veto
            clusters, found, combinations = polar_intervals.find(
                p["unix_time"],
                pull,
                cores,
                channels,
                k,
                settings.min_channels,
                settings.max_gap_s,
                p["rate"],
                veto,
                settings.veto_rule,
            )
            if veto == (0.0 if settings.counts_before_veto else settings.discard_w):
                counted = clusters
            polar_intervals.match(found, events, tolerance)
            figures[veto] = _recovery(found, truth, known, p["unix_time"], days)
            if veto == settings.discard_w:
                all_clusters += clusters
                all_intersections += found
                all_combinations += combinations
                counts[str(k)] = polar_intervals.combination_counts(combinations)
        results["thresholds"][str(k)] = figures[settings.discard_w]
        if settings.discard_w > 0:
            results["thresholds"][str(k)]["without_gap_veto"] = figures[0.0]
        results["thresholds"][str(k)]["per_target"] = _per_target(
            pull, cores, channels, labels, k, counted
        )
    results["intersections"] = [i.row() for i in all_intersections]
    results["clusters"] = [vars(c) for c in all_clusters]
    results["combinations"] = [vars(c) for c in all_combinations]
    results["combination_counts"] = counts
    write_json(run.intervals, results)
    for k, r in results["thresholds"].items():
        line = (
            f"intervals at {k} sigma: {r['n_positive']} positive intersections "
            f"({r['false_per_day']:.2f} unmatched per day"
        )
        if "without_gap_veto" in r:
            line += f"; {r['without_gap_veto']['false_per_day']:.2f} without the gap veto"
        line += ")"
        if truth:
            line += f"; recovered {r['recovered_above_10']}/{r['injected_above_10']} injected transients above 10 sigma"
        print(line)
    return results


def _per_target(pull, cores, channels, labels, k, clusters) -> dict:
    """Per target (by name): its label, pull width, the rows beyond k sigma and the clusters
    ``clusters`` of each sign (after the gap veto, or without it: ``intervals.counts_before_veto``)."""
    z = (pull - np.array([c.mu for c in cores])) / np.array([c.sigma for c in cores])
    return {
        ch: {
            "label": labels[j],
            "sigma": cores[j].sigma,
            "flagged_positive": int(np.sum(z[:, j] > k)),
            "flagged_negative": int(np.sum(z[:, j] < -k)),
            "clusters_positive": sum(c.channel == ch and c.sign > 0 for c in clusters),
            "clusters_negative": sum(c.channel == ch and c.sign < 0 for c in clusters),
        }
        for j, ch in enumerate(channels)
    }


def _live_days(unix_time, max_gap_s):
    steps = np.diff(unix_time)
    return float(steps[steps <= max_gap_s].sum() / 86400.0)


def _recovery(found, truth, known, unix_time, days) -> dict:
    positive = [i for i in found if i.sign > 0]
    observable = [e for e in truth if e.observable]
    strong = [e for e in observable if e.peak_significance > 10]
    recovered = {i.match for i in positive if i.match}
    in_data = [name for name, t, _ in known if polar_data.near(np.array([t]), unix_time, 1.5)[0]]
    return {
        "n_positive": len(positive),
        "n_negative": len(found) - len(positive),
        "false_per_day": sum(1 for i in positive if not i.match) / days if days else float("nan"),
        "injected_above_10": len(strong),
        "recovered_above_10": sum(e.name in recovered for e in strong),
        "missed_above_10": [e.name for e in strong if e.name not in recovered],
        "injected": len(observable),
        "recovered": sum(e.name in recovered for e in observable),
        "known_grbs_in_data": in_data,
        "known_grbs_found": [n for n in in_data if n in recovered],
    }


def export(run: PolarRun) -> None:
    from polar import export as polar_export

    polar_export.write(run.export, load_npz(run.predictions), read_json(run.intervals))
    print(f"export: {run.export.name} (trees predictions, intersections, clusters) and CSV copies")


def report(run: PolarRun) -> None:
    """Execute the report notebook against the run folder and render it to HTML."""
    import papermill

    from analysis_core.notebooks import render_html

    papermill.execute_notebook(
        str(TEMPLATE),
        str(run.notebook),
        parameters={"run_dir": str(run.root)},
        cwd=str(run.root),
        kernel_name="python3",
        progress_bar=False,
    )
    print(f"report: {run.notebook} and {render_html(run.notebook).name}")


TEMPLATE = Path(__file__).resolve().parents[1] / "notebooks" / "polar_report.ipynb"
STAGES = {"train": train, "predict": predict, "search": search, "export": export, "report": report}


def run_all(
    run: PolarRun,
    config: PolarConfig,
    on_cluster: str = "local",
    resources=None,
    max_attempts: int = 3,
    source: Path | None = None,
    overrides: list[str] = (),
) -> None:
    """Configure, then every stage in order; on SLURM the training is a job (resubmitted up to
    ``max_attempts`` times) and the light stages run here. ``source`` and ``overrides`` (the
    configuration file and what was applied to it) are recorded in the run's config.yaml.

    With ``train.seeds`` the run folder holds the first seed's model and report, and
    ``seeds/seed_<s>/`` each further seed's model, predictions, intervals and exports (on the same
    data); ``seed_summary.csv`` and ``.tex`` give the mean and standard deviation over all seeds."""
    seeds = list(config.train.seeds)
    if seeds:
        overrides = [*overrides, f"train.seed={seeds[0]}"]
        config = polar_config.load(source, overrides)
    configure(run, config, source, overrides)
    _stages(run, config, STAGES, on_cluster, resources, max_attempts)
    if not seeds:
        return
    from polar import seeds as polar_seeds

    folders = [run.root]
    for seed in seeds[1:]:
        print(f"\n=== seed {seed}")
        sub = PolarRun(run.root / "seeds" / f"seed_{seed}")
        sub_overrides = [*overrides, f"train.seed={seed}"]
        sub_config = polar_config.load(source, sub_overrides)
        sub.root.mkdir(parents=True, exist_ok=True)
        if not config.data.file and not (sub.root / "data").exists():
            (sub.root / "data").symlink_to(
                run.root / "data", target_is_directory=True
            )  # the same data
        configure(sub, sub_config, source, sub_overrides)
        _stages(
            sub,
            sub_config,
            {k: v for k, v in STAGES.items() if k != "report"},
            on_cluster,
            resources,
            max_attempts,
        )
        folders.append(sub.root)
    polar_seeds.write_summary(run.root, seeds, [read_json(PolarRun(f).intervals) for f in folders])


def _stages(
    run: PolarRun, config: PolarConfig, stages: dict, on_cluster: str, resources, max_attempts: int
) -> None:
    for name, stage in stages.items():
        print(f"\n=== {name}")
        if name == "train" and on_cluster == "slurm":
            _train_on_slurm(run, config, resources, max_attempts)
        else:
            stage(run)


def _train_on_slurm(run: PolarRun, config: PolarConfig, resources, max_attempts: int) -> None:
    import sys

    key = run.training_key(config)
    script = Path(__file__).resolve().parents[1] / "polar_analysis.py"
    command = slurm.shell_command(sys.executable, script, "--stage", "train", run.root)
    slurm.run_tasks(
        [command],
        lambda _: _done(run.training, key) and run.model.is_file(),
        resources,
        run.root / "slurm",
        max_attempts=max_attempts,
        describe=lambda _: "training",
    )
    print(f"training: done on SLURM ({run.model})")
