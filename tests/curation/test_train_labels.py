"""`lsvid train-detector`'s labels: only the truth rows that count (lsvid.mot.considered: consider flag
not 0, class pedestrian) become positives, as for the truth detector and --evaluate; visibility is a
separate threshold, and MOT15 truth (no visibility column) reads as fully visible."""
from __future__ import annotations

from pathlib import Path

import pytest
from curation_helpers import mot_sequence

from lsvid.detect.train import export_yolo_dataset
from lsvid_core.errors import InputError

FRAMES = 30


def labels(root: Path) -> list[list[str]]:
    files = sorted((root / "labels").rglob("*.txt"))
    assert len(files) == FRAMES
    return [f.read_text().split("\n")[:-1] for f in files]


@pytest.fixture(scope="module")
def seq(tmp_path_factory) -> Path:
    """Per frame: walkers 1 and 2 (pedestrians, consider 1), person 3 (consider 0); added here a parked
    car (class 3) and a static person (class 7), both consider 1, and a pedestrian 10% visible."""
    s = mot_sequence(tmp_path_factory.mktemp("train") / "SEQ-01", frames=FRAMES)
    gt = s / "gt" / "gt.txt"
    extra = [f"{f},{pid},{x},150,40,30,1,{cls},{vis}" for f in range(1, FRAMES + 1)
             for pid, x, cls, vis in ((4, 200, 3, 1.0), (5, 120, 7, 1.0), (6, 60, 1, 0.1))]
    gt.write_text(gt.read_text() + "\n".join(extra) + "\n")
    return s


def test_only_considered_pedestrians_become_labels(seq, tmp_path):
    summary = export_yolo_dataset(seq, tmp_path / "y", frames_per_video=FRAMES, min_visibility=0.3)
    assert summary.videos == 1 and summary.train_images + summary.val_images == FRAMES
    # walkers 1 and 2 only: not person 3 (consider 0), the car (class 3), the static person (class 7),
    # nor the pedestrian too hidden to learn from
    assert [len(lines) for lines in labels(tmp_path / "y")] == [2] * FRAMES and summary.boxes == 2 * FRAMES
    first = sorted(labels(tmp_path / "y")[0])
    assert all(line.startswith("0 ") for line in first)


def test_visibility_is_a_threshold_of_its_own(seq, tmp_path):
    summary = export_yolo_dataset(seq, tmp_path / "y", frames_per_video=FRAMES, min_visibility=0.0)
    assert summary.boxes == 3 * FRAMES  # the 10%-visible pedestrian too; still not the consider-0 person nor other classes


def test_mot15_truth_reads_as_fully_visible(tmp_path):
    s = mot_sequence(tmp_path / "MOT15-01", frames=FRAMES)
    rows = [line.split(",") for line in (s / "gt" / "gt.txt").read_text().split()]
    # MOT15's 10 columns: frame, id, box, consider, world x, y, z (no class, no visibility)
    (s / "gt" / "gt.txt").write_text("".join(",".join(r[:7] + ["-1", "-1", "-1"]) + "\n" for r in rows))
    summary = export_yolo_dataset(s, tmp_path / "y", frames_per_video=FRAMES, min_visibility=0.9)
    assert summary.boxes == 2 * FRAMES  # the two considered walkers in every frame; person 3 (consider 0) never


def test_a_detection_file_given_as_truth_is_refused(tmp_path):
    s = mot_sequence(tmp_path / "DET-01", frames=5)
    (s / "gt" / "gt.txt").write_text((s / "det" / "det.txt").read_text())
    with pytest.raises(InputError, match=r"gt.txt: every id is -1: a detection file"):
        export_yolo_dataset(s, tmp_path / "y", frames_per_video=5)
