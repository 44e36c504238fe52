"""Helpers of the curation tests: videos that open but stop decoding part-way."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lsvid.footage import read_frames


def as_mjpg_avi(video: Path, out: Path) -> Path:
    """``video`` re-encoded as Motion-JPEG AVI at ``out``: cut short, such a file still opens and
    declares all its frames, then stops decoding (an MP4 cut short loses its index and cannot open)."""
    frames = [img for _, img in read_frames(video)]
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
    assert writer.isOpened(), "OpenCV here cannot write MJPG AVI"
    for img in frames:
        writer.write(img)
    writer.release()
    return out


def cut(path: Path, keep: float = 0.5) -> Path:
    """Truncate the file at ``path`` on disk to the first ``keep`` share of its bytes."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def blank_avi(path: Path, frames: int = 100, size: tuple[int, int] = (320, 180)) -> Path:
    """A Motion-JPEG AVI of ``frames`` grey frames (nobody in them)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, size)
    assert writer.isOpened(), "OpenCV here cannot write MJPG AVI"
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (i * 2) % 256, np.uint8))
    writer.release()
    return path
