"""Tracking scores are the MOTChallenge devkit's (TrackEval), checked against hand-computed MOTA,
IDF1 and identity switches; consider-0 truth rows are not scored; several videos combine as the
devkit's combined row does; --evaluate scores the frames the truth covers and the pipeline ran."""
from __future__ import annotations

import pandas as pd
import pytest

from lsvid.mot import MOT_COLUMNS, mot_frame, write_mot
from lsvid.mot_metrics import combine_tracking, score_tracking
from lsvid.quality import CurationQuality, format_quality, video_quality

TRACK_COLUMNS = ["frame", "id", "bb_left", "bb_top", "bb_width", "bb_height"]


def _truth(rows) -> pd.DataFrame:
    return mot_frame(rows)


def _tracks(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=TRACK_COLUMNS)


@pytest.fixture
def case():
    """Two people over 4 frames; A tracked throughout by track 10; B by track 20, then by track 30
    from frame 3 (one identity switch); one false box (track 40) in frame 1."""
    truth = _truth([(f, 1, 0, 0, 20, 40, 1, 1, 1.0) for f in range(1, 5)] + [(f, 2, 100, 0, 20, 40, 1, 1, 1.0) for f in range(1, 5)])
    tracks = _tracks([(f, 10, 0, 0, 20, 40) for f in range(1, 5)] + [(f, 20 if f < 3 else 30, 100, 0, 20, 40) for f in range(1, 5)]
                     + [(1, 40, 300, 300, 20, 40)])
    return truth, tracks


def test_scores_equal_the_hand_computed_ones(case):
    s = score_tracking(*case)
    d = s.to_dict()
    # 8 truth boxes, all matched (TP 8, FN 0); FP 1; one switch: MOTA = 1 - (0 + 1 + 1) / 8
    assert (s.gt_boxes, s.tracker_boxes, s.FN, s.FP, s.IDSW) == (8, 9, 0, 1, 1)
    assert d["MOTA"] == pytest.approx(0.75)
    # identity matching: A-10 (4 boxes), B-20 or B-30 (2): IDTP 6; IDF1 = 2 * 6 / (8 + 9), IDP 6/9, IDR 6/8
    assert d["IDF1"] == pytest.approx(12 / 17) and d["IDP"] == pytest.approx(6 / 9) and d["IDR"] == pytest.approx(6 / 8)
    assert (s.gt_ids, s.tracker_ids, s.MT, s.ML, s.Frag, s.frames, s.benchmark) == (2, 4, 2, 0, 0, 4, "MOT17")
    assert d["MOTP"] == pytest.approx(1.0) and 0 < s.AssA < 1 and d["DetA"] == pytest.approx(8 / 9)
    assert set(d) >= {"HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW", "benchmark"} and "raw" not in d


def test_consider_zero_truth_is_not_scored(case):
    truth, tracks = case
    hidden = _truth([tuple(r) for r in truth.itertuples(index=False)] + [(f, 3, 200, 0, 20, 40, 0, 1, 1.0) for f in range(1, 5)])
    s = score_tracking(hidden, tracks)
    assert (s.gt_boxes, s.gt_ids, s.FN, s.MOTA) == (8, 2, 0, pytest.approx(0.75))  # person 3 (consider 0) counts for nothing
    shown = hidden.assign(conf=1)
    assert score_tracking(shown, tracks).FN == 4  # the same rows with the flag set are missed boxes
    assert score_tracking(hidden, tracks, benchmark="MOT15").gt_boxes == 8  # the MOT15 rules drop them too


def test_sequences_combine_as_the_devkit_combines_them(case):
    a = score_tracking(*case)
    truth, tracks = case
    b = score_tracking(truth, tracks.iloc[:0])  # nothing tracked: 8 misses
    both = combine_tracking([a, b])
    assert (both.gt_boxes, both.FN, both.FP, both.IDSW, both.frames) == (16, 8, 1, 1, 8)
    d = both.to_dict()
    assert d["MOTA"] == pytest.approx(1 - (8 + 1 + 1) / 16) and d["IDF1"] == pytest.approx(2 * 6 / (16 + 9))
    assert combine_tracking([a]) is a


def test_video_quality_uses_one_frame_numbering_on_both_sides(case, tmp_path):
    """Shard tables count frames from 0, MOT files from 1; detections beyond the truth's last frame are not scored."""
    truth, tracks = case
    path = write_mot(truth, tmp_path / "gt.txt")
    det = pd.DataFrame({"frame": tracks["frame"] - 1, "x": tracks["bb_left"], "y": tracks["bb_top"], "w": tracks["bb_width"],
                        "h": tracks["bb_height"], "score": 0.9})
    det = pd.concat([det, pd.DataFrame({"frame": [10], "x": [0], "y": [0], "w": [20], "h": [40], "score": [0.9]})])  # after the truth
    tr = pd.DataFrame({"track_id": tracks["id"], "frame": tracks["frame"] - 1, "x": tracks["bb_left"], "y": tracks["bb_top"],
                       "w": tracks["bb_width"], "h": tracks["bb_height"]})
    q = video_quality(path, det, tr)
    assert q["detection"] == {"tp": 8, "fp": 1, "fn": 0} and q["frames_scored"] == 4
    assert q["tracking"]["MOTA"] == pytest.approx(0.75) and q["tracking"]["IDSW"] == 1
    # every second frame (frame_step 2): frames 1 and 3 of the file, renumbered 1, 2
    half = video_quality(path, det, tr, frame_step=2)
    assert half["frames_scored"] == 2 and half["detection"] == {"tp": 4, "fp": 1, "fn": 0}
    assert half["tracking"]["gt_boxes"] == 4 and half["tracking"]["IDSW"] == 1


def test_detection_recall_precision_treat_ignored_truth_as_dont_care(tmp_path):
    rows = [(1, 1, 0, 0, 20, 40, 1, 1, 1.0), (1, 2, 100, 0, 20, 40, 0, 1, 1.0), (1, 3, 200, 0, 20, 40, 1, 1, 0.3)]
    path = write_mot(pd.DataFrame(rows, columns=list(MOT_COLUMNS)), tmp_path / "gt.txt")
    det = pd.DataFrame({"frame": [0, 0, 0], "x": [0, 100, 200], "y": [0, 0, 0], "w": [20, 20, 20], "h": [40, 40, 40], "score": [0.9] * 3})
    q = video_quality(path, det, pd.DataFrame(columns=["track_id", "frame", "x", "y", "w", "h"]))
    assert q["detection"] == {"tp": 1, "fp": 0, "fn": 0}  # a box on the consider-0 or the hardly visible person is neither
    assert q["tracking"]["gt_boxes"] == 2  # TrackEval drops consider 0 only; it reads no visibility


def test_format_quality_prints_the_devkit_scores():
    q = CurationQuality(videos_with_truth=1, detection_recall=0.9, detection_precision=0.8, hota=0.5, deta=0.55, assa=0.45, mota=0.6,
                        idf1=0.7, id_switches=3, tracking={"benchmark": "MOT15"}, frames_scored=69)
    text = format_quality(q)
    assert "69 frames" in text and "HOTA 50.0% (DetA 55.0%, AssA 45.0%)  MOTA 60.0%  IDF1 70.0%  ID switches 3" in text
    assert "TrackEval, MOT15 rules" in text
    old = CurationQuality.from_dict({"videos_with_truth": 1, "detection_recall": 0.9, "detection_precision": 0.8, "idf1": 0.7,
                                     "id_switches": 3, "mota": 0.6, "objects": 5})  # a dataset.json of the motmetrics days
    assert "IDF1 70.0%" in format_quality(old)
