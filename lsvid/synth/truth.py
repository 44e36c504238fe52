"""The truth files of a footage set: MOT ground truth per video, identities.csv, visits.csv,
footage.json.

MOT ground truth follows the MOTChallenge ``gt.txt`` layout, one box per line,
no header::

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

Every table is written with fixed number formats, so the same seed gives the
same bytes.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from lsvid_core.errors import InputError, MissingInputError

from .identity import identity_row
from .network import Plan

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


def _atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(text, encoding="utf-8", newline="\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
    path = Path(path)
    _atomic_write_text(path, format_mot(df))
    return path


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
    raw = pd.read_csv(path, header=None, dtype=float)
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


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """A table as CSV with a header, atomically, floats in a fixed format."""
    path = Path(path)
    _atomic_write_text(path, df.to_csv(index=False, lineterminator="\n", float_format="%.4f"))
    return path


def identities_table(plan: Plan) -> pd.DataFrame:
    """identities.csv: one row per person, attributes and where they are seen.

    ``cameras`` lists the cameras a person is seen in, space-separated in the
    order of their trip; ``distractor`` is true for people seen by exactly one
    camera; ``twin_of`` is the look-alike's id (-1: none); ``companion`` the
    person walking beside them (-1: none).
    """
    rows = []
    for p in plan.identities:
        cams = plan.cameras_of(p.person_id)
        row = identity_row(p)
        row.update(
            slot=plan.slot_of[p.person_id],
            num_cameras=len(cams),
            cameras=" ".join(str(c) for c in cams),
            distractor=len(cams) == 1,
            num_visits=sum(1 for v in plan.visits if v.person_id == p.person_id),
            companion=plan.companion_of.get(p.person_id, -1),
            planned_cameras=" ".join(str(c) for c in plan.planned_cameras.get(p.person_id, ())),
        )
        rows.append(row)
    df = pd.DataFrame(rows)
    first = ["person_id", "twin_of", "slot", "num_cameras", "cameras", "distractor", "num_visits", "companion"]
    return df[first + [c for c in df.columns if c not in first]]


def visits_table(plan: Plan) -> pd.DataFrame:
    """visits.csv: one row per pass of a person through a camera's view (a ground-truth
    tracklet), with its frames (1-based, inclusive), path sides, stop and companion."""
    rows = []
    for v, fr in zip(plan.visits, plan.frames):
        rows.append({
            "person_id": v.person_id, "camera": v.camera_id, "slot": v.slot, "order": v.order,
            "first_frame": fr.first + 1, "last_frame": fr.last + 1, "num_frames": fr.count,
            "enter": v.enter, "exit": v.exit, "paused": v.pause_at >= 0, "pause_s": v.pause_s,
            "pair_with": v.pair_with, "step_hz": v.step_hz, "step_length_m": v.step_length_m,
            "speed_mps": round(v.speed_mps, 4),
        })
    return pd.DataFrame(rows, columns=["person_id", "camera", "slot", "order", "first_frame", "last_frame", "num_frames",
                                       "enter", "exit", "paused", "pause_s", "pair_with", "step_hz", "step_length_m", "speed_mps"])


def write_json(data: dict[str, Any], path: str | os.PathLike) -> Path:
    path = Path(path)
    _atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path
