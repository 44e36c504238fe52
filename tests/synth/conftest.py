"""Shared small footage for the synth tests: small enough to render in a second or two."""
from __future__ import annotations

import pytest
from synth_helpers import SMALL

from lsvid.synth import generate_footage


@pytest.fixture(scope="session")
def footage(tmp_path_factory: pytest.TempPathFactory):
    """``(folder, manifest)`` of footage generated once for the whole session."""
    out = tmp_path_factory.mktemp("synth") / "footage"
    manifest = generate_footage(out, SMALL, progress=False)
    return out, manifest
