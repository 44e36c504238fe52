"""Box arithmetic shared by detection, tracking and evaluation.

Boxes are ``x, y, w, h``: 0-based pixel column and row of the top-left corner,
width and height (the MOT and ``lsvid.synth`` convention), so
``image[y:y + h, x:x + w]`` is the box.
"""
from __future__ import annotations

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of ``x, y, w, h`` boxes (extra columns ignored)."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))[:, :4]
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))[:, :4]
    ax1, ay1 = a[:, 0:1], a[:, 1:2]
    ax2, ay2 = ax1 + a[:, 2:3], ay1 + a[:, 3:4]
    bx1, by1 = b[:, 0][None], b[:, 1][None]
    bx2, by2 = bx1 + b[:, 2][None], by1 + b[:, 3][None]
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    inter = iw * ih
    union = a[:, 2:3] * a[:, 3:4] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Integer crop windows ``x0, y0, x1, y1`` inside the frame (at least one pixel)."""
    b = np.asarray(boxes, dtype=np.float64)[:, :4]
    x0 = np.clip(np.floor(b[:, 0]), 0, width - 1).astype(np.int64)
    y0 = np.clip(np.floor(b[:, 1]), 0, height - 1).astype(np.int64)
    x1 = np.clip(np.ceil(b[:, 0] + b[:, 2]), x0 + 1, width).astype(np.int64)
    y1 = np.clip(np.ceil(b[:, 1] + b[:, 3]), y0 + 1, height).astype(np.int64)
    return np.stack([x0, y0, x1, y1], axis=1)
