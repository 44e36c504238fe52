"""One read_frames, strict about truncated video, whoever reads: a shard's two passes, the
train-detector export and the footage preview all refuse a video cut short, naming it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from curation_helpers import as_mjpg_avi, blank_avi, cut

from lsvid import shard
from lsvid.detect.train import export_yolo_dataset
from lsvid.footage import FootageError, VideoSource, find_videos, probe, read_frames
from lsvid.shard import CurateConfig, process_video
from lsvid.synth.preview import contact_sheet


@pytest.fixture
def truncated(tmp_path: Path) -> Path:
    """A footage folder whose one video (an AVI, 100 frames declared) stops decoding half-way;
    its MOT truth is empty and footage.json describes it, so every reader gets as far as the frames."""
    root = tmp_path / "footage"
    (root / "cam01").mkdir(parents=True)
    avi = cut(blank_avi(root / "cam01" / "slot01.avi"))
    (root / "cam01" / "slot01.gt.txt").write_text("")
    manifest = {"size": [320, 180], "videos": [{"camera": 1, "slot": 1, "video": "cam01/slot01.avi",
                                                "truth": "cam01/slot01.gt.txt", "frames": 100}]}
    (root / "footage.json").write_text(json.dumps(manifest))
    return avi


def test_read_frames_refuses_truncation_by_step_and_by_indices(truncated):
    assert probe(truncated).frames == 100  # the container still declares them all
    video = find_videos(truncated.parents[1])[0]
    for source in (truncated, str(truncated), video):
        with pytest.raises(FootageError, match=rf"{truncated}: truncated .* of the 100"):
            list(read_frames(source))
        with pytest.raises(FootageError, match="truncated"):
            list(read_frames(source, step=3))
        with pytest.raises(FootageError, match="truncated"):
            list(read_frames(source, indices=[0, 90]))
    # frames before the cut are all there; asking only for those needs no more decoding
    assert [i for i, _ in read_frames(truncated, indices=[3, 1])] == [1, 3]
    lenient = [i for i, _ in read_frames(truncated, strict=False)]
    assert 0 < len(lenient) < 90 and lenient == list(range(len(lenient)))


def test_the_shard_pass_names_the_truncated_video(truncated, tmp_path):
    video = find_videos(truncated.parents[1])[0]
    with pytest.raises(FootageError, match=rf"{truncated}: truncated"):
        process_video(video, CurateConfig(detector="truth"), tmp_path / "work")
    assert not any((tmp_path / "work" / "shards").iterdir())  # nothing half-written


def test_the_crop_pass_names_a_video_cut_after_the_first(small_footage, tmp_path, monkeypatch):
    """The second pass (crops) is as strict: here the file is cut between the two passes."""
    src = find_videos(small_footage)[0]
    (tmp_path / "f" / src.camera).mkdir(parents=True)
    avi = as_mjpg_avi(src.path, tmp_path / "f" / src.camera / f"{src.slot}.avi")
    shutil.copy(src.truth, avi.with_suffix(".gt.txt"))
    video = find_videos(tmp_path / "f")[0]
    first_pass = shard._detect_and_track

    def then_cut(v: VideoSource, *args, **kw):
        seen = first_pass(v, *args, **kw)
        cut(v.path, 0.2)
        return seen

    monkeypatch.setattr(shard, "_detect_and_track", then_cut)
    with pytest.raises(FootageError, match=rf"{avi}: truncated"):
        process_video(video, CurateConfig(detector="truth"), tmp_path / "work")
    assert not any((tmp_path / "work" / "shards").iterdir())


def test_train_detector_export_names_the_truncated_video(truncated, tmp_path):
    with pytest.raises(FootageError, match=rf"{truncated}: truncated"):
        export_yolo_dataset(truncated.parents[1], tmp_path / "yolo", frames_per_video=10)


def test_preview_names_the_truncated_video(truncated, tmp_path):
    with pytest.raises(FootageError, match=rf"{truncated}: truncated"):
        contact_sheet(truncated.parents[1], tmp_path / "preview.png")
    assert not (tmp_path / "preview.png").exists()
