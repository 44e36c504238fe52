"""A contact sheet of a footage folder: a few frames per video, read back from the written
files, with their truth boxes drawn, to see at a glance what the generator made."""
from __future__ import annotations

import os
import zlib
from pathlib import Path

import cv2
import numpy as np

from lsvid.footage import read_frames
from lsvid.mot import read_mot
from lsvid_core.errors import FileSystemError

from .footage import read_manifest


def id_colour(person_id: int) -> tuple[int, int, int]:
    """A bright BGR colour that stays the same for a person across cameras."""
    h = zlib.crc32(str(person_id).encode()) % 180
    hsv = np.array([[[h, 220, 255]]], np.uint8)
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])  # type: ignore[return-value]


def draw_truth(img: np.ndarray, rows: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Boxes of MOT rows ``(id, left, top, width, height, visibility)`` on a copy of ``img``,
    labelled with id and visibility; thin boxes mark people mostly hidden (visibility < 0.3)."""
    out = img.copy()
    for pid, x, y, w, h, vis in rows:
        c = id_colour(int(pid))
        p0 = (int(x * scale), int(y * scale))
        p1 = (int((x + w) * scale) - 1, int((y + h) * scale) - 1)
        cv2.rectangle(out, p0, p1, c, 1 if vis < 0.3 else 2)
        label = f"{int(pid)} {vis:.2f}"
        cv2.putText(out, label, (p0[0], max(p0[1] - 3, 9)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.putText(out, label, (p0[0], max(p0[1] - 3, 9)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, c, 1, cv2.LINE_AA)
    return out


def contact_sheet(footage_dir: str | os.PathLike, out_png: str | os.PathLike | None = None, *, per_video: int = 4,
                  tile_width: int = 400) -> Path:
    """Write a PNG grid: one row per video (camera, slot), ``per_video`` frames across, evenly
    spread over the video, each with its truth boxes.  Defaults to ``FOOTAGE/preview.png``.
    A truncated video is a :class:`lsvid.footage.FootageError` naming it."""
    root = Path(footage_dir)
    manifest = read_manifest(root)
    w, h = manifest["size"]
    scale = tile_width / w
    tile_h = int(round(h * scale))
    rows = []
    for v in manifest["videos"]:
        n = v["frames"]
        picks = [int(round((k + 1) * n / (per_video + 1))) for k in range(per_video)]
        frames = dict(read_frames(root / v["video"], indices=picks))
        truth = read_mot(root / v["truth"])
        tiles = []
        for f in picks:
            img = frames.get(f, np.zeros((h, w, 3), np.uint8))
            t = truth[truth["frame"] == f + 1][["id", "bb_left", "bb_top", "bb_width", "bb_height", "visibility"]].to_numpy()
            tile = draw_truth(cv2.resize(img, (tile_width, tile_h), interpolation=cv2.INTER_AREA), t, scale)
            cv2.putText(tile, f"cam{v['camera']:02d} slot{v['slot']:02d} frame {f + 1}", (4, tile_h - 6),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        rows.append(np.hstack([np.pad(t, ((2, 2), (2, 2), (0, 0))) for t in tiles]))
    sheet = np.vstack(rows) if rows else np.zeros((tile_h, tile_width, 3), np.uint8)
    path = Path(out_png) if out_png is not None else root / "preview.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet):
        raise FileSystemError(f"{path}: could not write the PNG")
    return path
