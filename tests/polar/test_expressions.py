"""Column expressions: the original's forms evaluate, anything else is refused."""

import numpy as np
import pytest

from polar.expressions import ExpressionError, evaluate

COLUMNS = {
    "unix_time": np.array([1474004181.546, 1474004181.546 + 5535.4 * 2.5]),
    "rate": np.array([[900.0, 1.0], [100.0, 2.0]]),
    "rate_err": np.array([[30.0, 1.0], [10.0, 1.0]]),
    "glat": np.array([-10.0, 20.0]),
}


def test_the_original_filter_and_orbit_number():
    assert evaluate("rate[0]/rate_err[0] > 20", COLUMNS).tolist() == [True, False]
    assert evaluate("(unix_time-1474004181.546)//5535.4+10", COLUMNS).tolist() == [10, 12]


def test_logic_functions_and_chained_comparisons():
    assert evaluate("(glat > 0) or (rate[1] < 1.5)", COLUMNS).tolist() == [True, True]
    assert evaluate("not glat > 0 and abs(glat) < 15", COLUMNS).tolist() == [True, False]
    assert evaluate("-30 < glat < 0", COLUMNS).tolist() == [True, False]
    np.testing.assert_allclose(evaluate("sqrt(rate[0]) * 2 ** 2", COLUMNS), [120.0, 40.0])


@pytest.mark.parametrize(
    "expression, message",
    [
        ("__import__('os').system('true')", "may be called"),
        ("rate.sum()", "may be called"),
        ("glat.real", "Attribute is not allowed"),
        ("(lambda: 1)()", "may be called"),
        ("'text' == glat", "is not a number"),
        ("rate[0:1]", "only column\\[integer\\] indexing"),
        ("rate[5]", "out of range"),
        ("altitude > 1", "no column named 'altitude'"),
        ("glat >", "is not valid"),
        ("[glat]", "List is not allowed"),
    ],
)
def test_everything_else_is_refused_with_the_expression_named(expression, message):
    with pytest.raises(ExpressionError, match=message):
        evaluate(expression, COLUMNS)
