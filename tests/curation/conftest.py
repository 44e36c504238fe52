"""Shared small footage for the curation tests that need only a video or two."""
from __future__ import annotations

from pathlib import Path

import pytest

from lsvid.synth import SynthConfig, generate_footage


@pytest.fixture(scope="session")
def small_footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two cameras, 8 people, 6 s of 640x360 with MOT truth, as ``lsvid synth`` writes it."""
    root = tmp_path_factory.mktemp("small") / "footage"
    generate_footage(root, SynthConfig(cameras=2, identities=8, seconds=6, size=(640, 360), seed=31), progress=False)
    return root
