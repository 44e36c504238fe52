"""MOT metrics and tracklet purity on synthetic scenes with exact truth.

The detector is simulated from the truth (people at least 30% visible): the
truth boxes themselves, then a noisy variant (boxes jittered by 5% of their
size, 10% of them missed, a false positive every tenth frame).  Measured with
the default TrackerConfig and the colour-texture embedder (IoU-only tracker
and a perfect tracker on the same detections for scale):

| scene | IDF1 | IDSW | purity mean / min | IoU only IDF1 / IDSW | perfect IDF1 |
| --- | --- | --- | --- | --- | --- |
| seed 7, truth | 0.962 | 1 | 1.000 / 1.000 | 0.886 / 5 | 1.000 |
| seed 7, noisy | 0.942 | 8 | 0.988 / 0.950 | 0.784 / 21 | 0.950 |
| seed 8, truth | 0.896 | 14 | 0.879 / 0.421 | 0.805 / 17 | 1.000 |
| seed 8, noisy | 0.794 | 37 | 0.807 / 0.472 | 0.553 / 55 | 0.953 |

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
    "7/truth": (0.92, 3, 0.96),
    "7/noisy": (0.90, 12, 0.95),
    "8/truth": (0.85, 20, 0.84),
    "8/noisy": (0.75, 55, 0.77),
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
    assert ours["idf1"] > iou_only["idf1"] + 0.05, (ours, iou_only)


def test_metrics_helpers_score_a_perfect_tracker_perfectly(street):
    d = street["8/noisy"]
    m = mot_metrics(d.scene, oracle_tracks(d.dets, d.ids))
    assert m["num_switches"] == 0 and purity(d.scene, oracle_tracks(d.dets, d.ids))[0] > 0.99
    # Missed detections are the perfect tracker's only loss: IDF1 = recall = 1 - 10% missed.
    assert m["idf1"] == pytest.approx(0.95, abs=0.01)


@pytest.mark.parametrize("name,min_idf1", [("7/truth", 0.93), ("8/truth", 0.82)])
def test_every_second_frame(street, name, min_idf1):
    """Subsampled video (the pipeline's frame_step): measured IDF1 0.963 and 0.864 on the frames used."""
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
