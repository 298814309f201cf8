#!/usr/bin/env python
"""POLAR background model and transient-interval search: all stages of a run, or one stage.

    polar_analysis.py --run-script cluster_runs/run_polar.sh   (its variables exported, as run_polar.sh does)
    polar_analysis.py --stage train|predict|search|export|report RUN_DIR
"""

import argparse
import os
import shlex
from pathlib import Path

from alpswyft import cli
from alpswyft.polar import config as polar_config
from alpswyft.polar import pipeline
from alpswyft.slurm import Resources

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--run-script", type=Path, help="the run script whose variables are exported")
parser.add_argument("--stage", choices=list(pipeline.STAGES), help="run one stage on RUN_DIR")
parser.add_argument("run_dir", type=Path, nargs="?", help="a POLAR run folder (with --stage)")
args = parser.parse_args()


def main():
    if args.stage:
        return pipeline.STAGES[args.stage](pipeline.PolarRun(args.run_dir.resolve()))
    env = os.environ.get
    config = polar_config.load(env("config") or None, shlex.split(env("overrides", "")))
    parent = Path(env("results_parent_dir") or args.run_script.resolve().parent / "analysis_results")
    run = pipeline.PolarRun(parent / env("run_name", "polar"))
    resources = Resources(job_name=f"polar_train_{run.root.name}", partition=env("partition_train", ""),
                          account=env("account", ""), time=env("max_time_train", ""),
                          mem_per_cpu_gb=int(env("max_memory_train", "0") or 0), gpus=config.train.gpus)
    print(f"POLAR background model, run folder {run.root}")
    pipeline.run_all(run, config, env("on_cluster", "local"), resources, int(env("slurm_max_attempts", "3")))


cli.run(main)
