"""Scoring a dataset: its query/gallery split(s), its protocol, and one feature per tracklet."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from lsvid_core.errors import InputError

from .dataset import Dataset
from .metrics import EvalResult, evaluate, evaluate_features, pairwise_distance
from .rerank import re_ranking


@dataclass(frozen=True)
class TrialResult:
    trial: int
    result: EvalResult


def evaluate_dataset(
    ds: Dataset,
    features: Any,
    *,
    metric: str = "euclidean",
    rerank: bool = False,
    trials: Sequence[int] | None = None,
    max_rank: int | None = None,
) -> list[TrialResult]:
    """CMC/mAP of ``features`` (one row per row of ``ds.tracklets``) under ``ds``'s protocol.

    Every trial of PRID/iLIDS is scored unless ``trials`` names some; re-ranking
    (k-reciprocal, paper defaults) applies to Euclidean features only.
    """
    n = len(ds.tracklets)
    if len(features) != n:
        raise InputError(f"{len(features)} feature rows for {n} tracklets of {ds.root}")
    fin = np.isfinite(np.asarray(features)).all(axis=1)
    if not fin.all():
        r = int(np.flatnonzero(~fin)[0])
        raise InputError(
            f"features of {(~fin).sum()} tracklets hold NaN or infinite values "
            f"(first: row {r}, tracklet_id {int(ds.tracklets['tracklet_id'].iloc[r])})"
        )
    proto = ds.protocol
    mr = max_rank or proto.max_rank
    todo = list(range(ds.num_trials)) if trials is None else list(trials)
    out = []
    for t in todo:
        d = ds.for_trial(t)
        split = d.tracklets["split"].to_numpy()
        q, g = np.flatnonzero(split == "query"), np.flatnonzero(split == "gallery")
        if len(q) == 0 or len(g) == 0:
            raise InputError(f"{ds.root}: trial {t} has {len(q)} query and {len(g)} gallery tracklets")
        tr = d.tracklets
        qp, gp = tr["person_id"].to_numpy()[q], tr["person_id"].to_numpy()[g]
        qc, gc = tr["camera_id"].to_numpy()[q], tr["camera_id"].to_numpy()[g]
        if rerank:
            if metric != "euclidean":
                raise InputError("re-ranking is defined on Euclidean distances; use metric='euclidean'")
            dist = re_ranking(features[q], features[g])
            res = evaluate(dist, qp, gp, qc, gc, max_rank=mr, junk_pids=proto.junk_pids)
        else:
            res = evaluate_features(features[q], features[g], qp, gp, qc, gc, max_rank=mr, junk_pids=proto.junk_pids, metric=metric)
        out.append(TrialResult(t, res))
    return out


def summarize(results: Sequence[TrialResult]) -> dict[str, float]:
    """Mean (and standard deviation over trials) of mAP and rank-1/5/10/20."""
    rows = [r.result.to_dict() for r in results]
    keys = [k for k in ("mAP", "rank1", "rank5", "rank10", "rank20") if k in rows[0]]
    out: dict[str, float] = {"trials": len(rows)}
    for k in keys:
        v = np.array([r[k] for r in rows], dtype=np.float64)
        out[k] = float(v.mean())
        out[f"{k}_std"] = float(v.std(ddof=0))
    return out


__all__ = ["evaluate_dataset", "summarize", "TrialResult", "pairwise_distance"]
