"""One registry pattern for every pluggable part (the timm pattern: register / get / list).

Datasets, aggregators, detectors and embedders each keep a :class:`Registry`:
a decorator registers a factory under a name; built-in modules are imported
the first time the registry is consulted; third-party packages add entries
through a Python entry-point group (an entry point may name a module whose
decorators register, or a factory registered under the entry point's name),
loaded lazily; a name registered twice by two different factories is an
error naming both (the same factory again, as when a module is re-imported,
is not).
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from lsvid_core.errors import ConfigError, LsvidError, UnknownNameError


class RegistryError(LsvidError, ValueError):
    """A registry cannot be used as asked: a name registered twice, a plugin that fails to load."""


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    origin: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.factory) or ""


def origin_of(obj: Callable[..., Any]) -> str:
    """``module.qualname (source file)`` of a factory, to name it in errors."""
    name = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
    try:
        src = inspect.getsourcefile(obj)
    except TypeError:  # a builtin or a callable object
        src = None
    return name + (f" ({src})" if src else "")


class Registry:
    """Named factories of one kind (``kind`` names it in messages)."""

    def __init__(
        self,
        kind: str,
        *,
        builtins: Sequence[str] = (),
        entry_point_group: str | None = None,
        duplicate_error: type[Exception] = RegistryError,
        unknown_error: type[Exception] = UnknownNameError,
        option_error: type[Exception] = ConfigError,
    ) -> None:
        self.kind = kind
        self.builtins = tuple(builtins)
        self.group = entry_point_group
        self.duplicate_error = duplicate_error
        self.unknown_error = unknown_error
        self.option_error = option_error
        self.entries: dict[str, Entry] = {}
        self.builtins_loaded = False
        self.entry_points_loaded = False

    def add(self, name: str, factory: Callable[..., Any], **meta: Any) -> Callable[..., Any]:
        entry = Entry(name, factory, origin_of(factory), meta)
        old = self.entries.get(name)
        if old is not None and old.origin != entry.origin:
            raise self.duplicate_error(f"{self.kind} '{name}' is registered twice: by {old.origin} and by {entry.origin}")
        self.entries[name] = entry
        return factory

    def register(self, name: str | None = None, **meta: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering a factory under ``name`` (default: its ``__name__``)."""

        def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
            return self.add(name or factory.__name__, factory, **meta)

        return deco

    def load_builtins(self) -> None:
        if not self.builtins_loaded:
            self.builtins_loaded = True
            for mod in self.builtins:
                importlib.import_module(mod)

    def load_entry_points(self) -> list[str]:
        if self.entry_points_loaded or self.group is None:
            return []
        self.entry_points_loaded = True
        names = []
        for ep in metadata.entry_points(group=self.group):
            try:
                obj = ep.load()
            except Exception as e:
                raise self.duplicate_error(f"entry point '{ep.name} = {ep.value}' in group {self.group} failed to load: {e}") from e
            if callable(obj) and not inspect.ismodule(obj):
                self.add(ep.name, obj)
            names.append(ep.name)
        return names

    def names(self) -> list[str]:
        self.load_builtins()
        self.load_entry_points()
        return sorted(self.entries)

    def get(self, name: str) -> Entry:
        self.load_builtins()
        if name not in self.entries:
            self.load_entry_points()
        if name not in self.entries:
            raise self.unknown_error(f"unknown {self.kind} '{name}'; registered: {', '.join(sorted(self.entries))}")
        return self.entries[name]

    def check(self, name: str, options: dict[str, Any]) -> Entry:
        """The entry of ``name``, after checking that its factory takes every option in ``options``
        (so a run can refuse a misspelt option before any work, without building anything)."""
        entry = self.get(name)
        defaults = option_defaults(entry.factory)
        if defaults is not None:
            unknown = sorted(set(options) - set(defaults))
            if unknown:
                raise self.option_error(
                    f"{self.kind} '{name}' has no option {', '.join(map(repr, unknown))}; its options: {', '.join(defaults) or '(none)'}"
                )
        return entry

    def create(self, name: str, *args: Any, **options: Any) -> Any:
        """``factory(*args, **options)`` of ``name``; an option the factory does not take,
        or one of the wrong type, is an error naming the option and those it takes."""
        entry = self.check(name, options)
        if not options:
            return entry.factory(*args)
        try:
            return entry.factory(*args, **options)
        except TypeError as e:  # an option value of the wrong type, as a user gave it
            raise self.option_error(f"{self.kind} '{name}' with options {options}: {e}") from None


def option_defaults(factory: Callable[..., Any]) -> dict[str, Any] | None:
    """Option names and defaults of a factory (positional-only and ``*args`` excluded),
    or ``None`` when it takes any ``**options``."""
    params = inspect.signature(factory).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name: (None if p.default is p.empty else p.default) for p in params if p.kind not in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY)}
