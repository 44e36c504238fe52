"""Footage in: find the videos of a multi-camera recording and read their frames.

Ways to say what to curate:

* a folder ``ROOT/<camera>/<slot>.<ext>`` — any container OpenCV reads; the
  camera is the folder name, the slot the file stem (``lsvid synth`` writes
  this layout).  A slot may also be a folder of numbered frame images
  (``ROOT/<camera>/<slot>/000001.jpg, ...``).  Beside each video:
  ``<slot>.det.txt`` (MOT detections, for ``--detector file``/``truth``) and
  ``<slot>.gt.txt`` (MOT ground truth, for ``--evaluate`` and
  ``--identities truth``; ``<slot>.txt`` is read as truth too, the older
  name);
* MOTChallenge sequences: a sequence folder ``SEQ/`` (``img1/000001.jpg
  ...``, ``gt/gt.txt``, ``det/det.txt``, ``seqinfo.ini``), a folder of such
  sequences, or a benchmark folder holding them one level down
  (``MOT17/train/MOT17-02-FRCNN/``).  Each sequence is a camera named after
  its folder, its image folder (``imDir``, ``img1``) the slot; ``det/det.txt``
  gives the detections and ``gt/gt.txt`` the truth (when absent, the
  ``<slot>.det.txt``/``<slot>.gt.txt`` names beside the image folder are
  tried); ``seqinfo.ini`` the frame rate (``frameRate``), the frame count
  (``seqLength``) and the image extension (``imExt``).  MOT17 ships each
  sequence three times, once per public detector (``-DPM``, ``-FRCNN``,
  ``-SDP``); point a manifest at the ones wanted rather than curating the same
  frames thrice;
* a manifest CSV with columns ``path, camera, slot`` and optionally
  ``start_time`` (seconds), ``truth`` (a MOT ground-truth file),
  ``detections`` (a MOT detection file) and ``fps`` (the frame rate, for
  containers that declare a wrong one); ``path`` is a video file, an image
  folder or a MOTChallenge sequence folder; relative paths are relative to the
  manifest; a blank cell means "look beside the video" (as above).

A video's frame rate (:attr:`VideoInfo.fps`, which the tracker is given) is
the manifest's ``fps``, else ``seqinfo.ini``'s ``frameRate``, else what the
container declares, else 25 (:attr:`VideoInfo.fps_source` says which).

Camera names are mapped to integer ``camera_id`` 1..C in sorted order; each
video gets a ``video_id`` ``<camera>/<slot>`` used to name its shard.
"""
from __future__ import annotations

import configparser
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from lsvid_core.errors import InputError, LsvidError, UnsafePathError, describe_os_error, first_line
from lsvid_core.paths import safe_component

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".webm", ".wmv", ".ts")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FPS = 25.0
SEQINFO = "seqinfo.ini"


class FootageError(LsvidError, ValueError):
    """A video or manifest is missing, unreadable, corrupt or empty; the message names it."""


@dataclass(frozen=True)
class VideoSource:
    path: Path  # a video file, or a folder of numbered frame images (a MOTChallenge sequence's img1/)
    camera: str
    camera_id: int
    slot: str
    video_id: str
    start_time: float | None = None
    truth: Path | None = None  # MOT ground truth for this video, when there is one
    detections: Path | None = None  # MOT detections for this video (``--detector file``), when there are
    fps: float | None = None  # the frame rate a manifest gives (overrides seqinfo.ini and the container)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "camera": self.camera, "camera_id": self.camera_id, "slot": self.slot,
            "video_id": self.video_id, "start_time": self.start_time, "truth": str(self.truth) if self.truth else None,
            "detections": str(self.detections) if self.detections else None, "fps": self.fps,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoSource:
        """The inverse of :meth:`to_dict` (a shard's ``DONE.json``, a dataset's ``source.videos``)."""
        start, truth, dets, fps = d.get("start_time"), d.get("truth"), d.get("detections"), d.get("fps")
        return cls(Path(d["path"]), str(d["camera"]), int(d["camera_id"]), str(d["slot"]), str(d["video_id"]),
                   None if start is None else float(start), Path(truth) if truth else None,
                   Path(dets) if dets else None, None if fps is None else float(fps))


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int
    fps_source: str = "container"  # manifest | seqinfo.ini | container | default (25, nothing declared one)


@dataclass(frozen=True)
class SeqInfo:
    """A MOTChallenge ``seqinfo.ini`` (``[Sequence]``); None where it says nothing."""

    path: Path
    name: str | None
    fps: float | None
    length: int | None
    width: int | None
    height: int | None
    im_dir: str
    im_ext: str


def read_seqinfo(path: str | os.PathLike) -> SeqInfo:
    """A ``seqinfo.ini``; a missing section or a value that is not a number names the file and key."""
    path = Path(path)
    cp = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as f:
            cp.read_file(f)
    except OSError as e:
        raise FootageError(f"{path}: cannot be read ({describe_os_error(e).rsplit(': ', 1)[-1]})") from None
    except (configparser.Error, UnicodeDecodeError) as e:
        raise FootageError(f"{path}: not a readable seqinfo.ini ({first_line(e)})") from None
    sec = next((cp[s] for s in cp.sections() if s.lower() == "sequence"), None)
    if sec is None:
        raise FootageError(f"{path}: has no [Sequence] section; expected MOTChallenge's seqinfo.ini")

    def number(key: str, kind: type):
        raw = sec.get(key)
        if raw is None or not raw.strip():
            return None
        try:
            v = kind(float(raw)) if kind is int else float(raw)
        except ValueError:
            raise FootageError(f"{path}: {key}={raw!r} is not a number") from None
        if v <= 0:
            raise FootageError(f"{path}: {key}={raw!r} must be positive")
        return v

    im_dir = (sec.get("imDir") or "img1").strip()
    try:
        safe_component(im_dir, "imDir")
    except UnsafePathError as e:
        raise FootageError(f"{path}: {e}") from None
    ext = (sec.get("imExt") or ".jpg").strip()
    return SeqInfo(path, sec.get("name"), number("frameRate", float), number("seqLength", int), number("imWidth", int),
                   number("imHeight", int), im_dir, ext if ext.startswith(".") else "." + ext)


def is_sequence(folder: Path) -> bool:
    """Whether ``folder`` is a MOTChallenge sequence (it holds ``seqinfo.ini`` or ``img1/``)."""
    return (folder / SEQINFO).is_file() or (folder / "img1").is_dir()


def _numbered_images(folder: Path) -> Iterator[os.DirEntry]:
    with os.scandir(folder) as it:
        for e in it:
            stem, ext = os.path.splitext(e.name)
            if ext.lower() in IMAGE_EXTS and stem.isdigit() and not e.name.startswith("."):
                yield e


def _has_frame_images(folder: Path) -> bool:
    try:
        return next(_numbered_images(folder), None) is not None
    except OSError:
        return False


def _beside(video: Path, suffix: str) -> Path | None:
    stem = video.name if video.is_dir() else video.stem
    cand = video.parent / f"{stem}{suffix}"
    return cand if cand.is_file() else None


def _truth_beside(video: Path) -> Path | None:
    return _beside(video, ".gt.txt") or _beside(video, ".txt")


def _detections_beside(video: Path) -> Path | None:
    return _beside(video, ".det.txt")


def _sequence_parts(seq: Path) -> tuple[Path, Path | None, Path | None]:
    """A sequence folder's image folder, truth and detections."""
    im_dir = read_seqinfo(seq / SEQINFO).im_dir if (seq / SEQINFO).is_file() else "img1"
    images = seq / im_dir
    gt, det = seq / "gt" / "gt.txt", seq / "det" / "det.txt"
    return images, gt if gt.is_file() else _truth_beside(images), det if det.is_file() else _detections_beside(images)


def _sequence_entry(seq: Path) -> tuple:
    images, truth, dets = _sequence_parts(seq)
    return (seq.name, images.name, images, None, truth, dets, None)


def _camera_entries(cam_dir: Path) -> list[tuple]:
    out = []
    for f in sorted(cam_dir.iterdir()):
        if f.name.startswith("."):
            continue
        # a folder named like a video is kept, to be reported as such when it is read
        if f.suffix.lower() in VIDEO_EXTS or (f.is_dir() and _has_frame_images(f)):
            out.append((cam_dir.name, f.stem if f.is_file() else f.name, f, None, _truth_beside(f), _detections_beside(f), None))
    return out


def find_videos(root: str | os.PathLike) -> list[VideoSource]:
    """Videos of a footage folder, a MOTChallenge sequence or benchmark folder, or a manifest CSV,
    in (camera, slot) order."""
    root = Path(root)
    if not root.exists():
        raise FootageError(f"{root}: footage folder or manifest does not exist")
    if root.is_file():
        return _from_manifest(root)
    if is_sequence(root):
        return _number([_sequence_entry(root)])
    entries = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if is_sequence(child):
            entries.append(_sequence_entry(child))
            continue
        seqs = [g for g in sorted(child.iterdir()) if g.is_dir() and not g.name.startswith(".") and is_sequence(g)]
        if seqs:  # a benchmark folder's split (MOT17/train): its sequences are the cameras
            entries.extend(_sequence_entry(g) for g in seqs)
        else:
            entries.extend(_camera_entries(child))
    if not entries:
        raise FootageError(f"{root}: no videos found; expected ROOT/<camera>/<slot>.<video> ({', '.join(VIDEO_EXTS)}), "
                           f"ROOT/<camera>/<slot>/000001.jpg ..., MOTChallenge sequences (SEQ/img1, SEQ/seqinfo.ini) or a manifest CSV")
    return _number(entries)


def _cell(r: pd.Series, col: str) -> str | None:
    v = r.get(col)
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    v = str(v).strip()
    return v or None


def _manifest_file(path: Path, row: int, r: pd.Series, col: str) -> Path | None:
    v = _cell(r, col)
    if v is None:
        return None
    p = Path(v)
    p = p if p.is_absolute() else path.parent / p
    if not p.is_file():
        raise FootageError(f"{path}, row {row}: {col} file {p} does not exist")
    return p


def _manifest_number(path: Path, row: int, r: pd.Series, col: str, *, positive: bool = False) -> float | None:
    v = _cell(r, col)
    if v is None:
        return None
    try:
        x = float(v)
    except ValueError:
        raise FootageError(f"{path}, row {row}: {col} {v!r} is not a number") from None
    if positive and not x > 0:
        raise FootageError(f"{path}, row {row}: {col} {v!r} must be positive")
    return x


def _from_manifest(path: Path) -> list[VideoSource]:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as e:
        raise FootageError(f"{path}: not a readable CSV manifest ({e})") from e
    missing = {"path", "camera", "slot"} - set(df.columns)
    if missing:
        raise FootageError(f"{path}: manifest lacks column(s) {sorted(missing)}; expected path, camera, slot"
                           f"[, start_time, truth, detections, fps]")
    entries = []
    for i, r in df.iterrows():
        row = int(i) + 2
        for col in ("camera", "slot"):
            try:
                safe_component(r[col], col)
            except UnsafePathError as e:
                raise FootageError(f"{path}, row {row}: {e}") from None
        if _cell(r, "path") is None:
            raise FootageError(f"{path}, row {row}: path is empty")
        p = Path(str(r["path"]).strip())
        p = p if p.is_absolute() else path.parent / p
        truth, dets = _manifest_file(path, row, r, "truth"), _manifest_file(path, row, r, "detections")
        if p.is_dir() and is_sequence(p):
            p, seq_truth, seq_dets = _sequence_parts(p)
        else:
            seq_truth, seq_dets = _truth_beside(p), _detections_beside(p)
        entries.append((str(r["camera"]), str(r["slot"]), p, _manifest_number(path, row, r, "start_time"),
                        truth or seq_truth, dets or seq_dets, _manifest_number(path, row, r, "fps", positive=True)))
    if not entries:
        raise FootageError(f"{path}: manifest lists no videos")
    return _number(entries)


def _number(entries) -> list[VideoSource]:
    cams = {c: i + 1 for i, c in enumerate(sorted({e[0] for e in entries}))}
    out, seen = [], set()
    for cam, slot, path, start, truth, dets, fps in sorted(entries, key=lambda e: (e[0], e[1])):
        try:  # both become folder and file names of the dataset and its shards
            safe_component(cam, "camera")
            safe_component(slot, "slot")
        except UnsafePathError as e:
            raise FootageError(f"{path}: {e}") from None
        vid = f"{cam}/{slot}"
        if vid in seen:
            raise FootageError(f"{path}: a second video for camera {cam!r}, slot {slot!r}")
        seen.add(vid)
        out.append(VideoSource(Path(path), cam, cams[cam], slot, vid, start, truth, dets, fps))
    return out


def _path(video: VideoSource | str | os.PathLike) -> Path:
    return video.path if isinstance(video, VideoSource) else Path(video)


# -- image sequences ------------------------------------------------------------------------------


def _seqinfo_of(folder: Path) -> SeqInfo | None:
    """The ``seqinfo.ini`` describing image folder ``folder``: its sequence's (beside it, naming it as
    ``imDir``), or one inside it."""
    for cand in (folder.parent / SEQINFO, folder / SEQINFO):
        if cand.is_file():
            info = read_seqinfo(cand)
            if cand.parent == folder or info.im_dir == folder.name:
                return info
    return None


def frame_files(folder: str | os.PathLike) -> list[Path]:
    """The frame images of an image folder in frame order, those that should be there included.

    With a ``seqinfo.ini`` (see :func:`_seqinfo_of`) frames are numbered 1..``seqLength`` with
    ``imExt``, as MOTChallenge names them (``000001.jpg``; the digit count is that of the files
    present).  Without, the numbered images present run from the lowest number to the highest, and
    the numbers between that have no file are frames missing (reading them is an error).
    """
    folder = Path(folder)
    try:
        present = sorted((int(os.path.splitext(e.name)[0]), e.name) for e in _numbered_images(folder))
    except OSError as e:
        raise FootageError(f"{folder}: cannot be read ({describe_os_error(e).rsplit(': ', 1)[-1]})") from None
    info = _seqinfo_of(folder)
    if info is not None and info.length:
        with_ext = [name for _, name in present if os.path.splitext(name)[1].lower() == info.im_ext.lower()]
        digits = len(os.path.splitext(with_ext[0])[0]) if with_ext else 6
        return [folder / f"{k:0{digits}d}{info.im_ext}" for k in range(1, info.length + 1)]
    if not present:
        raise FootageError(f"{folder}: is a folder without numbered frame images; expected a video file, "
                           f"or frames named 000001.jpg, 000002.jpg, ... ({', '.join(IMAGE_EXTS)})")
    names = dict(present)
    digits = {len(os.path.splitext(n)[0]) for n in names.values()}
    width = digits.pop() if len(digits) == 1 else 0
    ext = os.path.splitext(present[0][1])[1]
    first, last = present[0][0], present[-1][0]
    return [folder / names.get(k, f"{k:0{width}d}{ext}") for k in range(first, last + 1)]


def _imread(f: Path) -> np.ndarray:
    if not f.is_file():
        raise FootageError(f"{f}: frame image is missing")
    img = cv2.imread(str(f), cv2.IMREAD_COLOR)
    if img is None:
        raise FootageError(f"{f}: frame image cannot be read or decoded (corrupt, truncated, or not an image)")
    return img


def _probe_images(folder: Path, video: VideoSource | None) -> VideoInfo:
    files = frame_files(folder)
    missing = next((f for f in files if not f.is_file()), None)
    if missing is not None:
        k = files.index(missing)
        raise FootageError(f"{missing}: frame image is missing (frame {k + 1} of the {len(files)} of {folder})")
    h, w = _imread(files[0]).shape[:2]
    info = _seqinfo_of(folder)
    if video is not None and video.fps:
        fps, src = float(video.fps), "manifest"
    elif info is not None and info.fps:
        fps, src = float(info.fps), SEQINFO
    else:
        fps, src = DEFAULT_FPS, "default"
    return VideoInfo(frames=len(files), fps=fps, width=w, height=h, fps_source=src)


def _read_images(folder: Path, step: int, want: set[int] | None, strict: bool) -> Iterator[tuple[int, np.ndarray]]:
    files = frame_files(folder)
    order = sorted(i for i in want if 0 <= i < len(files)) if want is not None else range(0, len(files), step)
    shape = None
    for i in order:
        try:
            img = _imread(files[i])
        except FootageError:
            if strict:
                raise
            continue
        if shape is None:
            shape = img.shape
        elif img.shape != shape:
            if strict:
                raise FootageError(f"{files[i]}: frame image is {img.shape[1]}x{img.shape[0]}, the sequence's frames {shape[1]}x{shape[0]}")
            continue
        yield i, img


# -- videos ---------------------------------------------------------------------------------------


def _open(path: Path) -> cv2.VideoCapture:
    if not path.exists():
        raise FootageError(f"{path}: video file is missing")
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


def _image_folder(path: Path) -> bool:
    """A folder is read as an image sequence; one named like a video file is an error instead."""
    if not path.is_dir():
        return False
    if path.suffix.lower() in VIDEO_EXTS:
        raise FootageError(f"{path}: is a folder, not a video file")
    return True


def probe(video: VideoSource | str | os.PathLike) -> VideoInfo:
    """Frame count, fps and size, or :class:`FootageError` for a missing, unreadable or empty video,
    or an image sequence with a missing or unreadable frame image.

    The frame rate is the manifest's (``VideoSource.fps``), else ``seqinfo.ini``'s for an image
    sequence, else the container's, else 25 (see :attr:`VideoInfo.fps_source`).
    """
    path = _path(video)
    source = video if isinstance(video, VideoSource) else None
    if _image_folder(path):
        return _probe_images(path, source)
    cap = _open(path)
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        declared = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        ok, frame = cap.read()
        if not ok or frame is None:
            raise FootageError(f"{path}: video holds no decodable frame (empty or corrupt)")
        h, w = frame.shape[:2]
    finally:
        cap.release()
    if source is not None and source.fps:
        fps, src = float(source.fps), "manifest"
    elif np.isfinite(declared) and 0 < declared < 1000:  # some containers report 0, NaN or 90000 (a time base)
        fps, src = declared, "container"
    else:
        fps, src = DEFAULT_FPS, "default"
    return VideoInfo(frames=max(n, 1), fps=fps, width=w, height=h, fps_source=src)


def read_frames(video: VideoSource | str | os.PathLike, *, step: int = 1, indices: Iterable[int] | None = None,
                strict: bool = True) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame index, BGR image)`` of every ``step``-th frame, or of the frames ``indices`` only
    (0-based, in increasing order; an index past the end is simply not there).

    Frames of a video file are decoded in order, never sought to: seeking is
    unreliable in MPEG-4.  With ``indices`` decoding stops after the last one
    wanted.  A video that stops decoding well before the frame count its
    container declares is truncated: with ``strict`` (the default) that is a
    :class:`FootageError` naming the file, after the last good frame; without,
    the frames that decoded are all there is.

    An image folder (a MOTChallenge ``img1/``) is read file by file, only the
    frames asked for; with ``strict`` a missing or unreadable frame image, or
    one of another size, is a :class:`FootageError` naming that file; without,
    such a frame is simply not there.
    """
    if indices is not None and step != 1:
        raise InputError(f"read_frames: give a step or indices, not both (step={step})")
    if step < 1:
        raise InputError(f"read_frames: step must be at least 1, got {step}")
    want = None if indices is None else {int(i) for i in indices}
    if want is not None and not want:
        return
    path = _path(video)
    if _image_folder(path):
        yield from _read_images(path, step, want, strict)
        return
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
