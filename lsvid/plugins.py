"""``lsvid curate --plugin``: modules imported first, here and in every worker, so that their
``@register_detector`` / ``@register_embedder`` entries exist wherever a video is processed.

A plugin is a dotted module name importable here (installed, or on
``PYTHONPATH``) or the path of a ``.py`` file, imported under a name made
from its resolved path (so every process imports the same file once).
Workers of ``--workers N`` (a spawn process pool) inherit this process's
``sys.path``; Ray workers need a module name importable on every node, or a
file path they can all read.  Installed packages can instead declare entry
points in the groups ``lsvid.detectors`` and ``lsvid.embedders``, loaded
without any option.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from protocols.registry import RegistryError


def is_file_plugin(spec: str) -> bool:
    """Whether ``spec`` names a ``.py`` file rather than a module."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def resolve_plugin(spec: str) -> str:
    """``spec`` as every process should import it: a file's resolved path, a module's name as given;
    a file that does not exist, or a name that is not a module name, is a :class:`RegistryError`."""
    if is_file_plugin(spec):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise RegistryError(f"--plugin {spec}: no such file; expected a .py file or a module name")
        return str(path.resolve())
    if not spec or not all(part.isidentifier() for part in spec.split(".")):
        raise RegistryError(f"--plugin {spec!r}: not a module name (like my_package.detectors) nor a .py file")
    return spec


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"lsvid_plugin_{stem}_{digest}"


def import_plugin(spec: str) -> ModuleType:
    """Import one plugin (see the module docstring); importing it again is a no-op."""
    spec = resolve_plugin(spec)
    if not is_file_plugin(spec):
        try:
            return importlib.import_module(spec)
        except ModuleNotFoundError as e:
            if e.name is not None and not (spec == e.name or spec.startswith(e.name + ".")):
                raise  # the plugin was found; something it imports is missing: its own traceback says what
            raise RegistryError(f"--plugin {spec}: module not found ({e}); is it installed or on PYTHONPATH? "
                                "(or give the path of its .py file)") from e
    path = Path(spec)
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise RegistryError(f"--plugin {spec}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def import_plugins(specs: Sequence[str]) -> list[ModuleType]:
    """Import each of ``specs`` in order."""
    return [import_plugin(s) for s in specs]


__all__ = ["import_plugin", "import_plugins", "is_file_plugin", "resolve_plugin"]
