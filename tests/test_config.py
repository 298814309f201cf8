"""Validation of the run-script variables: every bad input names the variable and the value."""

import pytest
from conftest import toy_variables

from alpswyft.config import load_run_config
from analysis_core.errors import ConfigError


def test_valid_configuration(variables):
    config, warnings = load_run_config(variables)
    assert warnings == []
    assert config.table.free_names == ["a", "b"]
    assert config.poi_names == ["a", "b"]
    assert config.n_rounds == 2
    assert config.n_sim_train == [3000]
    assert config.prediction_pairs == [(0, 1)]
    assert config.grid == [
        {"learning_rate": 5e-3, "stopping_patience": 6, "blocks": 2, "features": 64, "dropout": 0.1}
    ]
    assert len(config.hash) == 16


def test_hash_changes_with_any_variable(variables):
    a, _ = load_run_config(variables)
    b, _ = load_run_config({**variables, "n_sim_train": "3_001"})
    assert a.hash != b.hash
    assert a.hash == load_run_config(dict(variables))[0].hash


@pytest.mark.parametrize(
    ("override", "variable", "fragment"),
    [
        ({"param1": "[-3,3] | 0.7 | 0 | 0 | U | a"}, "param1", "6 columns"),
        ({"param1": "[4,1] | 0.7 | 0 | 0 | U | a | 1"}, "param1", "low < high"),
        ({"param2": "[-3,3] | 0 | 0 | 0 | N(0,-1) | b | 1"}, "param2", "sigma must be > 0"),
        ({"param2": "[-3,3] | 0 | 0 | 0 | N(5,1) | b | 1"}, "param2", "outside its bounds"),
        ({"param2": "[-3,3] | 0 | 0 | 0 | X | b | 1"}, "param2", "U or N(mu,sigma)"),
        ({"param2": "[-3,3] | 0 | 0 | 2 | U | b | 1"}, "param2", "log? column"),
        ({"param2": "[-3,3] | zero | 0 | 0 | U | b | 1"}, "param2", "must be a number"),
        ({"param2": "[-3,3] | 0 | 0 | 0 | U | a | 1"}, "param<N>", "unique"),
        ({"param3": "1 | | | 0 | U | c | 1"}, "param<N>", "needs 2 parameter rows"),
        ({"model": "toy_cubic"}, "model", "expected one of"),
        ({"model": ""}, "param<N>", "needs 18 parameter rows"),
        ({"POI_indices": "0,2"}, "POI_indices", "0..1"),
        ({"POI_indices": "0,0"}, "POI_indices", "distinct"),
        ({"prediction_pairs": "(1,0)"}, "prediction_pairs", "i < j"),
        ({"prediction_pairs": "0,1"}, "prediction_pairs", "pairs of POI positions"),
        ({"emin": "1", "emax": "1"}, "emax", "larger than emin"),
        ({"hyperparams": "learning_rate (float) : 5e-3"}, "hyperparams", "start with '--'"),
        ({"hyperparams": "--learning_rate float : 5e-3"}, "hyperparams", "--name (type)"),
        ({"hyperparams": "--learning_rate (double) : 5e-3"}, "hyperparams", "one of int, float"),
        ({"hyperparams": "--learning_rate (float) : 5e-3, fast"}, "hyperparams", "valid float"),
        ({"hyperparams": "--learning_rate (float) : 5e-3"}, "hyperparams", "stopping_patience"),
        ({"start_grid_test_at_count": "1"}, "start_grid_test_at_count", "grid has 1 points"),
        ({"geom": "gamma"}, "geom", "simple or simple_log"),
        ({"geom": "simple_log"}, "emin", "emin > 0"),
        ({"use_old_sims": "/no/such/store"}, "use_old_sims", "no such store on this machine"),
        ({"use_old_sims": "/tmp"}, "use_old_sims", "expected 0, 1 or the path"),
        ({"use_old_net": "/no/such/net.pt"}, "use_old_net", "a network .pt file"),
        (
            {"use_old_truncations": "/no/such/record"},
            "use_old_truncations",
            "truncation_record.json",
        ),
        ({"architecture": "/no/such/head.py"}, "architecture", "defining Head"),
        (
            {"DRP_coverage_parameters": "0, 10, 0, 0, 1"},
            "DRP_coverage_parameters",
            "n_draws must be > 0",
        ),
        ({"architecture": "power"}, "hyperparams", "needs data_features, power_features"),
        ({"architecture": "cnn"}, "hyperparams", "needs logratio_features, channels, kernel_size"),
    ],
)
def test_bad_input_names_variable(variables, override, variable, fragment):
    with pytest.raises(ConfigError) as error:
        load_run_config({**variables, **override})
    assert error.value.variable == variable
    assert fragment in str(error.value)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"n_sim_train": "10k"}, "n_sim_train = '10k': Input should be a valid integer"),
        ({"nbins": "ninety"}, "nbins = 'ninety'"),
        ({"max_epochs": "-1"}, "max_epochs = '-1': Input should be greater than or equal to 1"),
        ({"noise": "cauchy"}, "noise = 'cauchy'"),
        ({"train": "yes"}, "train = 'yes': expected 0 or 1"),
        ({"max_time_sim": "1h"}, "max_time_sim = '1h'"),
        (
            {"DRP_coverage_parameters": "10000, 1000, 0"},
            "DRP_coverage_parameters = '10000, 1000, 0': expected rows of 5 integers",
        ),
        ({"DRP_coverage_parameters": "10000|x|0|1|5"}, "DRP_coverage_parameters"),
        ({"run_name": "../elsewhere"}, "run_name = '../elsewhere'"),
        (
            {"credibility_levels": "0.95,0.68"},
            "credibility_levels = '0.95,0.68': expected increasing levels",
        ),
        (
            {"credibility_levels": "68,95"},
            "credibility_levels = '68,95': expected increasing levels strictly between 0 and 1",
        ),
        (
            {"credibility_levels": "3sigma"},
            "credibility_levels = '3sigma': expected comma-separated numbers",
        ),
    ],
)
def test_type_errors_name_variable_and_value(variables, override, fragment):
    with pytest.raises(ConfigError, match="invalid") as error:
        load_run_config({**variables, **override})
    assert fragment in str(error.value)


def test_credibility_levels(variables):
    assert load_run_config(variables)[0].credibility_levels == (0.68, 0.95)
    config = load_run_config({**variables, "credibility_levels": " 0.68, 0.95,0.9973 "})[0]
    assert config.credibility_levels == (0.68, 0.95, 0.9973)


def test_missing_required_variables():
    variables = toy_variables()
    del variables["run_name"], variables["n_sim_train"]
    with pytest.raises(ConfigError) as error:
        load_run_config(variables)
    assert "run_name: required variable is not set" in str(error.value)
    assert "n_sim_train: required variable is not set" in str(error.value)


def test_parameter_rows_must_not_have_gaps(variables):
    variables["param3"] = variables.pop("param2")
    with pytest.raises(ConfigError, match="without gaps"):
        load_run_config(variables)


def test_digit_grouping_typo_warns(variables):
    config, warnings = load_run_config({**variables, "n_sim_train": "10_000, 10_00"})
    assert config.n_sim_train == [10_000, 1000]
    assert any("'10_00' = 1,000" in w for w in warnings)


def test_obsolete_and_unknown_variables_warn(variables):
    _, warnings = load_run_config({**variables, "conda_env": "swyft4-dev", "n_sim_trian": "5"})
    assert any(w.startswith("conda_env is obsolete") for w in warnings)
    assert any(w.startswith("n_sim_trian is not a variable") for w in warnings)


def test_fixed_parameter_ignored_columns_warn(variables):
    config, warnings = load_run_config(
        {
            **variables,
            "model": "toy_poly",
            "param3": " 0.5 | 0.7 | 0.7 | 0 | U | c | 1 ",
            "POI_indices": "0,1",
        }
    )
    assert [p.name for p in config.table.free] == ["a", "b"]
    assert any("param3 (c) is fixed at 0.5" in w for w in warnings)


def test_single_poi_gets_no_default_pairs(variables):
    config, _ = load_run_config({k: v for k, v in variables.items()} | {"POI_indices": "1"})
    assert config.prediction_pairs == []
    assert config.poi_names == ["b"]


def test_a_leftover_prediction_pairs_with_one_poi_warns_and_runs(variables):
    """An original user's script: one POI and the template's prediction_pairs="(0,1)"."""
    config, warnings = load_run_config(
        variables | {"POI_indices": "1", "prediction_pairs": "(0,1)"}
    )
    assert config.prediction_pairs == []
    assert any("prediction_pairs = '(0,1)' is unused with one POI" in w for w in warnings)
    for restricted in ("0", "1", "2", "3"):
        load_run_config(
            variables
            | {"POI_indices": "1", "prediction_pairs": "(0,1)", "restricted_posterior": restricted}
        )


def test_extra_observations_read_values_as_alpsim_does():
    from alp_config import alp_variables

    config, warnings = load_run_config(alp_variables(extra_observations="m=10, g=3.162, seed=1"))
    ((theta, seed),) = config.extra_observation_rows()
    assert theta.tolist() == pytest.approx([1.0, 0.5], abs=1e-4) and seed == 1
    assert not [w for w in warnings if "extra_observations" in w]
    config, _ = load_run_config(alp_variables(extra_observations="log10(m)=1, log10(g)=0.5"))
    assert config.extra_observation_rows()[0][0].tolist() == [1.0, 0.5]
    # the earlier form (log10 values by name) is still read, and the log says how
    config, warnings = load_run_config(alp_variables(extra_observations="m=1, g=-1"))
    assert config.extra_observation_rows()[0][0].tolist() == [0.0, -1.0]
    notes = [w for w in warnings if w.startswith("extra_observations: row 1")]
    assert any("m=1 is read in physical units, 1 neV" in w for w in notes)
    assert any("g=-1 is read as log10(g) = -1" in w for w in notes)
    with pytest.raises(ConfigError, match="extra_observations = .row 1.*m must be larger than 0"):
        load_run_config(alp_variables(extra_observations="m=-7"))


def test_a_model_files_alp_variant_is_an_alp_model():
    from alp_config import alp_variables
    from conftest import REPO

    model = str(REPO / "cluster_runs" / "user_models" / "ngc1275_logparabola.py")
    rows = {
        "param4": "[2.1, 3.1] | 2.64 | 2.64 | 0 | U | alpha | none",
        "param6": "0.267 | | | 0 | U | beta | none",
    }
    config, _ = load_run_config(alp_variables(model=model, POI_indices="0,1,2", **rows))
    assert config.geometry == "gamma" and config.table.free_names == ["m", "g", "alpha"]
    with pytest.raises(
        ConfigError, match="classical_limits.*a spectrum or a propagation of its own"
    ):
        load_run_config(alp_variables(model=model, classical_limits="1", **rows))


def test_rounds_and_store_sizes(variables):
    config, _ = load_run_config(
        {**variables, "n_truncations": "2", "n_sim_train": "100, 200", "n_sim_coverage": "50"}
    )
    assert [config.n_sim_round(r) for r in range(3)] == [100, 200, 250]
    assert [config.n_train_round(r) for r in range(3)] == [100, 200, 200]


@pytest.mark.parametrize(
    ("value", "rows"),
    [
        ("10_000, 1000, 0, 1, 5", [[10000, 1000, 0, 1, 5]]),  # the newer flat form
        (
            "10000|1000|0|1|5 , 2|1|100|1|1",
            [[10000, 1000, 0, 1, 5], [2, 1, 100, 1, 1]],
        ),  # the table form
        ("", []),
    ],
)
def test_drp_coverage_parameters_both_forms(variables, value, rows):
    config, warnings = load_run_config(
        {**variables, "n_sim_coverage": "500", "DRP_coverage_parameters": value}
    )
    assert config.DRP_coverage_parameters == rows
    n_draws, n_coverage, start = config.coverage_draws
    if rows:
        assert (n_draws, n_coverage, start) == (min(rows[0][0], 100_000), min(rows[0][1], 500), 0)
        assert any(
            "only the first row" in w for w in warnings
        )  # which_net = 1: every grid point is validated
    else:
        assert (n_draws, n_coverage, start) == (10_000, 500, 0)


def test_draw_drp_is_accepted_with_a_note(variables):
    _, warnings = load_run_config({**variables, "draw_DRP": "1"})
    assert any("draw_DRP=1" in w for w in warnings)


def test_forms_of_the_original_run_scripts(variables):
    config, warnings = load_run_config(
        {
            **variables,
            "n_sim_train": "3_000=int",
            "use_old_net": "0=int",
            "emin": "-1=float",
            "arg": "config_file=run.sh;run_name=unit;n_sim_train=3_000=int;use_old_net=0=int",
        }
    )
    assert config.n_sim_train == [3000] and config.use_old_net == "0" and config.emin == -1.0
    assert "n_sim_train: the '=int' suffix is dropped (types come from the pipeline)" in warnings
    assert any(w.startswith("arg holds the original's argument string") for w in warnings)


def test_the_original_irf_path_falls_back_to_the_shipped_file():
    from alp_config import alp_variables

    config, warnings = load_run_config(
        alp_variables(
            IRF_file="/no/FOML3/IRFs/CTA/Prod5-North-20deg-AverageAz-4LSTs09MSTs.180000s-v0.1.fits"
        )
    )
    assert config.IRF_file == "" and config.irf_path.is_file()
    assert any("the shipped copy of the same file is used" in w for w in warnings)


def test_the_originals_variables_that_no_longer_matter_are_named(variables):
    _, warnings = load_run_config(
        {
            **variables,
            "update_config_on_cluster": "1",
            "save_physics": "1",
            "save_old_sims": "1",
            "save_old_net": "1",
        }
    )
    text = "\n".join(warnings)
    assert "update_config_on_cluster=1: the configuration stage takes seconds" in text
    assert (
        "max_memory_config, max_time_config, partition_config and qos_config are not used" in text
    )
    for name in ("save_physics", "save_old_sims", "save_old_net"):
        assert f"{name}=1: nothing" in text
    _, quiet = load_run_config(variables)
    assert not [w for w in quiet if "save_" in w or "config_on_cluster" in w]


def test_extra_sbatch_options_and_a_job_setup_line(variables):
    config, _ = load_run_config(
        {
            **variables,
            "sbatch_extra": " --constraint=a100 ; --exclusive\n",
            "job_setup": " module load CUDA/12.1 ",
        }
    )
    assert (
        config.sbatch_extra == ["--constraint=a100", "--exclusive"]
        and config.job_setup == "module load CUDA/12.1"
    )
    with pytest.raises(
        ConfigError, match="sbatch_extra = 'constraint=a100': expected sbatch options"
    ):
        load_run_config({**variables, "sbatch_extra": "constraint=a100"})


def test_limit_methods_and_their_stores(variables):
    config, _ = load_run_config({**variables, "n_sim_explim": "50"})
    assert config.limit_method == ("frequentist",) and config.with_neyman
    assert (
        config.n_calibration == 2000 and config.n_null == 0 and config.n_limit_coverage == 0
    )  # the smallest for 0.68,0.95
    config, _ = load_run_config(
        {
            **variables,
            "n_sim_explim": "50",
            "limit_method": " cls, hpd ",
            "n_sim_calibration": "3_000",
            "n_sim_limit_coverage": "500",
        }
    )
    assert config.limit_method == ("cls", "hpd") and config.neyman_methods == ("cls",)
    assert (config.n_calibration, config.n_null, config.n_limit_coverage) == (3000, 500, 500)
    config, _ = load_run_config({**variables, "n_sim_explim": "50", "limit_method": "hpd"})
    assert not config.with_neyman and config.n_calibration == 0
    config, _ = load_run_config(
        variables
    )  # no expected limits, no real observation: nothing to calibrate
    assert not config.with_neyman and config.n_calibration == 0


@pytest.mark.parametrize(
    "override, fragment",
    [
        (
            {"limit_method": "neyman"},
            "limit_method = 'neyman': expected one or more of frequentist, cls, hpd",
        ),
        (
            {"limit_method": "hpd,hpd"},
            "limit_method = 'hpd,hpd': expected one or more of frequentist, cls, hpd",
        ),
        (
            {"n_sim_calibration": "500"},
            "n_sim_calibration = '500': limit_method=frequentist at credibility_levels "
            "0.68,0.95 needs at least 2_000 calibration simulations",
        ),
        (
            {"credibility_levels": "0.68,0.997", "n_sim_calibration": "2000"},
            "n_sim_calibration = '2000': limit_method=frequentist at credibility_levels "
            "0.68,0.997 needs at least 33_340",
        ),
        (
            {"limit_method": "cls", "n_sim_null": "5"},
            "n_sim_null = '5': limit_method=cls needs at least 20",
        ),
        (
            {"credibility_levels": "0.68,1.2"},
            "credibility_levels = '0.68,1.2': expected increasing levels strictly between 0 and 1",
        ),
    ],
)
def test_bad_limit_settings_name_the_variable(variables, override, fragment):
    with pytest.raises(ConfigError) as error:
        load_run_config({**variables, "n_sim_explim": "50", **override})
    assert fragment in str(error.value)
