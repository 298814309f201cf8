"""The validation stage on a trained toy_line run: coverage simulations never trained on, TARP with
its uninformative baseline, expected limits and false exclusions, the files in val_output/, and
the report notebook executed against the run."""

import json

import numpy as np
import pytest
from conftest import configure_in_process, run_rounds, toy_variables, validated_toy_run
from scipy.stats import binom

from alpswyft.run import RunContext
from alpswyft.stages.validate import validate
from alpswyft.stores import read_store, store_name

pytestmark = pytest.mark.slow

N_COVERAGE, N_EXPLIM, N_DRAWS = 300, 40, 5000


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    return validated_toy_run(
        tmp_path_factory.mktemp("validation"),
        n_prior_samples="20_000",
        max_epochs="40",
        obs_seed="1",
        n_sim_coverage=str(N_COVERAGE),
        n_sim_explim=str(N_EXPLIM),
        DRP_coverage_parameters=f"{N_DRAWS}, {N_COVERAGE}, 0, 0, 1",
        credibility_levels="0.68,0.95,0.9973",
        limit_method="hpd",  # the frequentist limits: test_frequentist.py
    )


def test_coverage_uses_only_simulations_never_trained_on(validated):
    tree = validated
    config = RunContext(tree).config
    result = np.load(tree.validation_data("coverage", 0))
    assert list(result["marginals"]) == ["a", "b", "a-b"] and result["masses"].shape == (
        3,
        N_COVERAGE,
    )
    store = tree.stores / store_name("train", 1, 0)
    params = read_store(store, ["params"])["params"]
    assert (
        len(params) == config.n_train_round(1) + N_COVERAGE
    )  # the coverage block is the store's tail
    summary = json.loads(tree.validation_summary(0).read_text())
    assert (
        summary["coverage"]["n_coverage"] == N_COVERAGE
        and summary["coverage"]["n_draws"] == N_DRAWS
    )


def test_trained_network_is_roughly_calibrated(validated):
    """2400 training samples give a network within a few binomial errors of nominal (the exact
    posterior's calibration is tested in test_coverage.py); the prior baseline is calibrated by
    construction and must pass TARP."""
    summary = json.loads(validated.validation_summary(0).read_text())
    for name, marginal in summary["coverage"]["marginals"].items():
        for level, value in marginal["hpd"].items():
            assert abs(value["empirical"] - float(level)) < 0.1, (name, level, value)
        assert marginal["baseline_ks_pvalue"] > 0.01, name
    result = np.load(validated.validation_data("coverage", 0))
    assert result["tarp_f"].shape == (2, 3, N_COVERAGE) and np.all(
        (0 <= result["tarp_f"]) & (result["tarp_f"] <= 1)
    )


def test_expected_limits_exclude_far_from_the_truth(validated):
    tree = validated
    result = np.load(tree.validation_data("expected_limits", 0))
    assert (
        result["fraction"].shape == (1, 3, 50, 50) and int(result["n"]) == N_EXPLIM
    )  # credibility_levels
    assert list(result["levels"]) == [0.68, 0.95, 0.9973]
    assert bool(result["with_reference"])  # two rounds: false exclusions against round 0
    fraction_68, fraction_95, fraction_3sigma = result["fraction"][0]
    assert np.all(fraction_68 >= fraction_95) and np.all(
        fraction_95 >= fraction_3sigma
    )  # nested regions
    assert (
        fraction_95[0, 0] == 1 and fraction_95[-1, -1] == 1
    )  # the corners of [-3, 3]^2, many sigma away
    summary = json.loads(tree.validation_summary(0).read_text())["expected_limits"]["pairs"]["a-b"]
    assert summary["0.95"]["truth_cell_excluded"] < 0.25
    for level in (
        "0.68",
        "0.95",
        "0.9973",
    ):  # the limit's own coverage: the truth excluded at most 1 - level of the time
        truth = summary[level]["truth_exclusion"]
        assert truth["n"] == N_EXPLIM and truth["truth_in_plane"], (level, truth)
        # calibrated, the count of exclusions is binomial(n, 1 - level): this many or more is not rare
        # (the stage's own "consistent" flag is a one-sided 84 % test, which a calibrated limit fails 16 % of the time)
        assert binom.sf(truth["excluded"] - 1, truth["n"], 1 - float(level)) > 1e-3, (level, truth)
        assert truth["fraction"] == pytest.approx(summary[level]["truth_cell_excluded"])
    assert summary["0.68"]["excluded_area_median"] > summary["0.95"]["excluded_area_median"]
    assert summary["0.95"]["excluded_area_median"] > summary["0.9973"]["excluded_area_median"]
    assert result["excluded_area"].shape == (1, N_EXPLIM, 3)


def test_limits_recomputed_at_other_levels_from_the_kept_maps(validated):
    """The per-simulation 2D log-ratio maps reproduce the stage's exclusion fractions at its own
    levels exactly, and give nested limits at others without the networks."""
    from alpswyft.limits import fractions_from_maps
    from analysis_core.files import load_npz

    maps = load_npz(validated.validation_data("expected_limits_logratios", 0))
    assert (
        maps["logratios"].shape == (1, N_EXPLIM, 10_000) and maps["logratios"].dtype == np.float32
    )
    result = np.load(validated.validation_data("expected_limits", 0))
    assert np.array_equal(fractions_from_maps(maps, result["levels"]), result["fraction"])
    other = fractions_from_maps(maps, (0.5, 0.9, 0.99))[0]
    assert (
        np.all(other[0] >= other[1])
        and np.all(other[1] >= other[2])
        and other[0].mean() > result["fraction"][0, 0].mean()
    )


def test_the_kept_bank_log_ratios_rebin_to_the_stored_posteriors(validated):
    """The last round's posterior from the kept log-ratios (no network) is the stored one."""
    from alpswyft import open_run

    run = open_run(validated.root)
    post = run.posterior()
    stored = np.load(validated.posterior(1, 0))
    binned = post.densities()
    assert (
        np.load(validated.bank_logratios(1, 0))["logratios_1d"].dtype == np.float32
        and len(post.values) == 20_000
    )
    assert np.allclose(binned["density_1d"], stored["density_1d"], rtol=1e-4, atol=1e-6)
    assert np.allclose(binned["density_2d"], stored["density_2d"], rtol=1e-4, atol=1e-6)
    assert np.allclose(binned["edges_1d"], stored["edges_1d"])
    assert np.allclose(post.truth, [0.7, -0.3])


def test_figures_and_a_second_call_skips(validated, capsys):
    from alpswyft import plots

    tree = validated
    for name in ("coverage_zz", "tarp", "expected_limits", "false_exclusions"):
        assert (tree.val_output / f"{name}_gridpoint_0.png").stat().st_size > 10_000
    titles = [ax.get_title() for ax in plots.coverage_zz(tree).axes]
    assert titles == [
        "a: z–z",
        "a: p–p",
        "b: z–z",
        "b: p–p",
        "a-b: z–z",
        "a-b: p–p",
    ]  # swyft's plot_zz and plot_pp
    before = tree.validation_summary(0).stat().st_mtime_ns
    validate(tree)
    assert "already validated with this network" in capsys.readouterr().out
    assert tree.validation_summary(0).stat().st_mtime_ns == before


def test_report_notebook_executes_and_renders(validated):
    from alpswyft.report import execute

    tree = validated
    execute(tree)
    notebook = json.loads(tree.notebook.read_text())
    outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = "".join("".join(o.get("text", "")) for o in outputs)
    for expected in ("HPD 68 %", "expected limits: 40 mock observations", "arXiv:1603.06978"):
        assert expected in text
    assert (
        sum("image/png" in o.get("data", {}) for o in outputs) == 10 + 5
    )  # report figures + workbench cells
    assert tree.notebook.with_suffix(".html").stat().st_size > 100_000
    assert (tree.root / "trial_finished.json").is_file()


def test_single_poi_network_other_than_the_first(tmp_path, monkeypatch, capsys):
    """POI_indices=1 alone: a 1D-only network on the second free parameter; coverage and TARP work
    on it, expected limits say why there are none."""
    variables = toy_variables(
        POI_indices="1",
        n_truncations="0",
        n_sim_train="1_000",
        n_prior_samples="5_000",
        max_epochs="10",
        n_sim_coverage="100",
        n_sim_explim="10",
    )
    tree = configure_in_process(tmp_path, monkeypatch, variables)
    run_rounds(tree, finish=False)
    validate(tree)
    assert (
        "prediction_pairs is empty (with a single POI there is no plane): no expected limits"
        in capsys.readouterr().out
    )
    summary = json.loads(tree.validation_summary(0).read_text())
    assert list(summary["coverage"]["marginals"]) == ["b"] and summary["expected_limits"] is None
    result = np.load(tree.validation_data("coverage", 0))
    assert result["tarp_f"].shape == (2, 1, 100)
    assert (tree.val_output / "tarp_gridpoint_0.png").is_file()
    assert not tree.validation_data("expected_limits", 0).exists()


def test_fixed_nuisance_limits_on_the_same_observations(tmp_path, monkeypatch):
    """y = a x^2 + b x + c with c a nuisance: a second network, trained with c at its Obs. value,
    gives the fixed-nuisance limit of the (a, b) plane on the same mock observations. Knowing c
    (correlated with a on [-1, 1]) excludes more of the plane than marginalising it: with sigma = 3
    the exact posteriors' 95 % regions cover 51 % (c marginalised) and 34 % (c known) of the
    plane, their 68 % regions 20 % and 13 % (a 3000-simulation network reaches them within 0.2)."""
    variables = toy_variables(
        model="toy_poly",
        noise_sigma="3.0",
        param3=" [-3, 3] | -0.3 | 0 | 0 | U | c | 1 ",
        POI_indices="0,1,2",
        prediction_pairs="(0,1)",
        fixed_nuisance_limits="1",
        n_truncations="0",
        n_sim_train="3_000",
        n_prior_samples="20_000",
        max_epochs="30",
        n_sim_coverage="0",
        n_sim_explim="20",
        limit_method="hpd",
    )
    tree = configure_in_process(tmp_path, monkeypatch, variables)
    run_rounds(tree, finish=False)
    assert tree.fixed_network(0).is_file()
    fixed_store = read_store(tree.stores / store_name("fixed", 0, 0), ["params"])["params"]
    assert len(fixed_store) == 3_000 and np.all(
        fixed_store[:, 2] == np.float32(-0.3)
    )  # c pinned, a and b drawn
    assert np.ptp(fixed_store[:, 0]) > 5
    validate(tree)
    result = np.load(tree.validation_data("expected_limits", 0))
    assert result["fraction_fixed"].shape == result["fraction"].shape == (1, 2, 50, 50)
    summary = json.loads(tree.validation_summary(0).read_text())["expected_limits"]
    assert summary["fixed_nuisances"] == ["c"]
    for level, allowed_marginalised, allowed_fixed in (
        ("0.68", 0.196, 0.131),
        ("0.95", 0.515, 0.343),
    ):
        marginalised = summary["pairs"]["a-b"][level]
        fixed = marginalised["fixed_nuisances"]
        assert abs(marginalised["excluded_area_median"] - (1 - allowed_marginalised)) < 0.2, level
        assert abs(fixed["excluded_area_median"] - (1 - allowed_fixed)) < 0.2, level
        assert fixed["excluded_area_median"] > marginalised["excluded_area_median"], level
        assert (
            fixed["truth_exclusion"]["consistent"] and marginalised["truth_exclusion"]["consistent"]
        )
        assert marginalised["median_regions"] >= 1
    assert (tree.val_output / "expected_limits_gridpoint_0.png").is_file()


def test_the_workbench_draws_the_limits_at_other_levels(validated):
    from alpswyft import open_run

    run = open_run(validated.root)
    result = run.expected_limits((0.5, 0.99))
    assert result["fraction"].shape == (1, 2, 50, 50) and list(result["levels"]) == [0.5, 0.99]
    assert np.array_equal(
        run.expected_limits()["fraction"],
        np.load(validated.validation_data("expected_limits", 0))["fraction"],
    )
    assert len(run.plot_expected_limits((0.5, 0.9, 0.99)).axes) == 3
