"""The feature heads of the original's three network files, and the ``architecture`` variable."""

import pytest
import torch

from alpswyft.architectures import CNNHead, DataHead, PowerHead, check_hyperparameters, resolve
from analysis_core.errors import ConfigError

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
    "make",
    [
        lambda shapes: DataHead(shapes),
        lambda shapes: PowerHead(
            shapes, data_width=32, data_features=8, power_width=32, power_features=4
        ),
        lambda shapes: CNNHead(shapes, logratio_features=16, channels=3, kernel_size=5),
    ],
    ids=["data", "power", "cnn"],
)
def test_the_heads_take_a_real_observations_off_counts(make):
    """With an ``n_off`` node (observation=) every built-in head's features depend on it, and a bin
    without OFF counts in any simulation stays finite."""
    torch.manual_seed(0)
    shapes = {**SHAPES, "n_off": (90,)}
    head = make(shapes)
    off = torch.poisson(torch.full((5, 90), 3.0))
    off[:, -1] = 0
    head.train()
    head({**BATCH, "n_off": off})  # the standardising layers learn their statistics
    head.eval()
    a, b = head({**BATCH, "n_off": off}), head({**BATCH, "n_off": off + 5})
    assert a.shape == (5, head.n_features) and torch.isfinite(a).all() and not torch.allclose(a, b)
    assert make(SHAPES).n_features <= head.n_features


@pytest.mark.parametrize(
    "value, head",
    [
        ("", DataHead),
        ("power", PowerHead),
        ("cnn", CNNHead),
        ("/old/repo/network_power.py", PowerHead),
        ("network_cnn.py", CNNHead),
        ("network.py", DataHead),
    ],
)
def test_names_of_the_built_in_families(value, head):
    assert resolve(value).head is head


def test_missing_hyperparameters_are_named():
    grid = {
        "learning_rate": [1e-3],
        "stopping_patience": [3],
        "blocks": [2],
        "features": [64],
        "dropout": [0.1],
    }
    assert check_hyperparameters(resolve(""), grid) == []
    with pytest.raises(ConfigError, match="power network needs data_features, power_features"):
        check_hyperparameters(resolve("power"), grid)
    warnings = check_hyperparameters(resolve(""), {**grid, "channels": [2]})
    assert warnings == ["hyperparams: channels not used by the default network"]
    with pytest.raises(ConfigError, match="needs features, dropout"):
        check_hyperparameters(
            resolve(""), {k: grid[k] for k in ("learning_rate", "stopping_patience", "blocks")}
        )


@pytest.mark.parametrize(
    "text, message",
    [
        ("import no_such_module\n", "does not load: ModuleNotFoundError"),
        ("x = 1\n", "must define a class Head"),
        (
            "import torch\nclass Head(torch.nn.Module):\n    pass\n",
            "Head.hyperparameters must be a tuple",
        ),
    ],
)
def test_bad_user_files(tmp_path, text, message):
    path = tmp_path / "head.py"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"architecture = .*{message}"):
        resolve(str(path))


def test_the_power_network_without_its_widths_has_the_originals_fixed_layout():
    grid = {
        "learning_rate": [1e-3],
        "stopping_patience": [3],
        "blocks": [2],
        "features": [64],
        "dropout": [0.1],
        "data_features": [32],
        "power_features": [4],
    }
    power = resolve("power")
    (warning,) = check_hyperparameters(power, grid)
    assert "data_width and power_width not given" in warning and "(64 and 64)" in warning
    head = power.build_head(SHAPES, {k: v[0] for k, v in grid.items()})
    assert [head.power_mlp[i].out_features for i in (0, 2, 4)] == [64, 64, 4]
    assert [head.data_mlp[i].out_features for i in (0, 2, 4)] == [64, 64, 32]
    assert head(BATCH).shape == (5, 36)


def test_the_originals_network_files_map_to_their_heads_even_where_they_exist(tmp_path):
    original = tmp_path / "network_power.py"
    original.write_text("import swyft\nclass Network(swyft.SwyftModule):\n    pass\n")
    mapped = resolve(f" {original} ")
    assert mapped.head is PowerHead and mapped.path is None
    assert (
        "the original pipeline's network_power.py; this pipeline's equivalent head 'power'"
        in mapped.note
    )
    assert "not on this machine" in resolve("/home/someone/ALP_sim/network.py").note
    ours = tmp_path / "mine" / "network.py"  # a head of this pipeline that happens to have the name
    ours.parent.mkdir()
    ours.write_text("import torch\nclass Head(torch.nn.Module):\n    hyperparameters = ()\n")
    assert resolve(str(ours)).path == ours and not resolve(str(ours)).note


def test_the_standardisation_divides_a_component_without_spread_by_one():
    """A bin at the floor in every sample (a fixed-nuisance network on a real observation's few
    bins) and the state before any batch: finite, where swyft's layer gives 0/0; elsewhere the
    same numbers and the same state dict."""
    import torch

    import swyft
    from alpswyft.architectures import Standardizer

    x = torch.randn(64, 3)
    x[:, 1] = -1.15
    ours, theirs = Standardizer((3,)), swyft.networks.OnlineStandardizingLayer((3,), epsilon=0)
    assert torch.isfinite(ours.eval()(x)).all()  # before any batch: n = 0
    ours.train(), theirs.train()
    a, b = ours(x), theirs(x)
    assert torch.isfinite(a).all() and not torch.isfinite(b[:, 1]).all()
    assert torch.equal(a[:, [0, 2]], b[:, [0, 2]]) and (a[:, 1].abs() < 1e-6).all()
    assert ours.state_dict().keys() == theirs.state_dict().keys()
