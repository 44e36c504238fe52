"""Reading and writing a dataset folder in the project's schema.

Writes are all-or-nothing: a folder is built under a temporary name beside its
destination and renamed into place only once every file is complete, so a
crash or a validation error never leaves a half-written dataset behind.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lsvid_core.errors import InputError, MissingInputError
from lsvid_core.paths import atomic_write, atomic_write_text, check_output, staged_folder

from .protocol import Protocol
from .schema import (
    FRAMES_FILE,
    META_FILE,
    SCHEMA_VERSION,
    TRACKLETS_FILE,
    TRIALS_FILE,
    SchemaError,
    validate_frames,
    validate_meta,
    validate_tracklets,
    validate_trials,
)


@dataclass
class Dataset:
    """A dataset folder held in memory: tracklets, frames, trials and metadata."""

    root: Path
    tracklets: pd.DataFrame
    frames: pd.DataFrame | None
    meta: dict[str, Any]
    trials: pd.DataFrame | None = None
    trial: int | None = field(default=None)

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.root.name))

    @property
    def protocol(self) -> Protocol:
        return Protocol.from_dict(self.meta.get("protocol", {"name": self.name}))

    @property
    def num_trials(self) -> int:
        return 1 if self.trials is None else int(self.trials["trial"].nunique())

    @property
    def image_root(self) -> Path:
        """Where frame paths are relative to: the native root, or the dataset folder."""
        r = self.meta.get("image_root")
        if r is None:
            return self.root
        p = Path(r)
        return p if p.is_absolute() else (self.root / p)

    def split(self, name: str) -> pd.DataFrame:
        return self.tracklets[self.tracklets["split"] == name]

    def for_trial(self, k: int) -> Dataset:
        """The same dataset with each tracklet's split as trial ``k`` assigns it."""
        if self.trials is None:
            if k != 0:
                raise InputError(f"{self.name} has a single fixed split; trial {k} does not exist")
            return self
        t = self.trials[self.trials["trial"] == k]
        if t.empty:
            raise InputError(f"{self.name} has trials 0..{self.num_trials - 1}; trial {k} does not exist")
        m = dict(zip(t["tracklet_id"].to_numpy().tolist(), t["split"].tolist()))
        tr = self.tracklets.copy()
        tr["split"] = tr["tracklet_id"].map(m).astype("string")
        return replace(self, tracklets=tr, trial=k)

    def frame_paths(self, tracklet_ids: Iterable[int] | None = None) -> list[Path]:
        """Absolute frame paths in ``frames.parquet`` order (optionally for some tracklets)."""
        if self.frames is None:
            raise ValueError(f"{self.root}: frames were not loaded (read_dataset(..., frames=True))")
        fr = self.frames
        if tracklet_ids is not None:
            fr = fr[fr["tracklet_id"].isin(list(tracklet_ids))]
        base = self.image_root
        return [base / p for p in fr["path"].tolist()]

    def missing_frames(self, limit: int = 10) -> tuple[int, list[Path]]:
        """(number of frame files that do not exist, the first ``limit`` of them).

        One directory listing per folder rather than one stat per frame, so
        checking LS-VID's three million frames takes seconds.
        """
        if self.frames is None:
            raise ValueError(f"{self.root}: frames were not loaded (read_dataset(..., frames=True))")
        base = self.image_root
        paths = self.frames["path"].astype(str)
        split = paths.str.rpartition("/")
        listing: dict[str, set[str]] = {}
        for d in split[0].unique().tolist():
            folder = base / d
            listing[d] = set(os.listdir(folder)) if folder.is_dir() else set()
        have = np.fromiter((n in listing[d] for d, n in zip(split[0].tolist(), split[2].tolist())), bool, len(paths))
        missing = np.flatnonzero(~have)
        return int(len(missing)), [base / paths.iloc[i] for i in missing[:limit]]

    def counts(self) -> dict[str, Any]:
        return compute_counts(self.tracklets)


def compute_counts(tr: pd.DataFrame, junk_pids: Sequence[int] = (-1,)) -> dict[str, Any]:
    """Per split: tracklets, identities, frames; plus totals (the paper's Table 1 columns).

    With query tracklets, ``protocol_check`` says how many the protocol can
    answer (:func:`protocols.evaluation.query_check`: queries, gallery,
    answerable queries and their share, identities with a query), ignoring
    ``junk_pids`` (-1, the schema's "no identity", by default).  For PRID and
    iLIDS the tracklet table holds trial 0's split, so these are trial 0's
    numbers; :func:`protocols.evaluation.query_checks` gives every trial.
    """
    out: dict[str, Any] = {}
    for s, g in tr.groupby("split", sort=False):
        out[str(s)] = {
            "tracklets": int(len(g)),
            "identities": int(g["person_id"].nunique()),
            "frames": int(g["num_frames"].sum()),
        }
    # a tracklet listed in both query and gallery (shared source_id) is one sequence
    if "source_id" in tr.columns:
        has = tr["source_id"].notna()
        uniq = pd.concat([tr[has].drop_duplicates("source_id"), tr[~has]])
    else:
        uniq = tr
    out["total"] = {
        "tracklets": int(len(uniq)),
        "identities": int(tr["person_id"].nunique()),
        "frames": int(uniq["num_frames"].sum()),
        "cameras": int(tr["camera_id"].nunique()),
    }
    if (tr["split"] == "query").any():
        from .evaluation import query_check  # evaluation imports this module

        out["protocol_check"] = query_check(tr, junk_pids)
    return out


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise MissingInputError(f"{path}: missing (a dataset folder holds {TRACKLETS_FILE}, {FRAMES_FILE}, {META_FILE})")
    if not path.is_file():
        raise SchemaError(str(path), "is a folder, not a Parquet file")
    try:
        return pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for damaged files
        raise SchemaError(str(path), f"not a readable Parquet file ({e})") from e


def read_dataset(path: str | os.PathLike, *, frames: bool = True, validate: bool = True) -> Dataset:
    """Read a dataset folder; with ``validate`` every schema rule is checked.

    ``frames=False`` skips ``frames.parquet`` (fast; enough for counts and
    protocol settings).  Violations raise :class:`SchemaError`.
    """
    root = Path(path)
    if not root.is_dir():
        raise MissingInputError(f"{root}: not a dataset folder (expected {TRACKLETS_FILE}, {FRAMES_FILE}, {META_FILE})")
    meta_path = root / META_FILE
    if not meta_path.exists():
        raise MissingInputError(f"{meta_path}: missing; {root} is not a dataset folder (expected {TRACKLETS_FILE}, {FRAMES_FILE}, {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise SchemaError(str(meta_path), f"not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise SchemaError(str(meta_path), "expected a JSON object")
    sv = meta.get("schema_version")
    if sv != SCHEMA_VERSION:
        raise SchemaError(str(meta_path), f"schema_version {sv!r}; this toolkit reads version {SCHEMA_VERSION}")
    tr = _read_table(root / TRACKLETS_FILE)
    fr = _read_table(root / FRAMES_FILE) if frames else None
    trials = _read_table(root / TRIALS_FILE) if (root / TRIALS_FILE).exists() else None
    if validate:
        validate_meta(meta, str(meta_path))
        tr = validate_tracklets(tr, str(root / TRACKLETS_FILE))
        if fr is not None:
            fr = validate_frames(fr, tr, str(root / FRAMES_FILE))
        if trials is not None:
            trials = validate_trials(trials, tr, str(root / TRIALS_FILE))
    return Dataset(root=root, tracklets=tr, frames=fr, meta=meta, trials=trials)


def build_meta(meta: dict[str, Any], tracklets: pd.DataFrame, trials: pd.DataFrame | None) -> dict[str, Any]:
    m = dict(meta)
    m["schema_version"] = SCHEMA_VERSION
    m.setdefault("name", "dataset")
    validate_meta(m)
    m["counts"] = compute_counts(tracklets)
    if trials is not None:
        m["num_trials"] = int(trials["trial"].nunique())
    return m


def write_tables(
    folder: str | os.PathLike,
    tracklets: pd.DataFrame,
    frames: pd.DataFrame,
    meta: dict[str, Any],
    trials: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Validate, then write the tables into an existing folder, each file atomically.

    ``dataset.json`` is written last: a folder without it is not a dataset, so
    a crash between files never leaves something that reads as complete.
    Returns the metadata written.
    """
    folder = Path(folder)
    tr = validate_tracklets(tracklets)
    fr = validate_frames(frames, tr)
    tl = validate_trials(trials, tr) if trials is not None else None
    full = build_meta(meta, tr, tl)
    meta_path = folder / META_FILE
    if meta_path.exists():
        meta_path.unlink()
    atomic_write(folder / TRACKLETS_FILE, lambda t: tr.to_parquet(t, index=False))
    atomic_write(folder / FRAMES_FILE, lambda t: fr.to_parquet(t, index=False))
    if tl is not None:
        atomic_write(folder / TRIALS_FILE, lambda t: tl.to_parquet(t, index=False))
    elif (folder / TRIALS_FILE).exists():
        (folder / TRIALS_FILE).unlink()
    atomic_write_text(meta_path, json.dumps(full, indent=2, sort_keys=True) + "\n")
    return full


def write_dataset(
    out: str | os.PathLike,
    tracklets: pd.DataFrame,
    frames: pd.DataFrame,
    meta: dict[str, Any],
    trials: pd.DataFrame | None = None,
    *,
    overwrite: bool = False,
    inputs: Sequence[tuple[str, str | os.PathLike | None]] = (),
) -> Path:
    """Write a new dataset folder all-or-nothing.

    The folder is assembled as a hidden sibling and renamed into place; an
    existing folder is replaced only with ``overwrite=True``, only after the
    new one is complete, and only when it is a folder this tool wrote that
    neither is, contains nor lies inside one of ``inputs`` (``(option, path)``
    pairs of what the caller read), see :func:`lsvid_core.paths.check_output`.
    """
    out = check_output(out, overwrite=overwrite, inputs=inputs, kind="dataset folder")
    tool = str((meta.get("build") or {}).get("tool", "lsvid"))
    with staged_folder(out, kind="dataset", tool=tool) as tmp:
        write_tables(tmp, tracklets, frames, meta, trials)
    return out


def tables_from_sequences(
    sequences: list[dict[str, Any]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the two tables from a list of sequences.

    Each sequence is a dict with ``person_id``, ``camera_id``, ``split`` and
    ``paths`` (frame paths in order), plus optional provenance columns
    (``source_id``, ``video``, ...).  Tracklet ids are assigned 0..n-1 in list
    order, so a reader that lists its sequences deterministically writes
    byte-identical tables.
    """
    n = len(sequences)
    lengths = np.fromiter((len(s["paths"]) for s in sequences), dtype=np.int64, count=n)
    tr: dict[str, Any] = {
        "tracklet_id": np.arange(n, dtype=np.int64),
        "person_id": np.fromiter((s["person_id"] for s in sequences), dtype=np.int64, count=n),
        "camera_id": np.fromiter((s["camera_id"] for s in sequences), dtype=np.int32, count=n),
        "split": pd.array([s["split"] for s in sequences], dtype="string"),
        "num_frames": lengths.astype(np.int32),
    }
    extra = sorted({k for s in sequences for k in s} - {"person_id", "camera_id", "split", "paths"})
    for k in extra:
        vals = [s.get(k) for s in sequences]
        ints = all(v is None or (isinstance(v, (int, np.integer)) and not isinstance(v, bool)) for v in vals)
        tr[k] = pd.array(vals, dtype="Int64") if ints else vals
    tracklets = pd.DataFrame(tr)
    starts = np.r_[0, np.cumsum(lengths)[:-1]] if n else np.zeros(0, np.int64)
    frames = pd.DataFrame(
        {
            "tracklet_id": np.repeat(np.arange(n, dtype=np.int64), lengths),
            "frame_index": (np.arange(int(lengths.sum())) - np.repeat(starts, lengths)).astype(np.int32),
            "path": pd.array([p for s in sequences for p in s["paths"]], dtype="string"),
        }
    )
    return tracklets, frames
