"""MOTChallenge files: detections to curate from, ground truth to score against, and what this project writes.

Two kinds of file share the MOTChallenge text layout (one box per line, comma-separated, no header,
``frame`` 1-based) but not the meaning of their columns; read each with its own reader:

**Detections** (:func:`read_detections`; ``det/det.txt`` of a MOTChallenge sequence, ``<slot>.det.txt``
beside a video)::

    frame, id, bb_left, bb_top, bb_width, bb_height, conf[, x, y, z]

``id`` is -1 (a tracker's result file has its track ids there); ``conf`` is the detector's score, a
float of any range (MOT15/16 public detections 0..1, MOT17's DPM scores may be negative); 6-column
files have no score (read as 1.0).  The world coordinates ``x, y, z`` (-1) are ignored.  Boxes are
kept as written, fractional or not.

**Ground truth** (:func:`read_truth`; ``gt/gt.txt``, ``<slot>.gt.txt``)::

    MOT16/17/20:  frame, id, bb_left, bb_top, bb_width, bb_height, consider, class, visibility
    MOT15:        frame, id, bb_left, bb_top, bb_width, bb_height, consider, wx, wy, z

``id`` is the person; ``consider`` (column :data:`MOT_COLUMNS` calls ``conf``) is the devkit's flag:
1 = a box to score, 0 = ignore it; ``class`` (MOT16+) is 1 for pedestrians, other values are
vehicles, static people, reflections, ... (:data:`DISTRACTOR_CLASSES` are the ones whose matched
tracker boxes the devkit forgives); ``visibility`` (MOT16+) is the visible share of the person.
MOT15 truth has no class and no visibility: read as class 1 (MOT15 annotates pedestrians only)
and visibility 1; its world coordinates ``wx, wy, z`` are dropped.  Files of 6 to 8 columns read the
missing ones as 1.  :func:`truth_benchmark` says which devkit rules (``"MOT15"`` or ``"MOT17"``)
a truth file's columns call for.

A truth row counts (:func:`considered`) when its consider flag is not 0 and its class is 1:
the ``truth``/``file`` detector curates only those boxes, ``lsvid train-detector`` labels only
those, and ``lsvid curate --evaluate`` scores only against them (its detection recall/precision
also treats the others as "don't care"; its tracking scores are TrackEval's, which drops
consider-0 rows and forgives tracker boxes on distractor classes itself).  Visibility is a
separate, optional threshold that :func:`considered` never looks at (the detector's
``min_visibility``; ``train-detector``'s ``--min-visibility``, 0.3; ``--evaluate``'s don't-care
rule for boxes less than half visible); MOT15 truth, which has no visibility, reads as fully
visible and so passes every such threshold.

**What this project writes** (:func:`write_mot`, ``lsvid synth``) is MOT16-style ground truth:
``frame`` 1-based; ``id`` the person id, the same in every camera (the identity truth the
curation pipeline is scored against); the box in whole pixels, covering the whole figure
(occluded parts included), clipped to the frame; ``conf`` the consider flag (1, or 0 when
nobody could see the person: visibility 0); ``class`` 1; ``visibility`` the share of the
figure's pixels not hidden by occluders, by people in front, or by the frame edge.
:func:`write_detections` writes detection files (scores kept to full precision).

Box coordinates this project writes are 0-based, as numpy and OpenCV index pixels, so
``image[top:top + height, left:left + width]`` is the box.  MOTChallenge's own files are
1-based (MATLAB; ``motmetrics.io.loadtxt`` subtracts one).  Nothing here shifts boxes: a file is
read as written, so compare like with like — public detections and truth of one benchmark are in
one convention, and a one-pixel shift changes IoU by well under a percent at pedestrian sizes.

Files are written with fixed number formats, so the same table gives the same bytes.  This
module is the curation side's; :mod:`lsvid.synth` writes its truth through it, never the other
way round.
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
#: columns of :func:`read_detections`; ``conf`` is the detector's score there
DET_COLUMNS: tuple[str, ...] = ("frame", "id", "bb_left", "bb_top", "bb_width", "bb_height", "conf")
BOX_COLUMNS: tuple[str, ...] = ("bb_left", "bb_top", "bb_width", "bb_height")
PEDESTRIAN = 1
#: MOT16/17/20 classes whose matched tracker boxes the devkit removes: person on vehicle, static person, distractor, reflection
DISTRACTOR_CLASSES: tuple[int, ...] = (2, 7, 8, 12)
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


def _num(v: float) -> str:
    """A number as short as it can be written and read back exactly."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def format_detections(df: pd.DataFrame) -> str:
    """Detections as MOTChallenge ``det.txt`` text: ``frame,id,x,y,w,h,conf,-1,-1,-1``, every number
    written so that it reads back exactly."""
    df = df.sort_values(["frame"], kind="stable")
    ids = df["id"].to_numpy(np.int64) if "id" in df else np.full(len(df), -1, np.int64)
    cols = [df[c].to_numpy(np.float64) for c in BOX_COLUMNS + ("conf",)]
    lines = [f"{int(f)},{int(i)},{','.join(_num(v) for v in vals)},-1,-1,-1"
             for f, i, *vals in zip(df["frame"].to_numpy(np.int64), ids, *cols)]
    return "\n".join(lines) + ("\n" if lines else "")


def write_detections(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write detections (columns :data:`DET_COLUMNS`; ``id`` optional, -1) to ``path``, atomically."""
    missing = [c for c in DET_COLUMNS if c not in df.columns and c != "id"]
    if missing:
        raise InputError(f"{path}: MOT detections need columns {list(DET_COLUMNS)}; missing {missing}")
    return atomic_write_text(path, format_detections(df))


def _read_numbers(path: str | os.PathLike, what: str) -> tuple[Path, pd.DataFrame | None]:
    """The file's numbers as a float table (None for an empty file), or an error naming it."""
    path = Path(path)
    kind = f"MOT {what} file" if what else "MOT file"
    if not path.exists():
        raise MissingInputError(f"{path}: no such {kind}")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected a {kind}")
    if path.stat().st_size == 0:
        return path, None
    try:
        raw = pd.read_csv(path, header=None, dtype=float, skip_blank_lines=True)
    except ValueError as e:  # pandas' parser errors: text where numbers belong, ragged lines
        raise InputError(f"{path}: not a MOT file of comma-separated numbers ({e})") from None
    if raw.shape[1] < 6:
        raise InputError(f"{path}: a MOT file has at least 6 columns (frame, id, left, top, width, height); found {raw.shape[1]}")
    if raw.shape[1] > 10:
        raise InputError(f"{path}: a MOT file has at most 10 columns; found {raw.shape[1]}")
    _no_gaps(path, raw, min(raw.shape[1], 7))
    return path, raw


def _no_gaps(path: Path, raw: pd.DataFrame, ncols: int) -> None:
    bad = raw.iloc[:, :ncols].isna().any(axis=1).to_numpy()
    if bad.any():
        raise InputError(f"{path}: line {int(np.flatnonzero(bad)[0]) + 1} has an empty value")


def _integral(path: Path, raw: pd.DataFrame, col: int, name: str, hint: str = "") -> None:
    v = raw.iloc[:, col].to_numpy(np.float64)
    bad = v != np.round(v)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: line {k + 1}: {name} {v[k]:g} is not an integer{hint}")


def read_detections(path: str | os.PathLike) -> pd.DataFrame:
    """A MOTChallenge detection (or tracker result) file as a DataFrame with :data:`DET_COLUMNS`:
    ``frame`` and ``id`` integers, boxes and ``conf`` (the score) floats, as written.

    6 to 10 columns; a file without a score column reads ``conf`` 1.0.  An empty file gives an
    empty frame with the right columns.
    """
    path, raw = _read_numbers(path, "detection")
    if raw is None:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("frame", "id") else "float64") for c in DET_COLUMNS})
    _integral(path, raw, 0, "frame")
    _integral(path, raw, 1, "id")
    df = raw.iloc[:, :6].copy()
    df.columns = list(DET_COLUMNS[:6])
    df["conf"] = raw.iloc[:, 6] if raw.shape[1] >= 7 else 1.0
    df = df.astype({"frame": "int64", "id": "int64"} | {c: "float64" for c in DET_COLUMNS[2:]})
    return df.sort_values(["frame"], kind="stable").reset_index(drop=True)


def _truth_layout(ncols: int) -> str:
    return "MOT15" if ncols in (6, 7, 10) else "MOT17"


def read_truth(path: str | os.PathLike) -> pd.DataFrame:
    """A MOTChallenge ground-truth file as a DataFrame with :data:`MOT_COLUMNS` (``conf`` = the
    consider flag), MOT15 or MOT16/17/20 layout (see the module docstring), sorted by frame and id.

    Boxes stay as written (integers when every one is whole, else floats).  A file whose seventh
    column holds fractional scores, or whose ids are all -1, is a detection file and is refused
    with a message saying so.  An empty file gives an empty frame with the right columns.
    """
    path, raw = _read_numbers(path, "truth")
    if raw is None:
        return mot_frame([])
    n = raw.shape[1]
    if (raw.iloc[:, 1] == -1).all():
        raise InputError(f"{path}: every id is -1: a detection file, not ground truth (give it as detections: "
                         f"<slot>.det.txt, det/det.txt, or the manifest's 'detections' column)")
    _integral(path, raw, 0, "frame")
    _integral(path, raw, 1, "id")
    if n >= 7:
        _integral(path, raw, 6, "consider flag (column 7)", " — scores there make it a detection file, not ground truth")
    df = raw.iloc[:, :6].copy()
    df.columns = list(MOT_COLUMNS[:6])
    df["conf"] = raw.iloc[:, 6] if n >= 7 else 1.0
    if n in (8, 9):
        _no_gaps(path, raw, n)
        _integral(path, raw, 7, "class (column 8)")
        df["class"] = raw.iloc[:, 7]
    else:
        df["class"] = float(PEDESTRIAN)  # MOT15 (10 columns: consider, wx, wy, z) annotates pedestrians only
    df["visibility"] = raw.iloc[:, 8] if n == 9 else 1.0
    vis = df["visibility"].to_numpy(np.float64)
    if n == 9 and ((vis < 0) | (vis > 1)).any():
        k = int(np.flatnonzero((vis < 0) | (vis > 1))[0])
        raise InputError(f"{path}: line {k + 1}: visibility {vis[k]:g} is not a share in [0, 1]")
    ints = ["frame", "id", "conf", "class"] + [c for c in BOX_COLUMNS if (df[c] == np.round(df[c])).all()]
    return df.astype({c: "int64" for c in ints}).sort_values(["frame", "id"], kind="stable").reset_index(drop=True)


def truth_benchmark(path: str | os.PathLike) -> str:
    """The devkit rules a truth file's columns call for: ``"MOT17"`` (it has a class column:
    8 or 9 columns, MOT16/17/20 and this project's files) or ``"MOT15"`` (no class column: 6, 7
    or MOT15's 10)."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: no such MOT truth file")
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                return _truth_layout(len(line.strip().split(",")))
    return "MOT17"


def considered(truth: pd.DataFrame) -> np.ndarray:
    """Which truth rows count: consider flag not 0 and class pedestrian (boolean mask).  Visibility is
    not looked at: a caller that wants a threshold applies it to the ``visibility`` column itself."""
    return (truth["conf"].to_numpy() != 0) & (truth["class"].to_numpy() == PEDESTRIAN)


def read_mot(path: str | os.PathLike) -> pd.DataFrame:
    """A MOT file as a DataFrame with :data:`MOT_COLUMNS` — the reader before files were told
    apart; new code calls :func:`read_truth` or :func:`read_detections`.

    Ground truth reads as :func:`read_truth` does.  A detection file (fractional scores in the
    seventh column, or every id -1) reads with its scores as floats in ``conf`` and class and
    visibility 1, never cast to integers.
    """
    path, raw = _read_numbers(path, "")
    if raw is None:
        return mot_frame([])
    det = (raw.iloc[:, 1] == -1).all() or (raw.shape[1] >= 7 and (raw.iloc[:, 6] != np.round(raw.iloc[:, 6])).any())
    if not det:
        return read_truth(path)
    d = read_detections(path)
    d["class"], d["visibility"] = PEDESTRIAN, 1.0
    d = d.astype({"class": "int64"})
    ints = [c for c in BOX_COLUMNS if (d[c] == np.round(d[c])).all()]
    return d[list(MOT_COLUMNS)].astype({c: "int64" for c in ints}).sort_values(["frame", "id"], kind="stable").reset_index(drop=True)


__all__ = ["BOX_COLUMNS", "DET_COLUMNS", "DISTRACTOR_CLASSES", "MOT_COLUMNS", "MOT_DOC", "PEDESTRIAN", "considered",
           "format_detections", "format_mot", "mot_frame", "read_detections", "read_mot", "read_truth", "truth_benchmark",
           "write_detections", "write_mot"]
