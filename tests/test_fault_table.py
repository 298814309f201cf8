"""The fault table (docs/guide/faults.md) names a test for every fault: each named test exists."""

import ast
import re

from conftest import REPO

TESTS = REPO / "tests"


def named_tests() -> list[tuple[str, str]]:
    """(file, test) pairs of the table, ``::name`` read in the file named before it."""
    found, current = [], ""
    table = (REPO / "docs" / "guide" / "faults.md").read_text()
    for path, name in re.findall(r"`((?:[a-z_]+/)*test_\w+\.py)?(?:::(\w+))?`", table):
        current = path or current
        if name:
            found.append((current, name))
    return found


def test_every_test_the_fault_table_names_exists():
    pairs = named_tests()
    assert len(pairs) > 40
    missing = []
    for path, name in pairs:
        tree = ast.parse((TESTS / path).read_text())
        names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        if name not in names:
            missing.append(f"{path}::{name}")
    assert not missing, missing
