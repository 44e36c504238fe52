"""Writing videos: the first codec OpenCV can really write and read back here, atomically.

OpenCV builds differ in which encoders they carry (this one has MPEG-4 Part 2
but no H.264 encoder), and a writer that "opens" may still produce nothing
readable, so the codec is chosen by writing and reading back a few frames
once per process.  A video is written under a temporary name beside its
destination and renamed into place only when complete.
"""
from __future__ import annotations

import functools
import os
import tempfile
import uuid
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from lsvid_core.errors import FileSystemError, MissingDependencyError

#: Tried in order: (fourcc, file extension).
CODECS: tuple[tuple[str, str], ...] = (("mp4v", ".mp4"), ("MJPG", ".avi"), ("XVID", ".avi"))


def _open(path: Path, fourcc: str, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    return cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), float(fps), size)


@functools.lru_cache(maxsize=1)
def video_codec() -> tuple[str, str]:
    """``(fourcc, extension)`` of the first codec in :data:`CODECS` that round-trips here."""
    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(3)]
    with tempfile.TemporaryDirectory() as d:
        for fourcc, ext in CODECS:
            path = Path(d) / f"probe{ext}"
            w = _open(path, fourcc, 25, (64, 48))
            if not w.isOpened():
                continue
            for f in frames:
                w.write(f)
            w.release()
            if video_info(path)["frames"] == len(frames):
                return fourcc, ext
    raise MissingDependencyError(f"OpenCV {cv2.__version__} here can write none of {[c for c, _ in CODECS]}; "
                       "install an opencv-python build with FFmpeg")


def video_info(path: str | os.PathLike) -> dict[str, float | int]:
    """Frame count (by decoding every frame, not the container's estimate), fps and size."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return {"frames": 0, "fps": 0.0, "width": 0, "height": 0}
        n = 0
        while cap.grab():
            n += 1
        return {"frames": n, "fps": float(cap.get(cv2.CAP_PROP_FPS)),
                "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))}
    finally:
        cap.release()


class VideoWriter:
    """Writes BGR frames to ``stem`` + the codec's extension; the file appears only on a clean close.

    Use as a context manager; :attr:`path` is the final file name.
    """

    def __init__(self, stem: str | os.PathLike, fps: float, size: tuple[int, int], codec: tuple[str, str] | None = None):
        self.fourcc, ext = codec or video_codec()
        stem = Path(stem)
        self.path = stem.with_name(stem.name + ext)
        self.size = (int(size[0]), int(size[1]))
        self._tmp = self.path.with_name(f".{stem.name}.tmp-{uuid.uuid4().hex[:8]}{ext}")
        self._writer = _open(self._tmp, self.fourcc, fps, self.size)
        if not self._writer.isOpened():
            raise FileSystemError(f"{self.path}: OpenCV cannot open a {self.fourcc} writer")
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if frame.shape[1::-1] != self.size or frame.dtype != np.uint8 or frame.ndim != 3:
            raise ValueError(f"{self.path}: frame {self.frames} is {frame.shape} {frame.dtype}; expected "
                             f"({self.size[1]}, {self.size[0]}, 3) uint8")
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and move it into place."""
        self._writer.release()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        self._writer.release()
        if self._tmp.exists():
            self._tmp.unlink()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if et is None:
            self.close()
        else:
            self.abort()
