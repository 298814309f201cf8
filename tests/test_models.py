"""The model registry: the shipped models' interface and default tables, model=log, and users'
model files (loading, checks that name the file, the run folder's copy and its hash)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO, RUN_SH, configure_in_process, toy_variables

from alpswyft.config import load_run_config
from alpswyft.models import ALP_MODELS, MODELS, check_outputs, resolve
from alpswyft.parameters import parse_row
from alpswyft.runscript import evaluate_run_script
from analysis_core.errors import ConfigError

USER_MODEL = REPO / "cluster_runs" / "user_models" / "power_law_line.py"


def _rows(info):
    return {f"param{i + 1}": row for i, row in enumerate(info.rows)}


def test_the_alp_default_table_is_the_shipped_run_scripts():
    """The ALP model's rows (the workbench's defaults) are the shipped run script's: m and g as
    written, every other parameter at the value the run script fixes it to or observes it at (the
    run script frees the spectrum and B0 as nuisances)."""
    variables = evaluate_run_script(RUN_SH)
    shipped = [parse_row(i + 1, variables[f"param{i + 1}"])[0] for i in range(18)]
    ours = [parse_row(i + 1, row)[0] for i, row in enumerate(MODELS[""].rows)]
    assert ours[:2] == shipped[:2]
    freed = [p.name for p in shipped[2:] if p.free]
    assert freed == ["Amplitude", "index", "Ecut", "rms_B"]
    for model_row, script_row in zip(ours[2:], shipped[2:]):
        assert (model_row.name, model_row.unit) == (script_row.name, script_row.unit)
        script_value = script_row.obs if script_row.free else script_row.value
        model_value = 10**model_row.value if model_row.log else model_row.value
        # B0 is observed at its prior's centre, 10^1.4 = 25.1 muG; the model's default is 25 muG
        rel = 0.005 if script_row.name == "rms_B" else 1e-12
        assert model_value == pytest.approx(
            10**script_value if script_row.log else script_value, rel=rel
        )


@pytest.mark.parametrize(
    "name", [m for m in MODELS if m not in ALP_MODELS and MODELS[m].prepare is None]
)
def test_every_toy_model_runs_on_its_own_table(name):
    """(magic_like, which needs a DL3 run, has its tests in tests/physics/test_magic.py.)"""
    info = MODELS[name]
    variables = toy_variables(
        model=name, **_rows(info), **{k: str(v) for k, v in info.settings.items()}
    )
    variables.pop("param3", None) if info.n_params == 2 else None
    config, _ = load_run_config(variables)
    check_outputs(info, config)
    assert info.description and info.n_params == len(config.table.parameters)


def test_model_log_takes_every_parameter_in_log10():
    from alp_config import alp_variables

    config, _ = load_run_config(alp_variables(model="log", **_rows(MODELS["log"])))
    linear, _ = load_run_config(alp_variables())
    np.testing.assert_allclose(
        config.table.physical(config.table.obs), linear.table.physical(linear.table.obs), rtol=1e-7
    )
    with pytest.raises(ConfigError, match="model=log takes every parameter in log10"):
        load_run_config(alp_variables(model="log"))


BROKEN = {
    "no class": ("import numpy as np\n", "must define a class Model"),
    "no noise": (
        "class Model:\n    parameters = ('[0, 1] | 0.5 | 0 | 0 | U | a | 1',)\n"
        "    shapes = {'exp': (3,), 'data': (3,)}\n    def __init__(self, config, setup=None): pass\n"
        "    def expected(self, theta, rng): return {'exp': theta.repeat(3, axis=1)}\n",
        "lacks noise",
    ),
    "bad row": (
        "class Model:\n    parameters = ('[0, 1] | 0.5 | 0 | U | a | 1',)\n    shapes = {}\n"
        "    def expected(self, theta, rng): pass\n    def noise(self, exp, rng): pass\n",
        "parameters\\[0\\]",
    ),
    "bad shape": (
        "class Model:\n    parameters = ('[0, 1] | 0.5 | 0 | 0 | U | a | 1',)\n"
        "    shapes = {'exp': (4,), 'data': (4,)}\n    def __init__(self, config, setup=None): pass\n"
        "    def expected(self, theta, rng): return {'exp': theta.repeat(3, axis=1)}\n"
        "    def noise(self, exp, rng): return exp\n",
        "'exp' has shape \\(1, 3\\)",
    ),
    "raises": (
        "class Model:\n    parameters = ('[0, 1] | 0.5 | 0 | 0 | U | a | 1',)\n"
        "    shapes = {'exp': (3,), 'data': (3,)}\n    def __init__(self, config, setup=None): pass\n"
        "    def expected(self, theta, rng): raise ValueError('oops')\n"
        "    def noise(self, exp, rng): return exp\n",
        "fails on the Obs. values: ValueError: oops",
    ),
    "syntax": ("class Model(:\n", "does not load: SyntaxError"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_model_file_is_refused_naming_the_file(tmp_path, case):
    text, message = BROKEN[case]
    path = tmp_path / "broken.py"
    path.write_text(text)
    variables = toy_variables(
        model=str(path), param1="[0, 1] | 0.5 | 0 | 0 | U | a | 1", POI_indices="0"
    )
    del variables["param2"]
    with pytest.raises(ConfigError, match=f"model = '{path}'.*{message}"):
        config, _ = load_run_config(variables)
        check_outputs(resolve(config.model), config)


def test_a_missing_model_file_and_an_unknown_name():
    with pytest.raises(ConfigError, match="no such file"):
        resolve("nowhere/model.py")
    with pytest.raises(ConfigError, match="expected one of '', 'log', 'spectral_fit'.*model file"):
        resolve("alp")


def test_a_model_file_is_copied_into_the_run_and_its_hash_decides_the_stores(tmp_path, monkeypatch):
    source = tmp_path / "line.py"
    source.write_text(USER_MODEL.read_text())
    rows = {f"param{i + 1}": row for i, row in enumerate(resolve(str(USER_MODEL)).rows)}
    variables = toy_variables(
        model="line.py",
        emin="1",
        emax="10",
        nbins="40",
        noise="poisson",
        POI_indices="2,3",
        n_truncations="0",
        **rows,
    )
    tree = configure_in_process(tmp_path, monkeypatch, variables)
    assert tree.model_file.read_text() == source.read_text()
    provenance = json.loads(tree.config.read_text())
    assert provenance["model"]["name"] == str(source) and provenance["model"][
        "description"
    ].startswith("Power law")
    config, _ = load_run_config({**variables, "model": str(source)})
    source.write_text(source.read_text() + "\n# edited\n")
    edited, _ = load_run_config({**variables, "model": str(source)})
    assert edited.simulation_hash != config.simulation_hash
    from alpswyft.run import RunContext

    source.unlink()  # the run simulates with its own copy
    simulator = RunContext(tree, config).simulator
    assert simulator.model_info.path == tree.model_file and simulator.shapes["data"] == (40,)


def test_the_shipped_user_model_script_configures(tmp_path, monkeypatch):
    """cluster_runs/user_model.sh with its model file beside it, as bash evaluates it: the file is
    copied into the run folder and the toy's own table and binning are used."""
    import shutil

    from alpswyft.stages.configure import configure

    shutil.copytree(REPO / "cluster_runs" / "user_models", tmp_path / "user_models")
    script = tmp_path / "user_model.sh"
    shutil.copy(REPO / "cluster_runs" / "user_model.sh", script)
    for name, value in evaluate_run_script(script).items():
        monkeypatch.setenv(name, value)
    tree = configure(script, tmp_path / "analysis_results")
    assert tree.model_file.read_bytes() == USER_MODEL.read_bytes()
    provenance = json.loads(tree.config.read_text())
    assert (
        provenance["variables"]["POI_indices"] == [2, 3] and provenance["variables"]["nbins"] == 40
    )
    assert np.load(tree.true_obs)["data"].shape == (40,)
