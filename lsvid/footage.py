"""Footage in: find the videos of a multi-camera recording and read their frames.

Two ways to say what to curate:

* a folder ``ROOT/<camera>/<slot>.<ext>`` — any container OpenCV reads; the
  camera is the folder name, the slot the file stem (``lsvid synth`` writes
  this layout, with MOT truth ``<slot>.gt.txt`` beside each video);
* a manifest CSV with columns ``path, camera, slot`` and optionally
  ``start_time`` (seconds) and ``truth`` (a MOT file); relative paths are
  relative to the manifest.

Camera names are mapped to integer ``camera_id`` 1..C in sorted order; each
video gets a ``video_id`` ``<camera>/<slot>`` used to name its shard.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from lsvid_core.errors import InputError, LsvidError, UnsafePathError, describe_os_error
from lsvid_core.paths import safe_component

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".webm", ".wmv", ".ts")


class FootageError(LsvidError, ValueError):
    """A video or manifest is missing, unreadable, corrupt or empty; the message names it."""


@dataclass(frozen=True)
class VideoSource:
    path: Path
    camera: str
    camera_id: int
    slot: str
    video_id: str
    start_time: float | None = None
    truth: Path | None = None  # MOT ground truth for this video, when there is one

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "camera": self.camera, "camera_id": self.camera_id, "slot": self.slot,
            "video_id": self.video_id, "start_time": self.start_time, "truth": str(self.truth) if self.truth else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoSource:
        """The inverse of :meth:`to_dict` (a shard's ``DONE.json``, a dataset's ``source.videos``)."""
        start, truth = d.get("start_time"), d.get("truth")
        return cls(Path(d["path"]), str(d["camera"]), int(d["camera_id"]), str(d["slot"]), str(d["video_id"]),
                   None if start is None else float(start), Path(truth) if truth else None)


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int


def _truth_beside(video: Path) -> Path | None:
    for cand in (video.with_suffix(".gt.txt"), video.parent / f"{video.stem}.txt"):
        if cand.exists():
            return cand
    return None


def find_videos(root: str | os.PathLike) -> list[VideoSource]:
    """Videos of a footage folder or a manifest CSV, in (camera, slot) order."""
    root = Path(root)
    if not root.exists():
        raise FootageError(f"{root}: footage folder or manifest does not exist")
    if root.is_file():
        return _from_manifest(root)
    entries = []
    for cam_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(cam_dir.iterdir()):
            if f.suffix.lower() in VIDEO_EXTS and not f.name.startswith("."):
                entries.append((cam_dir.name, f.stem, f, None, _truth_beside(f)))
    if not entries:
        raise FootageError(f"{root}: no videos found; expected ROOT/<camera>/<slot>.<video> ({', '.join(VIDEO_EXTS)}) or a manifest CSV")
    return _number(entries)


def _from_manifest(path: Path) -> list[VideoSource]:
    try:
        df = pd.read_csv(path)
    except Exception as e:
        raise FootageError(f"{path}: not a readable CSV manifest ({e})") from e
    missing = {"path", "camera", "slot"} - set(df.columns)
    if missing:
        raise FootageError(f"{path}: manifest lacks column(s) {sorted(missing)}; expected path, camera, slot[, start_time, truth]")
    entries = []
    for i, r in df.iterrows():
        p = Path(str(r["path"]))
        p = p if p.is_absolute() else path.parent / p
        truth = r.get("truth") if "truth" in df.columns else None
        t = Path(str(truth)) if isinstance(truth, str) and truth else None
        t = (t if t is None or t.is_absolute() else path.parent / t) or _truth_beside(p)
        st = r.get("start_time") if "start_time" in df.columns else None
        for col in ("camera", "slot"):
            try:
                safe_component(r[col], col)
            except UnsafePathError as e:
                raise FootageError(f"{path}, row {i + 2}: {e}") from None
        entries.append((str(r["camera"]), str(r["slot"]), p, None if pd.isna(st) else float(st), t))
    return _number(entries)


def _number(entries) -> list[VideoSource]:
    cams = {c: i + 1 for i, c in enumerate(sorted({e[0] for e in entries}))}
    out, seen = [], set()
    for cam, slot, path, start, truth in sorted(entries, key=lambda e: (e[0], e[1])):
        try:  # both become folder and file names of the dataset and its shards
            safe_component(cam, "camera")
            safe_component(slot, "slot")
        except UnsafePathError as e:
            raise FootageError(f"{path}: {e}") from None
        vid = f"{cam}/{slot}"
        if vid in seen:
            raise FootageError(f"{path}: a second video for camera {cam!r}, slot {slot!r}")
        seen.add(vid)
        out.append(VideoSource(Path(path), cam, cams[cam], slot, vid, start, truth))
    return out


def _path(video: VideoSource | str | os.PathLike) -> Path:
    return video.path if isinstance(video, VideoSource) else Path(video)


def _open(path: Path) -> cv2.VideoCapture:
    if not path.exists():
        raise FootageError(f"{path}: video file is missing")
    if path.is_dir():
        raise FootageError(f"{path}: is a folder, not a video file")
    try:  # OpenCV reports every failure alike: find out first whether the file can be read at all
        with open(path, "rb") as f:
            empty = not f.read(1)
    except OSError as e:
        raise FootageError(f"{path}: cannot be read ({describe_os_error(e).rsplit(': ', 1)[-1]})") from None
    if empty:
        raise FootageError(f"{path}: empty file (0 bytes); expected a video")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise FootageError(f"{path}: OpenCV cannot open this video (corrupt, truncated before its index, or a codec it lacks)")
    return cap


def probe(video: VideoSource | str | os.PathLike) -> VideoInfo:
    """Frame count, fps and size, or :class:`FootageError` for a missing, unreadable or empty video."""
    path = _path(video)
    cap = _open(path)
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 25.0
        ok, frame = cap.read()
        if not ok or frame is None:
            raise FootageError(f"{path}: video holds no decodable frame (empty or corrupt)")
        h, w = frame.shape[:2]
    finally:
        cap.release()
    return VideoInfo(frames=max(n, 1), fps=fps, width=w, height=h)


def read_frames(video: VideoSource | str | os.PathLike, *, step: int = 1, indices: Iterable[int] | None = None,
                strict: bool = True) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame index, BGR image)`` of every ``step``-th frame, or of the frames ``indices`` only
    (0-based, in increasing order; an index past the end is simply not there).

    Frames are decoded in order, never sought to: seeking is unreliable in
    MPEG-4.  With ``indices`` decoding stops after the last one wanted.  A
    video that stops decoding well before the frame count its container
    declares is truncated: with ``strict`` (the default) that is a
    :class:`FootageError` naming the file, after the last good frame; without,
    the frames that decoded are all there is.
    """
    if indices is not None and step != 1:
        raise InputError(f"read_frames: give a step or indices, not both (step={step})")
    if step < 1:
        raise InputError(f"read_frames: step must be at least 1, got {step}")
    want = None if indices is None else {int(i) for i in indices}
    if want is not None and not want:
        return
    path = _path(video)
    cap = _open(path)
    declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))  # 0 or less: the container does not say
    i = 0
    try:
        while cap.grab():  # grab() decodes; retrieve() only converts the frames kept
            if (i in want) if want is not None else (i % step == 0):
                ok, frame = cap.retrieve()
                if not ok or frame is None:
                    break
                yield i, frame
                if want is not None:
                    want.discard(i)
                    if not want:
                        return  # everything asked for is out: the rest need not be decoded
            i += 1
    finally:
        cap.release()
    if i == 0:
        raise FootageError(f"{path}: video holds no decodable frame (empty or corrupt)")
    if strict and declared > 0 and i < declared - max(2, declared // 100):
        raise FootageError(f"{path}: truncated — decoding stopped at frame {i} of the {declared} the container declares")
