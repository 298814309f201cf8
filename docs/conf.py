"""Sphinx configuration of the documentation site: ``.venv/bin/sphinx-build -W docs docs/_build``."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "analysis_scripts"))

project = "alpswyft"
author = "the alpswyft developers"
copyright = "the alpswyft developers, MIT licence"  # noqa: A001 - Sphinx's name

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "*.py"]

# The tutorial is stored executed (docs/execute_tutorial.py): the site shows its outputs and
# builds without a kernel or a run.
nb_execution_mode = "off"
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# heavy or optional imports the API pages do not need to execute
autodoc_mock_imports = ["wandb"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "pydata_sphinx_theme"
html_title = "alpswyft"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []
autodoc_inherit_docstrings = False  # the Lightning hooks keep their own, RST of another project
