"""One video, one task, one shard: detect, embed, track, filter, crop — written atomically.

A shard is ``<work>/shards/<camera>__<slot>/`` holding the kept tracklets'
crops and tables, the raw detections and tracks (for ``--evaluate``) and
``DONE.json``, written last.  The shard is assembled under a temporary name
and renamed into place, so a killed run leaves either a complete shard or
none; a re-run skips complete shards.  Everything is deterministic, so a
resumed run builds the same dataset as an uninterrupted one.

Two passes over the video: the first detects, embeds and tracks (and notes
each box's sharpness); once the tracks are known and filtered, the second
decodes again and saves only the crops that are kept.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from lsvid_core.config import at_least, check, fraction, from_dict
from lsvid_core.errors import FileSystemError, MissingDependencyError

from .boxes import clip_boxes, iou_matrix
from .filters import FilterConfig, apply_filters, sharpness
from .footage import VideoSource, probe, read_frames
from .track import TrackerConfig

DONE = "DONE.json"


@dataclass
class CurateConfig:
    """Everything that decides what a curation run produces (stored in dataset.json)."""

    detector: str = "motion"
    detector_options: dict[str, Any] = field(default_factory=dict)
    embedder: str = "colour_texture"
    embedder_options: dict[str, Any] = field(default_factory=dict)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    frame_step: int = 1  # use every frame_step-th frame
    jpeg_quality: int = 90
    blur_faces: bool = False
    truth_iou: float = 0.5  # a box belongs to a truth person when their IoU reaches this

    def __post_init__(self) -> None:
        at_least(self, ("frame_step",), 1)
        check(1 <= self.jpeg_quality <= 100, "jpeg_quality", f"must be in 1..100, got {self.jpeg_quality}")
        fraction(self, ("truth_iou",), open_low=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "config") -> "CurateConfig":
        return from_dict(cls, d, where)


def shard_name(video: VideoSource) -> str:
    return f"{video.camera}__{video.slot}".replace("/", "_")


def shard_done(work: Path, video: VideoSource) -> bool:
    return (work / "shards" / shard_name(video) / DONE).exists()


def _faces():
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        # OpenCV 5 dropped the Haar cascades and their bundled files
        raise MissingDependencyError(
            f"--blur-faces needs OpenCV's bundled face cascade, which OpenCV {cv2.__version__} lacks; "
            "install opencv-python 4.x (pip install 'opencv-python<5')"
        )
    path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
    c = cv2.CascadeClassifier(path)
    if c.empty():
        raise MissingDependencyError(f"{path}: OpenCV's bundled face cascade could not be loaded")
    return c


def blur_faces(crop: np.ndarray, cascade) -> np.ndarray:
    """Gaussian-blur faces OpenCV's bundled Haar cascade finds in the upper half of a person crop."""
    h = crop.shape[0]
    top = crop[: max(h // 2, 1)]
    gray = cv2.cvtColor(top, cv2.COLOR_BGR2GRAY)
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3, minSize=(8, 8))
    out = crop.copy()
    for x, y, w, hh in faces:
        roi = out[y : y + hh, x : x + w]
        k = max(3, (min(w, hh) // 2) | 1)
        out[y : y + hh, x : x + w] = cv2.GaussianBlur(roi, (k, k), 0)
    # small crops give the cascade too little to work with: blur the head region instead
    if len(faces) == 0 and h < 120:
        hy, hx = max(h // 6, 1), crop.shape[1]
        k = max(3, (min(hy, hx) // 2) | 1)
        out[:hy] = cv2.GaussianBlur(out[:hy], (k, k), 0)
    return out


def process_video(video: VideoSource, cfg: CurateConfig, work: str | os.PathLike, *, progress: bool = False) -> dict[str, Any]:
    """Build (or find) the shard of ``video``; returns its summary (``DONE.json``)."""
    from tqdm import tqdm

    from .detect import create_detector
    from .embed import create_embedder
    from .track import Tracker

    work = Path(work)
    final = work / "shards" / shard_name(video)
    if (final / DONE).exists():
        done = json.loads((final / DONE).read_text())
        if done.get("config") == json.loads(json.dumps(cfg.to_dict())) and done["video"]["path"] == str(video.path):
            return done
        shutil.rmtree(final)  # made with other settings or from another file: build it again
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)  # a previous run killed mid-shard
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        info = probe(video)
        timings: Counter = Counter()
        detector = create_detector(cfg.detector, **cfg.detector_options)
        embedder = create_embedder(cfg.embedder, **cfg.embedder_options)
        tracker = Tracker(cfg.tracker, frame_size=(info.width, info.height))
        detector.start_video(video)
        det_rows, sharp_of = [], {}
        batch_frames, batch_idx = [], []
        bar = tqdm(total=info.frames, desc=video.video_id, disable=not progress, leave=False, unit="frame")

        def flush() -> None:
            t = time.perf_counter()
            dets = detector.detect(batch_frames, batch_idx)
            timings["detect"] += time.perf_counter() - t
            for img, i, d in zip(batch_frames, batch_idx, dets):
                d = np.asarray(d, dtype=np.float32).reshape(-1, 5)
                t = time.perf_counter()
                feats = embedder.embed(img, d) if len(d) else np.zeros((0, embedder.dim), np.float32)
                timings["embed"] += time.perf_counter() - t
                gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
                for (x0, y0, x1, y1), box in zip(clip_boxes(d, info.width, info.height), d):
                    sharp_of[(i, *box[:4].tolist())] = sharpness(gray[y0:y1, x0:x1])
                t = time.perf_counter()
                tracker.update(i, d, feats)
                timings["track"] += time.perf_counter() - t
                det_rows.extend((i, *row) for row in d.tolist())
            bar.update(len(batch_frames))
            batch_frames.clear()
            batch_idx.clear()

        t0 = time.perf_counter()
        decoded = 0
        t_dec = time.perf_counter()
        for i, img in read_frames(video, step=cfg.frame_step, expected=info.frames):
            timings["decode"] += time.perf_counter() - t_dec
            batch_frames.append(img)
            batch_idx.append(i)
            decoded += 1
            if len(batch_frames) >= max(1, getattr(detector, "batch_size", 1)):
                flush()
            t_dec = time.perf_counter()
        if batch_frames:
            flush()
        bar.close()
        tracks = tracker.finish()
        keep, drops = apply_filters(
            [t.boxes for t in tracks],
            [np.array([sharp_of.get((int(f), *b.tolist()), 0.0) for f, b in zip(t.frames, t.boxes)]) for t in tracks],
            (info.width, info.height),
            cfg.filters,
        )
        kept = [(t, k) for t, k in zip(tracks, keep) if len(k)]
        t = time.perf_counter()
        frames_tab, tracklets_tab, embeds = _write_crops(video, info, kept, cfg, tmp)
        timings["write"] += time.perf_counter() - t
        truth = _truth_columns(video, frames_tab, tracklets_tab, cfg.truth_iou)
        pd.DataFrame(det_rows, columns=["frame", "x", "y", "w", "h", "score"]).to_parquet(tmp / "detections.parquet", index=False)
        raw = [(tr.track_id, int(f), *b.tolist()) for tr in tracks for f, b in zip(tr.frames, tr.boxes)]
        pd.DataFrame(raw, columns=["track_id", "frame", "x", "y", "w", "h"]).to_parquet(tmp / "tracks.parquet", index=False)
        frames_tab.to_parquet(tmp / "frames.parquet", index=False)
        tracklets_tab.to_parquet(tmp / "tracklets.parquet", index=False)
        np.save(tmp / "embeddings.npy", embeds)
        summary = {
            "video": video.to_dict(),
            "info": asdict(info),
            "frames_decoded": decoded,
            "detections": len(det_rows),
            "tracks": len(tracks),
            "tracklets": len(tracklets_tab),
            "boxes": int(len(frames_tab)),
            "drops": dict(drops),
            "seconds": {k: round(v, 3) for k, v in timings.items()} | {"total": round(time.perf_counter() - t0, 3)},
            "truth": truth,
            "config": cfg.to_dict(),
        }
        (tmp / DONE).write_text(json.dumps(summary, indent=2))
        os.replace(tmp, final)
        return summary
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_crops(video, info, kept, cfg: CurateConfig, tmp: Path):
    """Second pass: decode again and save the kept boxes' crops; returns the shard tables."""
    cascade = _faces() if cfg.blur_faces else None
    by_frame: dict[int, list[tuple[int, int]]] = {}
    for local, (tr, k) in enumerate(kept):
        for j, idx in enumerate(k.tolist()):
            by_frame.setdefault(int(tr.frames[idx]), []).append((local, j))
    rows = []
    params = [cv2.IMWRITE_JPEG_QUALITY, int(cfg.jpeg_quality)]
    for local in range(len(kept)):
        (tmp / "crops" / str(local)).mkdir(parents=True, exist_ok=True)
    if by_frame:
        last = max(by_frame)
        for i, img in read_frames(video, step=cfg.frame_step):
            if i > last:
                break
            todo = by_frame.get(i)
            if not todo:
                continue
            boxes = np.stack([kept[loc][0].boxes[kept[loc][1][j]] for loc, j in todo])
            for (loc, j), (x0, y0, x1, y1), box in zip(todo, clip_boxes(boxes, info.width, info.height), boxes):
                crop = img[y0:y1, x0:x1]
                if cascade is not None:
                    crop = blur_faces(crop, cascade)
                rel = f"crops/{loc}/{j}.jpg"
                if not cv2.imwrite(str(tmp / rel), crop, params):
                    raise FileSystemError(f"{tmp / rel}: could not write crop")
                tr = kept[loc][0]
                idx = kept[loc][1][j]
                rows.append((loc, j, i, *box[:4].tolist(), float(tr.scores[idx]), rel))
    frames = pd.DataFrame(rows, columns=["local_id", "frame_index", "video_frame", "x", "y", "w", "h", "score", "path"])
    frames = frames.sort_values(["local_id", "frame_index"], kind="stable").reset_index(drop=True)
    trows, means = [], []
    for local, (tr, k) in enumerate(kept):
        f = tr.frames[k]
        trows.append((local, int(tr.track_id), int(f.min()), int(f.max()), int(len(k))))
        m = tr.feats[k].mean(axis=0)
        means.append(m / max(float(np.linalg.norm(m)), 1e-12))
    embeds = np.stack(means) if means else np.zeros((0, 0), np.float32)
    tracklets = pd.DataFrame(trows, columns=["local_id", "track_id", "start_frame", "end_frame", "num_frames"])
    for col, val in (("camera", video.camera), ("camera_id", video.camera_id), ("slot", video.slot), ("video", video.video_id)):
        tracklets[col] = val
    return frames, tracklets, embeds.astype(np.float32)


def _truth_columns(video: VideoSource, frames: pd.DataFrame, tracklets: pd.DataFrame, min_iou: float) -> dict[str, Any] | None:
    """With MOT truth: each kept box's truth person (IoU >= min_iou, else -1), each tracklet's
    majority person and purity (share of its boxes that are that person)."""
    if video.truth is None or not Path(video.truth).exists():
        frames["truth_id"] = -1
        tracklets["truth_id"] = -1
        tracklets["truth_purity"] = np.nan
        return None
    from .synth.truth import read_mot

    gt = read_mot(video.truth)
    gt_by_frame = {int(f): g for f, g in gt.groupby("frame")}
    tid = np.full(len(frames), -1, np.int64)
    for f, idx in frames.groupby("video_frame").indices.items():
        g = gt_by_frame.get(int(f) + 1)  # MOT frames are 1-based
        if g is None:
            continue
        iou = iou_matrix(frames.iloc[idx][["x", "y", "w", "h"]].to_numpy(), g[["bb_left", "bb_top", "bb_width", "bb_height"]].to_numpy())
        best = iou.argmax(axis=1)
        ok = iou[np.arange(len(idx)), best] >= min_iou
        tid[idx[ok]] = g["id"].to_numpy()[best[ok]]
    frames["truth_id"] = tid
    maj, pur = [], []
    local_of = frames["local_id"].to_numpy()
    for local in tracklets["local_id"]:
        ids = tid[local_of == local]
        matched = ids[ids >= 0]
        if len(matched):
            vals, cnt = np.unique(matched, return_counts=True)
            best = int(vals[np.argmax(cnt)])  # ties go to the smaller id: deterministic
            maj.append(best)
            pur.append(float((ids == best).mean()))  # unmatched boxes count against purity
        else:
            maj.append(-1)
            pur.append(0.0)
    tracklets["truth_id"] = maj
    tracklets["truth_purity"] = pur
    return {"file": str(video.truth), "boxes_matched": int((tid >= 0).sum()), "boxes": int(len(tid))}
