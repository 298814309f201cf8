#!/usr/bin/env python
"""POLAR background model and transient-interval search: all stages of a run, or one stage.

polar_analysis.py --run-script cluster_runs/run_polar.sh [name=value ...]
    (its variables exported, as run_polar.sh does; name=value sets a variable of the run
    script, e.g. run_name=quick, or overrides a configuration key, e.g. train.max_epochs=5)
polar_analysis.py --stage train|predict|search|export|report RUN_DIR
"""

import argparse
import os
import shlex
from pathlib import Path

from alpswyft import cli
from analysis_core.errors import ConfigError
from analysis_core.slurm import Resources
from polar import config as polar_config
from polar import pipeline

parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
)
parser.add_argument("--run-script", type=Path, help="the run script whose variables are exported")
parser.add_argument("--stage", choices=list(pipeline.STAGES), help="run one stage on RUN_DIR")
parser.add_argument("arguments", nargs="*", help="RUN_DIR (with --stage), or name=value arguments")
args = parser.parse_args()


def main():
    if args.stage:
        if len(args.arguments) != 1:
            raise ConfigError(
                "command line", " ".join(args.arguments), "--stage takes one run folder"
            )
        return pipeline.STAGES[args.stage](pipeline.PolarRun(Path(args.arguments[0]).resolve()))
    variables, command_line = polar_config.split_arguments(args.arguments)
    env = {**os.environ, **variables}.get
    source = polar_config.resolve(env("config"), args.run_script.resolve().parent)
    overrides = shlex.split(env("overrides", "")) + command_line  # the command line wins
    config = polar_config.load(source, overrides)
    parent = Path(
        env("results_parent_dir") or args.run_script.resolve().parent / "analysis_results"
    )
    run = pipeline.PolarRun(parent / env("run_name", "polar"))
    resources = Resources(
        job_name=f"polar_train_{run.root.name}",
        partition=env("partition_train", ""),
        account=env("account", ""),
        time=env("max_time_train", ""),
        mem_per_cpu_gb=int(env("max_memory_train", "0") or 0),
        gpus=config.train.gpus,
        memory_setting="max_memory_train",
        time_setting="max_time_train",
    )
    print(f"POLAR background model, run folder {run.root}")
    print(f"configuration: {source}" + (f", overrides: {' '.join(overrides)}" if overrides else ""))
    pipeline.run_all(
        run,
        config,
        env("on_cluster", "local"),
        resources,
        int(env("slurm_max_attempts", "3")),
        source,
        overrides,
    )


cli.run(main)
