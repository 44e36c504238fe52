"""The real material of ``../shared/data`` (footage, weights), found as a user's own files are and
never copied into the project: tests that need a file skip, naming it, where it is absent."""
from __future__ import annotations

from pathlib import Path

import pytest


def shared_data() -> Path:
    """``../shared/data`` beside the repository root (the folder holding pyproject.toml)."""
    here = Path(__file__).resolve()
    root = next((p for p in here.parents if (p / "pyproject.toml").is_file()), here.parents[1])
    return (root / ".." / "shared" / "data").resolve()


def need(rel: str) -> Path:
    """``shared_data() / rel``, or skip the test naming what is missing."""
    path = shared_data() / rel
    if not path.exists():
        pytest.skip(f"real material {rel} not found under {shared_data()} (see shared/data/README.md)")
    return path
