"""The aggregator registry (the timm pattern: register / create / list).

An aggregator is a ``torch.nn.Module`` mapping frame features ``(B, T, d)``
and an optional ``(B, T)`` bool padding mask (True = real frame) to a video
feature ``(B, D)``, with ``out_dim = D``.  The harness adds the classifier and
the loss; methods carry no training code.

Add a method in three ways:

* in your own code: ``@register_aggregator("mine")`` on a factory
  ``(in_dim, **options) -> nn.Module``, then ``create_aggregator("mine", 128)``;
* from the command line: ``lsvid bench --plugin my_package.my_module`` imports
  a module whose decorators register its methods;
* from an installed package: an entry point in the group ``lsvid.aggregators``
  (``[project.entry-points."lsvid.aggregators"] mine = "my_pkg.aggs"``), loaded
  lazily the first time the registry is listed or asked for a name it lacks.

A name registered twice is an error naming both origins.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

ENTRY_POINT_GROUP = "lsvid.aggregators"


class RegistryError(ValueError):
    pass


@dataclass(frozen=True)
class AggregatorEntry:
    name: str
    factory: Callable[..., Any]
    origin: str

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.factory) or ""


_REGISTRY: dict[str, AggregatorEntry] = {}
_entry_points_loaded = False
_builtins_loaded = False


def _origin(fn: Callable[..., Any]) -> str:
    mod = getattr(fn, "__module__", "?")
    qual = getattr(fn, "__qualname__", repr(fn))
    try:
        src = inspect.getsourcefile(fn)
    except TypeError:
        src = None
    return f"{mod}.{qual}" + (f" ({src})" if src else "")


def register_aggregator(name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``factory(in_dim, **options) -> nn.Module`` under ``name``
    (default: the factory's ``__name__``)."""

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        key = name or factory.__name__
        entry = AggregatorEntry(key, factory, _origin(factory))
        old = _REGISTRY.get(key)
        if old is not None and old.origin != entry.origin:
            raise RegistryError(f"aggregator '{key}' is registered twice: by {old.origin} and by {entry.origin}")
        _REGISTRY[key] = entry
        return factory

    return deco


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        importlib.import_module("benchmark.aggregators")


def load_entry_points() -> list[str]:
    """Import every ``lsvid.aggregators`` entry point once; returns their names.

    An entry point may name a module (its decorators register) or a factory
    (registered under the entry point's name).
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return []
    _entry_points_loaded = True
    names = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:
            raise RegistryError(f"entry point '{ep.name} = {ep.value}' in group {ENTRY_POINT_GROUP} failed to load: {e}") from e
        if callable(obj) and not inspect.ismodule(obj):
            register_aggregator(ep.name)(obj)
        names.append(ep.name)
    return names


def import_plugin(module: str) -> None:
    """Import ``module`` (``--plugin``) so that its ``@register_aggregator`` calls run."""
    _load_builtins()
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise RegistryError(f"--plugin {module}: module not found ({e}); is it installed or on PYTHONPATH?") from e


def list_aggregators() -> list[str]:
    _load_builtins()
    load_entry_points()
    return sorted(_REGISTRY)


def get_aggregator(name: str) -> AggregatorEntry:
    _load_builtins()
    if name not in _REGISTRY:
        load_entry_points()
    if name not in _REGISTRY:
        raise RegistryError(f"unknown aggregator '{name}'; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def create_aggregator(name: str, in_dim: int, **options: Any):
    """Build the aggregator ``name`` for ``in_dim``-wide frame features."""
    entry = get_aggregator(name)
    module = entry.factory(in_dim, **options)
    out_dim = getattr(module, "out_dim", None)
    if not isinstance(out_dim, int) or out_dim < 1:
        raise RegistryError(f"aggregator '{name}' ({entry.origin}) built a module without a positive integer out_dim")
    return module
