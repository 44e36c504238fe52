"""The detectors' shared box helpers: the output format and non-maximum suppression.

Boxes are ``x, y, w, h`` (0-based top-left pixel and size), the convention of
:mod:`lsvid.boxes`, MOT files and ``lsvid.synth``.
"""
from __future__ import annotations

import cv2
import numpy as np

EMPTY = np.zeros((0, 5), np.float32)


def detections(xywh: np.ndarray, scores: np.ndarray, width: int, height: int, *, min_size: float = 1.0) -> np.ndarray:
    """Boxes clipped to a ``width`` x ``height`` frame, as the ``(N, 5)`` float32 ``x, y, w, h, score``
    rows every detector returns; boxes left thinner or shorter than ``min_size`` pixels are dropped."""
    b = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    if not len(b):
        return EMPTY.copy()
    x0 = np.clip(b[:, 0], 0, width)
    y0 = np.clip(b[:, 1], 0, height)
    x1 = np.clip(b[:, 0] + b[:, 2], 0, width)
    y1 = np.clip(b[:, 1] + b[:, 3], 0, height)
    out = np.stack([x0, y0, x1 - x0, y1 - y0, np.asarray(scores, dtype=np.float64).reshape(-1)], axis=1).astype(np.float32)
    return out[(out[:, 2] >= min_size) & (out[:, 3] >= min_size)]


def nms(xywh: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first (OpenCV's NMSBoxes)."""
    b = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    if not len(b):
        return np.zeros(0, np.int64)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    # NMSBoxes only takes scores >= 0 (it thresholds first); only their order matters here.
    shifted = (s - s.min() + 1.0).astype(np.float32)
    keep = cv2.dnn.NMSBoxes(b, shifted, 0.0, float(iou_threshold))
    return np.asarray(keep, dtype=np.int64).reshape(-1)
