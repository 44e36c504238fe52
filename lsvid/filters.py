"""Tracklet filters: drop boxes no ReID model should learn from, then tracklets too short to use.

Box filters (each box of a tracklet is tested; a failing box is removed):
minimum height, aspect-ratio range (height / width), boxes cut by the frame
border, and blur (variance of the Laplacian of the crop, a standard sharpness
measure).  Then the tracklet filter: fewer than ``min_length`` boxes left
(default 16, the clip length GLTR trains on) drops the tracklet.  Every
filter counts what it dropped, so a curation run reports why data vanished.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from lsvid_core.config import at_least, check, positive


@dataclass
class FilterConfig:
    min_length: int = 16  # boxes per tracklet after the box filters
    min_height: float = 40.0  # pixels
    min_aspect: float = 1.2  # height / width
    max_aspect: float = 5.0
    border_margin: float = 2.0  # a box closer than this to the frame edge is cut by it; negative disables
    min_sharpness: float = 0.0  # variance of the Laplacian of the grey crop; 0 disables

    def __post_init__(self) -> None:
        at_least(self, ("min_length",), 1)
        at_least(self, ("min_height", "min_sharpness"), 0)
        positive(self, ("min_aspect",))
        check(self.max_aspect >= self.min_aspect, "max_aspect", f"must be at least min_aspect ({self.min_aspect}), got {self.max_aspect}")

    def to_dict(self) -> dict:
        return asdict(self)


def sharpness(gray_crop: np.ndarray) -> float:
    """Variance of the Laplacian: low for blurred crops (Pech-Pacheco et al., 2000)."""
    if gray_crop.size == 0:
        return 0.0
    return float(cv2.Laplacian(gray_crop, cv2.CV_64F).var())


def box_filter_masks(boxes: np.ndarray, sharp: np.ndarray | None, frame_size: tuple[int, int], cfg: FilterConfig) -> dict[str, np.ndarray]:
    """One boolean 'fails' mask per box filter, for (N, >=4) ``x, y, w, h`` boxes."""
    w_img, h_img = frame_size
    b = np.asarray(boxes, dtype=np.float64)
    x, y, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    aspect = h / np.maximum(w, 1e-6)
    m = cfg.border_margin
    out = {
        "height": h < cfg.min_height,
        "aspect": (aspect < cfg.min_aspect) | (aspect > cfg.max_aspect),
        "border": (x < m) | (y < m) | (x + w > w_img - m) | (y + h > h_img - m) if m >= 0 else np.zeros(len(b), bool),
        "blur": (np.asarray(sharp) < cfg.min_sharpness) if (cfg.min_sharpness > 0 and sharp is not None) else np.zeros(len(b), bool),
    }
    return out


def apply_filters(
    track_boxes: list[np.ndarray],
    track_sharp: list[np.ndarray | None],
    frame_size: tuple[int, int],
    cfg: FilterConfig,
) -> tuple[list[np.ndarray], Counter]:
    """Per tracklet, the indices of the boxes kept (empty when the tracklet is dropped), and drop counts.

    A box failing several filters is counted under the first that fails, in
    the order height, aspect, border, blur.
    """
    counts: Counter = Counter()
    keep_idx = []
    for boxes, sharp in zip(track_boxes, track_sharp):
        masks = box_filter_masks(boxes, sharp, frame_size, cfg)
        failed = np.zeros(len(boxes), bool)
        for name, m in masks.items():
            counts[f"boxes_{name}"] += int((m & ~failed).sum())
            failed |= m
        kept = np.flatnonzero(~failed)
        if len(kept) < cfg.min_length:
            counts["tracklets_too_short"] += 1
            counts["boxes_in_short_tracklets"] += int(len(kept))
            kept = kept[:0]
        keep_idx.append(kept)
    counts["tracklets_kept"] += sum(1 for k in keep_idx if len(k))
    return keep_idx, counts
