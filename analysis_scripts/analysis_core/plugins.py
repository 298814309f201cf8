"""Plug-ins: a class defined in a user's Python file, named by a run-script variable.

Both analyses take their extensions this way (a forward model ``model=path.py`` defining
``Model``, a feature head ``architecture=path.py`` defining ``Head``): :func:`load_class` imports
the file once per content and returns the class, and every failure is a
:class:`~analysis_core.errors.ConfigError` naming the variable and the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
from pathlib import Path

from analysis_core.errors import ConfigError

#: classes already loaded, by (file, its SHA-256, class name)
_LOADED: dict[tuple[str, str, str], type] = {}


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_class(
    path: Path, name: str, variable: str, label: str | None = None, guide: str = ""
) -> type:
    """The class ``name`` of the Python file ``path``, the value of the run-script ``variable``
    (``label``: how the error messages name it, default the path; ``guide``: where the interface
    is documented, added to them). A file is imported once per content, under a module name of
    its own, so that two files of the same name do not collide."""
    path, label = Path(path), label or str(path)
    see = f" (see {guide})" if guide else ""
    if not path.is_file():
        raise ConfigError(variable, label, f"no such file (it must define a class {name}{see})")
    digest = file_sha256(path)
    key = (str(path.resolve()), digest, name)
    if key not in _LOADED:
        module_name = f"analysis_plugin_{variable}_{digest[:12]}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:  # noqa: BLE001 - whatever the file raises, name the file
            raise ConfigError(
                variable, label, f"the file does not load: {type(error).__name__}: {error}"
            ) from None
        cls = getattr(module, name, None)
        if not inspect.isclass(cls):
            raise ConfigError(variable, label, f"the file must define a class {name}{see}")
        _LOADED[key] = cls
    return _LOADED[key]
