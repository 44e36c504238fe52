"""``truth``: the MOT boxes of the video, as detections."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from detect_helpers import assert_well_formed, detect_video, recall_precision

from lsvid.detect import DetectorError, create_detector
from lsvid.mot import read_mot


def test_truth_scores_perfectly(footage, tmp_path):
    _, videos = footage
    det = create_detector("truth")
    dets = [detect_video(det, v) for v in videos]
    assert recall_precision(videos, dets, tmp_path) == (1.0, 1.0)


def test_truth_boxes_and_scores_are_the_mot_rows(footage):
    _, videos = footage
    v = videos[0]
    gt = read_mot(v.truth)
    frame = int(gt["frame"].iloc[len(gt) // 2])
    det = create_detector("truth", min_visibility=0.5)
    det.start_video(v)
    img = np.zeros((360, 640, 3), np.uint8)
    out = det.detect([img, img], [frame - 1, 10_000])
    assert_well_formed(out, 2, 640, 360)
    want = gt[(gt["frame"] == frame) & (gt["visibility"] >= 0.5)]
    cols = ["bb_left", "bb_top", "bb_width", "bb_height", "visibility"]
    assert np.allclose(out[0], want[cols].to_numpy(np.float32), atol=1e-3)
    assert out[1].shape == (0, 5)
    flat = create_detector("truth", visibility_score=False)
    flat.start_video(v)
    assert (flat.detect([img], [frame - 1])[0][:, 4] == 1).all()


def test_truth_without_truth_names_the_video(footage):
    _, videos = footage
    bare = replace(videos[0], truth=None)
    with pytest.raises(DetectorError, match=rf"{bare.video_id}.*needs MOT truth"):
        create_detector("truth").start_video(bare)


def test_detect_before_start_video_is_an_error():
    with pytest.raises(DetectorError, match="start_video"):
        create_detector("truth").detect([np.zeros((8, 8, 3), np.uint8)], [0])


def test_bad_frames_are_an_error(footage):
    _, videos = footage
    det = create_detector("truth")
    det.start_video(videos[0])
    with pytest.raises(DetectorError, match="one index per frame"):
        det.detect([np.zeros((8, 8, 3), np.uint8)], [0, 1])
    with pytest.raises(DetectorError, match="BGR uint8"):
        det.detect([np.zeros((8, 8), np.uint8)], [0])
