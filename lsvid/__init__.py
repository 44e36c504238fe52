"""lsvid: the curation pipeline (footage -> tracklets -> dataset), the synthetic footage
generator, and the ``lsvid`` command line.

Every error a user can cause derives from :class:`LsvidError` (defined in
:mod:`lsvid_core.errors`, with its kinds), so ``except LsvidError`` catches
exactly the mistakes in inputs, options and config files.
"""
from lsvid_core import __version__
from lsvid_core.errors import LsvidError

__all__ = ["LsvidError", "__version__"]
