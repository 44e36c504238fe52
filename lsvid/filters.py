"""Tracklet filters: drop boxes no ReID model should learn from, then tracklets too short to use.

Box filters (each box of a tracklet is tested; a failing box is removed):
minimum height, aspect-ratio range (height / width), boxes cut by the frame
border, blur (variance of the Laplacian of the crop, a standard sharpness
measure), a weak detector score (below ``min_score``: mostly people half
hidden, or two people in one box), and crowding: a box overlapping another track's box in the same
frame by ``max_overlap`` (IoU) or more shows two people, and it is where a
tracker may briefly follow the wrong one, so it is no tracklet's crop (the
track keeps it; only the dataset leaves it out).  Then the tracklet filter: fewer than ``min_length`` boxes left
(default 16, the clip length GLTR trains on) drops the tracklet.  Last,
:func:`cut_mixed` cuts a kept tracklet where its appearance changes (a
tracker that followed the wrong person for a while; :mod:`lsvid.change_points`)
and drops the pieces shorter than ``min_length``.  Every filter counts what
it dropped, so a curation run reports why data vanished.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from lsvid.boxes import iou_matrix
from lsvid.change_points import cut_where_look_changes, look_scale
from lsvid_core.config import at_least, check, positive


@dataclass
class FilterConfig:
    min_length: int = 16  # boxes per tracklet after the box filters
    min_height: float = 40.0  # pixels
    min_aspect: float = 1.2  # height / width
    max_aspect: float = 5.0
    border_margin: float = 2.0  # a box closer than this to the frame edge is cut by it; negative disables
    min_sharpness: float = 0.0  # variance of the Laplacian of the grey crop; 0 disables
    min_score: float = 0.3  # detector score a box needs, on the 0-1 scale of the tracker's high_score (weak boxes: half hidden or merged people)
    max_overlap: float = 0.3  # IoU with another track's box in the same frame beyond which a box is dropped; 1 disables
    cut_ratio: float = 1.5  # cut a tracklet where its look changes this many times its jitter (lsvid.change_points); 0 disables
    cut_share: float = 0.4  # ... and by this share of the median look distance between the video's tracklets
    cut_min_side: int = 6  # boxes each side of a cut needs at least

    def __post_init__(self) -> None:
        at_least(self, ("min_length", "cut_min_side"), 1)
        at_least(self, ("min_height", "min_sharpness", "min_score", "cut_ratio", "cut_share"), 0)
        check(0 < self.max_overlap <= 1, "max_overlap", f"must be in (0, 1], got {self.max_overlap}")
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



def crowded(track_frames: list[np.ndarray], track_boxes: list[np.ndarray], max_overlap: float) -> list[np.ndarray]:
    """Per track, per box: does it overlap another track's box of the same frame by ``max_overlap`` (IoU)?"""
    out = [np.zeros(len(f), bool) for f in track_frames]
    if max_overlap >= 1 or len(track_frames) < 2:
        return out
    owner = np.concatenate([np.full(len(f), i) for i, f in enumerate(track_frames)])
    row = np.concatenate([np.arange(len(f)) for f in track_frames])
    frames = np.concatenate(track_frames)
    boxes = np.concatenate([np.asarray(b, np.float64)[:, :4].reshape(-1, 4) for b in track_boxes])
    order = np.argsort(frames, kind="stable")
    for idx in np.split(order, np.flatnonzero(np.diff(frames[order])) + 1):
        if len(idx) < 2:
            continue
        iou = iou_matrix(boxes[idx], boxes[idx])
        np.fill_diagonal(iou, 0.0)
        for k in np.flatnonzero(iou.max(1) >= max_overlap):
            out[owner[idx[k]]][row[idx[k]]] = True
    return out


def apply_filters(
    track_boxes: list[np.ndarray],
    track_sharp: list[np.ndarray | None],
    frame_size: tuple[int, int],
    cfg: FilterConfig,
    track_frames: list[np.ndarray] | None = None,
    track_scores: list[np.ndarray] | None = None,
) -> tuple[list[np.ndarray], Counter]:
    """Per tracklet, the indices of the boxes kept (empty when the tracklet is dropped), and drop counts.

    A box failing several filters is counted under the first that fails, in
    the order height, aspect, border, blur, score, crowded (the last two
    need ``track_scores`` and ``track_frames``: each track's detector scores
    and frame indices).
    """
    counts: Counter = Counter()
    keep_idx = []
    crowd = crowded(track_frames, track_boxes, cfg.max_overlap) if track_frames is not None else [None] * len(track_boxes)
    scores = track_scores if track_scores is not None else [None] * len(track_boxes)
    for boxes, sharp, score, busy in zip(track_boxes, track_sharp, scores, crowd):
        masks = box_filter_masks(boxes, sharp, frame_size, cfg)
        if score is not None:
            masks["score"] = np.asarray(score) < cfg.min_score
        if busy is not None:
            masks["crowded"] = busy
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


def cut_mixed(keep: list[np.ndarray], track_feats: list[np.ndarray], cfg: FilterConfig,
              counts: Counter) -> list[tuple[int, np.ndarray]]:
    """``(track, kept box indices)`` per piece of one look (:func:`lsvid.change_points.cut_where_look_changes`
    on each track's kept boxes), pieces shorter than ``min_length`` dropped; ``counts`` gets
    ``tracklets_cut`` (cuts made), ``boxes_in_short_pieces`` and the new ``tracklets_kept``.

    The distance a cut needs is ``cut_share`` of the median distance between the mean looks of the
    kept tracklets of the video (:func:`lsvid.change_points.look_scale`; with fewer than two, the
    ratio test alone decides)."""
    feats = [np.asarray(f)[k] for f, k in zip(track_feats, keep)]
    means = np.array([f.mean(axis=0) for f in feats if len(f)])
    floor = cfg.cut_share * look_scale(means)
    out = []
    for t, (k, f) in enumerate(zip(keep, feats)):
        if not len(k):
            continue
        pieces = cut_where_look_changes(f, cfg.cut_ratio, cfg.cut_min_side, floor)
        counts["tracklets_cut"] += len(pieces) - 1
        for p in pieces:
            if len(p) >= cfg.min_length:
                out.append((t, k[p]))
            else:
                counts["boxes_in_short_pieces"] += int(len(p))
    counts["tracklets_kept"] = len(out)
    return out
