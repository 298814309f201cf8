"""ALPSim, the simulator for notebooks: the same chain as the pipeline's simulations, parameters by
name in physical units, vectorised calls, a changed observation without a rebuilt response, the
original's switches, clear errors, the plots, and a run's own simulator."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from conftest import REPO, configure_in_process, toy_variables

from alpswyft import ALPSim
from alpswyft.simulator import SpectrumSimulator
from analysis_core.errors import ConfigError

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def sim():
    return ALPSim()


def test_the_snippet_of_the_readme(sim, tmp_path):
    """Every line of the README's ALPSim snippet, as a user types it."""
    spectrum = sim.expected(m=10, g=1)
    assert (
        spectrum.counts.shape == (90,)
        and spectrum.pgg.shape == (180,)
        and spectrum.exp.shape == (90,)
    )
    observation = sim.observe(m=10, g=1, seed=0)
    assert observation.observed_counts.shape == (90,) and set(observation.nodes) >= {
        "data",
        "power",
        "exp",
    }
    pgg = sim.survival(m=10, g=1)
    assert pgg.shape == (180,) and 0 < pgg.min() < 0.9 and pgg.max() <= 1
    top, bottom = sim.plot(m=10, g=1, null=True, survival=True)
    assert len(top.lines) >= 2 and len(bottom.lines) == 2 and top.get_yscale() == "log"
    sim2 = sim.configure(livetime=50, on_region="legacy", bkg=False)
    assert (
        sim2.config.livetime == 50
        and sim2.config.on_region == "legacy"
        and not sim2.switches["bkg"]
    )
    toy = ALPSim(model="toy_line").plot(a=0.5, b=-0.3)
    assert toy.get_xlabel() == "x"
    top.figure.savefig(tmp_path / "snippet.png")


def test_no_alp_is_the_null_hypothesis_and_the_residual_is_its_log_ratio(sim):
    """At the defaults (m = 1e-6 neV, g = 1e-5) P_gg is the EBL's alone and the counts are the null
    counts; the residual is the floored log10 ratio to them."""
    default = sim.expected(seed=1)
    np.testing.assert_allclose(default.counts, default.null_counts, rtol=1e-6)
    np.testing.assert_allclose(sim.survival(seed=2), sim.model.los.ebl_attenuation, rtol=1e-6)
    alp = sim.expected(m=10, g=3, seed=3)
    expected = np.maximum(np.log10(alp.counts / alp.null_counts), sim.config.floor_exp)
    np.testing.assert_allclose(alp.residual, expected, atol=1e-12)
    np.testing.assert_allclose(alp.log_counts, np.log10(alp.counts))


def test_observe_is_the_pipelines_simulation(sim):
    """observe() draws exactly what a simulation of the pipeline draws from the same generator."""
    table = sim.table
    vector = table.physical(table.obs)
    ours = sim.observe(theta=vector[0], seed=5)
    theirs = SpectrumSimulator(sim.config, sim.setup).simulate(table.obs, np.random.default_rng(5))
    for node in ("exp", "data", "power", "pgg"):
        np.testing.assert_allclose(ours.nodes[node], theirs[node][0], rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(
        ours.data, sim.model.residual(ours.observed_counts, sim.config.floor_obs)
    )


def test_values_by_name_log_and_full_vectors(sim):
    vector = sim.theta(m=10, g=1)[0]
    assert vector[0] == 10 and vector[1] == 1 and np.array_equal(vector[2:], sim.defaults[2:])
    np.testing.assert_allclose(sim.theta(m=1, g=0, log=True)[0], vector)
    np.testing.assert_allclose(sim.theta(m=1, log=("m",), g=1)[0], vector)
    np.testing.assert_array_equal(sim.theta(theta=vector, rms_B=10)[0][[0, 1, 6]], [10, 1, 10])
    assert sim.names[6] == "rms_B" and sim.units[1] == "e-11GeV^{-1}"


def test_arrays_give_one_spectrum_each_in_one_call():
    pinned = ALPSim(ALP_seed=4)  # the same field realisation for every spectrum
    masses = np.array([1.0, 10.0, 100.0])
    batch = pinned.expected(m=masses, g=2)
    assert batch.counts.shape == (3, 90) and batch.params.shape == (3, 18)
    for k, m in enumerate(masses):
        np.testing.assert_allclose(batch.counts[k], pinned.expected(m=m, g=2).counts, rtol=1e-12)
    assert pinned.expected(theta=np.tile(pinned.defaults, (4, 1))).counts.shape == (4, 90)


def test_a_new_livetime_scales_the_response_without_rebuilding_it(sim, monkeypatch):
    from alpswyft.physics import response

    def refuse(*args, **kwargs):
        raise AssertionError("the gammapy response was rebuilt")

    monkeypatch.setattr(response, "build_response", refuse)
    longer = sim.configure(livetime=50)
    np.testing.assert_allclose(
        longer.expected(m=10, g=1, seed=1).counts,
        5 * sim.expected(m=10, g=1, seed=1).counts,
        rtol=1e-12,
    )
    np.testing.assert_allclose(longer.model.null_counts, 5 * sim.model.null_counts, rtol=1e-12)


def test_the_signal_background_and_energy_dispersion_switches(sim):
    background = sim.model.response.background
    no_signal = sim.configure(signal=False).expected()
    np.testing.assert_allclose(no_signal.counts, background, rtol=1e-12)
    no_background = sim.configure(bkg=False).expected(seed=0)
    np.testing.assert_allclose(
        no_background.counts, sim.expected(seed=0).counts - background, rtol=1e-9
    )
    no_edisp = sim.configure(edisp=False)
    assert no_edisp.survival().shape == (90,)
    np.testing.assert_array_equal(no_edisp.model.response.migration, np.eye(90))
    with pytest.raises(ConfigError, match="ALP models only"):
        ALPSim(model="toy_line", bkg=False)


def test_settings_and_parameters_are_validated_with_the_run_configurations_rules(sim):
    with pytest.raises(ConfigError, match="livetime = '-1'"):
        ALPSim(livetime=-1)
    with pytest.raises(ConfigError, match="emax = '5.0': must be larger than emin"):
        sim.configure(emin=10, emax=5)
    with pytest.raises(ConfigError, match="nbinz = .30.: not a setting of the simulator"):
        ALPSim(nbinz=30)
    with pytest.raises(
        ConfigError, match="mass = .10.: not a parameter.*its parameters are m, g, Amplitude"
    ):
        sim.expected(mass=10)
    with pytest.raises(ConfigError, match="kL .Max_turb. must be smaller than kH"):
        sim.expected(min_turb=0.1)
    with pytest.raises(ConfigError, match="one common length"):
        sim.expected(m=[1, 2], g=[1, 2, 3])
    with pytest.raises(ConfigError, match="model = 'toy_lin'"):
        ALPSim(model="toy_lin")


def test_the_three_kinds_of_plot_and_overlays(sim):
    import matplotlib.pyplot as plt

    ax = sim.plot(m=10, g=1, kind="dnde", seed=0)
    line = ax.lines[0].get_ydata()
    expected = sim.model.intrinsic(sim.defaults[None], sim.x)[0] * np.interp(
        sim.x, sim.energy_true, sim.model.los.ebl_attenuation
    )
    # the unfolded no-ALP spectrum is the intrinsic one times the EBL's attenuation
    default = sim.plot(kind="dnde", observed=False, bands=False, ax=ax).lines[-1].get_ydata()
    assert np.median(np.abs(default / expected - 1)) < 0.03 and np.all(np.isfinite(line))
    residual = sim.plot(m=10, g=1, kind="residual", null=True)
    assert residual.get_yscale() == "linear" and np.all(residual.lines[-1].get_ydata() == 0)
    pair = sim.plot(m=10, g=1, survival=True)
    again = sim.configure(livetime=100).plot(m=10, g=1, survival=True, ax=pair, color="r")
    assert again[0] is pair[0] and len(pair[1].lines) == 2
    many = sim.plot(m=np.geomspace(1, 100, 5), g=1, observed=True)
    assert len(many.lines) == 5  # several spectra: lines only, no bands or points
    with pytest.raises(ConfigError, match="kind = 'flux'"):
        sim.plot(kind="flux")
    plt.close("all")


def test_toy_models_and_a_model_file():
    toy = ALPSim(model="toy_line")
    assert toy.config.emin == -1 and toy.config.nbins == 50 and toy.names == ["a", "b"]
    np.testing.assert_allclose(toy.expected(a=0.5, b=-0.3).exp, 0.5 * toy.x - 0.3)
    assert toy.observe(a=0.5, b=[0, 1], seed=1).data.shape == (2, 50)
    assert toy.configure(model="toy_sine").names == ["a", "b", "c", "d", "e", "f"]
    with pytest.raises(ConfigError, match="no photon survival"):
        toy.survival()
    user = ALPSim(model=REPO / "cluster_runs" / "user_models" / "power_law_line.py")
    assert user.names == ["N0", "gamma", "A", "mu", "w"] and user.config.nbins == 40
    line = user.expected(A=[0, 50])
    assert np.max(line.exp[1] - line.exp[0]) == pytest.approx(50, rel=1e-2)
    assert user.plot(A=50, seed=0).lines


def test_from_run_is_the_runs_simulator_and_draws_its_stores(tmp_path, monkeypatch):
    """A (simulate-only) toy run: its simulator reproduces the mock observation, and plot_spectra
    draws its training store."""
    from alpswyft.stages.rounds import run_rounds

    tree = configure_in_process(
        tmp_path,
        monkeypatch,
        toy_variables(
            train="0",
            n_truncations="0",
            n_sim_train="200",
            n_prior_samples="500",
            n_jobs_sim="1",
            obs_seed="7",
        ),
    )
    run_rounds(tree)
    run = ALPSim.from_run(tree.root)
    assert run.config == ALPSim.from_run(tree.root).config and run.run_dir == tree.root
    again = run.observe(theta=run.table.physical(run.table.obs)[0], seed=7)
    np.testing.assert_allclose(again.data, run.true_obs["data"], rtol=1e-6)
    samples = run.read_store("store", n=50)
    assert samples["exp"].shape == (50, 50)
    ax = run.plot_spectra(exp=samples["exp"])
    run.plot_spectra(data=run.true_obs["data"], ax=ax, label="mock observation")
    assert len(ax.lines) == 51


def test_from_run_of_an_alp_run_reproduces_its_mock_observation(tmp_path, monkeypatch):
    from alp_config import alp_variables

    tree = configure_in_process(
        tmp_path, monkeypatch, alp_variables(nbins_etrue="90", obs_seed="3")
    )
    run = ALPSim.from_run(tree.root)
    np.testing.assert_array_equal(run.model.null_counts, np.load(tree.setup)["null_counts"])
    again = run.observe(theta=run.table.physical(run.table.obs)[0], seed=3)
    np.testing.assert_allclose(again.data, run.true_obs["data"], rtol=1e-6)
    assert run.survival().shape == (90,)


LOGPARABOLA = REPO / "cluster_runs" / "user_models" / "ngc1275_logparabola.py"


def test_an_alp_model_variant_in_a_model_file_keeps_every_alp_feature(sim):
    """The shipped log-parabola variant: an ALP model because its class derives from ALPModel,
    with counts through the response, its own null counts, P_gg, dN/dE and the switches."""
    variant = ALPSim(model=LOGPARABOLA)
    assert variant.alp and variant.config.geometry == "gamma"
    assert variant.names[3] == "alpha" and variant.names[5] == "beta"
    assert "log-parabola" in repr(variant) and "(simple)" not in repr(variant)
    # the null hypothesis is the variant's own spectrum, not the cut-off power law's
    x = variant.x
    a, alpha, e0, beta = (variant.defaults[i] for i in (2, 3, 4, 5))
    dnde = variant.model.intrinsic(variant.defaults[None], x)[0]
    np.testing.assert_allclose(
        dnde, a * 1e-3 * (x / e0) ** (-alpha - beta * np.log(x / e0)), rtol=1e-12
    )
    assert not np.allclose(variant.model.null_counts, sim.model.null_counts, rtol=0.05)
    spectrum = variant.expected(m=10, g=3, seed=0)
    assert spectrum.counts.shape == (90,) and spectrum.pgg.min() < 0.9
    no_alp = variant.expected(seed=0)
    np.testing.assert_allclose(no_alp.counts, variant.model.null_counts, rtol=1e-6)
    assert variant.survival(m=10, g=3, seed=0).shape == (180,)
    top, bottom = variant.plot(m=10, g=3, beta=0.2, kind="dnde", survival=True, seed=0)
    assert "beta = 0.2" in top.lines[0].get_label() and bottom.lines
    background = variant.configure(signal=False)
    assert background.expected().counts.sum() == pytest.approx(
        sim.configure(signal=False).expected().counts.sum()
    )  # the same background: only the source differs
    import matplotlib.pyplot as plt

    plt.close("all")


def test_values_are_checked_where_they_enter(sim):
    for given, message in (
        (dict(m=-1), r"m = '-1 neV': m must be larger than 0"),
        (dict(g=-2), r"g = '-2 × 10⁻¹¹ GeV⁻¹'"),
        (dict(index=-1), r"index = '-1': index must be at least 0"),
        (dict(Amplitude=-1e-9), r"Amplitude = '-1e-09 TeV⁻¹ cm⁻² s⁻¹'"),
        (dict(m="10 neV"), r"m = '10 neV': a number or an array of numbers in neV, not text"),
        (dict(amplitude=1e-9), r"did you mean 'Amplitude'"),
    ):
        with pytest.raises(ConfigError, match=message):
            sim.expected(**given)
    with pytest.warns(UserWarning, match=r"did you mean g=3 \(× 10⁻¹¹ GeV⁻¹\)\?"):
        sim.expected(m=10, g=3e-11)
    with pytest.raises(ConfigError, match="m must be larger than 0"):
        sim.plot(m=-1)


def test_plot_takes_matplotlib_keywords_and_leaves_a_shared_figure_alone(sim):
    import matplotlib.pyplot as plt

    ax = sim.plot(m=10, g=1, linestyle="--", alpha=0.5, lw=2, seed=0)
    line = ax.lines[0]
    assert line.get_linestyle() == "--" and line.get_alpha() == 0.5 and line.get_linewidth() == 2
    sim.plot(m=10, g=3, ax=ax, seed=1, observed_style={"marker": "s", "alpha": 0.4})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "m = 10 neV, g = 3 × 10⁻¹¹ GeV⁻¹: one realisation" in labels  # the second case's points
    points = [c for c in ax.containers if c[0].get_marker() == "s"]
    assert points and points[0][0].get_alpha() == 0.4
    with pytest.raises(ConfigError, match="did you mean 'linestyle'"):
        sim.plot(linestyl="--")
    with pytest.raises(ConfigError, match=r"use sim.configure\(livetime=...\)"):
        sim.plot(livetime=3)
    fig, axes = plt.subplots(1, 3)
    fig.suptitle("mine")
    for a, name in zip(axes, ("toy_line", "toy_poly", "toy_sine")):
        ALPSim(model=name).plot(ax=a)
    assert fig._suptitle.get_text() == "mine"
    background = sim.configure(signal=False).plot()
    assert background.figure._suptitle.get_text().startswith("Background only")
    assert background.lines[0].get_label() == "background only"
    assert sim.plot().lines[0].get_label() == "default parameters (no ALP)"
    spectral_fit = ALPSim(model="spectral_fit", nbins_etrue=60).plot()
    assert ", no ALP" in spectral_fit.figure._suptitle.get_text()
    plt.close("all")


def test_noise_plot_spectra_and_counts_of(sim):
    import matplotlib.pyplot as plt

    expected = sim.expected(m=10, g=1, seed=0)
    one = sim.noise(expected, seed=5)
    again = sim.observe(m=10, g=1, seed=0)
    assert one.data.shape == (90,) and expected.data is None  # the given spectrum is untouched
    rows = sim.noise(np.stack([expected.exp, expected.exp]), seed=5)
    np.testing.assert_array_equal(rows.data[0], one.data)
    assert set(again.nodes) == set(one.nodes)
    text = repr(one)
    assert text.startswith("Spectrum(1 spectrum of 90 bins on [20, 6000] GeV") and len(text) < 300
    # zero-count bins come back as 0 counts, not as the floor's fraction of a count
    counts = sim.counts_of(one.data, observed=True)
    np.testing.assert_allclose(counts, one.observed_counts, rtol=1e-9, atol=1e-9)
    many = sim.observe(m=[10, 10, 10], g=2, seed=0)
    top, bottom = sim.plot_spectra(
        many.exp, many.data, null=True, pgg=many.pgg, over={"data": many.data[0]}
    )
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    assert "null hypothesis (Null values)" in labels and "observation" in labels
    assert len(bottom.lines) == 4  # three P_gg rows and the null hypothesis's
    if (many.observed_counts == 0).any():
        assert "0 counts (1 sigma upper limit)" in labels
    for given, message in (
        (dict(exp=np.zeros(4)), r"exp = 'shape \(4,\)': \(90,\) or \(n, 90\)"),
        (dict(exp=many.exp, pgg=np.zeros(3)), r"pgg = 'shape \(3,\)'"),
    ):
        with pytest.raises(ConfigError, match=message):
            sim.plot_spectra(**given)
    with pytest.raises(ConfigError, match="residual = 'shape"):
        sim.counts_of(np.zeros((2, 3)))
    plt.close("all")
