"""Identities across cameras: from truth, from a human-made CSV, or by constrained clustering.

* ``truth`` — each tracklet takes the majority truth person of its boxes
  (annotated or synthetic footage); a tracklet whose majority covers less than
  ``min_purity`` of its boxes is marked -1 (junk).  Truth ids are read in a
  *scope* (:func:`resolve_truth_ids`): MOTChallenge numbers the people of each
  sequence on its own, so person 3 of one video's ``gt.txt`` is not person 3
  of another's, and by default each video is its own scope; footage whose
  videos share one numbering (``lsvid synth``'s, or a scene annotated across
  cameras) is one scope.  Scopes after the first have their ids offset
  (:class:`TruthIds`) so that ids of different scopes never meet.
* ``FILE.csv`` — columns ``tracklet`` (the key ``<camera>/<slot>/<local_id>``
  that ``lsvid review`` writes) and ``person_id``; tracklets not listed are -1.
* ``cluster`` — average-linkage agglomerative clustering of the tracklets'
  mean appearance embeddings (cosine distance), with the constraint that two
  tracklets of one video overlapping in time are different people (one person
  is not in two places at once); merging stops at ``threshold``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lsvid_core.errors import ConfigError, InputError, MissingInputError

from .footage import VideoSource
from .mot import read_truth

#: ``--truth-ids``: ``auto`` asks the footage (see :func:`resolve_truth_ids`)
TRUTH_IDS = ("auto", "global", "per-video")
#: the manifest column naming the scope of a video's truth ids (blank: the video alone)
SCOPE_COLUMN = "truth_scope"
FOOTAGE_JSON = "footage.json"  # lsvid.synth.footage.MANIFEST, not imported: that would load the renderer


def tracklet_keys(tracklets: pd.DataFrame) -> list[str]:
    return [f"{c}/{s}/{i}" for c, s, i in zip(tracklets["camera"], tracklets["slot"], tracklets["local_id"])]


def from_truth(tracklets: pd.DataFrame, min_purity: float = 0.5) -> np.ndarray:
    if "truth_id" not in tracklets or (tracklets["truth_id"] < 0).all():
        raise InputError("--identities truth needs MOT truth beside the videos (<slot>.gt.txt) or a 'truth' manifest column; none matched")
    ok = (tracklets["truth_id"].to_numpy() >= 0) & (tracklets["truth_purity"].fillna(0).to_numpy() >= min_purity)
    return np.where(ok, tracklets["truth_id"].to_numpy(), -1).astype(np.int64)


@dataclass(frozen=True)
class TruthIds:
    """How truth person ids were read across videos (``dataset.json``'s ``build.truth_ids``).

    ``scopes`` maps each video (``video_id``) to its scope; videos of one scope
    share one numbering.  ``offsets`` is what is added to a video's truth ids
    (0 for every video of the first scope, ``k * stride`` for the k-th), so a
    dataset id ``p`` of a video is that video's truth id ``p - offset``:
    ``stride`` is a power of ten above every truth id, so with stride 10 person
    12 is person 2 of the second scope.  With one scope nothing is offset.
    """

    mode: str  # as asked: auto | global | per-video
    resolved: str  # global | per-video | manifest (the manifest's truth_scope column)
    reason: str  # why, for the log
    scopes: dict[str, str] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)
    stride: int = 0  # 0: one scope, nothing offset

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "resolved": self.resolved, "reason": self.reason, "stride": self.stride,
                "offsets": dict(self.offsets), "scopes": dict(self.scopes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TruthIds:
        return cls(mode=str(d["mode"]), resolved=str(d["resolved"]), reason=str(d.get("reason", "")),
                   scopes={str(k): str(v) for k, v in d.get("scopes", {}).items()},
                   offsets={str(k): int(v) for k, v in d.get("offsets", {}).items()}, stride=int(d.get("stride", 0)))

    def describe(self) -> str:
        """One log line: which numbering, why, and how ids of different scopes were kept apart."""
        if self.resolved == "global":
            return f"truth ids: global, one numbering across all {len(self.scopes)} video(s) ({self.reason})"
        n = len(set(self.scopes.values()))
        if n <= 1:
            return f"truth ids: {self.resolved}, one numbering ({self.reason}); nothing to keep apart"
        apart = f"; scope k's ids are offset by k * {self.stride}" if self.stride else ""
        # per-video truth never links a person across cameras: identities from it have no cross-camera queries
        hint = "; pass --truth-ids global if the videos share one numbering" if self.mode == "auto" else ""
        return f"truth ids: {self.resolved}, {n} numbering(s) kept apart ({self.reason}){apart}{hint}"

    def shift(self, table: pd.DataFrame, video_of: dict[str, str], key: str = "shard") -> pd.DataFrame:
        """``table`` with its ``truth_id`` (-1: nobody) moved into its scope's range; ``video_of`` maps
        the ``key`` column (a shard name) to its video."""
        if not self.stride or "truth_id" not in table or not len(table):
            return table
        off = np.array([self.offsets.get(video_of.get(str(k), ""), 0) for k in table[key]], np.int64)
        tid = table["truth_id"].to_numpy(np.int64)
        return table.assign(truth_id=np.where(tid >= 0, tid + off, tid))


def rendered_by_synth(footage: str | os.PathLike) -> bool:
    """Whether ``footage`` is a folder ``lsvid synth`` wrote (its ``footage.json`` names the generator)."""
    try:
        meta = json.loads((Path(footage) / FOOTAGE_JSON).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return _names_synth(meta)


def _names_synth(meta: object) -> bool:
    """Whether a ``footage.json`` document names ``lsvid synth`` as its generator."""
    gen = meta.get("generator") if isinstance(meta, dict) else None
    return isinstance(gen, dict) and gen.get("name") == "lsvid.synth"


def _footage_json(footage: Path) -> tuple[str, str] | None:
    """``(resolved, reason)`` when the footage folder's ``footage.json`` says how its truth ids are
    numbered: its ``truth_ids`` key, or ``lsvid synth``'s generator (one id per person in every camera)."""
    path = footage / FOOTAGE_JSON
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not readable JSON ({e}); fix it, or pass --truth-ids global or per-video") from None
    declared = meta.get("truth_ids") if isinstance(meta, dict) else None
    if declared is not None:
        if declared not in ("global", "per-video"):
            raise InputError(f"{path}: truth_ids {declared!r}; expected 'global' or 'per-video'")
        return str(declared), f"{FOOTAGE_JSON} says so"
    if _names_synth(meta):
        return "global", f"synthetic footage: {FOOTAGE_JSON} of lsvid synth, one id per person in every camera"
    return None


def _manifest_scopes(manifest: Path) -> dict[str, str] | None:
    """``video_id -> scope`` from a manifest's ``truth_scope`` column (a blank cell: the video alone), or
    None without that column.  Camera and slot are read as :func:`lsvid.footage.find_videos` reads them."""
    try:
        df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    except Exception as e:  # noqa: BLE001 - pandas raises many types; find_videos has read it already
        raise InputError(f"{manifest}: not a readable CSV manifest ({e})") from None
    if SCOPE_COLUMN not in df.columns:
        return None
    out = {}
    for cam, slot, scope in zip(df["camera"].astype(str), df["slot"].astype(str), df[SCOPE_COLUMN].astype(str)):
        vid = f"{cam}/{slot}"
        out[vid] = f"{SCOPE_COLUMN}={scope.strip()}" if scope.strip() else vid
    return out


def resolve_truth_ids(mode: str, footage: str | os.PathLike, videos: Sequence[VideoSource]) -> TruthIds:
    """Which videos share a truth-id numbering (see :class:`TruthIds`).

    ``global``: all of them; ``per-video``: none; ``auto``: what the footage declares, a folder's
    ``footage.json`` (``lsvid synth``'s: global; or its ``"truth_ids"`` key) or a manifest's
    ``truth_scope`` column (videos with the same value share one numbering; a blank cell, the video
    alone), else per video, as MOTChallenge numbers each sequence.
    """
    if mode not in TRUTH_IDS:
        raise ConfigError(f"--truth-ids {mode!r}: expected one of {', '.join(TRUTH_IDS)}")
    root = Path(footage)
    if mode == "auto":
        declared = _footage_json(root) if root.is_dir() else None
        scopes = _manifest_scopes(root) if root.is_file() else None
        if declared is not None:
            resolved, reason = declared
        elif scopes is not None:
            resolved, reason = "manifest", f"the manifest's {SCOPE_COLUMN} column"
        else:
            resolved, reason = "per-video", "MOTChallenge-style truth numbers each video's people apart; nothing declares otherwise"
    else:
        resolved, reason, scopes = mode, f"--truth-ids {mode}", None
    if resolved == "global":
        by_video = {v.video_id: "global" for v in videos}
    elif resolved == "manifest":
        by_video = {v.video_id: scopes.get(v.video_id, v.video_id) for v in videos}
    else:
        by_video = {v.video_id: v.video_id for v in videos}
    offsets, stride = _offsets(videos, by_video)
    return TruthIds(mode=mode, resolved=resolved, reason=reason, scopes=by_video, offsets=offsets, stride=stride)


def _offsets(videos: Sequence[VideoSource], scopes: dict[str, str]) -> tuple[dict[str, int], int]:
    """Each video's id offset and the stride (see :class:`TruthIds`); only videos with truth count."""
    with_truth = [v for v in videos if v.truth is not None and Path(v.truth).is_file()]
    names = list(dict.fromkeys(scopes[v.video_id] for v in with_truth))  # scopes in (camera, slot) order
    if len(names) <= 1:
        return {v.video_id: 0 for v in videos}, 0
    top = 0
    for v in with_truth:
        ids = read_truth(v.truth)["id"]
        top = max(top, int(ids.max()) if len(ids) else 0)
    stride = 10 ** len(str(top))  # the first power of ten above every id: person 12 is person 2 of scope 1
    index = {s: k for k, s in enumerate(names)}
    return {v.video_id: index[scopes[v.video_id]] * stride if scopes[v.video_id] in index else 0 for v in videos}, stride


def read_identity_csv(path: str | os.PathLike) -> pd.DataFrame:
    """The ``tracklet, person_id`` table of an identity CSV (as ``lsvid review`` writes it), checked:
    a missing or unreadable file, missing columns or a person id that is not an integer name the file."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: identity CSV is missing")
    try:
        df = pd.read_csv(path)
    except Exception as e:  # noqa: BLE001 - pandas raises many types for files that are not CSV
        raise InputError(f"{path}: not a readable CSV ({e})") from None
    missing = {"tracklet", "person_id"} - set(df.columns)
    if missing:
        raise InputError(f"{path}: lacks column(s) {sorted(missing)}; expected 'tracklet' (<camera>/<slot>/<local_id>) and 'person_id'")
    num = pd.to_numeric(df["person_id"], errors="coerce")
    bad = (num.isna() | (num != num.round())).to_numpy()
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: row {r + 2}: person_id {str(df['person_id'].iloc[r])!r} is not an integer")
    return df


def from_csv(tracklets: pd.DataFrame, path: str | os.PathLike) -> np.ndarray:
    df = read_identity_csv(path)
    known = set(tracklet_keys(tracklets))
    unknown = [t for t in df["tracklet"].astype(str) if t not in known]
    if unknown:
        raise InputError(f"{path}: {len(unknown)} tracklet keys do not exist in this curation run (first: {unknown[0]!r})")
    m = dict(zip(df["tracklet"].astype(str), df["person_id"].astype(np.int64)))
    return np.array([m.get(k, -1) for k in tracklet_keys(tracklets)], dtype=np.int64)


def cannot_link(video: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(N, N) True where two tracklets are in the same video and overlap in time."""
    same = video[:, None] == video[None, :]
    overlap = (start[:, None] <= end[None, :]) & (start[None, :] <= end[:, None])
    cl = same & overlap
    np.fill_diagonal(cl, False)
    return cl


def cluster(embeddings: np.ndarray, forbid: np.ndarray | None = None, threshold: float = 0.4, *, center: bool = False) -> np.ndarray:
    """Constrained average-linkage clustering on cosine distance; labels 0..K-1 in order of first member.

    Clusters containing a forbidden pair are never merged.  Each step merges
    the closest allowed pair (ties: lowest indices) until the closest is
    farther than ``threshold``.  ``center`` subtracts the mean embedding
    first: histogram descriptors all live in the positive orthant, where
    every cosine distance is small; centred, they spread over the sphere.
    """
    e = np.asarray(embeddings, dtype=np.float64)
    n = len(e)
    if n == 0:
        return np.zeros(0, np.int64)
    if center:
        e = e - e.mean(axis=0)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    d = 1.0 - e @ e.T
    if forbid is not None:
        d[forbid] = np.inf
    np.fill_diagonal(d, np.inf)
    size = np.ones(n)
    parent = np.arange(n)
    alive = np.ones(n, bool)
    row_min = d.min(axis=1)
    row_arg = d.argmin(axis=1)
    while True:
        i = int(np.argmin(np.where(alive, row_min, np.inf)))
        if not alive[i] or not np.isfinite(row_min[i]) or row_min[i] > threshold:
            break
        j = int(row_arg[i])
        a, b = min(i, j), max(i, j)
        # Lance-Williams update for average linkage; inf (a forbidden pair) stays inf
        new = (size[a] * d[a] + size[b] * d[b]) / (size[a] + size[b])
        new[[a, b]] = np.inf
        d[a], d[:, a] = new, new
        d[b], d[:, b] = np.inf, np.inf
        size[a] += size[b]
        alive[b] = False
        parent[parent == b] = a
        row_min[b] = np.inf
        # rows that pointed at a or b, and row a itself, need a fresh minimum
        stale = alive & ((row_arg == a) | (row_arg == b))
        stale[a] = alive[a]
        for k in np.flatnonzero(stale):
            row_arg[k] = int(np.argmin(d[k]))
            row_min[k] = d[k, row_arg[k]]
        better = alive & (new < row_min)
        row_min[better] = new[better]
        row_arg[better] = a
    _, labels = np.unique(parent, return_inverse=True)
    # number clusters in order of their first member, so labels do not depend on merge order
    first = {}
    out = np.empty(n, np.int64)
    for idx, lab in enumerate(labels):
        out[idx] = first.setdefault(lab, len(first))
    return out


def clustering_quality(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Purity, inverse purity and pairwise F1 of predicted identities against truth.

    Tracklets without a true person (truth -1) or without an assigned one
    (pred -1, junk) are left out; how many were assigned is reported apart.
    """
    ok = (truth >= 0) & (pred >= 0)
    p, t = pred[ok], truth[ok]
    n = len(p)
    if n == 0:
        return {}
    ct = pd.crosstab(p, t).to_numpy()
    pairs_same_pred = (ct.sum(1) * (ct.sum(1) - 1)).sum() / 2
    pairs_same_truth = (ct.sum(0) * (ct.sum(0) - 1)).sum() / 2
    pairs_both = (ct * (ct - 1)).sum() / 2
    prec = pairs_both / pairs_same_pred if pairs_same_pred else 1.0
    rec = pairs_both / pairs_same_truth if pairs_same_truth else 1.0
    return {
        "purity": float(ct.max(1).sum() / n),
        "inverse_purity": float(ct.max(0).sum() / n),
        "pairwise_precision": float(prec),
        "pairwise_recall": float(rec),
        "pairwise_f1": float(2 * prec * rec / (prec + rec)) if prec + rec else 0.0,
        "identities_predicted": int(len(np.unique(p))),
        "identities_true": int(len(np.unique(t))),
        "assigned_share": float(ok.sum() / max((truth >= 0).sum(), 1)),
    }
