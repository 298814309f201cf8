"""The hyperparameter grid keeps the original's syntax and numbering."""

from alpswyft.grid import grid_points, parse_hyperparams


def test_parse_with_whitespace_and_types():
    grid = parse_hyperparams(
        "--learning_rate (float) : 5e-3, 5e-4 \n  --dropout (float): 0, 0.1 --name (str) : x"
    )
    assert grid == {"learning_rate": [5e-3, 5e-4], "dropout": [0.0, 0.1], "name": ["x"]}


def test_last_hyperparameter_varies_fastest():
    points = grid_points({"learning_rate": [1, 2], "dropout": [0, 0.1]})
    assert points == [
        {"learning_rate": 1, "dropout": 0},
        {"learning_rate": 1, "dropout": 0.1},
        {"learning_rate": 2, "dropout": 0},
        {"learning_rate": 2, "dropout": 0.1},
    ]


def test_empty_grid_has_one_point():
    assert grid_points(parse_hyperparams("")) == [{}]
