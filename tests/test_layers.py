"""The import layers of the packages: no module imports one of a higher layer, none imports a
private name of another module, and the package modules import each other at the top (only a
module that loads torch, swyft, matplotlib or gammapy when imported may be imported where it is
used), so the module graph is the one the import lines show."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO

PACKAGES = REPO / "analysis_scripts"

#: Layers from the bottom; a module may import its own layer and those below. The longest
#: matching prefix decides (``alpswyft.stages.validate`` is not in ``alpswyft.stages``' layer).
LAYERS = (
    ("core", ("analysis_core",)),
    ("physics", ("alpswyft.physics",)),
    (
        "building blocks",
        (
            "alpswyft.parameters",
            "alpswyft.values",
            "alpswyft.sections",
            "alpswyft.grid",
            "alpswyft.runscript",
            "alpswyft.results",
            "alpswyft.truncation",
            "alpswyft.limits",
            "alpswyft.neyman",
            "alpswyft.coverage",
            "alpswyft.inference",
            "alpswyft.classical",
            "alpswyft.architectures",
            "alpswyft.compat",
            "alpswyft.datasets",
        ),
    ),
    (
        "models and configuration",
        ("alpswyft.setups", "alpswyft.models", "alpswyft.config", "alpswyft.simulator"),
    ),
    (
        "stores and networks",
        ("alpswyft.stores", "alpswyft.networks", "alpswyft.training", "alpswyft.frequentist"),
    ),
    ("run context", ("alpswyft.run",)),
    ("stages", ("alpswyft.stages",)),
    # the diagnostics draw their figures, so they and the stage that runs them sit with them
    (
        "figures and report",
        (
            "alpswyft.plots",
            "alpswyft.sim_plots",
            "alpswyft.report",
            "alpswyft.diagnostics",
            "alpswyft.stages.validate",
        ),
    ),
    (
        "workbench",
        (
            "alpswyft.workbench",
            "alpswyft.sim",
            "alpswyft.comparison",
            "alpswyft.limit_checks",
            "alpswyft.cli",
        ),
    ),
)

#: Modules that load a heavy library when imported: the ones other modules may import lazily.
HEAVY = {
    "alpswyft.architectures",  # torch, swyft
    "alpswyft.networks",
    "alpswyft.training",  # pytorch_lightning
    "alpswyft.inference",  # torch
    "alpswyft.frequentist",
    "alpswyft.physics.batched",
    "alpswyft.physics.gpu",  # numba.cuda
    "alpswyft.plots",  # matplotlib
    "alpswyft.sim_plots",
    "alpswyft.sim",
    "alpswyft.workbench",
    "alpswyft.comparison",
    "alpswyft.report",  # papermill
    "analysis_core.lightning",
    "analysis_core.notebooks",
    "polar.model",  # torch
    "polar.export",  # uproot
    "polar.seeds",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGES.rglob("*.py"):
        parts = path.relative_to(PACKAGES).with_suffix("").parts
        if parts[0] in ("alpswyft", "polar", "analysis_core"):
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path):
    """(imported module, names, line, at the top?) of the package imports of one file."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno, id(node) in top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                module = f"{node.module}.{alias.name}"
                if module in MODULES:
                    yield module, [], node.lineno, id(node) in top
                else:
                    yield node.module, [alias.name], node.lineno, id(node) in top


def _package_imports():
    for name, path in MODULES.items():
        for module, names, line, at_top in _imports(path):
            if module.split(".")[0] in ("alpswyft", "polar", "analysis_core"):
                yield name, module, names, f"{path.relative_to(REPO)}:{line}", at_top


def layer(module: str) -> int | None:
    matches = [
        (len(p), rank)
        for rank, (_, prefixes) in enumerate(LAYERS)
        for p in prefixes
        if module == p or module.startswith(p + ".")
    ]
    return max(matches)[1] if matches else None


def test_every_alpswyft_module_has_a_layer():
    missing = [m for m in MODULES if m.startswith("alpswyft.") and layer(m) is None]
    assert not missing, f"add these modules to a layer of LAYERS: {missing}"


def test_no_module_imports_a_higher_layer():
    upward = []
    for name, module, _, where, at_top in _package_imports():
        if name in ("alpswyft", "polar", "analysis_core") and not at_top:
            continue  # a package's lazy public names (``from alpswyft import ALPSim``)
        own, other = layer(name), layer(module)
        if own is not None and other is not None and other > own:
            upward.append(
                f"{where}: {name} ({LAYERS[own][0]}) imports {module} ({LAYERS[other][0]})"
            )
    assert not upward, "\n".join(upward)


def test_the_core_and_polar_do_not_import_the_alp_analysis():
    wrong = [
        f"{where}: {name} imports {module}"
        for name, module, _, where, _ in _package_imports()
        if name.split(".")[0] in ("analysis_core", "polar")
        and module.split(".")[0] == "alpswyft"
        or name.split(".")[0] == "analysis_core"
        and module.split(".")[0] == "polar"
    ]
    assert not wrong, "\n".join(wrong)


def test_no_private_name_is_imported_from_another_module():
    private = [
        f"{where}: {name} imports {module}.{n}"
        for name, module, names, where, _ in _package_imports()
        for n in names
        if n.startswith("_") and not n.startswith("__") and module != name
    ]
    assert not private, "\n".join(private)


def test_light_package_modules_are_imported_at_the_top():
    hidden = [
        f"{where}: {name} imports {module} inside a function"
        for name, module, _, where, at_top in _package_imports()
        if not at_top
        and name not in ("alpswyft", "polar", "analysis_core")
        and module not in HEAVY
        and module in MODULES
    ]
    assert not hidden, "\n".join(hidden)


@pytest.mark.parametrize("name", sorted(HEAVY))
def test_the_heavy_modules_exist(name):
    assert name in MODULES, f"{name} is listed in HEAVY but is not a module"
