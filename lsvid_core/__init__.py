"""lsvid_core: what every package of the toolkit shares and nothing else.

- :mod:`lsvid_core.errors` -- :class:`LsvidError`, the root of every user-facing error
- :mod:`lsvid_core.config` -- typed dataclass configs read from JSON (one mechanism for all)
- :mod:`lsvid_core.paths` -- safe names, outputs that never replace what is not ours, staged folders

It imports nothing of the toolkit, so ``protocols`` and ``gltr`` (which know
nothing of each other) can both build on it.
"""
from __future__ import annotations

from importlib import metadata as _md

try:
    __version__ = _md.version("lsvid")
except _md.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from .errors import LsvidError  # noqa: E402

__all__ = ["LsvidError", "__version__"]
