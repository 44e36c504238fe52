"""lsvid: the curation pipeline (footage -> tracklets -> dataset), the synthetic footage
generator, and the ``lsvid`` command line."""
from protocols import __version__

__all__ = ["__version__"]
