"""Plug-ins: a class of a user's file, imported once per content, with errors naming the
variable and the file."""

import pytest

from analysis_core.errors import ConfigError
from analysis_core.plugins import load_class


def test_files_of_the_same_name_are_distinct_and_each_is_imported_once(tmp_path):
    first, second = tmp_path / "a" / "model.py", tmp_path / "b" / "model.py"
    for path, value in ((first, 1), (second, 2)):
        path.parent.mkdir()
        path.write_text(f"calls = []\nclass Model:\n    value = {value}\ncalls.append(1)\n")
    one, two = load_class(first, "Model", "model"), load_class(second, "Model", "model")
    assert (one.value, two.value) == (1, 2)
    assert load_class(first, "Model", "model") is one  # the same content: not imported again
    first.write_text("class Model:\n    value = 3\n")
    assert load_class(first, "Model", "model").value == 3  # new content: imported anew


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("class Model(:\n", "does not load: SyntaxError"),
        ("raise RuntimeError('no data')\n", "does not load: RuntimeError: no data"),
        ("Model = 3\n", "must define a class Model (see the guide)"),
    ],
)
def test_a_file_that_does_not_give_the_class_names_the_variable_and_the_file(
    tmp_path, text, message
):
    path = tmp_path / "mine.py"
    path.write_text(text)
    with pytest.raises(ConfigError, match="model") as error:
        load_class(path, "Model", "model", guide="the guide")
    assert message in str(error.value) and str(path) in str(error.value)


def test_a_missing_file_is_said_plainly(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_class(tmp_path / "none.py", "Head", "architecture", label="none.py")
