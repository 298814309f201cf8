"""The POLAR configuration: shipped defaults, key=value overrides, errors that name the key."""

import pytest

from analysis_core.errors import ConfigError
from polar import config as polar_config


def test_defaults_and_typed_overrides(tmp_path):
    config = polar_config.load(
        overrides=[
            "train.max_epochs=7",
            "model.hidden=[32, 16]",
            "wandb.mode=disabled",
            "data.file=",
            "intervals.thresholds=[4]",
        ]
    )
    assert (
        config.train.max_epochs == 7
        and config.model.hidden == [32, 16]
        and config.intervals.thresholds == [4.0]
    )
    assert config.data.filters == ["rate[0]/rate_err[0] > 20"] and config.data.file == ""
    polar_config.save(config, tmp_path / "config.yaml")
    assert polar_config.load(tmp_path / "config.yaml") == config
    assert config.section_hash("train") != polar_config.load().section_hash("train")
    assert config.section_hash("data") == polar_config.load().section_hash("data")


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "train.max_epoch=5",
            "train.max_epoch = '5': unknown key; train has batch_size, checkpoint, gpus, keep, loss, max_epochs",
        ),
        ("trainer.max_epochs=5", "there is no section 'trainer'"),
        (
            "train.max_epochs=-1",
            "train.max_epochs = -1: Input should be greater than or equal to 1",
        ),
        ("train.max_epochs=many", "train.max_epochs = 'many'"),
        ("model.activation=softmax", "model.activation = 'softmax'"),
        ("data.targets=[0, 13]", "13: the rate channels are 0..12"),
        ("data.targets=[0, 'rate[0]']", "each target once"),
        ("data.targets=[0, -1]", "-1: a rate channel 0..12 or an expression"),
        ("data.targets=['rate[0] /']", "expression 'rate\\[0\\] /' is not valid"),
        ("data.filters=['rate[0] >']", "expression 'rate\\[0\\] >' is not valid"),
        ("split.pattern=[train, test]", "at least one train and one val block"),
        ("wandb.mode=sometimes", "wandb.mode = 'sometimes'"),
        ("train.max_epochs", "expected key.sub=value"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        polar_config.load(overrides=[override])


def test_targets_are_channels_or_expressions_with_short_names_and_labels():
    data = polar_config.load(overrides=["data.targets=[0, 'rate[3]', 'rate[0]/rate_err[0]']"]).data
    assert data.targets == [0, 3, "rate[0]/rate_err[0]"]
    assert data.target_names == ["0", "3", "t2"] and data.target_labels == [
        "rate[0]",
        "rate[3]",
        "rate[0]/rate_err[0]",
    ]


def test_a_missing_or_broken_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config = .*: no such file"):
        polar_config.load(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        polar_config.load(tmp_path / "bad.yaml")


def test_command_line_arguments_are_run_variables_or_overrides(tmp_path):
    """run_polar.sh config=mine.yaml train.max_epochs=5: run-script variables and configuration
    overrides apart, in order; a preset by name or a file beside the run script; an unknown key
    or a bare word stops naming it."""
    variables, overrides = polar_config.split_arguments(
        ["config=mine.yaml", "train.max_epochs=5", "run_name=x", "model.hidden=[8,8]"]
    )
    assert variables == {"config": "mine.yaml", "run_name": "x"}
    assert overrides == ["train.max_epochs=5", "model.hidden=[8,8]"]
    assert polar_config.resolve("") == polar_config.resolve("default") == polar_config.DEFAULT
    (tmp_path / "mine.yaml").write_text(polar_config.DEFAULT.read_text())
    assert polar_config.resolve("mine.yaml", tmp_path) == tmp_path / "mine.yaml"
    with pytest.raises(
        ConfigError, match="config.*nope.yaml.*no such file; a preset is one of default"
    ):
        polar_config.resolve("nope.yaml", tmp_path)
    with pytest.raises(ConfigError, match="command line.*expected name=value"):
        polar_config.split_arguments(["max_epochs"])
    with pytest.raises(ConfigError, match="max_epochs.*unknown key; the top level has"):
        polar_config.load(None, polar_config.split_arguments(["max_epochs=5"])[1])
    config = polar_config.load(None, overrides)
    polar_config.save(config, tmp_path / "config.yaml", polar_config.DEFAULT, overrides)
    text = (tmp_path / "config.yaml").read_text()
    assert text.startswith(
        f"# resolved from {polar_config.DEFAULT} with the overrides train.max_epochs=5 model.hidden=[8,8]"
    )
    assert polar_config.load(tmp_path / "config.yaml").train.max_epochs == 5


def test_the_profile_features_must_be_features():
    assert polar_config.load(None, ["report.profile=[fe_cosmic, altitude]"]).report.profile == [
        "fe_cosmic",
        "altitude",
    ]
    with pytest.raises(ConfigError, match="report.profile: nope is not one of data.features"):
        polar_config.load(None, ["report.profile=[fe_cosmic, nope]"])
    with pytest.raises(ConfigError, match="report.profile.*two of data.features"):
        polar_config.load(None, ["report.profile=[fe_cosmic]"])
