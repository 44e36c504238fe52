"""Helpers of the detection tests: run a detector over a video, score it against MOT truth."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lsvid.footage import VideoSource, read_frames
from lsvid.mot import read_mot, write_mot

#: The footage of the quality tests: a seed none of the detectors was tuned or trained on.
FOOTAGE_SEED = 31


def detect_video(det, video: VideoSource, *, step: int = 1) -> pd.DataFrame:
    """All boxes of every ``step``-th frame of ``video`` (``frame`` 0-based, ``x, y, w, h, score``),
    fed to the detector in groups of its ``batch_size`` as the pipeline does."""
    det.start_video(video)
    rows: list[tuple] = []
    frames, idx = [], []

    def flush() -> None:
        for i, d in zip(idx, det.detect(frames, idx)):
            rows.extend((i, *r) for r in d.tolist())
        frames.clear()
        idx.clear()

    for i, img in read_frames(video, step=step):
        frames.append(img)
        idx.append(i)
        if len(frames) >= det.batch_size:
            flush()
    if frames:
        flush()
    return pd.DataFrame(rows, columns=["frame", "x", "y", "w", "h", "score"])


def recall_precision(videos: list[VideoSource], dets: list[pd.DataFrame], tmp: Path, *, step: int = 1,
                     min_visibility: float = 0.5) -> tuple[float, float]:
    """Detection recall and precision at IoU >= 0.5 over ``videos``, scored by the pipeline's own
    ``lsvid.quality`` (truth less than ``min_visibility`` visible is "don't care"), on the frames run."""
    from lsvid.quality import video_quality

    tp = fp = fn = 0
    no_tracks = pd.DataFrame(columns=["track_id", "frame", "x", "y", "w", "h"])
    for k, (v, d) in enumerate(zip(videos, dets)):
        gt = read_mot(v.truth)
        truth = write_mot(gt[(gt["frame"] - 1) % step == 0], tmp / f"truth_{k}.txt")
        q = video_quality(truth, d, no_tracks, min_visibility=min_visibility)["detection"]
        tp, fp, fn = tp + q["tp"], fp + q["fp"], fn + q["fn"]
    return tp / max(tp + fn, 1), tp / max(tp + fp, 1)


def assert_well_formed(boxes: list[np.ndarray], n: int, width: int, height: int) -> None:
    """One float32 ``(N, 5)`` array per frame, boxes inside the frame with positive size."""
    assert isinstance(boxes, list) and len(boxes) == n
    for b in boxes:
        assert isinstance(b, np.ndarray) and b.dtype == np.float32 and b.ndim == 2 and b.shape[1] == 5
        x, y, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
        assert (w > 0).all() and (h > 0).all()
        assert (x >= 0).all() and (y >= 0).all() and (x + w <= width + 1e-3).all() and (y + h <= height + 1e-3).all()
        assert np.isfinite(b).all()


def isolated_walkers(truth: pd.DataFrame, *, min_visibility: float = 0.5, min_speed: float = 0.5) -> pd.DataFrame:
    """Truth rows of people walking (box centre moving at least ``min_speed`` px/frame, over +-5
    frames) whom nobody else overlaps, even partly, in the columns of the frame."""
    t = truth.sort_values(["id", "frame"]).copy()
    cx = t["bb_left"] + t["bb_width"] / 2
    g = cx.groupby(t["id"])
    fr = t.groupby("id")["frame"]
    speed = ((g.shift(-5) - g.shift(5)).abs() / (fr.shift(-5) - fr.shift(5))).fillna(0.0)
    lo, hi = t["bb_left"].to_numpy(), (t["bb_left"] + t["bb_width"]).to_numpy()
    alone = np.ones(len(t), bool)
    for _, rows in t.groupby("frame").indices.items():
        if len(rows) > 1:
            ov = (np.minimum(hi[rows, None], hi[None, rows]) > np.maximum(lo[rows, None], lo[None, rows]))
            alone[rows] = ov.sum(axis=1) == 1
    keep = alone & (speed.to_numpy() >= min_speed) & (t["visibility"].to_numpy() >= min_visibility)
    return t[keep]


def walker_recall(videos: list[VideoSource], dets: list[pd.DataFrame], *, step: int = 1) -> float:
    """Share of :func:`isolated_walkers` boxes (on the frames run) that a detection covers at IoU >= 0.5."""
    from lsvid.boxes import iou_matrix

    found = total = 0
    for v, d in zip(videos, dets):
        w = isolated_walkers(read_mot(v.truth))
        w = w[(w["frame"] - 1) % step == 0]
        by_frame = {f: g[["x", "y", "w", "h"]].to_numpy(float) for f, g in d.groupby("frame")}
        for f, g in w.groupby("frame"):
            boxes = by_frame.get(f - 1, np.zeros((0, 4)))
            total += len(g)
            if len(boxes):
                found += int((iou_matrix(g[["bb_left", "bb_top", "bb_width", "bb_height"]].to_numpy(float), boxes).max(axis=1) >= 0.5).sum())
    return found / max(total, 1)
