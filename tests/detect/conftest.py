"""Shared footage for the detection tests, generated once per session."""
from __future__ import annotations

import pytest
from detect_helpers import FOOTAGE_SEED

from lsvid.footage import find_videos
from lsvid.synth import SynthConfig, generate_footage


@pytest.fixture(scope="session")
def footage(tmp_path_factory: pytest.TempPathFactory):
    """Two cameras, 8 people, 6 s of 640x360 at 25 fps, with MOT truth: ``(folder, videos)``."""
    out = tmp_path_factory.mktemp("detect") / "footage"
    generate_footage(out, SynthConfig(cameras=2, identities=8, seconds=6, size=(640, 360), seed=FOOTAGE_SEED), progress=False)
    return out, find_videos(out)


@pytest.fixture(scope="session")
def tiny_footage(tmp_path_factory: pytest.TempPathFactory):
    """Two cameras x 4 s at 320x180: enough frames to train YOLO for one epoch."""
    out = tmp_path_factory.mktemp("detect") / "tiny"
    generate_footage(out, SynthConfig(cameras=2, identities=6, seconds=4, size=(320, 180), seed=3), progress=False)
    return out
