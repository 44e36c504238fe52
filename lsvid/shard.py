"""One video, one task, one shard: detect, embed, track, filter, crop — written atomically.

A shard is ``<work>/shards/<camera>__<slot>/`` holding the kept tracklets'
crops and tables, the raw detections and tracks (for ``--evaluate``) and
``DONE.json``, written last.  The shard is assembled under a temporary name
and renamed into place, so a killed run leaves either a complete shard or
none; a re-run skips complete shards made from the same file with the same
settings.  ``DONE.json`` is a :class:`ShardSummary`; one that cannot be read
back (damaged, or from a version that kept other fields) makes the shard be
built again.  Everything is deterministic, so a resumed run builds the same
dataset as an uninterrupted one.

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
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pandas as pd

from lsvid_core.config import at_least, check, fraction, from_dict
from lsvid_core.errors import FileSystemError, MissingDependencyError

from .boxes import clip_boxes, iou_matrix
from .filters import FilterConfig, apply_filters, cut_mixed, sharpness
from .footage import VideoInfo, VideoSource, probe, read_frames
from .mot import considered, read_truth
from .track import Track, Tracker, TrackerConfig

if TYPE_CHECKING:  # for annotations only: _detect_and_track imports them when a shard is built
    from .detect import Detector
    from .embed import Embedder

DONE = "DONE.json"


@dataclass
class CurateConfig:
    """Everything that decides what a curation run produces (stored in dataset.json)."""

    detector: str = "synthetic"
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
    def from_dict(cls, d: dict[str, Any], where: str = "config") -> CurateConfig:
        return from_dict(cls, d, where)


def shard_name(video: VideoSource) -> str:
    return f"{video.camera}__{video.slot}".replace("/", "_")


def shard_done(work: Path, video: VideoSource) -> bool:
    return (work / "shards" / shard_name(video) / DONE).exists()


def _faces():
    """The face finder of ``--blur-faces`` (:func:`lsvid.faces.load_face_cascades`: OpenCV's bundled Haar
    cascades), or :class:`MissingDependencyError` on an OpenCV without them (5.x)."""
    from .faces import load_face_cascades

    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        # OpenCV 5 dropped the Haar cascades and their bundled files
        raise MissingDependencyError(
            f"--blur-faces needs OpenCV's bundled face cascades, which OpenCV {cv2.__version__} lacks; "
            "install opencv-python 4.x (pip install 'opencv-python<5')"
        )
    return load_face_cascades()


def blur_faces(crop: np.ndarray, cascade) -> np.ndarray:
    """A copy of a person crop with the faces the cascades find in its upper half blurred, and, on a crop
    under :data:`lsvid.faces.SMALL_CROP` (300) px tall with no face found at its top, its head region
    (the top fifth) blurred instead: the cascades find no face that small (see :mod:`lsvid.faces`)."""
    from .faces import blur_faces as blur

    return blur(crop, cascade)


@dataclass(frozen=True)
class TruthMatch:
    """How the kept boxes of a shard met its video's MOT truth (``file``)."""

    file: str
    boxes_matched: int  # kept boxes that overlap a truth box enough to take its person
    boxes: int


@dataclass(frozen=True)
class ShardSummary:
    """What a shard holds and how it was made; :meth:`to_dict` is ``DONE.json``, written last."""

    video: VideoSource
    info: VideoInfo
    frames_decoded: int
    detections: int  # boxes the detector returned, before tracking and filters
    tracks: int  # raw tracks
    tracklets: int  # tracks kept by the filters
    boxes: int  # boxes of the kept tracklets (one crop each)
    drops: dict[str, int]  # what the filters dropped (lsvid.filters.apply_filters)
    seconds: dict[str, float]  # per stage (decode, detect, embed, track, write) and total
    truth: TruthMatch | None  # None: the video has no MOT truth
    config: CurateConfig
    models: dict[str, str] = field(default_factory=dict)  # model files read: path -> stamp (model_files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "video": self.video.to_dict(),
            "info": asdict(self.info),
            "frames_decoded": self.frames_decoded,
            "detections": self.detections,
            "tracks": self.tracks,
            "tracklets": self.tracklets,
            "boxes": self.boxes,
            "drops": dict(self.drops),
            "seconds": dict(self.seconds),
            "truth": asdict(self.truth) if self.truth is not None else None,
            "config": self.config.to_dict(),
            "models": dict(self.models),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShardSummary:
        """Read :meth:`to_dict` back; a ``DONE.json`` lacking a field or holding a wrong type raises
        ``KeyError``, ``TypeError`` or ``ValueError``."""
        i, t = d["info"], d["truth"]
        return cls(
            video=VideoSource.from_dict(d["video"]),
            info=VideoInfo(int(i["frames"]), float(i["fps"]), int(i["width"]), int(i["height"]), str(i.get("fps_source", "container"))),
            frames_decoded=int(d["frames_decoded"]), detections=int(d["detections"]), tracks=int(d["tracks"]),
            tracklets=int(d["tracklets"]), boxes=int(d["boxes"]),
            drops={str(k): int(v) for k, v in d["drops"].items()},
            seconds={str(k): float(v) for k, v in d["seconds"].items()},
            truth=None if t is None else TruthMatch(str(t["file"]), int(t["boxes_matched"]), int(t["boxes"])),
            config=CurateConfig.from_dict(d["config"], f"{DONE} config"),
            models={str(k): str(v) for k, v in d.get("models", {}).items()},
        )


def model_files(cfg: CurateConfig) -> dict[str, str]:
    """The model files ``cfg`` reads (the detector's ``weights``, the embedder's ``checkpoint``, the
    bundled ``synthetic`` weights), each stamped ``size:mtime`` (summed and newest over a folder,
    an IR's ``.bin`` with its ``.xml``): a shard made with other weights under the same name, after
    retraining or an upgrade, does not match and is rebuilt."""
    named = [cfg.detector_options.get("weights"), cfg.embedder_options.get("checkpoint")]
    paths = [Path(p) for p in named if isinstance(p, str) and p]
    if cfg.detector == "synthetic":
        from .detect.synthetic import WEIGHTS

        paths.append(WEIGHTS)
    return {str(p): _stamp(p) for p in paths}


def _stamp(path: Path) -> str:
    if path.is_dir():
        files = sorted(q for q in path.rglob("*") if q.is_file())
    else:
        files = [q for q in (path, path.with_suffix(".bin") if path.suffix == ".xml" else None) if q is not None and q.is_file()]
    if not files:
        return "missing"
    stats = [q.stat() for q in files]
    return f"{sum(st.st_size for st in stats)}:{max(st.st_mtime_ns for st in stats)}"


def process_video(video: VideoSource, cfg: CurateConfig, work: str | os.PathLike, *, progress: bool = False) -> ShardSummary:
    """Build (or find) the shard of ``video``; returns its summary (``DONE.json``)."""
    final = Path(work) / "shards" / shard_name(video)
    done = _finished(final, video, cfg)
    if done is not None:
        return done
    tmp = _fresh_tmp(final)
    try:
        summary = _build_shard(video, cfg, tmp, progress)
        (tmp / DONE).write_text(json.dumps(summary.to_dict(), indent=2))
        os.replace(tmp, final)
        return summary
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _finished(final: Path, video: VideoSource, cfg: CurateConfig) -> ShardSummary | None:
    """The summary of a complete shard made from this video (file, camera number, truth) with these
    settings, else None."""
    try:
        raw = json.loads((final / DONE).read_text())
        # compared as JSON, the form it was stored in (tuples read back as lists)
        if raw.get("config") != json.loads(json.dumps(cfg.to_dict())) or raw["video"] != video.to_dict():
            return None
        if raw.get("models", {}) != model_files(cfg):  # other weights under the same name (retrained, upgraded)
            return None
        return ShardSummary.from_dict(raw)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing, unreadable, or written by a version that kept other fields: rebuilt


def _fresh_tmp(final: Path) -> Path:
    """An empty temporary folder beside ``final``, once stale shards and leftovers are gone."""
    if final.exists():
        shutil.rmtree(final)  # made with other settings, from another file, or unreadable: build it again
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)  # a previous run killed mid-shard
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    return tmp


def _build_shard(video: VideoSource, cfg: CurateConfig, tmp: Path, progress: bool) -> ShardSummary:
    """Both passes over the video, every table written into ``tmp``; DONE.json is the caller's."""
    t0 = time.perf_counter()
    info = probe(video)
    seen = _detect_and_track(video, info, cfg, progress)
    tracks = seen.tracker.finish()
    kept, drops = _filter_tracks(tracks, seen.sharpness, info, cfg)
    t = time.perf_counter()
    frames_tab, tracklets_tab, embeds = _write_crops(video, info, kept, cfg, tmp)
    seen.timings["write"] += time.perf_counter() - t
    truth = _truth_columns(video, frames_tab, tracklets_tab, cfg.truth_iou)
    pd.DataFrame(seen.detections, columns=["frame", "x", "y", "w", "h", "score"]).to_parquet(tmp / "detections.parquet", index=False)
    raw = [(tr.track_id, int(f), *b.tolist()) for tr in tracks for f, b in zip(tr.frames, tr.boxes)]
    pd.DataFrame(raw, columns=["track_id", "frame", "x", "y", "w", "h"]).to_parquet(tmp / "tracks.parquet", index=False)
    frames_tab.to_parquet(tmp / "frames.parquet", index=False)
    tracklets_tab.to_parquet(tmp / "tracklets.parquet", index=False)
    np.save(tmp / "embeddings.npy", embeds)
    seconds = {k: round(v, 3) for k, v in seen.timings.items()} | {"total": round(time.perf_counter() - t0, 3)}
    return ShardSummary(video=video, info=info, frames_decoded=seen.frames, detections=len(seen.detections),
                        tracks=len(tracks), tracklets=len(tracklets_tab), boxes=len(frames_tab), drops=dict(drops),
                        seconds=seconds, truth=truth, config=cfg, models=model_files(cfg))


@dataclass
class _FirstPass:
    """What the first pass over a video gathers."""

    tracker: Tracker
    detections: list[tuple] = field(default_factory=list)  # (frame, x, y, w, h, score)
    sharpness: dict[tuple, float] = field(default_factory=dict)  # (frame, x, y, w, h) -> variance of the Laplacian
    frames: int = 0
    timings: Counter = field(default_factory=Counter)


def _detect_and_track(video: VideoSource, info: VideoInfo, cfg: CurateConfig, progress: bool) -> _FirstPass:
    """First pass: decode every ``frame_step``-th frame, detect in batches, embed, track."""
    from tqdm import tqdm

    from .detect import create_detector
    from .embed import create_embedder

    detector = create_detector(cfg.detector, **cfg.detector_options)
    embedder = create_embedder(cfg.embedder, **cfg.embedder_options)
    seen = _FirstPass(Tracker(cfg.tracker, frame_size=(info.width, info.height), fps=info.fps))
    detector.start_video(video)
    size = max(1, getattr(detector, "batch_size", 1))
    batch: list[tuple[int, np.ndarray]] = []
    with tqdm(total=info.frames, desc=video.video_id, disable=not progress, leave=False, unit="frame") as bar:
        t = time.perf_counter()
        for i, img in read_frames(video, step=cfg.frame_step):
            seen.timings["decode"] += time.perf_counter() - t
            batch.append((i, img))
            seen.frames += 1
            if len(batch) >= size:
                _detect_batch(batch, detector, embedder, info, seen)
                bar.update(len(batch))
                batch = []
            t = time.perf_counter()
        if batch:
            _detect_batch(batch, detector, embedder, info, seen)
            bar.update(len(batch))
    return seen


def _detect_batch(batch: list[tuple[int, np.ndarray]], detector: Detector, embedder: Embedder, info: VideoInfo,
                  seen: _FirstPass) -> None:
    """Detect a batch of frames at once, then embed, measure sharpness and track frame by frame."""
    idx = [i for i, _ in batch]
    frames = [img for _, img in batch]
    t = time.perf_counter()
    dets = detector.detect(frames, idx)
    seen.timings["detect"] += time.perf_counter() - t
    for img, i, d in zip(frames, idx, dets):
        d = np.asarray(d, dtype=np.float32).reshape(-1, 5)
        t = time.perf_counter()
        feats = embedder.embed(img, d) if len(d) else np.zeros((0, embedder.dim), np.float32)
        seen.timings["embed"] += time.perf_counter() - t
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        for (x0, y0, x1, y1), box in zip(clip_boxes(d, info.width, info.height), d):
            seen.sharpness[(i, *box[:4].tolist())] = sharpness(gray[y0:y1, x0:x1])
        t = time.perf_counter()
        seen.tracker.update(i, d, feats)
        seen.timings["track"] += time.perf_counter() - t
        seen.detections.extend((i, *row) for row in d.tolist())


def _filter_tracks(tracks: list[Track], sharp_of: dict[tuple, float], info: VideoInfo,
                   cfg: CurateConfig) -> tuple[list[tuple[Track, np.ndarray]], Counter]:
    """The tracklets that survive the filters, each a track with the indices of its kept boxes (a track
    cut where its look changes gives several), and the drop counts."""
    keep, drops = apply_filters(
        [t.boxes for t in tracks],
        [np.array([sharp_of.get((int(f), *b.tolist()), 0.0) for f, b in zip(t.frames, t.boxes)]) for t in tracks],
        (info.width, info.height),
        cfg.filters,
        [t.frames for t in tracks],
        [t.scores for t in tracks],
    )
    pieces = cut_mixed(keep, [t.feats for t in tracks], cfg.filters, drops)
    return [(tracks[t], k) for t, k in pieces], drops


def _write_crops(video: VideoSource, info: VideoInfo, kept: list[tuple[Track, np.ndarray]], cfg: CurateConfig,
                 tmp: Path) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Second pass: decode again and save the kept boxes' crops; returns the shard's frames and
    tracklets tables and the tracklets' mean embeddings."""
    rows = _save_crops(video, info, kept, cfg, tmp)
    frames = pd.DataFrame(rows, columns=["local_id", "frame_index", "video_frame", "x", "y", "w", "h", "score", "path"])
    frames = frames.sort_values(["local_id", "frame_index"], kind="stable").reset_index(drop=True)
    tracklets, embeds = _tracklet_table(video, kept)
    return frames, tracklets, embeds


def _save_crops(video: VideoSource, info: VideoInfo, kept: list[tuple[Track, np.ndarray]], cfg: CurateConfig,
                tmp: Path) -> list[tuple]:
    """Write ``crops/<local>/<j>.jpg`` for the j-th kept box of kept tracklet ``local``; one row each."""
    cascade = _faces() if cfg.blur_faces else None
    by_frame: dict[int, list[tuple[int, int]]] = {}
    for local, (tr, k) in enumerate(kept):
        (tmp / "crops" / str(local)).mkdir(parents=True, exist_ok=True)
        for j, idx in enumerate(k.tolist()):
            by_frame.setdefault(int(tr.frames[idx]), []).append((local, j))
    params = [cv2.IMWRITE_JPEG_QUALITY, int(cfg.jpeg_quality)]
    rows = []
    for i, img in read_frames(video, indices=by_frame):
        todo = by_frame[i]
        boxes = np.stack([kept[loc][0].boxes[kept[loc][1][j]] for loc, j in todo])
        for (loc, j), (x0, y0, x1, y1), box in zip(todo, clip_boxes(boxes, info.width, info.height), boxes):
            crop = img[y0:y1, x0:x1]
            if cascade is not None:
                crop = blur_faces(crop, cascade)
            rel = f"crops/{loc}/{j}.jpg"
            if not cv2.imwrite(str(tmp / rel), crop, params):
                raise FileSystemError(f"{tmp / rel}: could not write crop")
            tr, idx = kept[loc][0], kept[loc][1][j]
            rows.append((loc, j, i, *box[:4].tolist(), float(tr.scores[idx]), rel))
    return rows


def _tracklet_table(video: VideoSource, kept: list[tuple[Track, np.ndarray]]) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per kept tracklet, and its mean embedding (unit length) over the kept boxes."""
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
    return tracklets, embeds.astype(np.float32)


def _truth_columns(video: VideoSource, frames: pd.DataFrame, tracklets: pd.DataFrame, min_iou: float) -> TruthMatch | None:
    """With MOT truth: each kept box's truth person (IoU >= min_iou, else -1), each tracklet's
    majority person and purity (share of its annotated boxes that are that person).

    A truth file may annotate only the first frames of a video (the PETS clip's covers 69 of 795):
    frames after the truth's last frame are unknown, not wrong, so they count neither for nor
    against a tracklet; one with no annotated box has truth id -1 and purity NaN."""
    if video.truth is None or not Path(video.truth).exists():
        frames["truth_id"] = -1
        tracklets["truth_id"] = -1
        tracklets["truth_purity"] = np.nan
        return None
    gt = read_truth(video.truth)
    last = int(gt["frame"].max()) if len(gt) else 0  # MOT frames are 1-based: video frames 0..last-1 are annotated
    gt = gt[considered(gt)]  # consider-0 rows (and other classes) are nobody to match
    gt_by_frame = {int(f): g for f, g in gt.groupby("frame")}
    tid = np.full(len(frames), -1, np.int64)
    for f, idx in frames.groupby("video_frame").indices.items():
        g = gt_by_frame.get(int(f) + 1)
        if g is None:
            continue
        iou = iou_matrix(frames.iloc[idx][["x", "y", "w", "h"]].to_numpy(), g[["bb_left", "bb_top", "bb_width", "bb_height"]].to_numpy())
        best = iou.argmax(axis=1)
        ok = iou[np.arange(len(idx)), best] >= min_iou
        tid[idx[ok]] = g["id"].to_numpy()[best[ok]]
    frames["truth_id"] = tid
    annotated = frames["video_frame"].to_numpy() < last
    maj, pur = [], []
    local_of = frames["local_id"].to_numpy()
    for local in tracklets["local_id"]:
        ids = tid[(local_of == local) & annotated]
        matched = ids[ids >= 0]
        if len(matched):
            vals, cnt = np.unique(matched, return_counts=True)
            best = int(vals[np.argmax(cnt)])  # ties go to the smaller id: deterministic
            maj.append(best)
            pur.append(float((ids == best).mean()))  # unmatched annotated boxes count against purity
        else:
            maj.append(-1)
            pur.append(0.0 if len(ids) else np.nan)
    tracklets["truth_id"] = maj
    tracklets["truth_purity"] = pur
    return TruthMatch(file=str(video.truth), boxes_matched=int((tid >= 0).sum()), boxes=int(len(tid)))
