"""train.seeds: one model per seed on the same data, and the mean and spread over them."""

import json

import numpy as np
import pytest

from polar import config as polar_config
from polar import pipeline, seeds


def _intervals(sigma, flagged, combination):
    per_target = {
        "0": {
            "sigma": sigma,
            "flagged_positive": flagged,
            "flagged_negative": 0,
            "clusters_positive": 1,
            "clusters_negative": 0,
        }
    }
    return {
        "thresholds": {"5.0": {"per_target": per_target, "n_positive": flagged, "n_negative": 1}},
        "combination_counts": {"5.0": combination},
    }


def test_the_summary_is_the_mean_and_sample_std_over_the_seeds():
    runs = [
        _intervals(1.0, 4, {"0": {"positive": 2, "negative": 0}}),
        _intervals(1.2, 6, {"0_1": {"positive": 1, "negative": 3}}),
    ]
    rows = {(r["quantity"], r["of"]): r for r in seeds.summary(runs)}
    assert rows[("sigma", "rate[0]")]["mean"] == pytest.approx(1.1)
    assert rows[("sigma", "rate[0]")]["std"] == pytest.approx(np.std([1.0, 1.2], ddof=1))
    assert (
        rows[("flagged_positive", "rate[0]")]["mean"] == 5
        and rows[("intersections_negative", ">= min_channels")]["std"] == 0
    )
    # a combination a seed did not see counts 0 there
    assert (
        rows[("combination_positive", "0")]["mean"] == 1
        and rows[("combination_negative", "0_1")]["mean"] == 1.5
    )


@pytest.mark.slow
def test_two_seeds_end_to_end(tmp_path):
    overrides = [
        "synthetic.days=0.25",
        "synthetic.random_grbs_per_day=0",
        "train.max_epochs=2",
        "model.hidden=[16]",
        "train.batch_size=4096",
        "train.seeds=[3,4]",
    ]
    run = pipeline.PolarRun(tmp_path / "run")
    pipeline.run_all(run, polar_config.load(None, overrides), overrides=overrides)
    assert run.load_config().train.seed == 3 and run.notebook.is_file()
    second = pipeline.PolarRun(run.root / "seeds" / "seed_4")
    assert (
        second.load_config().train.seed == 4
        and second.model.is_file()
        and not second.notebook.is_file()
    )
    assert (second.root / "data").resolve() == (
        run.root / "data"
    ).resolve()  # the same data, generated once
    first_cores = json.loads(run.intervals.read_text())["cores"]
    second_cores = json.loads(second.intervals.read_text())["cores"]
    assert first_cores != second_cores  # two models
    lines = (run.root / "seed_summary.csv").read_text().splitlines()
    assert lines[0] == "quantity,k,of,mean,std,n_seeds" and all(
        line.endswith(",2") for line in lines[1:]
    )
    assert any(line.startswith("sigma,3.0,rate[12],") for line in lines)
    assert r"\begin{tabular}" in (run.root / "seed_summary.tex").read_text()
