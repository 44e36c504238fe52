"""Make every child process import this checkout.

Several tests run the code in a fresh interpreter (``python -m lsvid.cli``,
scripts written to a temporary folder, ``torchrun``).  Without this, such a
child imports whatever ``lsvid`` happens to be installed — possibly another
checkout or an older release — and the test checks the wrong code.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = str(Path(__file__).resolve().parents[1])
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, os.environ.get("PYTHONPATH", "")) if p)
