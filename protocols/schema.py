"""The Parquet schema every part of the toolkit speaks, and its validation.

A dataset is a folder holding ``tracklets.parquet`` (one row per tracklet),
``frames.parquet`` (one row per frame) and ``dataset.json`` (how it was made);
see ``ARCHITECTURE.md``.  PRID-2011 and iLIDS-VID also carry ``trials.parquet``
(the split of every tracklet in each of their 10 random trials).

Validation is vectorised (LS-VID has three million frames) and every violation
is a :class:`SchemaError` naming the file, the column and the first offending
row, so a user can open the file and see what is wrong.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lsvid_core.errors import LsvidError

SCHEMA_VERSION = 1

TRACKLETS_FILE = "tracklets.parquet"
FRAMES_FILE = "frames.parquet"
TRIALS_FILE = "trials.parquet"
META_FILE = "dataset.json"

SPLITS: tuple[str, ...] = ("train", "val", "query", "gallery")

# column -> (kind, storage dtype).  kind is what a reader accepts: any integer
# width for "int", any float for "float", text for "str".
TRACKLET_REQUIRED: dict[str, tuple[str, str]] = {
    "tracklet_id": ("int", "int64"),
    "person_id": ("int", "int64"),
    "camera_id": ("int", "int32"),
    "split": ("str", "string"),
    "num_frames": ("int", "int32"),
}
TRACKLET_OPTIONAL: dict[str, tuple[str, str]] = {
    "video": ("str", "string"),
    "start_frame": ("int", "int64"),
    "end_frame": ("int", "int64"),
    "time_slot": ("str", "string"),
    "source_id": ("int", "int64"),
}
FRAME_REQUIRED: dict[str, tuple[str, str]] = {
    "tracklet_id": ("int", "int64"),
    "frame_index": ("int", "int32"),
    "path": ("str", "string"),
}
FRAME_OPTIONAL: dict[str, tuple[str, str]] = {
    "x": ("float", "float32"),
    "y": ("float", "float32"),
    "w": ("float", "float32"),
    "h": ("float", "float32"),
    "score": ("float", "float32"),
}
TRIAL_REQUIRED: dict[str, tuple[str, str]] = {
    "trial": ("int", "int32"),
    "tracklet_id": ("int", "int64"),
    "split": ("str", "string"),
}


class SchemaError(LsvidError, ValueError):
    """A dataset file breaks the schema; names the file, the column and a row."""

    def __init__(self, file: str, message: str, column: str | None = None, row: int | None = None):
        self.file = str(file)
        self.message = message
        self.column = column
        self.row = row
        where = self.file
        if column is not None:
            where += f", column '{column}'"
        if row is not None:
            where += f", row {row}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # picklable across worker processes despite the custom signature
        return (type(self), (self.file, self.message, self.column, self.row))


@dataclass(frozen=True)
class _Table:
    name: str
    required: Mapping[str, tuple[str, str]]
    optional: Mapping[str, tuple[str, str]]


TRACKLETS = _Table(TRACKLETS_FILE, TRACKLET_REQUIRED, TRACKLET_OPTIONAL)
FRAMES = _Table(FRAMES_FILE, FRAME_REQUIRED, FRAME_OPTIONAL)
TRIALS = _Table(TRIALS_FILE, TRIAL_REQUIRED, {})


def _kind_ok(series: pd.Series, kind: str) -> bool:
    dt = series.dtype
    if kind == "int":
        return pd.api.types.is_integer_dtype(dt) and not pd.api.types.is_bool_dtype(dt)
    if kind == "float":
        return pd.api.types.is_float_dtype(dt) or pd.api.types.is_integer_dtype(dt)
    if kind == "str":
        if pd.api.types.is_string_dtype(dt):
            return True
        if pd.api.types.is_object_dtype(dt):
            # object columns pass only when every value is a str (checked cheaply on
            # the non-null values; nulls are reported separately).
            vals = series.dropna()
            return bool(vals.map(type).eq(str).all())
        return False
    raise AssertionError(kind)


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def coerce_table(df: pd.DataFrame, table: _Table, file: str) -> pd.DataFrame:
    """Check required columns, their types and nulls; return a copy with storage dtypes.

    Extra columns are kept as they are: provenance a stage adds is not our business.
    """
    out = df.copy()
    for col, (kind, dtype) in {**table.required, **table.optional}.items():
        if col not in out.columns:
            if col in table.required:
                raise SchemaError(
                    file,
                    f"required column is missing (have: {', '.join(map(str, out.columns)) or 'none'})",
                    column=col,
                )
            continue
        s = out[col]
        if col in table.required:
            nulls = s.isna().to_numpy()
            if nulls.any():
                raise SchemaError(file, "null value in a required column", column=col, row=_first(nulls))
        nullable = col not in table.required and bool(s.isna().any())
        if nullable and kind == "int" and pd.api.types.is_float_dtype(s.dtype):
            # an optional integer column with gaps arrives as float; accept whole numbers only
            v = s.dropna().to_numpy()
            if not np.all(v == np.round(v)):
                r = _first((s.notna() & (s != s.round())).to_numpy())
                raise SchemaError(file, f"expected int values, found {s.iloc[r]}", column=col, row=r)
            s = s.astype("Int64")
        if not _kind_ok(s, kind):
            raise SchemaError(file, f"expected {kind} values, found dtype {s.dtype}", column=col)
        if kind == "int":
            lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
            v = s.dropna().to_numpy(dtype=np.int64) if nullable else s.to_numpy()
            if len(v) and (v.min() < lo or v.max() > hi):
                bad = ((s < lo) | (s > hi)).fillna(False).to_numpy()
                raise SchemaError(file, f"value {s.iloc[_first(bad)]} does not fit {dtype}", column=col, row=_first(bad))
        out[col] = s.astype(dtype.capitalize() if (nullable and kind == "int") else dtype)
    return out


def validate_tracklets(tr: pd.DataFrame, file: str = TRACKLETS_FILE) -> pd.DataFrame:
    """Validate a tracklet table on its own; returns it with storage dtypes."""
    tr = coerce_table(tr, TRACKLETS, file)
    ids = tr["tracklet_id"].to_numpy()
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        r = _first(dup)
        raise SchemaError(file, f"tracklet_id {ids[r]} is not unique", column="tracklet_id", row=r)
    bad = ~tr["split"].isin(SPLITS).to_numpy()
    if bad.any():
        r = _first(bad)
        raise SchemaError(
            file, f"split {tr['split'].iloc[r]!r} is not one of {', '.join(SPLITS)}", column="split", row=r
        )
    nf = tr["num_frames"].to_numpy()
    if (nf < 1).any():
        r = _first(nf < 1)
        raise SchemaError(file, f"tracklet {ids[r]} is empty (num_frames={nf[r]})", column="num_frames", row=r)
    if "source_id" in tr.columns:
        key = tr[["split", "source_id"]]
        d = (key.duplicated() & tr["source_id"].notna()).to_numpy()
        if d.any():
            r = _first(d)
            raise SchemaError(
                file,
                f"source_id {tr['source_id'].iloc[r]} appears twice in split {tr['split'].iloc[r]!r}",
                column="source_id",
                row=r,
            )
    return tr


def validate_frames(fr: pd.DataFrame, tr: pd.DataFrame, file: str = FRAMES_FILE) -> pd.DataFrame:
    """Validate frames against an already validated tracklet table."""
    fr = coerce_table(fr, FRAMES, file)
    tid = fr["tracklet_id"].to_numpy()
    fidx = fr["frame_index"].to_numpy()
    known = np.isin(tid, tr["tracklet_id"].to_numpy())
    if not known.all():
        r = _first(~known)
        raise SchemaError(file, f"tracklet_id {tid[r]} has no row in {TRACKLETS_FILE}", column="tracklet_id", row=r)
    if len(tid) > 1:
        # sorted by (tracklet_id, frame_index) with frame_index = 0..n-1 per tracklet
        step = np.diff(tid)
        if (step < 0).any():
            r = _first(step < 0) + 1
            raise SchemaError(file, "rows are not sorted by tracklet_id", column="tracklet_id", row=r)
    starts = np.r_[0, np.flatnonzero(np.diff(tid)) + 1] if len(tid) else np.zeros(0, np.int64)
    expected = np.arange(len(tid)) - np.repeat(starts, np.diff(np.r_[starts, len(tid)]))
    wrong = fidx != expected
    if wrong.any():
        r = _first(wrong)
        raise SchemaError(
            file,
            f"frame_index {fidx[r]} of tracklet {tid[r]} should be {expected[r]} "
            "(frames are numbered 0..n-1 within a tracklet, in order)",
            column="frame_index",
            row=r,
        )
    empty_path = (fr["path"].str.len() == 0).to_numpy()
    if empty_path.any():
        raise SchemaError(file, "empty path", column="path", row=_first(empty_path))
    escapes = escaping_paths(fr["path"])
    if escapes.any():
        r = _first(escapes)
        raise SchemaError(
            file, f"path {fr['path'].iloc[r]!r} leaves the image root (frame paths are relative, without '..')", column="path", row=r
        )
    counts = pd.Series(tid).value_counts()
    have = counts.reindex(tr["tracklet_id"].to_numpy()).fillna(0).to_numpy().astype(np.int64)
    declared = tr["num_frames"].to_numpy()
    mism = have != declared
    if mism.any():
        r = _first(mism)
        t = tr["tracklet_id"].iloc[r]
        msg = (
            f"tracklet {t} has no frames (it must have at least one)"
            if have[r] == 0
            else f"tracklet {t} declares num_frames={declared[r]} but {file} holds {have[r]} frames for it"
        )
        raise SchemaError(TRACKLETS_FILE, msg, column="num_frames", row=r)
    return fr


# a leading '/' or '\\', a drive letter, a NUL, or a '..' component
_ESCAPE = r"^[/\\]|^[A-Za-z]:|\x00|(?:^|[/\\])\.\.(?:[/\\]|$)"


def escaping_paths(paths: pd.Series) -> np.ndarray:
    """Per path: True when it is absolute or climbs out of its root with ``..``."""
    return paths.astype("string").str.contains(_ESCAPE, regex=True).fillna(False).to_numpy(bool)


def validate_meta(meta: dict, file: str = META_FILE) -> None:
    """The parts of ``dataset.json`` that other files depend on: its name becomes a folder name."""
    from lsvid_core.errors import ConfigError, UnsafePathError
    from lsvid_core.paths import safe_component

    if "name" in meta:
        try:
            safe_component(meta["name"], "name")
        except UnsafePathError as e:
            raise SchemaError(file, str(e), column="name") from None
    if "protocol" in meta:
        from .protocol import Protocol

        try:
            Protocol.from_dict(meta["protocol"])
        except ConfigError as e:
            raise SchemaError(file, str(e), column="protocol") from None


def validate_trials(trials: pd.DataFrame, tr: pd.DataFrame, file: str = TRIALS_FILE) -> pd.DataFrame:
    """Every trial assigns every tracklet exactly one allowed split."""
    trials = coerce_table(trials, TRIALS, file)
    bad = ~trials["split"].isin(SPLITS).to_numpy()
    if bad.any():
        r = _first(bad)
        raise SchemaError(file, f"split {trials['split'].iloc[r]!r} is not one of {', '.join(SPLITS)}", "split", r)
    known = np.isin(trials["tracklet_id"].to_numpy(), tr["tracklet_id"].to_numpy())
    if not known.all():
        r = _first(~known)
        raise SchemaError(file, f"tracklet_id {trials['tracklet_id'].iloc[r]} is unknown", "tracklet_id", r)
    dup = trials.duplicated(["trial", "tracklet_id"]).to_numpy()
    if dup.any():
        r = _first(dup)
        raise SchemaError(file, "tracklet listed twice in one trial", "tracklet_id", r)
    n = len(tr)
    per_trial = trials.groupby("trial").size()
    short = per_trial[per_trial != n]
    if len(short):
        t = int(short.index[0])
        raise SchemaError(file, f"trial {t} assigns {int(short.iloc[0])} of {n} tracklets", "trial")
    return trials
