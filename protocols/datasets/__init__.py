"""Native dataset readers, one module per dataset, behind a small registry.

``register_dataset(name)`` registers a reader ``read(root, **options) ->
NativeDataset``; :func:`list_datasets` and :func:`get_reader` find them;
:func:`convert` reads a native tree and writes a dataset folder in the
project's schema.  Third-party packages add readers through the entry-point
group ``lsvid.datasets`` (loaded the first time the registry is consulted).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..protocol import Protocol
from ..registry import Entry, Registry

ENTRY_POINT_GROUP = "lsvid.datasets"
_BUILTINS = ("lsvid", "mars", "dukev", "prid", "ilids")

REGISTRY = Registry(
    "dataset reader",
    builtins=[f"{__name__}.{m}" for m in _BUILTINS],
    entry_point_group=ENTRY_POINT_GROUP,
)


def register_dataset(name: str, *, protocol: Protocol, official: dict[str, Any] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a native reader ``read(root, **options) -> NativeDataset`` under ``name``."""
    return REGISTRY.register(name, protocol=protocol, official=official or {})


def list_datasets() -> list[str]:
    return REGISTRY.names()


def get_reader(name: str) -> Entry:
    """The registry entry of a reader: ``factory`` reads, ``meta`` holds protocol and official counts."""
    return REGISTRY.get(name)


def read_native(name: str, root: str | os.PathLike, **options: Any):
    """Read a native tree into a :class:`NativeDataset` (nothing is written)."""
    return get_reader(name).factory(root, **options)


def convert(name: str, root: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False, **options: Any) -> Path:
    """Read the native dataset at ``root`` and write the schema folder ``out``.

    Frame paths stay relative to the native root, which ``dataset.json``
    records as ``image_root``; no image is copied.  Any error leaves ``out``
    untouched.  ``out`` may never be, contain or lie inside ``root`` when it
    is replaced, and only a dataset folder this tool wrote is replaced.
    """
    from lsvid_core.paths import check_output

    from .. import __version__
    from ..dataset import tables_from_sequences, write_dataset

    inputs = [("--root", root)]
    check_output(out, overwrite=overwrite, inputs=inputs, kind="dataset folder")  # before reading a large tree
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
    return write_dataset(out, tracklets, frames, meta, trials=nd.trials, overwrite=overwrite, inputs=[*inputs, ("--root", nd.root)])
