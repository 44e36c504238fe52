"""The detector registry: names, options, errors, plug-ins; and the box helpers."""
from __future__ import annotations

import numpy as np
import pytest

from lsvid.detect import Detector, DetectorError, create_detector, get_detector, list_detectors, register_detector
from lsvid.detect.boxes import detections, nms


def test_builtins_are_listed():
    assert {"yolo", "hog", "motion", "truth"} <= set(list_detectors())


def test_unknown_detector_names_the_registered_ones():
    with pytest.raises(DetectorError, match=r"unknown detector 'nope'.*hog.*motion.*truth.*yolo"):
        create_detector("nope")


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(DetectorError, match=r"detector 'motion' has no option 'colour'.*var_threshold"):
        create_detector("motion", colour=3)


def test_bad_option_value_is_a_clear_error():
    with pytest.raises(DetectorError, match="method='fancy'"):
        create_detector("motion", method="fancy")
    with pytest.raises(DetectorError, match="scale_step"):
        create_detector("hog", scale_step=1.0)


def test_created_detector_records_name_and_all_options():
    det = create_detector("truth", min_visibility=0.4)
    assert det.name == "truth" and isinstance(det, Detector)
    assert det.describe() == {"name": "truth", "options": {"min_visibility": 0.4, "visibility_score": True}}


class _Fixed(Detector):
    def __init__(self, *, size: float = 10.0):
        self.size = size

    def detect(self, frames, indices):
        return [detections([[1, 2, self.size, self.size]], [1.0], f.shape[1], f.shape[0]) for f in frames]


def test_plugin_detector_registers_and_duplicates_are_an_error():
    register_detector("test_fixed")(_Fixed)
    det = create_detector("test_fixed", size=5.0)
    out = det.detect([np.zeros((20, 30, 3), np.uint8)], [0])
    assert out[0].tolist() == [[1, 2, 5, 5, 1]]
    register_detector("test_fixed")(_Fixed)  # the same factory again is harmless (re-imports)

    def other(**options):
        return _Fixed(**options)

    with pytest.raises(DetectorError, match=r"registered twice: by .*_Fixed.* and by .*other"):
        register_detector("test_fixed")(other)
    assert get_detector("test_fixed").factory is _Fixed


def test_detections_clip_to_the_frame_and_drop_empty_boxes():
    out = detections([[-5, -5, 20, 20], [90, 40, 30, 30], [200, 10, 5, 5]], [0.9, 0.8, 0.7], 100, 50)
    assert out.dtype == np.float32
    assert np.allclose(out, [[0, 0, 15, 15, 0.9], [90, 40, 10, 10, 0.8]])
    assert detections(np.zeros((0, 4)), np.zeros(0), 10, 10).shape == (0, 5)


def test_nms_keeps_the_best_of_overlapping_boxes_whatever_the_sign_of_the_scores():
    boxes = np.array([[0, 0, 10, 20], [1, 1, 10, 20], [50, 50, 10, 10]], float)
    assert nms(boxes, np.array([-0.5, -0.2, -3.0]), 0.5).tolist() == [1, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)
