"""``motion``: people as moving blobs in front of a static camera's learnt background.

Per frame: OpenCV's background subtractor (MOG2 or KNN) on a downscaled copy,
shadows (marked by the subtractor) dropped, morphology to remove speckle and
rejoin limbs.  Then one of two ways from foreground to people:

* **with the camera geometry** (footage whose camera is known: ``lsvid synth``
  writes it into ``footage.json``, a calibrated camera can be described by a
  file of that shape, see :mod:`lsvid.detect.geometry`): a person whose feet
  are at row ``v`` is ``h (v - horizon) / camera height`` pixels tall, so the
  mask is explained by person-sized boxes fitted greedily
  (:func:`~lsvid.detect.geometry.fit_people`): merged groups split into as
  many people as their shape holds (side by side, and one behind another with
  the head above), blobs of the wrong size where they stand dropped, and an
  end hidden by an occluder put where the geometry says.  ``geometry="auto"``
  (the default) uses the ``footage.json`` of the footage folder when there is
  one listing the camera;
* **without it** (real footage of unknown geometry): connected components,
  vectorised size/shape filters, and blobs wider than a person of their height
  cut into person-wide parts.

The background model belongs to one video: :meth:`MotionDetector.start_video`
builds a fresh one and primes it with the median of frames spread over the
video, so that people on screen in the first frame are not learnt as
background (they would leave "ghost" boxes behind when they walk off), then
learns slowly (``learning_rate`` per frame it is given, so per sampled frame
when the pipeline skips frames).

Measured with ``lsvid curate F --out DS --evaluate`` (geometry from footage.json;
before -> after, before being ``--detector-option geometry='"off"'``, the blob
rules; "truth det.": IDF1 / purity with ``--detector truth``).  Footage from
``lsvid synth --out F --seed S`` with ``--cameras 2 --identities 10 --seconds 10``
(seed 105) and ``--cameras 3 --identities 12 --seconds 10`` (106), never used
while tuning; the tuning footage, ``--cameras 4 --identities 27 --seconds 30``
(103, 104: the demo's density) and ``--cameras 3 --identities 24 --seconds 12``
(101, 102: denser):

============  ============  ============  ============  ============  ============  ============
footage       recall        precision     IDF1          purity        junk (q+g)    truth det.
============  ============  ============  ============  ============  ============  ============
seed 105      0.62 -> 0.83  0.77 -> 0.91  0.54 -> 0.83  0.80 -> 0.93  0.17 -> 0.00  0.98 / 1.00
seed 106      0.68 -> 0.81  0.71 -> 0.86  0.62 -> 0.72  0.78 -> 0.83  0.22 -> 0.13  0.96 / 1.00
seed 103      0.79 -> 0.89  0.91 -> 0.96  0.63 -> 0.67  0.82 -> 0.81  0.10 -> 0.03  0.93 / 0.98
seed 104      0.70 -> 0.86  0.82 -> 0.95  0.58 -> 0.65  0.73 -> 0.82  0.30 -> 0.15  0.89 / 0.96
seed 101      0.65 -> 0.82  0.79 -> 0.92  0.54 -> 0.70  0.69 -> 0.83  0.21 -> 0.10  0.94 / 0.99
seed 102      0.52 -> 0.74  0.68 -> 0.84  0.37 -> 0.63  0.63 -> 0.74  0.44 -> 0.11  0.95 / 0.98
============  ============  ============  ============  ============  ============  ============

Tracking, not detection, now loses most of the identity quality (the truth
detector's column).  Detector alone, 640x360, 2 shared cores: about 155-160
frames/s with the geometry, 400-540 without.

What it cannot do: a person standing still for most of the video is part of
the median, hence background (missed, and a ghost box where they stood once
they leave); without the geometry, people overlapping in the picture are one
blob, cut into person-wide parts only when it is wider than one person; with
it, tight groups of three or more still lose people or misplace boxes.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from lsvid.footage import FootageError, VideoSource

from . import register_detector
from .base import Detector, DetectorError, check_frames
from .boxes import detections
from .geometry import FitParams, GroundGeometry, find_geometry, fit_people

_SHADOW_CUT = 200  # MOG2/KNN mark shadows 127 and foreground 255


def median_background(video: VideoSource, count: int) -> np.ndarray | None:
    """Per-pixel median of ``count`` frames spread evenly over the video (``None`` if none decode).

    Walkers cover any one pixel in few of the frames, so the median is the
    empty scene.  Frames are reached by seeking; an inexact seek only changes
    which frames are sampled.
    """
    cap = cv2.VideoCapture(str(video.path))
    if not cap.isOpened():
        raise FootageError(f"{video.path}: OpenCV cannot open this video (corrupt, or a codec it lacks)")
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        picks = np.unique(np.linspace(0, max(n - 1, 0), num=max(1, count)).round().astype(int))
        frames = []
        for p in picks:
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(p))
            ok, img = cap.read()
            if ok and img is not None:
                frames.append(img)
    finally:
        cap.release()
    if not frames:
        return None
    return np.median(np.stack(frames), axis=0).astype(np.uint8)


@register_detector("motion")
class MotionDetector(Detector):
    """Moving people on static cameras by background subtraction; no weights.

    Options: ``method`` (``mog2`` or ``knn``); ``var_threshold`` (MOG2: squared
    Mahalanobis distance from the background that makes a pixel foreground;
    KNN: that times 25, a squared colour distance); ``learning_rate`` (share
    of each frame blended into the background: 0.001 absorbs a person
    standing still after about 100 frames); ``prime_frames`` (frames whose
    median primes the background; 0: start from the first frame, learning
    fast at first as OpenCV does); ``downscale`` (work on frames this many
    times smaller: faster, and speckle-proof); ``min_height`` (pixels, full
    frame); ``max_height`` (share of the frame height); ``aspect`` (``(low,
    high)`` width/height of one person); ``min_fill`` (share of the box that
    must be foreground); ``split_wide`` (cut blobs wider than ``aspect[1]``
    into person-wide parts); ``geometry`` (``auto``: the footage folder's
    footage.json when it lists the camera; ``off``; or the path of a file of
    that shape); ``person_height_m`` (a person's box height in metres, for the
    geometry).  Without geometry the score is the foreground share of the box;
    with it, the share of new foreground in the fitted box over 0.8, and
    ``max_height``, ``aspect``, ``min_fill`` and ``split_wide`` do not apply
    (the geometry says how tall and wide a person is).
    """

    batch_size = 1

    def __init__(self, *, method: str = "mog2", var_threshold: float = 8.0, learning_rate: float = 0.001,
                 prime_frames: int = 25, downscale: int = 2, min_height: float = 30.0, max_height: float = 0.9,
                 aspect: Sequence[float] = (0.15, 0.7), min_fill: float = 0.25, split_wide: bool = True,
                 geometry: str = "auto", person_height_m: float = 1.75):
        if method not in ("mog2", "knn"):
            raise DetectorError(f"motion: method={method!r}; expected 'mog2' or 'knn'")
        if int(downscale) < 1 or int(prime_frames) < 0 or not 0 < float(learning_rate) < 1:
            raise DetectorError(f"motion: downscale={downscale}, prime_frames={prime_frames}, learning_rate={learning_rate}; "
                                "expected downscale >= 1, prime_frames >= 0, 0 < learning_rate < 1")
        lo, hi = (float(a) for a in aspect)
        if not 0 < lo < hi:
            raise DetectorError(f"motion: aspect={tuple(aspect)}; expected (low, high) with 0 < low < high (width/height)")
        self.method, self.var_threshold, self.learning_rate = method, float(var_threshold), float(learning_rate)
        self.prime_frames, self.downscale = int(prime_frames), int(downscale)
        self.min_height, self.max_height, self.aspect = float(min_height), float(max_height), (lo, hi)
        self.min_fill, self.split_wide = float(min_fill), bool(split_wide)
        if not isinstance(geometry, str) or not 0.5 < float(person_height_m) < 2.5:
            raise DetectorError(f"motion: geometry={geometry!r}, person_height_m={person_height_m}; expected 'auto', 'off' "
                                "or a footage.json-shaped file, and a height in metres")
        self.geometry, self.person_height_m = geometry, float(person_height_m)
        self._geo: GroundGeometry | None = None  # this video's camera, full-frame pixels
        self._geo_work: GroundGeometry | None = None  # the same at the mask's scale, once the frame size is known
        self._bg: cv2.BackgroundSubtractor | None = None
        self._rate = self.learning_rate
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        # Taller than wide: rejoins a head or legs cut off by a thin occluder or a colour close to the background.
        self._close = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 7))

    def start_video(self, video: VideoSource) -> None:
        self._geo = find_geometry(video, self.geometry, person_height_m=self.person_height_m)
        self._geo_work = None
        # OpenCV's automatic rate is 1/min(frames seen, history): fast at first, then this rate.
        history = max(1, round(1.0 / self.learning_rate))
        if self.method == "knn":
            self._bg = cv2.createBackgroundSubtractorKNN(history=history, dist2Threshold=self.var_threshold * 25, detectShadows=True)
        else:
            self._bg = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=self.var_threshold, detectShadows=True)
        plate = median_background(video, self.prime_frames) if self.prime_frames else None
        if plate is None:
            self._rate = -1.0  # no clean plate: let the model learn fast from the first frames
            return
        self._rate = self.learning_rate
        small = self._small(plate)
        if self.method == "knn":
            for _ in range(10):  # KNN keeps samples per pixel and wants several that agree
                self._bg.apply(small)
        else:
            self._bg.apply(small, learningRate=1.0)  # MOG2: the plate becomes the whole model at once

    def _small(self, frame: np.ndarray) -> np.ndarray:
        if self.downscale == 1:
            return frame
        h, w = frame.shape[:2]
        return cv2.resize(frame, (w // self.downscale, h // self.downscale), interpolation=cv2.INTER_AREA)

    def foreground(self, frame: np.ndarray) -> np.ndarray:
        """The cleaned foreground mask of ``frame`` at working (downscaled) size; updates the model."""
        raw = self._bg.apply(self._small(frame), learningRate=self._rate)
        _, mask = cv2.threshold(raw, _SHADOW_CUT, 255, cv2.THRESH_BINARY)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)

    def boxes(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes ``(N, 4)`` (working scale) and scores of a foreground mask."""
        if self._geo_work is not None:
            return fit_people(mask, self._geo_work, FitParams(min_height=self.min_height / self.downscale))
        _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        x, y, w, h, area = stats[1:].astype(np.float64).T  # row 0 is the background
        keep = (h * self.downscale >= self.min_height) & (h <= self.max_height * mask.shape[0])
        keep &= (w >= self.aspect[0] * h) & (area >= self.min_fill * w * h)
        wide = keep & (w > self.aspect[1] * h)
        one = keep & ~wide
        xywh = [np.stack([x[one], y[one], w[one], h[one]], axis=1)]
        score = [area[one] / (w[one] * h[one])]
        if self.split_wide:
            for j in np.flatnonzero(wide):  # rare: only blobs wider than one person
                x0, y0, x1, y1 = int(x[j]), int(y[j]), int(x[j] + w[j]), int(y[j] + h[j])
                b, s = self._split(labels[y0:y1, x0:x1] == j + 1)
                xywh.append(b + [x0, y0, 0, 0])
                score.append(s)
        return np.concatenate(xywh), np.concatenate(score)

    def _split(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A blob k person-widths wide as k people side by side: cut at the emptiest columns near
        each k-th of its width, each part's box fitted to its own foreground."""
        h, w = blob.shape
        k = max(2, int(round(w / (0.5 * (self.aspect[0] + self.aspect[1]) * h))))
        profile = blob.sum(axis=0)
        half = max(1, w // (4 * k))
        cuts = [0]
        for c in range(1, k):
            t = c * w // k
            cuts.append(t - half + int(np.argmin(profile[t - half:t + half + 1])))
        cuts.append(w)
        boxes, scores = [], []
        for a, b in zip(cuts[:-1], cuts[1:]):
            rows = np.flatnonzero(blob[:, a:b].any(axis=1))
            if b > a and len(rows) and (rows[-1] + 1 - rows[0]) * self.downscale >= self.min_height:
                y0, y1 = rows[0], rows[-1] + 1
                boxes.append((a, y0, b - a, y1 - y0))
                scores.append(blob[y0:y1, a:b].mean())
        return np.array(boxes, np.float64).reshape(-1, 4), np.array(scores, np.float64)

    def detect(self, frames: Sequence[np.ndarray], indices: Sequence[int]) -> list[np.ndarray]:
        if self._bg is None:
            raise DetectorError("motion: detect() before start_video(video); the background model is per video")
        width, height = check_frames(frames, indices, "motion")
        if self._geo is not None and self._geo_work is None and height:
            # Rows scale with the frame (a video resized from the one the geometry describes) and the mask.
            self._geo_work = self._geo.scaled(height / self._geo.frame_height / self.downscale)
        out = []
        for frame in frames:
            xywh, score = self.boxes(self.foreground(frame))
            out.append(detections(xywh * self.downscale, score, width, height))
        return out
