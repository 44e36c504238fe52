"""The README's real-footage example: its manifest finds the PETS clip in ../shared/data from where it
ships, with the real frame rate, the public detections and the partial truth."""
from __future__ import annotations

from pathlib import Path

import pytest

from lsvid.footage import find_videos, probe
from lsvid.identities import resolve_truth_ids

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "docs" / "examples" / "pets09_s2l1.csv"
PETS = REPO.parent / "shared" / "data" / "footage" / "pets09_s2l1"


def test_the_manifest_ships_with_the_readme():
    assert MANIFEST.is_file() and "docs/examples/pets09_s2l1.csv" in (REPO / "README.md").read_text()
    assert MANIFEST.read_text().splitlines()[0] == "path,camera,slot,fps,detections,truth"


@pytest.mark.skipif(not (PETS / "vtest.avi").is_file(), reason=f"PETS 2009 S2.L1 material not found under {PETS} (../shared/data is absent here)")
def test_the_manifest_resolves_to_the_shared_clip():
    (v,) = find_videos(MANIFEST)
    assert v.path.resolve() == (PETS / "vtest.avi").resolve() and v.fps == 7.0
    assert v.detections.resolve() == (PETS / "public_det.txt").resolve() and v.truth.resolve() == (PETS / "gt_frames_1-69.txt").resolve()
    assert probe(v).fps == 7.0
    ids = resolve_truth_ids("auto", MANIFEST, [v])
    assert ids.resolved == "per-video" and ids.stride == 0  # one video: its ids as they are
