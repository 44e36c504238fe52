"""Videos: a codec that works here, written atomically, reopening with the stated properties."""
from __future__ import annotations

import numpy as np
import pytest
from synth_helpers import SMALL

from lsvid.synth import VideoWriter, video_codec, video_info
from lsvid.synth.writer import CODECS


def test_written_videos_reopen_with_frame_count_fps_and_size(footage):
    root, manifest = footage
    fourcc, ext = video_codec()
    assert (fourcc, ext) in CODECS
    assert len(manifest["videos"]) == SMALL.cameras * SMALL.slots
    for v in manifest["videos"]:
        assert v["video"].endswith(ext) and v["fourcc"] == fourcc
        info = video_info(root / v["video"])
        assert info == {"frames": SMALL.num_frames, "fps": pytest.approx(SMALL.fps), "width": SMALL.width,
                        "height": SMALL.height}


def test_a_video_appears_only_when_complete(tmp_path):
    frame = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(RuntimeError), VideoWriter(tmp_path / "broken", 25, (64, 48)) as w:
        w.write(frame)
        raise RuntimeError("crash mid-video")
    assert list(tmp_path.iterdir()) == []
    with VideoWriter(tmp_path / "ok", 25, (64, 48)) as w:
        for _ in range(4):
            w.write(frame)
    assert [p.name for p in tmp_path.iterdir()] == [w.path.name]
    assert video_info(w.path)["frames"] == 4


def test_a_frame_of_the_wrong_size_is_refused(tmp_path):
    with VideoWriter(tmp_path / "v", 25, (64, 48)) as w:
        with pytest.raises(ValueError, match="expected"):
            w.write(np.zeros((48, 60, 3), np.uint8))
        w.write(np.zeros((48, 64, 3), np.uint8))
