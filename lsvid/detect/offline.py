"""Ultralytics with the network out of the picture.

Ultralytics reaches out on its own: a DNS probe when imported (``ONLINE``),
PyPI update checks, usage analytics ("events", when settings say ``sync``),
``pip install`` of missing requirements (``YOLO_AUTOINSTALL``), a download
of ``Arial.ttf`` whenever a dataset is checked (``check_font`` in
``check_det_dataset``, plots or not), a download of ``yolo26n.pt`` for the
AMP self-check on CUDA, and downloads of any weights named but missing.
Read from ultralytics 8.4's source; what lsvid does about each:

* :func:`import_ultralytics` sets ``YOLO_OFFLINE=1`` and
  ``YOLO_AUTOINSTALL=false`` before the first import (a value the user set
  wins), and if ultralytics was imported earlier by someone else, marks it
  offline after the fact (``ONLINE`` in the modules that test it, events off);
  the user's settings file is never rewritten;
* :func:`offline_training` serves ``check_font`` from local files
  (matplotlib's DejaVu Sans when Arial is not in ultralytics' config folder);
* callers pass ``amp=False`` (no self-check download) and ``plots=False``,
  and give weights as existing local paths or bundled model yamls only.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from unittest import mock

_ENV = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false"}


def import_ultralytics() -> ModuleType:
    """``ultralytics``, imported (or made) offline."""
    already = "ultralytics" in sys.modules
    if not already:
        for k, v in _ENV.items():
            os.environ.setdefault(k, v)
    import ultralytics
    from ultralytics.utils import checks, events

    if already:  # imported before these variables could act: turn the same switches afterwards
        for mod in (sys.modules["ultralytics.utils"], checks, events):
            if getattr(mod, "ONLINE", False):
                mod.ONLINE = False
        if hasattr(events, "events"):
            events.events.enabled = False
    return ultralytics


def local_font(font: str = "Arial.ttf") -> Path | None:
    """A font file for ultralytics without downloading one: its own cached copy if present, else
    matplotlib's bundled DejaVu Sans (ultralytics only draws labels with it)."""
    from ultralytics.utils import USER_CONFIG_DIR

    cached = Path(USER_CONFIG_DIR) / Path(font).name
    if cached.exists():
        return cached
    try:
        from matplotlib import font_manager

        return Path(font_manager.findfont("DejaVu Sans", fallback_to_default=True))
    except Exception:  # no matplotlib font: ultralytics copes with None when it does not plot
        return None


@contextlib.contextmanager
def offline_training() -> Iterator[None]:
    """Inside: ultralytics training touches no network (see the module docstring)."""
    import_ultralytics()
    import ultralytics.data.utils as data_utils
    import ultralytics.utils.checks as checks
    import ultralytics.utils.plotting as plotting

    patches = [mock.patch.object(checks, "check_pip_update_available", lambda: False)]
    # Each module bound its own name at import: patch them where they are looked up.
    patches += [mock.patch.object(mod, "check_font", local_font) for mod in (data_utils, plotting) if hasattr(mod, "check_font")]
    with contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(p)
        stack.enter_context(warnings.catch_warnings())
        # With ray installed, ultralytics' Ray Tune callback asks for a trial id every epoch and ray warns.
        warnings.filterwarnings("ignore", message=".*get_trial_id.*")
        yield
