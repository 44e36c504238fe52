"""Identities across cameras: from truth, from a human-made CSV, or by constrained clustering.

* ``truth`` — each tracklet takes the majority truth person of its boxes
  (annotated or synthetic footage); a tracklet whose majority covers less than
  ``min_purity`` of its boxes is marked -1 (junk).
* ``FILE.csv`` — columns ``tracklet`` (the key ``<camera>/<slot>/<local_id>``
  that ``lsvid review`` writes) and ``person_id``; tracklets not listed are -1.
* ``cluster`` — average-linkage agglomerative clustering of the tracklets'
  mean appearance embeddings (cosine distance), with the constraint that two
  tracklets of one video overlapping in time are different people (one person
  is not in two places at once); merging stops at ``threshold``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from lsvid_core.errors import InputError, MissingInputError


def tracklet_keys(tracklets: pd.DataFrame) -> list[str]:
    return [f"{c}/{s}/{i}" for c, s, i in zip(tracklets["camera"], tracklets["slot"], tracklets["local_id"])]


def from_truth(tracklets: pd.DataFrame, min_purity: float = 0.5) -> np.ndarray:
    if "truth_id" not in tracklets or (tracklets["truth_id"] < 0).all():
        raise InputError("--identities truth needs MOT truth beside the videos (<slot>.gt.txt) or a 'truth' manifest column; none matched")
    ok = (tracklets["truth_id"].to_numpy() >= 0) & (tracklets["truth_purity"].fillna(0).to_numpy() >= min_purity)
    return np.where(ok, tracklets["truth_id"].to_numpy(), -1).astype(np.int64)


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
