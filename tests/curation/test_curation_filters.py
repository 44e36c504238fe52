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
