"""``hog``: a sliding-window HOG + linear SVM people detector (Dalal & Triggs), no weights file.

OpenCV's built-in people detector (``HOGDescriptor_getDefaultPeopleDetector``)
would be the obvious choice, but OpenCV 5, which this project installs, moved
``HOGDescriptor`` out of its main package (to opencv-contrib's
``xobjdetect``).  So the features are computed by :mod:`lsvid.detect.hogfeat`
with OpenCV's parameters and descriptor order, and the classifier is a
linear SVM that ships with lsvid (:mod:`lsvid.detect.hog_people`, trained by
:mod:`lsvid.detect.hog_train` on synthetic footage).  ``svm=PATH`` loads any
other vector of 3,780 weights plus a bias in OpenCV's layout instead, e.g.
``np.save(PATH, cv2.HOGDescriptor_getDefaultPeopleDetector())`` saved on
OpenCV 4 (the layout follows OpenCV's definition; it could not be checked
against OpenCV itself here).

A 64x128 window holds a person 96 pixels tall, and people in 640x360
footage are 45 to 185 pixels, so the frame is first enlarged ``upscale``
times (1.6 finds people from about 55 pixels; 2.0 from 48, at 1.5 times the
cost and, on our footage, more false boxes), then scanned at every level of
a pyramid shrinking by ``scale_step`` until the window's person is taller
than ``max_height``.  Windows scoring above ``threshold`` become person
boxes (the window's central 40x96 pixels, mapped back to the frame), merged
by non-maximum suppression across all levels.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from . import register_detector
from .base import Detector, DetectorError, check_frames
from .boxes import detections, nms
from .hogfeat import CELL, DESCRIPTOR_LEN, WIN_H, WIN_W, block_features, window_scores

#: Where the person sits in a window (pixels at the level's scale): INRIA's margins, 96 px tall.
PERSON_X, PERSON_Y, PERSON_W, PERSON_H = 12, 16, 40, 96


def load_svm(svm: str | os.PathLike | None = None) -> tuple[np.ndarray, float]:
    """``(weights (3780,), bias)``: lsvid's bundled people SVM, or a ``.npy``/text file of 3,780
    weights and optionally the bias last (OpenCV's ``svmDetector`` layout)."""
    if svm is None:
        from .hog_people import people_svm

        v = people_svm()
    else:
        path = Path(svm)
        if not path.exists():
            raise DetectorError(f"hog: svm file {path} does not exist; expected a .npy (or text) vector of "
                                f"{DESCRIPTOR_LEN} weights and optionally a bias, or leave svm unset for the bundled one")
        try:
            v = np.load(path) if path.suffix == ".npy" else np.loadtxt(path)
        except (ValueError, OSError) as e:
            raise DetectorError(f"hog: {path} is not a readable numpy vector ({e})") from e
    v = np.asarray(v, dtype=np.float32).reshape(-1)
    if len(v) not in (DESCRIPTOR_LEN, DESCRIPTOR_LEN + 1):
        raise DetectorError(f"hog: SVM vector of {len(v)} numbers ({svm or 'bundled'}); expected {DESCRIPTOR_LEN} weights "
                            f"or {DESCRIPTOR_LEN + 1} with the bias last")
    return v[:DESCRIPTOR_LEN].copy(), float(v[DESCRIPTOR_LEN]) if len(v) > DESCRIPTOR_LEN else 0.0


def pyramid(frame: np.ndarray, upscale: float, scale_step: float, max_height: float) -> Iterator[tuple[float, np.ndarray]]:
    """``(scale, blocks)`` of each pyramid level: HOG blocks of the frame resized by ``scale``, from
    ``upscale`` down by ``scale_step`` while a window still fits and its person is at most ``max_height`` px."""
    h, w = frame.shape[:2]
    scale = upscale
    while PERSON_H / scale <= max_height:
        size = (int(round(w * scale)), int(round(h * scale)))
        if size[0] < WIN_W or size[1] < WIN_H:
            break
        interp = cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA
        level = frame if size == (w, h) else cv2.resize(frame, size, interpolation=interp)
        yield scale, block_features(level)
        scale /= scale_step


def window_boxes(rows: np.ndarray, cols: np.ndarray, scale: float) -> np.ndarray:
    """Frame-coordinate person boxes ``(N, 4)`` of windows at block ``(rows, cols)`` of a level."""
    x = (cols * CELL + PERSON_X) / scale
    y = (rows * CELL + PERSON_Y) / scale
    return np.stack([x, y, np.full_like(x, PERSON_W / scale), np.full_like(y, PERSON_H / scale)], axis=1)


@register_detector("hog")
class HogDetector(Detector):
    """Sliding-window HOG + linear SVM over an image pyramid; needs no weights file.

    Options: ``upscale`` (first pyramid level, times the frame: finds people
    down to 96/upscale px tall), ``scale_step`` (ratio between levels; finer
    is slower and finds more), ``max_height`` (largest person looked for, px),
    ``threshold`` (SVM score a window needs), ``nms_iou`` (overlap at which a
    weaker box is suppressed), ``svm`` (a file of 3,780 weights [+ bias] in
    OpenCV's layout; default: lsvid's bundled people SVM).  The score is the
    SVM margin.
    """

    batch_size = 1

    def __init__(self, *, upscale: float = 1.6, scale_step: float = 1.1, max_height: float = 200.0,
                 threshold: float = 0.7, nms_iou: float = 0.3, svm: str | None = None):
        if float(upscale) <= 0 or float(scale_step) <= 1.0 or float(max_height) <= 0:
            raise DetectorError(f"hog: upscale={upscale}, scale_step={scale_step}, max_height={max_height}; "
                                "expected upscale > 0, scale_step > 1, max_height > 0")
        if not 0 < float(nms_iou) <= 1:
            raise DetectorError(f"hog: nms_iou={nms_iou}; expected an overlap in (0, 1]")
        self.upscale, self.scale_step, self.max_height = float(upscale), float(scale_step), float(max_height)
        self.threshold, self.nms_iou = float(threshold), float(nms_iou)
        self.weights, self.bias = load_svm(svm)

    def candidates(self, frame: np.ndarray, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray, list]:
        """Every window scoring above ``threshold`` (default: the detector's), before suppression:
        person boxes ``(N, 4)``, scores, and ``(scale, blocks, rows, cols)`` per level (for training)."""
        thr = self.threshold if threshold is None else threshold
        boxes, scores, levels = [], [], []
        for scale, blocks in pyramid(frame, self.upscale, self.scale_step, self.max_height):
            s = window_scores(blocks, self.weights) + self.bias
            rows, cols = np.nonzero(s > thr)
            boxes.append(window_boxes(rows, cols, scale))
            scores.append(s[rows, cols])
            levels.append((scale, blocks, rows, cols))
        if not boxes:
            return np.zeros((0, 4)), np.zeros(0), levels
        return np.concatenate(boxes), np.concatenate(scores), levels

    def detect(self, frames: Sequence[np.ndarray], indices: Sequence[int]) -> list[np.ndarray]:
        width, height = check_frames(frames, indices, "hog")
        out = []
        for frame in frames:
            boxes, scores, _ = self.candidates(frame)
            keep = nms(boxes, scores, self.nms_iou)
            out.append(detections(boxes[keep], scores[keep], width, height))
        return out
