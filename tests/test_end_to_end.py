"""The whole pipeline through the real orchestrator: a hyperparameter grid of 4 points (2 learning
rates x 2 dropouts) with 3 rounds on a reduced toy_line configuration and on a reduced ALP one."""

import json
import os
import subprocess
import time

import numpy as np
import pytest
from conftest import notebook_errors, read_only, write_run_script

pytestmark = pytest.mark.slow

GRID = (
    '"--learning_rate (float) : 5e-3, 2e-3 --stopping_patience (int) : 4 --blocks (int) : 2 '
    '--features (int) : {features} --dropout (float) : 0.0, 0.1"'
)
REDUCED = {
    "run_name": "e2e",
    "n_truncations": "2",
    "n_sim_train": "1_000",
    "n_prior_samples": "20_000",
    "max_epochs": "25",
    "hyperparams": GRID.format(features=64),
    "n_sim_coverage": "60",
    "n_sim_explim": "10",
    "DRP_coverage_parameters": '"2000, 60, 0, 0, 1"',
    "limit_method": "hpd",  # the frequentist limits have tests of their own (test_frequentist.py)
}
HYPERPARAMS = [(5e-3, 0.0), (5e-3, 0.1), (2e-3, 0.0), (2e-3, 0.1)]  # the original's numbering
ALP_GRID = (
    '"--learning_rate (float) : 5e-3 --stopping_patience (int) : 4 --blocks (int) : 2 '
    "--features (int) : 32 --dropout (float) : 0.1 --data_width (int) : 32 --data_features (int) : 8 "
    '--power_width (int) : 32 --power_features (int) : 8"'
)


def run(script, cwd, overrides: dict | None = None):
    """A run script as a user starts it, with ``name=value`` overrides on the command line."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    arguments = [f"{k}={v}" for k, v in (overrides or {}).items()]
    return subprocess.run(
        [str(script), *arguments], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    elsewhere = tmp_path_factory.mktemp("cwd")
    script = write_run_script(base, **REDUCED)
    result = run(script, cwd=elsewhere)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return base, elsewhere, script, result


def test_results_tree_and_provenance(first_run):
    base, elsewhere, _, result = first_run
    run_dir = base / "analysis_results" / "e2e"
    for name in ("sim_output", "train_output", "val_output", "archive"):
        assert (run_dir / name).is_dir()
    provenance = json.loads((run_dir / "config.json").read_text())
    assert provenance["trial"] == 0 and len(provenance["config_hash"]) == 16
    assert provenance["variables"]["n_sim_train"] == [1000]
    assert [(p["learning_rate"], p["dropout"]) for p in provenance["grid"]] == HYPERPARAMS
    assert provenance["versions"]["swyft"] == "0.4.5"
    assert (run_dir / "run.sh").read_text() == (base / "run.sh").read_text()
    log = (run_dir / "output.log").read_text()
    assert log.startswith("ALP INFERENCE WITH TRUNCATED MARGINAL NRE")
    stages = [line.split(" (")[0] for line in log.splitlines() if line.startswith("=== ")]
    rounds = [
        f"=== {kind}, grid point {g}, round {r}"
        for g in range(4)
        for r in range(3)
        for kind in ("simulation", "training")
    ]
    assert stages == [
        "=== environment",
        "=== configuration",
        "=== rounds",
        *rounds,
        "=== validation",
        "=== report",
    ]
    assert "Finished analysis" in result.stdout
    # nothing outside the run folder
    assert not any(elsewhere.iterdir())
    assert sorted(p.name for p in (base / "analysis_results").iterdir()) == ["e2e"]


def test_stores_are_complete(first_run):
    base = first_run[0]
    stores = base / "analysis_results" / "e2e" / "sim_output" / "store"
    later = [
        f"store{kind}_round_{r}_gridpoint_{g}"
        for kind in ("", "_prior")
        for r in (1, 2)
        for g in range(4)
    ]
    explim = [f"store_explim_round_2_gridpoint_{g}" for g in range(4)]
    # round 0 is shared by the grid points: its stores are simulated once
    assert sorted(p.name for p in stores.iterdir() if not p.name.startswith(".")) == sorted(
        ["store", "store_prior", *later, *explim]
    )


def test_truncation_shrinks_around_the_truth(first_run):
    base = first_run[0]
    record = json.loads((base / "analysis_results" / "e2e" / "truncation_record.json").read_text())
    initial = np.array(record["initial_bounds"])
    truth = np.array([0.7, -0.3])
    assert sorted(record["grid_points"]) == ["0", "1", "2", "3"]
    for g, (learning_rate, dropout) in enumerate(HYPERPARAMS):
        point = record["grid_points"][str(g)]
        assert (point["hyperparams"]["learning_rate"], point["hyperparams"]["dropout"]) == (
            learning_rate,
            dropout,
        )
        rounds = point["rounds"]
        assert [r["round"] for r in rounds] == [0, 1, 2] and all(
            r["status"] == "done" for r in rounds
        )
        assert rounds[0]["bounds"] == initial.tolist()
        for previous, entry in zip(rounds, rounds[1:]):
            assert entry["bounds"] == previous["truncated_bounds"]
        for r in rounds:
            box = np.array(r["truncated_bounds"])
            assert np.all(box[:, 1] - box[:, 0] <= initial[:, 1] - initial[:, 0] + 1e-12)
            assert np.all((box[:, 0] < truth) & (truth < box[:, 1])), (g, r["round"], box)
        last = np.array(rounds[-1]["truncated_bounds"])
        assert np.sum(last[:, 1] - last[:, 0]) < 0.9 * np.sum(initial[:, 1] - initial[:, 0]), (
            g,
            last,
        )
        for name in ("a", "b"):
            assert rounds[-1]["posterior"][name]["std"] > 0


def cell_draws(cells: list[dict], call: str) -> int:
    """How many figures the executed code cell that makes the call ``call`` shows."""
    cell = next((c for c in cells if call in "".join(c["source"])), None)
    assert cell is not None, f"no cell of the report calls {call}"
    return sum("image/png" in o.get("data", {}) for o in cell["outputs"])


def diagnostic_cell(name: str) -> str:
    """The call of the report cell that shows a diagnostic's figures."""
    return f'diagnostic_figures(context, grid_point, "{name}"'


def test_notebook_executed_without_errors(first_run):
    base = first_run[0]
    run_dir = base / "analysis_results" / "e2e"
    notebook = json.loads((run_dir / "analysis_results.ipynb").read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code)
    outputs = [o for c in code for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    figures = [
        "posteriors_1d",
        "posteriors_1d_zoomed",
        "posteriors_2d",
        "corner",
        "training_curves",
    ]
    drawn = {figure: cell_draws(code, f"plots.{figure}(") for figure in figures}
    drawn["mock_observation"] = cell_draws(code, "plots.mock_observation(")
    # coverage (z-z, TARP) and expected limits (the maps, the false exclusions): two figures each
    drawn |= {
        name: cell_draws(code, diagnostic_cell(name)) == 2
        for name in ("coverage", "expected_limits")
    }
    figures += ["coverage_zz", "tarp", "expected_limits", "false_exclusions"]
    # the workbench cells: the stores' histograms, training spectra, a new observation's corner
    for call in ("plot_params()", "plot_spectra(", "run.infer("):
        drawn[call] = cell_draws(code, call)
    assert all(drawn.values()), [name for name, ok in drawn.items() if not ok]
    for figure in figures:
        assert (run_dir / "val_output" / f"{figure}_gridpoint_0.png").stat().st_size > 10_000
    assert (run_dir / "val_output" / "mock_observation.png").stat().st_size > 10_000
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert all(f"{{'learning_rate': {lr}" in text for lr in (0.005, 0.002))  # the grid summary
    assert "coverage: 60 simulations never trained on, 2000 posterior draws each" in text
    assert "<html" in (run_dir / "analysis_results.html").read_text()[:1000].lower()


def test_every_grid_point_is_validated(first_run):
    val_output = first_run[0] / "analysis_results" / "e2e" / "val_output"
    for g in range(4):
        summary = json.loads((val_output / f"validation_gridpoint_{g}.json").read_text())
        assert summary["round"] == 2 and set(summary["coverage"]["marginals"]) == {"a", "b", "a-b"}
        assert summary["expected_limits"]["n_explim"] == 10
        for name in ("coverage_zz", "tarp", "expected_limits", "false_exclusions"):
            assert (val_output / f"{name}_gridpoint_{g}.png").is_file()


def test_second_run_is_a_new_trial_and_loses_nothing(first_run):
    """The same run again with simulate=0 train=0 and use_old_truncations=1 (configuration and report only):
    trial 0 is archived file by file, the new trial trains nothing and reports trial 0's rounds."""
    base, elsewhere, _, _ = first_run
    run_dir = base / "analysis_results" / "e2e"
    before = {p.relative_to(run_dir): p.stat().st_size for p in run_dir.rglob("*") if p.is_file()}
    script = write_run_script(base, **REDUCED, simulate="0", train="0", use_old_truncations="1")
    result = run(script, cwd=elsewhere)
    assert result.returncode == 0, result.stdout[-4000:]
    archived = run_dir / "archive" / "trial__0"
    for path, size in before.items():
        assert (archived / path).stat().st_size == size, path
    assert json.loads((run_dir / "config.json").read_text())["trial"] == 1
    log = (run_dir / "output.log").read_text()
    assert "the previous trial is in archive/trial__0" in log
    assert (
        "train=0 simulate=0: no round is simulated or trained" in log and "=== training" not in log
    )
    assert "use_old_truncations: continuing from" in log
    assert (
        "grid point 0: this trial holds no network of round 2" in log
    )  # validation says why it skips
    record = json.loads((run_dir / "truncation_record.json").read_text())
    assert all(len(point["rounds"]) == 3 for point in record["grid_points"].values())


def test_bad_overrides_stop_before_anything_is_written(tmp_path):
    script = write_run_script(tmp_path, run_name="bad")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    for args, message in (
        (
            ["n_sim_trian=20"],
            "n_sim_trian = '20': not a variable of this pipeline (given on the command line",
        ),
        (["n_sim_train"], "'n_sim_train' is not an override: give name=value"),
        (["n_sim_train=-5"], "n_sim_train = '-5'"),
    ):
        result = subprocess.run(
            [str(script), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode != 0 and message in result.stdout + result.stderr, result.stdout[
            -2000:
        ]
    assert not (tmp_path / "analysis_results" / "bad").exists() or not any(
        (tmp_path / "analysis_results" / "bad").rglob("*.json")
    )


def test_bad_variable_stops_before_anything_is_written(tmp_path):
    script = write_run_script(
        tmp_path, run_name="bad", param1='" [4, 1] | 0.7 | 0 | 0 | U | a | 1 "'
    )
    result = run(script, cwd=tmp_path)
    assert result.returncode != 0
    assert "param1 = '[4, 1]': bounds of a must satisfy low < high" in result.stdout
    assert "FAILED: stage 'configuration'" in result.stdout
    assert not (tmp_path / "analysis_results" / "bad").exists()
    assert not list((tmp_path / "analysis_results").iterdir())


def test_a_read_only_results_folder_is_refused(tmp_path):
    script = write_run_script(tmp_path, run_name="ro")
    (tmp_path / "analysis_results").mkdir()
    with read_only(tmp_path / "analysis_results"):
        result = run(script, cwd=tmp_path)
    assert result.returncode == 1
    assert (
        f"ERROR: the results folder {tmp_path / 'analysis_results'} cannot be created or written to"
        in result.stderr
    )
    assert not list((tmp_path / "analysis_results").iterdir())


def test_alp_model_end_to_end(tmp_path):
    """The shipped ALP run script (m, g and four nuisances, their 1D marginals and the m-g one, the
    power head, the fixed-nuisance limit, the extra observation), reduced to a few hundred
    simulations and 2 rounds (the toy run above has a 4-point grid and 3 rounds)."""
    from conftest import RUN_SH

    script = write_run_script(
        tmp_path,
        template=RUN_SH,
        run_name="alp_e2e",
        n_sim_train="200",
        n_prior_samples="3_000",
        nbins_etrue="90",
        max_epochs="3",
        n_truncations="1",
        hyperparams=ALP_GRID,
        n_sim_coverage="60",
        n_sim_explim="10",
        DRP_coverage_parameters='"1000, 60, 0, 0, 1"',
        n_sim_calibration="2000",
        n_sim_limit_coverage="600",
        n_sim_null="100",
        classical_limits="1",
        classical_bins='"12,6"',
        classical_realisations="20",
        classical_toys="0",
    )
    result = run(script, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    run_dir = tmp_path / "analysis_results" / "alp_e2e"
    check_alp_limits(run_dir)
    obs = np.load(run_dir / "true_obs.npz")
    assert obs["pgg"].shape == (90,) and obs["power"].shape == (169,) and obs["data"].shape == (90,)
    np.testing.assert_allclose(
        obs["exp"], 0.0, atol=1e-6
    )  # truth = null: zero residual before noise
    setup = np.load(run_dir / "response.npz")
    assert setup["response_migration"].shape == (90, 90)
    record = json.loads((run_dir / "truncation_record.json").read_text())
    assert {g: [r["round"] for r in p["rounds"]] for g, p in record["grid_points"].items()} == {
        "0": [0, 1]
    }
    for g in range(1):
        for r in range(2):
            assert (
                run_dir / "train_output" / "net" / f"trained_network_round_{r}_gridpoint_{g}.pt"
            ).is_file()
        assert (
            run_dir / "train_output" / "net" / f"trained_network_fixed_nuisances_gridpoint_{g}.pt"
        ).is_file()
    assert not notebook_errors(run_dir / "analysis_results.ipynb")
    notebook = json.loads((run_dir / "analysis_results.ipynb").read_text())
    assert (run_dir / "val_output" / "mock_observation.png").exists()
    # the shipped extra observation (an injected ALP) and the p-p plots are in the executed report
    extra = np.load(run_dir / "extra_obs.npz")
    assert np.allclose(extra["params"][0][:2], np.log10([10, 3.162])) and list(extra["seed"]) == [1]
    assert np.load(run_dir / "train_output" / "posteriors" / "extra_observations_gridpoint_0.npz")[
        "density_2d"
    ].shape == (1, 1, 50, 50)
    figures = {
        "plots.extra_observations": "extra_observations_gridpoint_0",
        diagnostic_cell("coverage"): "coverage_zz_gridpoint_0",
        "run.infer(": None,
    }
    for call, png in figures.items():
        cell = next(
            c
            for c in notebook["cells"]
            if c["cell_type"] == "code" and call in "".join(c["source"])
        )
        assert any("image/png" in o.get("data", {}) for o in cell["outputs"]), call
        assert png is None or (run_dir / "val_output" / f"{png}.png").is_file()
    for g in range(1):
        summary = json.loads(
            (run_dir / "val_output" / f"validation_gridpoint_{g}.json").read_text()
        )
        names = ["m", "g", "Amplitude", "index", "Ecut", "rms_B"]
        assert set(summary["coverage"]["marginals"]) == {
            *names,
            "m-g",
        }  # restricted_posterior=3: the limit's plane
        limit = summary["expected_limits"]["pairs"]["m-g"]["0.95"]
        assert limit["truth_cell_excluded"] is None  # Obs. outside
        assert set(limit["g_limit_at_m"]) == {"1", "10", "100"} and "fixed_nuisances" in limit
        assert summary["expected_limits"]["fixed_nuisances"] == [
            "Amplitude",
            "index",
            "Ecut",
            "rms_B",
        ]
    log = (run_dir / "output.log").read_text()
    assert (
        "expected limits: 10 simulations at the Obs. POI values, the posterior on 10000 points per plane, false "
        "exclusions against round 0, and with the nuisances fixed"
    ) in log


def check_alp_limits(run_dir):
    """The frequentist limits of a small ALP run, where a limit goes wrong: in the cells where the
    ALP changes no bin by more than 1e-3 (the simulator's counts), truths with the nuisances from
    their prior are excluded by the Neyman test at its size and by CLs almost never; truths in the
    sensitive band at most 1 - level of the time. (Full size: docs/guide/validation.md, check_limits.py.)"""
    from alpswyft import open_run
    from alpswyft.limit_checks import exclusion_rates, no_effect_cells, no_effect_truths
    from alpswyft.results import RunTree
    from analysis_core.errors import ConfigError

    run = open_run(run_dir)
    summary = json.loads((run_dir / "val_output" / "validation_gridpoint_0.json").read_text())[
        "frequentist"
    ]
    assert (
        summary["methods"] == ["frequentist", "cls", "hpd"]
        and summary["k"] == 103
        and summary["kernel"] == "tricube"
    )
    assert set(summary["leave_one_out"]["m-g"]) == {"0.68", "0.95"}
    assert (run_dir / "val_output" / "limit_coverage_gridpoint_0.png").is_file()
    edges_x, edges_y = (
        np.linspace(-2, 4, 7),
        np.linspace(-2, 1, 7),
    )  # coarse: the simulator's counts per cell centre
    quiet = no_effect_cells(run.sim, run.config, (0, 1), edges_x, edges_y, n_fields=2)
    assert (
        quiet[-1, :2].all() and not quiet[2, -1]
    )  # 1000+ neV at weak coupling sees nothing; 10 neV at 3e-11 does
    truths = no_effect_truths(RunTree(run_dir), 0, 0, quiet, (0.68, 0.95))
    n = truths["frequentist"]["0.95"]["n"]
    assert n > 50
    for level in (0.68, 0.95):
        # the observations' error and the critical value's: a weighted quantile of about 0.55 k simulations
        sigma = np.sqrt(level * (1 - level) * (1 / n + 1 / (0.55 * summary["k"])))
        assert truths["frequentist"][f"{level:g}"]["fraction"] <= (1 - level) + 2 * sigma, level
        assert truths["cls"][f"{level:g}"]["fraction"] <= 0.01 + 2 * np.sqrt(0.01 / n), level
    # the classical scan of the same mock observation (MAGIC's method, Wilks' thresholds): the
    # strong coupling at 10 neV excluded, the no-effect corner not
    scan = run.classical(bins=(5, 5), n_realisations=20)
    assert scan.deviance.shape == (25, 20) and scan.shape == (5, 5) and scan.ts().min() == 0
    excluded = scan.excluded(0.95).reshape(scan.shape)
    assert excluded[2, 4] and not excluded[4, 0]
    assert np.all(scan.ts("marginal") >= 0)
    with pytest.raises(ConfigError, match="n_realisations = '10'"):
        run.classical(n_realisations=10)
    # the validation option: the classical limits of the same 10 mock observations beside the
    # network's (Wilks' thresholds here; the pseudo-experiments' are tested in test_classical.py)
    classical = json.loads((run_dir / "val_output" / "validation_gridpoint_0.json").read_text())[
        "classical"
    ]
    assert (
        classical["grid"] == [12, 6]
        and classical["n_observations"] == 10
        and classical["field"] == "obs"
    )
    assert (
        set(classical["levels"]["0.95"]) == {"wilks_quantile", "wilks_marginal"}
        and not classical["thresholds"]
    )
    assert (
        classical["levels"]["0.95"]["wilks_quantile"]["median"]["10"] is not None
    )  # 10 neV: a limit
    assert (run_dir / "val_output" / "classical_comparison_gridpoint_0.png").is_file()
    assert (
        "classical limits: 10 mock observations on a 12 x 6 grid"
        in (run_dir / "output.log").read_text()
    )
    rates = exclusion_rates(
        run, [(1.0, 0.5), (2.0, 0.5)], 40, (0.95,), ("frequentist", "cls", "hpd")
    )
    for row in rates:
        for method in ("frequentist", "cls"):
            rate = row["rates"][method]["0.95"]
            assert rate["fraction"] <= 0.05 + 2 * np.sqrt(
                0.05 * 0.95 * (1 / 40 + 1 / (0.55 * summary["k"]))
            ), (row["point"], method, rate)


def test_an_alp_model_variant_killed_in_its_simulation_resumes_and_runs_end_to_end(tmp_path):
    """cluster_runs/alp_logparabola.sh as shipped (run.sh with the log-parabola variant of the ALP
    model, a model file beside the run script), reduced by command-line overrides. kill -9 of the
    whole run while it simulates, then the same command: the run resumes, and its store equals one
    simulated without interruption. The file is copied into the run folder and its SHA-256
    recorded, the overrides are logged and recorded, its own null counts are in response.npz, and
    the run trains, validates and reports; the run's simulator and network work in the workbench."""
    import hashlib
    import shutil
    import signal

    import zarr
    from conftest import REPO, RUN_SH

    from alpswyft import ALPSim, open_run

    (tmp_path / "user_models").mkdir()
    shutil.copy(
        REPO / "cluster_runs" / "user_models" / "ngc1275_logparabola.py", tmp_path / "user_models"
    )
    write_run_script(tmp_path, template=RUN_SH)
    script = tmp_path / "alp_logparabola.sh"
    shutil.copy(REPO / "cluster_runs" / "alp_logparabola.sh", script)
    small = {
        "n_sim_train": "200",
        "n_prior_samples": "2_000",
        "nbins_etrue": "60",
        "max_epochs": "2",
        "hyperparams": ALP_GRID.strip('"'),
        "limit_method": "hpd",
        "fixed_nuisance_limits": "0",
        "n_sim_coverage": "40",
        "n_sim_explim": "10",
        "DRP_coverage_parameters": "1000, 40, 0, 0, 1",
    }
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    process = subprocess.Popen(
        [str(script), *(f"{k}={v}" for k, v in small.items())],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    run_dir = tmp_path / "analysis_results" / "alp_logparabola"
    store = run_dir / "sim_output" / "store" / "store"
    deadline = time.time() + 300
    while time.time() < deadline:  # kill once some chunks are written, not all
        status = store / "meta" / "sim_status"
        if status.exists() and len(list(status.iterdir())) > 2:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    written = int(zarr.open_group(str(store))["meta/sim_status"][:].sum())
    assert 0 < written < 240, written
    assert (tmp_path / "analysis_results" / ".alp_logparabola.lock").exists()  # no longer held

    result = run(script, tmp_path, small)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    log = (run_dir / "output.log").read_text()
    assert "resuming the unfinished trial 0" in log
    assert f"simulating {240 - written} of 240 samples" in log
    assert not (run_dir / "archive" / "trial__0").exists()
    check_resumed_store(store, run_dir, tmp_path / "fresh", 240)
    model = (tmp_path / "user_models" / "ngc1275_logparabola.py").read_bytes()
    assert (run_dir / "model.py").read_bytes() == model
    provenance = json.loads((run_dir / "config.json").read_text())
    assert provenance["model"]["sha256"] == hashlib.sha256(model).hexdigest()
    assert provenance["variables"]["model_sha256"] == provenance["model"]["sha256"]
    assert provenance["variables"]["model"].endswith("user_models/ngc1275_logparabola.py")
    assert provenance["overrides"]["n_sim_train"] == "200" and provenance["overrides"]["model"]
    assert provenance["variables"]["n_sim_train"] == [200]
    assert "command-line overrides: run_name=alp_logparabola, model=user_models" in log
    obs = np.load(run_dir / "true_obs.npz")
    assert obs["pgg"].shape == (60,) and obs["power"].shape[0] > 0 and obs["data"].shape == (90,)
    variant = ALPSim(model=tmp_path / "user_models" / "ngc1275_logparabola.py", nbins_etrue=60)
    np.testing.assert_allclose(
        np.load(run_dir / "response.npz")["null_counts"], variant.model.null_counts, rtol=1e-9
    )  # the variant's spectrum, not the cut-off power law's
    summary = json.loads((run_dir / "val_output" / "validation_gridpoint_0.json").read_text())
    assert set(summary["coverage"]["marginals"]) == {
        "m",
        "g",
        "Amplitude",
        "alpha",
        "beta",
        "rms_B",
        "m-g",
    }
    assert not notebook_errors(run_dir / "analysis_results.ipynb")
    opened = open_run(run_dir)
    assert opened.sim.alp and opened.sim.names[3] == "alpha"
    posterior = opened.infer(opened.sim.observe(m=10, g=3, beta=0.2, seed=1))
    assert posterior.truth is not None and len(posterior.names) == 6


ORIGINAL_STYLE = r"""#!/bin/bash
#################################################################################################
# Environment configuration
#################################################################################################
on_cluster=hepp
conda_env=swyft4-dev
parent_directory=$FOML3
analysis_scripts_location=$FOML3/analysis_scripts/ALP_sim
#################################################################################################
# SERIES PARAMETERS (Must NOT be changed when re-running)
#################################################################################################
update_config=1
run_name=original_style
account=ec12
update_physics=1
save_physics=0
model=toy_line
noise=gauss
nbins=" 50 "
emin=-1
emax=1
ALP_seed=None
obs_seed=0
POI_indices=0,1
param1=" [-3, 3] | 0.7  | 0 | 0 | U | a | 1 "
param2=" [-3, 3] | -0.3 | 0 | 0 | U | b | 1 "
#################################################################################################
# TECHNICAL PARAMETERS (may be changed when re-running)
#################################################################################################
n_truncations=0
use_old_truncations=0
use_old_sims=0
save_old_sims=0
simulate=1
n_sim_train=300
n_prior_samples=2_000
use_old_net=0
save_old_net=1
train=1
draw_DRP=0
architecture=""
restricted_posterior=0
train_batch_size_1d=256
max_epochs=2
gpus=0
hyperparams="--learning_rate (float) : 5e-3 \
             --stopping_patience (int) : 3 \
             --blocks (int) : 2 \
             --features (int) : 32 \
             --dropout (float) : 0.1"
start_grid_test_at_count=0
DRP_coverage_parameters="10000|1000|0|1|5 , 2|1|100|1|1"
#################################################################################################
# Execution
#################################################################################################
arg="config_file=$0;on_cluster=$on_cluster;conda_env=$swyft_env;run_name=$run_name;update_config=$update_config=int;n_sim_train=$n_sim_train=int;use_old_net=$use_old_net=int"
$analysis_scripts_location/run_swyft_analysis_truncation.sh "$arg"
"""


def check_resumed_store(store, run_dir, fresh, n: int) -> None:
    """The resumed ``store`` of a run equals the same request simulated without interruption."""
    import zarr

    from alpswyft.run import RunContext
    from alpswyft.stores import StoreRequest, fill_store

    context = RunContext(run_dir)
    config = context.config
    attrs = dict(zarr.open_group(str(store)).attrs)
    request = StoreRequest(
        fresh,
        "train",
        0,
        0,
        n,
        tuple(map(tuple, attrs["bounds"])),
        config.sim_seed,
        config.simulation_hash,
    )
    reference = fill_store(request, context.simulator, n_jobs=2)
    resumed = zarr.open_group(str(store))
    for key in ("params", "exp", "data", "pgg", "power"):
        np.testing.assert_array_equal(resumed[f"data/{key}"][:], reference[f"data/{key}"][:])


def test_a_run_script_of_the_original_pipeline_runs(tmp_path):
    """No set -a, $FOML3 paths, obsolete variables, the argument string with =type suffixes and a
    call of the original orchestrator: given to this orchestrator, it runs with warnings."""
    from conftest import ORCHESTRATOR

    script = tmp_path / "flare0_style.sh"
    script.write_text(ORIGINAL_STYLE)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "FOML3")}
    result = subprocess.run(
        [str(ORCHESTRATOR), str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    log = (tmp_path / "analysis_results" / "original_style" / "output.log").read_text()
    for warning in (
        "conda_env is obsolete",
        "analysis_scripts_location is obsolete",
        "arg holds the original's argument string",
        "DRP_coverage_parameters: only the first row",
    ):
        assert warning in log, warning
    config = json.loads(
        (tmp_path / "analysis_results" / "original_style" / "config.json").read_text()
    )
    assert config["variables"]["on_cluster"] == "hepp" and config["variables"]["nbins"] == 50
    assert config["variables"]["DRP_coverage_parameters"] == [
        [10000, 1000, 0, 1, 5],
        [2, 1, 100, 1, 1],
    ]


KILLABLE = dict(
    n_truncations="0",
    n_sim_train="1_000",
    n_prior_samples="2_000",
    max_epochs="5",
    n_sim_coverage="150",
    n_sim_explim="10",
    DRP_coverage_parameters='"2000, 150, 0, 0, 1"',
    limit_method="hpd",  # the frequentist stage's resumption is that of every stage
)


def test_kill_9_in_every_stage_then_resume_gives_the_same_results(tmp_path):
    """One run killed (kill -9 of its whole process group) during the configuration (twice: early,
    and once config.json is written), training, validation and the report, resumed each time by
    the same command, ends with the results of an uninterrupted run. While it trains, a second run
    of the same run_name is refused."""
    import signal

    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    reference = tmp_path / "reference"
    reference.mkdir()
    result = run(write_run_script(reference, run_name="k", **KILLABLE), cwd=reference)
    assert result.returncode == 0, result.stdout[-3000:]

    killed = tmp_path / "killed"
    killed.mkdir()
    script = write_run_script(killed, run_name="k", **KILLABLE)
    run_dir = killed / "analysis_results" / "k"
    log = run_dir / "output.log"

    def logged(text):
        def holds(path):
            try:
                return text in path.read_text()
            except (
                FileNotFoundError
            ):  # the early log moves into the run folder when the configuration ends
                return False

        def reached():
            return any(
                holds(path)
                for path in [log, *(killed / "analysis_results").glob(".k.starting.*.log")]
            )

        return reached

    kill_points = [  # (where, condition, delay in s)
        ("configuration", logged("=== configuration"), 1.0),
        ("config.json written", (run_dir / "config.json").exists, 0.0),
        ("epoch    2", logged("epoch    2"), 0.0),
        ("coverage", logged("coverage simulations: "), 0.0),
        ("report", logged("=== report"), 1.5),
    ]
    for marker, reached, delay in kill_points:
        process = subprocess.Popen(
            [str(script)],
            cwd=killed,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(6000):
            if reached():
                break
            time.sleep(0.02)
        time.sleep(delay)
        assert process.poll() is None, f"the run ended before '{marker}'"
        if marker == "epoch    2":
            concurrent = run(script, cwd=killed)
            assert concurrent.returncode == 1
            assert "ERROR: run 'k' is already running (pid " in concurrent.stderr
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    result = run(script, cwd=killed)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "resuming the unfinished trial 0" in log.read_text()
    assert not (run_dir / "archive" / "trial__0").exists()
    assert not list((killed / "analysis_results").glob(".k.starting.*.log"))
    logs = "".join(path.read_text() for path in run_dir.glob("output*.log"))
    assert "--- output of an earlier attempt, killed before its configuration finished" in logs

    def results(base):
        run_dir = base / "analysis_results" / "k"
        entry = json.loads((run_dir / "truncation_record.json").read_text())["grid_points"]["0"][
            "rounds"
        ][0]
        summary = json.loads((run_dir / "val_output" / "validation_gridpoint_0.json").read_text())
        errors = notebook_errors(run_dir / "analysis_results.ipynb")
        return (
            entry["truncated_bounds"],
            entry["training"]["best_val_loss"],
            entry["posterior"],
            summary,
            errors,
        )

    assert results(killed) == results(reference)
    assert "already running" not in log.read_text()  # the refused run wrote nothing into the trial
    assert not (killed / "analysis_results" / ".k.lock").exists()


def test_a_disk_filled_during_simulation_is_said_plainly_and_the_same_command_resumes(tmp_path):
    """Results on a small tmpfs that fills from outside while the stores are written: one line
    naming the file and the free space (no tracebacks), then the same command, with space freed,
    completes the stores. Simulation only (train=0), so that the run stops after the stores."""
    import errno
    import shutil

    from conftest import RUN_SH

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "small_disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=130M", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        script = write_run_script(
            tmp_path,
            template=RUN_SH,
            run_name="full",
            results_parent_dir=str(disk),
            train="0",
            n_truncations="0",
            n_sim_train="400",
            n_jobs_sim="1",
            nbins_etrue="90",
            n_sim_coverage="0",
            n_sim_explim="0",
            n_prior_samples="2_000",
        )
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        process = subprocess.Popen(
            [str(script)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        log = disk / "full" / "output.log"
        for _ in range(600):
            if log.exists() and "store: simulating" in log.read_text():
                break
            time.sleep(0.2)
        filler = disk / "filler"
        with open(filler, "wb") as f:  # everything that is left
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError as error:
                assert error.errno == errno.ENOSPC
        output, _ = process.communicate(timeout=600)
        assert process.returncode != 0, output[-3000:]
        assert (
            "ERROR: the disk is full: writing " in output
            and "run the same command again; it resumes" in output
        )
        assert "Traceback" not in output, output[-4000:]
        print("\n" + next(line for line in output.splitlines() if "the disk is full" in line))
        filler.unlink()
        again = run(script, cwd=tmp_path)
        assert again.returncode == 0, again.stdout[-4000:]
        assert "resuming the unfinished trial 0" in again.stdout
        import zarr

        store = zarr.open_group(str(disk / "full" / "sim_output" / "store" / "store"), mode="r")
        assert np.all(store["meta/sim_status"][:] == 1)
        assert np.all(np.isfinite(store["data/exp"][:])) and np.all(store["data/pgg"][:] > 0)
        assert shutil.disk_usage(disk).free > 100e6
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
