"""Box and tracklet filters, each with its drop count."""
import numpy as np

from lsvid.filters import FilterConfig, apply_filters, sharpness


def test_each_filter_counts_what_it_drops():
    cfg = FilterConfig(min_length=3, min_height=40, min_aspect=1.5, max_aspect=4, border_margin=2, min_sharpness=10)
    good = [100, 50, 20, 60]  # x, y, w, h: aspect 3, inside
    boxes = np.array([
        good, good, good, good,
        [100, 50, 20, 30],   # too short (height 30)
        [100, 50, 50, 60],   # aspect 1.2
        [0, 50, 20, 60],     # touches the left border
        [100, 50, 20, 60],   # blurred (sharpness below)
    ], float)
    sharp = np.array([50, 50, 50, 50, 50, 50, 50, 1.0])
    keep, counts = apply_filters([boxes, boxes[:2]], [sharp, sharp[:2]], (640, 360), cfg)
    assert keep[0].tolist() == [0, 1, 2, 3] and len(keep[1]) == 0
    assert counts["boxes_height"] == 1 and counts["boxes_aspect"] == 1 and counts["boxes_border"] == 1 and counts["boxes_blur"] == 1
    assert counts["tracklets_too_short"] == 1 and counts["tracklets_kept"] == 1


def test_sharpness_orders_sharp_over_blurred():
    rng = np.random.default_rng(0)
    img = (rng.random((64, 32)) * 255).astype(np.uint8)
    import cv2

    assert sharpness(img) > 10 * sharpness(cv2.GaussianBlur(img, (9, 9), 3))
    assert sharpness(np.zeros((0, 0), np.uint8)) == 0.0


def test_weak_and_crowded_boxes_leave_the_tracklet_not_the_track():
    """Two tracks that meet: the frames where their boxes overlap by IoU >= max_overlap give no crop to
    either (a crop there shows both people); a box below min_score gives none; both are counted."""
    cfg = FilterConfig(min_length=2, min_score=0.3, max_overlap=0.3)
    frames = np.arange(6)
    a = np.array([[100 + 10 * f, 50, 20, 60] for f in frames], float)
    b = np.array([[200 - 10 * f, 50, 20, 60] for f in frames], float)  # meets a at frame 5
    # IoU of a and b per frame, by hand: |x_a - x_b| = 100 - 20 f; overlap width 20 - |dx| when |dx| < 20
    inter = np.clip(20 - np.abs(100 - 20 * frames), 0, None) * 60
    iou = inter / (2 * 20 * 60 - inter)
    assert iou.tolist() == [0, 0, 0, 0, 0, 1.0]  # only frame 5 (both at x 150) overlaps
    frames_b = frames.copy()
    frames_b[5] = 99  # b's last box is in another frame: nothing overlaps any more
    scores = np.array([0.9, 0.9, 0.2, 0.9, 0.9, 0.9])
    keep, counts = apply_filters([a, b], [None, None], (640, 360), cfg, [frames, frames], [scores, np.ones(6)])
    assert keep[0].tolist() == [0, 1, 3, 4] and keep[1].tolist() == [0, 1, 2, 3, 4]
    assert counts["boxes_score"] == 1 and counts["boxes_crowded"] == 2
    keep, counts = apply_filters([a, b], [None, None], (640, 360), cfg, [frames, frames_b], [np.ones(6), np.ones(6)])
    assert keep[0].tolist() == list(range(6)) and counts["boxes_crowded"] == 0
    # max_overlap 1 switches the crowding filter off
    keep, _ = apply_filters([a, b], [None, None], (640, 360), FilterConfig(min_length=2, max_overlap=1.0), [frames, frames])
    assert keep[0].tolist() == list(range(6))
