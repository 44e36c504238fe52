"""MOT metrics and tracklet purity on synthetic scenes with exact truth.

The detector is simulated from the truth (people at least 30% visible): the
truth boxes themselves, then a noisy variant (boxes jittered by 5% of their
size, 10% of them missed, a false positive every tenth frame).  Measured with
the default TrackerConfig and the colour-texture embedder, scored by TrackEval
(the devkit's rules; an IoU-only tracker on the same detections for scale):

| scene | IDF1 | IDSW | purity mean / min | IoU only IDF1 / IDSW |
| --- | --- | --- | --- | --- |
| seed 7, truth | 0.989 | 4 | 0.995 / 0.949 | 0.957 / 5 |
| seed 7, noisy | 0.913 | 21 | 0.967 / 0.902 | 0.764 / 16 |
| seed 8, truth | 0.868 | 20 | 0.870 / 0.516 | 0.760 / 18 |
| seed 8, noisy | 0.866 | 39 | 0.879 / 0.519 | 0.595 / 49 |

(The tracker before the Kalman filter, two-stage matching and re-linking
measured, with motmetrics' switch rule: 0.962 / 1, 0.942 / 8, 0.896 / 14 and
0.794 / 37; it is better on seed 7 with noise, the new one on seed 8 with noise,
at low frame rates and on real 7 fps video, see benchmarks/tracking_quality.py.)

Seed 8 is crowded: a group of three walking together, look-alike twins among
them, people hidden behind each other for a second; the colour-texture
descriptor cannot tell overlapping crops apart there, a trained backbone is
the remedy.  The thresholds leave a margin of about 0.04 IDF1 / 0.04 purity
and ~40% more switches than measured: the numbers are deterministic here,
the margin is for other OpenCV builds' resampling.
"""
from __future__ import annotations

import numpy as np
import pytest
from track_helpers import mot_metrics, oracle_tracks, purity, run_tracker

from lsvid.track import TrackerConfig

# scene: (min IDF1, max IDSW, min mean purity)
THRESHOLDS = {
    "7/truth": (0.95, 8, 0.97),
    "7/noisy": (0.87, 30, 0.93),
    "8/truth": (0.83, 28, 0.83),
    "8/noisy": (0.82, 55, 0.84),
}


@pytest.mark.parametrize("name", list(THRESHOLDS))
def test_idf1_switches_and_purity(street, name):
    d = street[name]
    tracks = run_tracker(d.dets, d.feats)
    m = mot_metrics(d.scene, tracks)
    mean_purity, _ = purity(d.scene, tracks)
    min_idf1, max_switches, min_purity = THRESHOLDS[name]
    assert m["idf1"] >= min_idf1, m
    assert m["num_switches"] <= max_switches, m
    assert mean_purity >= min_purity, mean_purity
    assert m["mota"] >= (0.97 if name.endswith("truth") else 0.85), m  # boxes are found, false positives dropped


@pytest.mark.parametrize("name", list(THRESHOLDS))
def test_appearance_beats_iou_alone_on_every_scene(street, name):
    d = street[name]
    ours = mot_metrics(d.scene, run_tracker(d.dets, d.feats))
    iou_only = mot_metrics(d.scene, run_tracker(d.dets, d.feats, TrackerConfig(appearance_weight=0.0)))
    # the Kalman filter alone is strong on truth boxes; appearance pays most once detections are noisy
    assert ours["idf1"] > iou_only["idf1"] + (0.02 if name.endswith("truth") else 0.1), (ours, iou_only)


def test_metrics_helpers_score_a_perfect_tracker_perfectly(street):
    d = street["8/noisy"]
    m = mot_metrics(d.scene, oracle_tracks(d.dets, d.ids))
    assert m["num_switches"] == 0 and purity(d.scene, oracle_tracks(d.dets, d.ids))[0] > 0.99
    # Missed detections are the perfect tracker's only loss: IDF1 = recall = 1 - 10% missed.
    assert m["idf1"] == pytest.approx(0.95, abs=0.01)


@pytest.mark.parametrize("name,min_idf1", [("7/truth", 0.95), ("8/truth", 0.80)])
def test_every_second_frame(street, name, min_idf1):
    """Subsampled video (the pipeline's frame_step): measured IDF1 0.982 and 0.838 on the frames used."""
    d = street[name]
    tracks = run_tracker(d.dets, d.feats, step=2)
    assert all(np.all(t.frames % 2 == 0) for t in tracks)
    m = mot_metrics(d.scene, tracks, frames=range(0, len(d.dets), 2))
    assert m["idf1"] >= min_idf1, m


def test_the_same_input_gives_the_same_tracks(street):
    d = street["8/noisy"]
    a, b = run_tracker(d.dets, d.feats), run_tracker(d.dets, d.feats)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.track_id == y.track_id
        assert np.array_equal(x.frames, y.frames) and np.array_equal(x.boxes, y.boxes)
        assert np.array_equal(x.feats, y.feats) and np.array_equal(x.scores, y.scores)
    order = [(int(t.frames[0]), t.track_id) for t in a]
    assert order == sorted(order) and sorted(t.track_id for t in a) == list(range(len(a)))
