"""Column expressions of the configuration, evaluated safely over the data's columns.

Derived columns and filters are written as in the original, e.g. ``rate[0]/rate_err[0] > 20`` or
``(unix_time-1474004181.546)//5535.4+10``. They are parsed with :mod:`ast` and evaluated node by
node over numpy arrays: only column names, numbers, arithmetic, comparisons, ``and``/``or``/``not``
(element-wise), integer indexing of vector columns and a few numpy functions are allowed, so a
configuration string can never run arbitrary code.
"""

from __future__ import annotations

import ast
import operator

import numpy as np

from analysis_core.errors import PipelineError

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
}
_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_UNARY = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: np.logical_not,
    ast.Invert: np.logical_not,
}
FUNCTIONS = {
    name: getattr(np, name)
    for name in (
        "abs",
        "sqrt",
        "log",
        "log10",
        "exp",
        "sin",
        "cos",
        "tan",
        "arcsin",
        "arccos",
        "arctan",
        "arctan2",
        "deg2rad",
        "rad2deg",
        "minimum",
        "maximum",
        "where",
        "floor",
        "ceil",
        "isfinite",
    )
}


class ExpressionError(PipelineError):
    pass


def names(expression: str) -> set[str]:
    """The column names an expression reads."""
    tree = parse(expression)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}


def evaluate(expression: str, columns: dict[str, np.ndarray]) -> np.ndarray:
    """The value of ``expression`` over ``columns`` (name -> array, vector columns 2D)."""
    return np.asarray(_Evaluator(expression, columns).visit(parse(expression).body))


def parse(expression: str) -> ast.Expression:
    try:
        return ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"expression {expression!r} is not valid: {error.msg}") from None


class _Evaluator(ast.NodeVisitor):
    def __init__(self, expression: str, columns: dict[str, np.ndarray]):
        self.expression, self.columns = expression, columns

    def fail(self, what: str):
        raise ExpressionError(f"expression {self.expression!r}: {what}")

    def generic_visit(self, node):
        self.fail(
            f"{type(node).__name__} is not allowed (only columns, numbers, arithmetic, comparisons, "
            f"and/or/not, column[i] and the functions {', '.join(sorted(FUNCTIONS))})"
        )

    def visit_Constant(self, node):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            self.fail(f"the constant {node.value!r} is not a number")
        return node.value

    def visit_Name(self, node):
        if node.id not in self.columns:
            self.fail(f"no column named {node.id!r} (columns: {', '.join(sorted(self.columns))})")
        return self.columns[node.id]

    def visit_Subscript(self, node):
        if (
            not isinstance(node.value, ast.Name)
            or not isinstance(node.slice, ast.Constant)
            or not isinstance(node.slice.value, int)
        ):
            self.fail("only column[integer] indexing is allowed")
        column = self.visit(node.value)
        if column.ndim != 2 or not -column.shape[1] <= node.slice.value < column.shape[1]:
            self.fail(f"{node.value.id}[{node.slice.value}] is out of range (shape {column.shape})")
        return column[:, node.slice.value]

    def visit_BinOp(self, node):
        if type(node.op) not in _BINARY:
            self.fail(f"the operator {type(node.op).__name__} is not allowed")
        return _BINARY[type(node.op)](self.visit(node.left), self.visit(node.right))

    def visit_UnaryOp(self, node):
        return _UNARY[type(node.op)](self.visit(node.operand))

    def visit_BoolOp(self, node):
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        values = [self.visit(v) for v in node.values]
        result = values[0]
        for value in values[1:]:
            result = combine(result, value)
        return result

    def visit_Compare(self, node):
        left, result = self.visit(node.left), True
        for op, comparator in zip(node.ops, node.comparators):
            if type(op) not in _COMPARE:
                self.fail(f"the comparison {type(op).__name__} is not allowed")
            right = self.visit(comparator)
            result = np.logical_and(result, _COMPARE[type(op)](left, right))
            left = right
        return result

    def visit_Call(self, node):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
            self.fail(
                f"only the functions {', '.join(sorted(FUNCTIONS))} may be called, with positional arguments"
            )
        return FUNCTIONS[node.func.id](*(self.visit(a) for a in node.args))
