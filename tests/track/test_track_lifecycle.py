"""The tracker's life cycle, gates and output on hand-made detections (no pixels)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lsvid.track import Track, Tracker, TrackerConfig, covered_fraction

DIM = 16
FRAME = (640, 360)


def look(k: int) -> np.ndarray:
    """Person ``k``'s embedding: unit vector ``k`` (different people are orthogonal)."""
    return np.eye(DIM, dtype=np.float32)[k]


def walker(x0: float, vx: float, frames, *, y: float = 150.0, w: float = 40.0, h: float = 100.0) -> dict[int, np.ndarray]:
    """``{frame: (x, y, w, h, score)}`` of a box moving ``vx`` pixels per frame."""
    return {f: np.array([x0 + vx * f, y, w, h, 1.0], np.float32) for f in frames}


FPS = 25.0


def run(people: list[tuple[dict[int, np.ndarray], np.ndarray]], frames, config: TrackerConfig | None = None,
        frame_size=FRAME, fps: float = FPS) -> list[Track]:
    """Track ``people`` (their boxes per frame and their embedding) through ``frames``."""
    tracker = Tracker(config or TrackerConfig(), frame_size=frame_size, fps=fps)
    for f in frames:
        rows = [(boxes[f], feat) for boxes, feat in people if f in boxes]
        b = np.array([r[0] for r in rows], np.float32).reshape(-1, 5)
        e = np.array([r[1] for r in rows], np.float32).reshape(-1, DIM)
        tracker.update(f, b, e)
    return tracker.finish()


def test_a_detection_seen_once_never_becomes_a_track():
    assert run([(walker(100, 2, [5]), look(1))], range(20)) == []


def test_min_hits_consecutive_matches_confirm_and_the_track_keeps_its_tentative_frames():
    cfg = TrackerConfig(min_hits=3)
    assert run([(walker(100, 2, range(5, 7)), look(1))], range(20), cfg) == []
    (t,) = run([(walker(100, 2, range(5, 8)), look(1))], range(20), cfg)
    assert t.frames.tolist() == [5, 6, 7]
    (t,) = run([(walker(100, 2, [5]), look(1))], range(20), replace(cfg, min_hits=1))
    assert t.frames.tolist() == [5]


def test_a_tentative_track_that_misses_a_frame_is_deleted():
    # Seen at 0 and 1, missed at 2: forgotten; seen again from 3: a new track, which owns only 3..
    (t,) = run([(walker(100, 2, [0, 1, *range(3, 10)]), look(1))], range(10))
    assert t.frames.tolist() == list(range(3, 10))


@pytest.mark.parametrize(("max_age", "fps"), [(10, 25.0), (30, 25.0), (7, 7.0), (21, 7.0)])
def test_an_occlusion_up_to_max_age_keeps_the_id_one_frame_more_starts_a_new_track(max_age, fps):
    """``max_age`` is in seconds: ``max_age`` frames here are ``max_age / fps`` seconds (re-linking off)."""
    cfg = TrackerConfig(max_age=max_age / fps, relink_gap=0)
    last = 19  # seen 0..19, then hidden
    kept = walker(50, 2, [*range(last + 1), *range(last + max_age, last + max_age + 10)])
    (t,) = run([(kept, look(1))], range(last + max_age + 10), cfg, fps=fps)
    assert t.frames[0] == 0 and t.frames[-1] == last + max_age + 9
    assert len(t) == last + 1 + 10  # no entries for the frames it was lost
    split = walker(50, 2, [*range(last + 1), *range(last + max_age + 1, last + max_age + 11)])
    a, b = run([(split, look(1))], range(last + max_age + 11), cfg, fps=fps)
    assert (a.track_id, a.frames[-1], b.track_id, b.frames[0]) == (0, last, 1, last + max_age + 1)


def test_ages_count_video_frames_when_frames_are_skipped():
    cfg = TrackerConfig(max_age=12 / FPS, relink_gap=0)
    step = 3
    # Hidden from frame 30 to 41: last seen at 27, back at 42 -> 15 frames > max_age: a new track ...
    boxes = walker(50, 2, [f for f in range(0, 90, step) if not 30 <= f <= 41])
    assert len(run([(boxes, look(1))], range(0, 90, step), cfg)) == 2
    # ... hidden from 30 to 35: back at 36, 9 frames after 27: the same track.
    boxes = walker(50, 2, [f for f in range(0, 90, step) if not 30 <= f <= 35])
    (t,) = run([(boxes, look(1))], range(0, 90, step), cfg)
    assert np.all(np.diff(t.frames) % step == 0)


def test_a_lost_track_whose_prediction_leaves_the_picture_ends_before_max_age():
    tracker = Tracker(TrackerConfig(max_age=100), frame_size=FRAME)
    boxes = walker(500, 10, range(12))  # the centre passes x = 640 at frame 12
    for f in range(40):
        b = boxes[f][None] if f in boxes else np.zeros((0, 5), np.float32)
        tracker.update(f, b, np.tile(look(1), (len(b), 1)))
        if f == 12:
            assert tracker.num_live == 1  # lost, still inside
    assert tracker.num_live == 0
    assert len(tracker.finish()) == 1


def test_people_crossing_with_the_same_look_are_told_apart_by_their_motion():
    same = look(1)
    right = walker(100, 4, range(100))
    left = walker(100 + 4 * 99, -4, range(100))  # the boxes coincide at frame 49.5
    tracks = run([(right, same), (left, same)], range(100))
    assert len(tracks) == 2
    by_start = {round(float(t.boxes[0, 0])): t for t in tracks}
    assert np.allclose(by_start[100].boxes[:, 0], [right[f][0] for f in range(100)])
    assert np.allclose(by_start[496].boxes[:, 0], [left[f][0] for f in range(100)])


def test_a_look_alike_far_beyond_the_motion_gate_starts_a_new_track():
    same = look(1)
    here = walker(100, 2, range(10))
    there = {f: np.array([400, 150, 40, 100, 1], np.float32) for f in range(12, 20)}  # 300 px away, 2 frames later
    assert len(run([(here, same), (there, same)], range(20))) == 2
    # The same jump inside the gate (a track unseen long enough) is followed.
    cfg = TrackerConfig(gate_heights=3.5)
    assert len(run([(here, same), (there, same)], range(20), cfg)) == 1


def test_a_very_different_look_is_gated_even_on_the_predicted_box():
    boxes = walker(100, 2, range(30))
    tracker = Tracker(TrackerConfig(), frame_size=FRAME)
    for f in range(30):
        tracker.update(f, boxes[f][None], (look(1) if f < 15 else look(2))[None])
    first, second = tracker.finish()
    assert first.frames[-1] == 14 and second.frames[0] == 15
    # An IoU tracker (appearance weight 0) has no appearance gate.
    (t,) = run([(boxes, look(1))], range(30), TrackerConfig(appearance_weight=0.0))
    assert len(t) == 30


def test_the_appearance_memory_follows_a_slow_change_of_look():
    a, b = look(1), look(2)
    assert 1 - a @ b == 1.0  # far beyond max_appearance_distance
    boxes = walker(50, 2, range(200))
    tracker = Tracker(TrackerConfig(), frame_size=FRAME)
    for f in range(200):
        s = f / 199  # slides from a to b
        v = (1 - s) * a + s * b
        tracker.update(f, boxes[f][None], (v / np.linalg.norm(v))[None])
    (t,) = tracker.finish()
    assert len(t) == 200


def test_boxes_in_front_cover_those_behind_them():
    boxes = np.array([
        [100, 100, 40, 100],  # behind (bottom 200)
        [120, 110, 40, 100],  # in front of the first (bottom 210), half of the first is under it
        [400, 100, 40, 100],  # alone
    ], np.float64)
    cov = covered_fraction(boxes)
    assert cov[0] == pytest.approx(20 * 90 / 4000)
    assert cov[1] == 0 and cov[2] == 0


def test_low_score_detections_extend_tracks_but_do_not_start_them():
    cfg = TrackerConfig(high_score=0.5, low_score=0.1)
    weak = {f: b * np.array([1, 1, 1, 1, 0.3], np.float32) for f, b in walker(100, 2, range(10)).items()}
    assert run([(weak, look(1))], range(10), cfg) == []
    mixed = walker(100, 2, range(10)) | {f: weak[f] for f in range(5, 10)}
    (t,) = run([(mixed, look(1))], range(10), cfg)
    assert len(t) == 10 and np.allclose(t.scores[5:], 0.3)
    below = walker(100, 2, range(10)) | {f: b * np.array([1, 1, 1, 1, 0.05 / 0.3], np.float32) for f, b in weak.items() if f >= 5}
    (t,) = run([(below, look(1))], range(10), cfg)
    assert t.frames.tolist() == list(range(5))  # below low_score: not even a weak match


def test_weak_detections_match_by_overlap_only_and_leave_the_appearance_memory_alone():
    """A weak box (stage 2) extends the track that overlaps it even though it looks like someone else,
    as ByteTrack keeps an occluded person; its look never enters the memory, so a confident box of the
    person's own look still matches afterwards."""
    cfg = TrackerConfig(high_score=0.5, low_score=0.1, memory_momentum=0.0)  # momentum 0: memory = last look taken
    boxes = walker(100, 2, range(20))
    tracker = Tracker(cfg, frame_size=FRAME, fps=FPS)
    for f in range(20):
        weak = 8 <= f < 12
        b = boxes[f] * np.array([1, 1, 1, 1, 0.3 if weak else 1.0], np.float32)
        tracker.update(f, b[None], look(2 if weak else 1)[None])
    (t,) = tracker.finish()
    assert t.frames.tolist() == list(range(20))


def test_relinking_joins_a_person_hidden_longer_than_max_age_and_not_two_people():
    """Seen 0..19, hidden 1 s (25 frames, beyond max_age 0.4 s), back where they were heading: one
    track after re-linking, two without; someone who looks different starting there stays apart."""
    cfg = TrackerConfig(max_age=0.4, relink_gap=3.0)
    frames = [*range(20), *range(45, 70)]
    same = walker(50, 2, frames)
    (t,) = run([(same, look(1))], range(70), cfg)
    assert t.frames.tolist() == frames and t.track_id == 0
    assert len(run([(same, look(1))], range(70), replace(cfg, relink_gap=0))) == 2
    a = walker(50, 2, range(20))
    b = walker(50, 2, range(45, 70))
    assert len(run([(a, look(1)), (b, look(2))], range(70), cfg)) == 2
    far = walker(500, 2, range(45, 70), y=20)  # the same look but far from the first one's course
    assert len(run([(a, look(1)), (far, look(1))], range(70), cfg)) == 2
    late = walker(50, 2, range(20 + 4 * 25, 130))  # back after 4 s > relink_gap
    assert len(run([(a, look(1)), (late, look(1))], range(130), cfg)) == 2


def test_time_constants_follow_the_frame_rate():
    """The same occlusion in seconds at 7 and 25 fps: kept within max_age at both rates."""
    cfg = TrackerConfig(max_age=1.0, relink_gap=0)
    for fps in (7.0, 25.0):
        hidden = int(0.9 * fps)
        boxes = walker(50, 14 / fps, [*range(10), *range(10 + hidden, 10 + hidden + 10)])
        assert len(run([(boxes, look(1))], range(10 + hidden + 10), cfg, fps=fps)) == 1, fps
    with pytest.raises(ValueError, match="fps"):
        Tracker(cfg, fps=0)


def test_output_format_and_ids():
    people = [(walker(50 + 200 * k, 1, range(5 * k, 40)), look(k)) for k in range(3)]
    tracks = run(people, range(40))
    assert [t.track_id for t in tracks] == [0, 1, 2]  # 0-based, in order of confirmation = first frame here
    for t, (boxes, feat) in zip(tracks, people):
        assert t.frames.dtype == np.int64 and t.boxes.dtype == np.float32
        assert t.scores.dtype == np.float32 and t.feats.dtype == np.float32
        assert t.boxes.shape == (len(t), 4) and t.feats.shape == (len(t), DIM) and t.scores.shape == (len(t),)
        assert t.frames.tolist() == sorted(boxes)
        assert np.array_equal(t.boxes, np.stack([boxes[f][:4] for f in t.frames]))  # the detector's boxes, unchanged
        assert np.allclose(t.feats, feat)


def test_empty_frames_and_no_detections_at_all():
    tracker = Tracker(TrackerConfig(), frame_size=FRAME)
    for f in range(5):
        tracker.update(f, np.zeros((0, 5), np.float32), np.zeros((0, DIM), np.float32))
    assert tracker.finish() == []


def test_bad_input_is_refused():
    tracker = Tracker()
    tracker.update(3, np.zeros((1, 5), np.float32) + 10, look(1)[None])
    with pytest.raises(ValueError, match="increasing"):
        tracker.update(3, np.zeros((0, 5), np.float32), np.zeros((0, DIM), np.float32))
    with pytest.raises(ValueError, match="feats"):
        tracker.update(4, np.zeros((2, 5), np.float32), np.zeros((1, DIM), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        tracker.update(4, np.full((1, 5), np.nan, np.float32), look(1)[None])
    with pytest.raises(ValueError, match="dimension"):
        tracker.update(5, np.zeros((1, 5), np.float32), np.zeros((1, DIM + 1), np.float32))
    tracker.finish()
    with pytest.raises(RuntimeError, match="finish"):
        tracker.update(9, np.zeros((0, 5), np.float32), np.zeros((0, DIM), np.float32))


@pytest.mark.parametrize("bad", [dict(min_hits=0), dict(max_age=-1), dict(appearance_weight=1.5),
                                 dict(memory_momentum=-0.1), dict(max_cost=0), dict(max_height_ratio=0.9),
                                 dict(velocity_noise=0.0), dict(low_score=0.6), dict(relink_distance=0)])
def test_config_is_checked(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        TrackerConfig(**bad)


def test_config_round_trips_through_a_dict():
    cfg = TrackerConfig(max_age=0.5, cascade=True, relink_gap=2.0)
    assert TrackerConfig(**cfg.to_dict()) == cfg
