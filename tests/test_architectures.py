"""The feature heads of the original's three network files, and the ``architecture`` variable."""

import pytest
import torch

from alpswyft.architectures import CNNHead, DataHead, PowerHead, check_hyperparameters, resolve
from alpswyft.errors import ConfigError

SHAPES = {"params": (4,), "data": (90,), "power": (169,)}
BATCH = {"data": torch.randn(5, 90), "power": torch.randn(5, 169)}


def test_power_head_branches_and_widths():
    head = PowerHead(SHAPES, data_width=128, data_features=64, power_width=256, power_features=4)
    assert head(BATCH).shape == (5, 68) and head.n_features == 68
    # intermediate width: 2**ceil((log2 width + log2 features) / 2), as in network_power.py
    assert head.data_mlp[2].out_features == 128 and head.power_mlp[2].out_features == 32
    assert head.power_mlp[0].in_features == 169  # from the simulator, not hard-coded


def test_cnn_and_data_heads():
    cnn = CNNHead(SHAPES, logratio_features=16, channels=3, kernel_size=5)
    assert cnn(BATCH).shape == (5, 16) and cnn.dense[1].in_features == 3 * 86
    assert torch.all(cnn(BATCH) >= 0)  # ReLU output
    assert DataHead(SHAPES)(BATCH).shape == (5, 90)
    with pytest.raises(ValueError, match="kernel_size = 91"):
        CNNHead(SHAPES, logratio_features=16, channels=3, kernel_size=91)


@pytest.mark.parametrize(
    "value, head",
    [("", DataHead), ("power", PowerHead), ("cnn", CNNHead), ("/old/repo/network_power.py", PowerHead),
     ("network_cnn.py", CNNHead), ("network.py", DataHead)],
)
def test_names_of_the_built_in_families(value, head):
    assert resolve(value).head is head


def test_missing_hyperparameters_are_named():
    grid = {"learning_rate": [1e-3], "stopping_patience": [3], "blocks": [2], "features": [64], "dropout": [0.1]}
    assert check_hyperparameters(resolve(""), grid) == []
    with pytest.raises(ConfigError, match="power network needs data_width, data_features, power_width, power_features"):
        check_hyperparameters(resolve("power"), grid)
    warnings = check_hyperparameters(resolve(""), {**grid, "channels": [2]})
    assert warnings == ["hyperparams: channels not used by the default network"]
    with pytest.raises(ConfigError, match="needs features, dropout"):
        check_hyperparameters(resolve(""), {k: grid[k] for k in ("learning_rate", "stopping_patience", "blocks")})


@pytest.mark.parametrize(
    "text, message",
    [
        ("import no_such_module\n", "does not import: ModuleNotFoundError"),
        ("x = 1\n", "must define a class Head"),
        ("import torch\nclass Head(torch.nn.Module):\n    pass\n", "Head.hyperparameters must be a tuple"),
    ],
)
def test_bad_user_files(tmp_path, text, message):
    path = tmp_path / "head.py"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"architecture = .*{message}"):
        resolve(str(path))
