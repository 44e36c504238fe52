"""Helpers of the curation tests: videos that open but stop decoding part-way; a tiny MOTChallenge sequence."""
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


#: the people of :func:`mot_sequence`: id -> (first box x, y, w, h, x step per frame, BGR colour, consider flag)
SEQ_PEOPLE = {1: (20, 60, 30, 90, 3, (40, 40, 220), 1), 2: (260, 80, 32, 96, -3, (220, 120, 30), 1),
              3: (5, 170, 24, 60, 0, (40, 200, 40), 0)}


def _detection_conf(pid: int, f: int) -> float:
    return round(0.5 + 0.4 * ((pid * 7 + f * 13) % 97) / 96, 6)  # floats in 0.5..0.9, never whole


def mot_sequence(seq: Path, *, frames: int = 30, fps: float | None = 7, size: tuple[int, int] = (320, 240), seqinfo: bool = True,
                 det: bool = True, gt: bool = True) -> Path:
    """A tiny MOTChallenge sequence folder: ``img1/000001.jpg ...``, ``gt/gt.txt`` (MOT17 layout: two
    walkers and, consider flag 0, a third pedestrian standing still), ``det/det.txt`` (the walkers' boxes,
    jittered by a fraction of a pixel, with float scores, plus one faint false box per 10 frames at
    score 0.05) and ``seqinfo.ini`` (``frameRate`` ``fps``)."""
    w, h = size
    (seq / "img1").mkdir(parents=True)
    rng = np.random.default_rng(5)
    background = rng.integers(90, 160, (h, w, 3), dtype=np.uint8)
    gt_rows, det_rows = [], []
    for f in range(1, frames + 1):
        img = background.copy()
        for pid, (x0, y, bw, bh, dx, colour, consider) in SEQ_PEOPLE.items():
            x = x0 + dx * (f - 1)
            img[y:y + bh, x:x + bw] = colour
            img[y:y + bh // 4, x:x + bw] = (200, 200, 200)  # a head band, so that crops are not flat
            img[y + bh // 2:y + bh // 2 + 6, x:x + bw] = (20, 20, 20)
            gt_rows.append(f"{f},{pid},{x},{y},{bw},{bh},{consider},1,1")
            if consider:
                det_rows.append(f"{f},-1,{x + 0.25},{y - 0.5},{bw + 0.5},{bh},{_detection_conf(pid, f)},-1,-1,-1")
        if f % 10 == 0:
            det_rows.append(f"{f},-1,5.5,5.5,20,50,0.05,-1,-1,-1")
        assert cv2.imwrite(str(seq / "img1" / f"{f:06d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    if gt:
        (seq / "gt").mkdir()
        (seq / "gt" / "gt.txt").write_text("\n".join(gt_rows) + "\n")
    if det:
        (seq / "det").mkdir()
        (seq / "det" / "det.txt").write_text("\n".join(det_rows) + "\n")
    if seqinfo:
        rate = f"frameRate={fps:g}\n" if fps else ""
        (seq / "seqinfo.ini").write_text(f"[Sequence]\nname={seq.name}\nimDir=img1\n{rate}seqLength={frames}\n"
                                         f"imWidth={w}\nimHeight={h}\nimExt=.jpg\n")
    return seq
