"""MOTChallenge files: the box truth curation reads and scores against, and writes for others.

Ground truth follows the MOTChallenge ``gt.txt`` layout, one box per line, no
header::

    frame, id, bb_left, bb_top, bb_width, bb_height, conf, class, visibility

``frame`` is 1-based; ``id`` the person id, the same in every camera (the
identity truth the curation pipeline is scored against); the box is in whole
pixels, 0-based (``bb_left`` is the column of the leftmost pixel), covers the
whole figure (occluded parts included) and is clipped to the frame; ``conf``
is the MOTChallenge consider flag (1, or 0 when nobody could see the person:
visibility 0); ``class`` is 1 (pedestrian); ``visibility`` is the share of the
figure's pixels not hidden by occluders, by people in front, or by the frame
edge.

Box coordinates are 0-based, as numpy and OpenCV index pixels, so
``image[top:top + height, left:left + width]`` is the box.  Some MOT tools
read boxes as 1-based MATLAB coordinates (``motmetrics.io.loadtxt`` subtracts
one); compare like with like.

Files are written with fixed number formats, so the same truth gives the same
bytes.  This module is the curation side's; :mod:`lsvid.synth` writes its
truth through it, never the other way round.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from lsvid_core.errors import InputError, MissingInputError
from lsvid_core.paths import atomic_write_text

MOT_COLUMNS: tuple[str, ...] = ("frame", "id", "bb_left", "bb_top", "bb_width", "bb_height", "conf", "class", "visibility")
MOT_DOC: dict[str, str] = {
    "frame": "frame number, 1-based",
    "id": "person id, the same in every camera and slot",
    "bb_left": "leftmost pixel column of the box (0-based)",
    "bb_top": "topmost pixel row of the box (0-based)",
    "bb_width": "box width in pixels (whole figure, occluded parts included, clipped to the frame)",
    "bb_height": "box height in pixels",
    "conf": "MOTChallenge consider flag: 1, or 0 when the person is completely hidden (visibility 0)",
    "class": "1 = pedestrian",
    "visibility": "share of the figure's pixels that are visible (not covered by occluders, people in front, or the frame edge)",
}
_MOT_INT = MOT_COLUMNS[:-1]


def mot_frame(rows: Iterable[tuple]) -> pd.DataFrame:
    """Truth rows (tuples in :data:`MOT_COLUMNS` order) as a typed DataFrame, sorted by frame and id."""
    df = pd.DataFrame(list(rows), columns=list(MOT_COLUMNS))
    df = df.astype({c: "int64" for c in _MOT_INT} | {"visibility": "float64"})
    return df.sort_values(["frame", "id"], kind="stable").reset_index(drop=True)


def format_mot(df: pd.DataFrame) -> str:
    """MOT ground truth as text (integers, visibility with three decimals)."""
    df = df.sort_values(["frame", "id"], kind="stable")
    cols = [df[c].to_numpy(np.int64) for c in _MOT_INT]
    vis = df["visibility"].to_numpy(np.float64)
    lines = [f"{f},{i},{x},{y},{w},{h},{c},{k},{v:.3f}" for f, i, x, y, w, h, c, k, v in zip(*cols, vis)]
    return "\n".join(lines) + ("\n" if lines else "")


def write_mot(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write MOT ground truth (columns :data:`MOT_COLUMNS`) to ``path``, atomically."""
    missing = [c for c in MOT_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: MOT truth needs columns {list(MOT_COLUMNS)}; missing {missing}")
    return atomic_write_text(path, format_mot(df))


def read_mot(path: str | os.PathLike) -> pd.DataFrame:
    """A MOTChallenge file as a DataFrame with :data:`MOT_COLUMNS`.

    Reads ground truth (9 columns) and detection/result files (6 to 10
    columns; a 10-column file's world coordinates are dropped); missing
    ``conf``/``class``/``visibility`` read as 1.  An empty file gives an empty
    frame with the right columns.
    """
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: no such MOT file")
    if path.stat().st_size == 0:
        return mot_frame([])
    try:
        raw = pd.read_csv(path, header=None, dtype=float)
    except ValueError as e:  # pandas' parser errors: text where numbers belong, ragged lines
        raise InputError(f"{path}: not a MOT file of comma-separated numbers ({e})") from None
    if raw.shape[1] < 6:
        raise InputError(f"{path}: a MOT file has at least 6 columns (frame, id, left, top, width, height); found {raw.shape[1]}")
    df = raw.iloc[:, : min(raw.shape[1], 9)].copy()
    df.columns = list(MOT_COLUMNS[: df.shape[1]])
    for c, default in (("conf", 1.0), ("class", 1.0), ("visibility", 1.0)):
        if c not in df.columns:
            df[c] = default
    if raw.shape[1] == 10:  # MOT15-style results: conf, x, y, z after the box
        df["class"], df["visibility"] = 1.0, 1.0
    bad = df[list(MOT_COLUMNS[:6])].isna().any(axis=1)
    if bad.any():
        raise InputError(f"{path}: line {int(np.flatnonzero(bad.to_numpy())[0]) + 1} has an empty value")
    # Boxes may be fractional in detection files; keep them as read there, integral in ground truth.
    out = df[list(MOT_COLUMNS)]
    ints = ["frame", "id", "conf", "class"] + [c for c in ("bb_left", "bb_top", "bb_width", "bb_height")
                                               if (out[c] == np.round(out[c])).all()]
    return out.astype({c: "int64" for c in ints}).sort_values(["frame", "id"], kind="stable").reset_index(drop=True)


__all__ = ["MOT_COLUMNS", "MOT_DOC", "format_mot", "mot_frame", "read_mot", "write_mot"]
