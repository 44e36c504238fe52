"""Native dataset readers, one module per dataset, behind a small registry.

``register_dataset(name)`` registers a reader ``read(root, **options) ->
NativeDataset``; :func:`list_datasets` and :func:`get_reader` find them;
:func:`convert` reads a native tree and writes a dataset folder in the
project's schema.  Third-party packages add readers through the entry-point
group ``lsvid.datasets`` (loaded the first time the registry is consulted).
"""
from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from importlib import import_module, metadata
from pathlib import Path
from typing import Any, Callable

from ..protocol import Protocol

ENTRY_POINT_GROUP = "lsvid.datasets"


@dataclass(frozen=True)
class ReaderEntry:
    name: str
    read: Callable[..., Any]
    protocol: Protocol
    official: dict[str, Any]
    origin: str


_REGISTRY: dict[str, ReaderEntry] = {}
_BUILTINS = ("lsvid", "mars", "dukev", "prid", "ilids")
_loaded = False


def _origin(fn: Callable[..., Any]) -> str:
    try:
        return f"{fn.__module__}.{fn.__qualname__} ({inspect.getsourcefile(fn)})"
    except TypeError:
        return f"{fn.__module__}.{fn.__qualname__}"


def register_dataset(name: str, *, protocol: Protocol, official: dict[str, Any] | None = None):
    """Decorator registering a native reader under ``name``; duplicates are errors."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        entry = ReaderEntry(name, fn, protocol, official or {}, _origin(fn))
        old = _REGISTRY.get(name)
        if old is not None and old.origin != entry.origin:
            raise ValueError(f"dataset reader '{name}' is registered twice: by {old.origin} and by {entry.origin}")
        _REGISTRY[name] = entry
        return fn

    return deco


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in _BUILTINS:
        import_module(f"{__name__}.{mod}")
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        ep.load()


def list_datasets() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def get_reader(name: str) -> ReaderEntry:
    _load()
    if name not in _REGISTRY:
        raise KeyError(f"unknown dataset '{name}'; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def read_native(name: str, root: str | os.PathLike, **options: Any):
    """Read a native tree into a :class:`NativeDataset` (nothing is written)."""
    return get_reader(name).read(root, **options)


def convert(name: str, root: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False, **options: Any) -> Path:
    """Read the native dataset at ``root`` and write the schema folder ``out``.

    Frame paths stay relative to the native root, which ``dataset.json``
    records as ``image_root``; no image is copied.  Any error leaves ``out``
    untouched.
    """
    from .. import __version__
    from ..dataset import tables_from_sequences, write_dataset

    nd = read_native(name, root, **options)
    tracklets, frames = tables_from_sequences(nd.sequences)
    meta = {
        "name": nd.name,
        "source": {"kind": "native", "dataset": name, "root": str(nd.root)},
        "image_root": str(nd.root),
        "protocol": nd.protocol.to_dict(),
        "official_counts": nd.official,
        "reader": {"module": get_reader(name).origin.split(" ")[0], "options": options, "info": nd.info},
        "build": {"tool": "lsvid convert", "version": __version__},
    }
    return write_dataset(out, tracklets, frames, meta, trials=nd.trials, overwrite=overwrite)
