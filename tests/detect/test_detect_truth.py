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
    with pytest.raises(DetectorError, match=rf"{bare.video_id}.*needs a MOT detection file or MOT truth"):
        create_detector("truth").start_video(bare)
    with pytest.raises(DetectorError, match=rf"{bare.video_id}.*needs MOT truth"):
        create_detector("file", source="truth").start_video(bare)
    with pytest.raises(DetectorError, match=rf"{videos[0].video_id}.*source=detections.*needs a MOT detection file"):
        create_detector("file", source="detections").start_video(videos[0])  # synthetic footage has truth only


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


def test_a_detection_file_gives_its_boxes_with_their_float_scores(footage, tmp_path):
    _, videos = footage
    (tmp_path / "slot01.det.txt").write_text("3,-1,10.5,20.25,30,80,0.995474,-1,-1,-1\n3,-1,100,50,31.5,90,0.500353,-1,-1,-1\n"
                                             "5,-1,200,60,30,80,0.12,-1,-1,-1\n")
    v = replace(videos[0], detections=tmp_path / "slot01.det.txt")
    img = np.zeros((360, 640, 3), np.uint8)
    for name in ("file", "truth"):  # one detector, two names; a detection file wins over the truth
        det = create_detector(name)
        det.start_video(v)
        out = det.detect([img, img, img], [2, 3, 4])
        assert_well_formed(out, 3, 640, 360)
        assert np.allclose(out[0], [[10.5, 20.25, 30, 80, 0.995474], [100, 50, 31.5, 90, 0.500353]], atol=1e-5)
        assert out[1].shape == (0, 5) and np.allclose(out[2][:, 4], [0.12])
    strict = create_detector("file", min_score=0.5)
    strict.start_video(v)
    assert strict.detect([img], [4])[0].shape == (0, 5) and len(strict.detect([img], [2])[0]) == 2
    from_truth = create_detector("file", source="truth")
    from_truth.start_video(v)
    gt = read_mot(v.truth)
    frame = int(gt["frame"].iloc[0])
    assert len(from_truth.detect([img], [frame - 1])[0]) == int(((gt["frame"] == frame) & (gt["conf"] == 1)).sum())


def test_truth_rows_the_devkit_ignores_are_no_boxes(footage, tmp_path):
    """Consider flag 0 (even at full visibility) and classes other than pedestrian are never boxes."""
    _, videos = footage
    (tmp_path / "gt.txt").write_text("1,1,10,20,30,80,1,1,1\n1,2,100,20,30,80,0,1,1\n1,3,200,20,30,80,1,7,1\n1,4,300,20,30,80,1,1,0.2\n")
    v = replace(videos[0], truth=tmp_path / "gt.txt", detections=None)
    img = np.zeros((360, 640, 3), np.uint8)
    det = create_detector("truth")
    det.start_video(v)
    assert det.detect([img], [0])[0][:, 0].tolist() == [10, 300]
    seen = create_detector("truth", min_visibility=0.5)
    seen.start_video(v)
    assert seen.detect([img], [0])[0][:, 0].tolist() == [10]
