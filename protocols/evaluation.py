"""Scoring a dataset: its query/gallery split(s), its protocol, and one feature per tracklet.

:func:`evaluate_dataset` scores features under a dataset's protocol;
:func:`ranked_gallery` lists, per counted query, the gallery tracklets that
protocol ranks first (for retrieval strips), with exactly its exclusions;
:func:`query_check` says, without features, how many queries that rule leaves
a true match to find (the share a split really scores).

Both scoring functions take a named evaluation setting (``setting=``, one of
:data:`EVAL_SETTINGS`): ``"default"`` is our rule (the caller's metric, the
protocol's AP, queries without a match skipped); ``"official"`` reproduces
the official MATLAB scripts the GLTR paper (Li et al., ICCV 2019) and the
MARS / DukeMTMC-VideoReID benchmarks report with (``ljn114514/GLTR``:
``Duke_test/test_duke.m``, ``compute_AP.m``, ``make_video_fea.m``,
``Mars_test/test_mars.m``, ``utils/process_box_feat.m``; the MARS kit's
``evaluation_mars.m``): L2-normalised features, Euclidean distance, the
trapezoid AP, and queries without a match counted as failures.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lsvid_core.errors import InputError

from .dataset import Dataset
from .metrics import (
    DEFAULT_BLOCK_ELEMENTS,
    UNANSWERABLE,
    EvalResult,
    check_ap_variant,
    evaluate,
    evaluate_features,
    l2_normalize,
    pairwise_distance,
)
from .protocol import Protocol
from .rerank import re_ranking


@dataclass(frozen=True)
class EvalSetting:
    """A named way of scoring: what it fixes, and what it leaves to the caller (``None``).

    ``metric`` None: the caller's (Euclidean unless told); ``ap`` None: the
    caller's, else the dataset protocol's ``average_precision``;
    ``normalize``: L2-normalise every feature before any distance (re-ranking
    included); ``unanswerable``: how queries without a true match count
    (:data:`protocols.metrics.UNANSWERABLE`).
    """

    name: str
    normalize: bool = False
    metric: str | None = None
    ap: str | None = None
    unanswerable: str = UNANSWERABLE[0]


EVAL_SETTINGS: dict[str, EvalSetting] = {
    "default": EvalSetting("default"),
    # the official MATLAB scripts: make_video_fea.m / process_box_feat.m divide each feature by its norm,
    # test_duke.m / test_mars.m take pdist2(..., 'euclidean'), compute_AP.m integrates by the trapezoid rule,
    # and a query without good items adds AP 0 and an all-zero CMC row to means over every query
    "official": EvalSetting("official", normalize=True, metric="euclidean", ap="market1501", unanswerable="zero"),
}


def resolve_setting(setting: str, protocol: Protocol, *, metric: str | None = None, ap: str | None = None) -> EvalSetting:
    """The setting named ``setting`` with every field filled in: metric and AP decided.

    A setting that fixes the metric or the AP refuses a caller's different
    one (an :class:`InputError` naming both) rather than silently picking
    one of them: "official" numbers are only official with its own choices.
    """
    if setting not in EVAL_SETTINGS:
        raise InputError(f"evaluation setting must be one of {', '.join(EVAL_SETTINGS)}, got {setting!r}")
    s = EVAL_SETTINGS[setting]
    for field_name, fixed, given in (("metric", s.metric, metric), ("ap", s.ap, ap)):
        if fixed is not None and given is not None and given != fixed:
            raise InputError(f"{field_name} {given!r} conflicts with the {setting!r} evaluation setting, which scores with {field_name} {fixed!r}")
    chosen_ap = check_ap_variant(s.ap or ap or protocol.average_precision)
    return replace(s, metric=s.metric or metric or "euclidean", ap=chosen_ap)


def _prepared(features: Any, s: EvalSetting) -> Any:
    """``features`` as the setting scores them: L2-normalised once, for every path that follows.

    Normalising here, before any slicing, gives :func:`evaluate_dataset` and
    :func:`ranked_gallery` the very same values (rows are normalised one by
    one, so slicing first or after changes nothing).
    """
    return l2_normalize(features) if s.normalize else features


@dataclass(frozen=True)
class TrialResult:
    trial: int
    result: EvalResult


@dataclass(frozen=True)
class _TrialSplit:
    """One trial's query and gallery rows (indices into ``ds.tracklets``) and their labels."""

    q: np.ndarray
    g: np.ndarray
    qp: np.ndarray
    gp: np.ndarray
    qc: np.ndarray
    gc: np.ndarray


def _trial_split(ds: Dataset, t: int) -> _TrialSplit:
    tr = ds.for_trial(t).tracklets
    split = tr["split"].to_numpy()
    q, g = np.flatnonzero(split == "query"), np.flatnonzero(split == "gallery")
    if len(q) == 0 or len(g) == 0:
        raise InputError(f"{ds.root}: trial {t} has {len(q)} query and {len(g)} gallery tracklets")
    pid, cam = tr["person_id"].to_numpy(), tr["camera_id"].to_numpy()
    return _TrialSplit(q=q, g=g, qp=pid[q], gp=pid[g], qc=cam[q], gc=cam[g])


def _check_features(ds: Dataset, features: Any) -> None:
    """One finite row per tracklet of ``ds``, or an :class:`InputError` naming the first bad one."""
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


def _check_rerank(rerank: bool, metric: str) -> None:
    if rerank and metric != "euclidean":
        raise InputError("re-ranking is defined on Euclidean distances; use metric='euclidean'")


def _score_trial(ds: Dataset, features: Any, t: int, s: EvalSetting, rerank: bool, max_rank: int) -> EvalResult:
    """One trial of :func:`evaluate_dataset`, its features already prepared for the setting ``s``."""
    split = _trial_split(ds, t)
    labels = (split.qp, split.gp, split.qc, split.gc)
    opts = dict(max_rank=max_rank, junk_pids=ds.protocol.junk_pids, ap=s.ap, unanswerable=s.unanswerable)
    if rerank:
        dist = re_ranking(features[split.q], features[split.g])
        res = evaluate(dist, *labels, **opts)
    else:
        res = evaluate_features(features[split.q], features[split.g], *labels, metric=s.metric, **opts)
    return replace(res, setting=s.name)


def evaluate_dataset(
    ds: Dataset,
    features: Any,
    *,
    metric: str | None = None,
    rerank: bool = False,
    trials: Sequence[int] | None = None,
    max_rank: int | None = None,
    ap: str | None = None,
    setting: str = "default",
) -> list[TrialResult]:
    """CMC/mAP of ``features`` (one row per row of ``ds.tracklets``) under ``ds``'s protocol.

    Every trial of PRID/iLIDS is scored unless ``trials`` names some; re-ranking
    (k-reciprocal, paper defaults) applies to Euclidean features only.  AP
    follows the protocol's ``average_precision`` unless ``ap`` names another
    variant (``"torchreid"`` or ``"market1501"``); ``metric`` is Euclidean
    unless told.  ``setting`` names an :data:`EVAL_SETTINGS` entry:
    ``"official"`` fixes L2 normalisation (before re-ranking too), Euclidean
    distance, the ``market1501`` AP and counts queries without a match as
    failures; a conflicting ``metric`` or ``ap`` is an :class:`InputError`.
    Each result records its AP variant and setting.
    """
    _check_features(ds, features)
    s = resolve_setting(setting, ds.protocol, metric=metric, ap=ap)
    _check_rerank(rerank, s.metric)
    feats = _prepared(features, s)
    mr = max_rank or ds.protocol.max_rank
    todo = list(range(ds.num_trials)) if trials is None else list(trials)
    return [TrialResult(t, _score_trial(ds, feats, t, s, rerank, mr)) for t in todo]


@dataclass(frozen=True)
class RankedGallery:
    """The top of each counted query's ranking, as the protocol scores it.

    One row per query that has a true match left (the queries :func:`evaluate`
    counts), in ``tracklets.parquet`` order.  Column j holds the query's
    (j+1)-th ranked gallery tracklet after the protocol's exclusions (same id
    and camera, ``junk_pids``); rows with fewer than ``k`` such items are
    padded with tracklet id -1, person id -1 and an infinite distance.
    """

    trial: int
    query_row: np.ndarray  # (n,) indices into ds.tracklets
    query_tracklet_id: np.ndarray  # (n,)
    query_pid: np.ndarray  # (n,)
    query_camid: np.ndarray  # (n,)
    gallery_row: np.ndarray  # (n, k) indices into ds.tracklets, -1 = padding
    gallery_tracklet_id: np.ndarray  # (n, k)
    gallery_pid: np.ndarray  # (n, k)
    gallery_camid: np.ndarray  # (n, k)
    distance: np.ndarray  # (n, k), re-ranked when re-ranking was on


def _top_k_rows(D: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k smallest entries in (value, column) order: a stable sort's first k.

    Exact at ties without sorting whole rows: everything below the k-th smallest
    value, then the earliest columns equal to it.
    """
    kth = np.partition(D, k - 1, axis=1)[:, k - 1 : k]
    below, tied = kth > D, kth == D
    need = k - below.sum(axis=1, keepdims=True)
    chosen = below | (tied & (np.cumsum(tied, axis=1) <= need))
    cols = np.nonzero(chosen)[1].reshape(len(D), k)  # ascending columns per row
    order = np.argsort(np.take_along_axis(D, cols, axis=1), axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1)


def _ranked_rows(dist_block, s: _TrialSplit, counted: np.ndarray, junk: np.ndarray, k: int):
    """(gallery positions, distances) of the top k per counted query; -1 pads.

    Distances come in the query blocks :func:`evaluate_features` uses by
    default, so both see bit-identical values (a matrix product's rounding
    may depend on the block's shape).
    """
    kk = min(k, len(s.g))
    pos = np.full((len(counted), k), -1, np.int64)
    dist = np.full((len(counted), k), np.inf)
    rows_per = max(1, DEFAULT_BLOCK_ELEMENTS // max(len(s.g), 1))
    done = 0
    for a in range(0, len(s.q), rows_per):
        qi = counted[(counted >= a) & (counted < a + rows_per)]
        if len(qi) == 0:
            continue
        D = np.asarray(dist_block(a, a + rows_per), dtype=np.float64)[qi - a]
        excluded = ((s.gp[None] == s.qp[qi, None]) & (s.gc[None] == s.qc[qi, None])) | junk[None]
        D = np.where(excluded, np.inf, D)
        top = _top_k_rows(D, kk)
        d = np.take_along_axis(D, top, axis=1)
        pos[done : done + len(qi), :kk] = np.where(np.isfinite(d), top, -1)
        dist[done : done + len(qi), :kk] = d
        done += len(qi)
    return pos, dist


def _has_a_match(qp: np.ndarray, qc: np.ndarray, gp: np.ndarray, gc: np.ndarray, junk: np.ndarray) -> np.ndarray:
    """Per query: whether the gallery keeps an item of its id from another camera that is not junk.

    From the gallery's (id, camera) pairs rather than a queries x gallery mask,
    so memory stays linear at any scale.  ``junk`` masks the gallery.
    """
    qp, qc, gp, gc = (np.asarray(a, dtype=np.int64) for a in (qp, qc, gp, gc))
    keep = ~np.asarray(junk, dtype=bool)
    if len(qp) == 0 or not keep.any():
        return np.zeros(len(qp), dtype=bool)
    lo = min(int(gc.min()), int(qc.min()))
    span = max(int(gc.max()), int(qc.max())) - lo + 1
    key = lambda p, c: p * span + (c - lo)  # noqa: E731
    pairs = np.unique(key(gp[keep], gc[keep]))
    pair_pid = np.floor_divide(pairs, span)  # sorted, as pairs are
    cams_of_id = np.searchsorted(pair_pid, qp, "right") - np.searchsorted(pair_pid, qp, "left")
    own_camera = np.isin(key(qp, qc), pairs)
    return cams_of_id - own_camera > 0


def _queries_with_a_match(s: _TrialSplit, junk: np.ndarray) -> np.ndarray:
    """Positions of the queries that keep a true match: an item of their id, another camera, not junk."""
    return np.flatnonzero(_has_a_match(s.qp, s.qc, s.gp, s.gc, junk))


def answerable_queries(
    query_pids: Any, query_camids: Any, gallery_pids: Any, gallery_camids: Any, junk_pids: Sequence[int] = ()
) -> np.ndarray:
    """Per query, whether the protocol leaves it a true match to find (the queries :func:`evaluate` counts).

    The shared rule: gallery items of the query's id *and* camera are removed,
    and so are items whose id is in ``junk_pids``; a query is answerable when a
    gallery item of its id is left, i.e. one from another camera.  No features
    are needed: this is a property of the split.
    """
    gp = np.asarray(gallery_pids, dtype=np.int64)
    junk = np.isin(gp, np.asarray(junk_pids, dtype=np.int64))
    return _has_a_match(query_pids, query_camids, gp, gallery_camids, junk)


def query_check(tracklets: Any, junk_pids: Sequence[int] = (-1,)) -> dict[str, Any]:
    """How many queries of a tracklet table (its ``split`` column) the protocol can answer.

    ``queries``/``gallery``: tracklets in each split (junk included in the
    gallery); ``answerable``: queries left a same-id gallery tracklet from
    another camera after the protocol's exclusions (see
    :func:`answerable_queries`), and ``answerable_share`` their share of the
    queries (0 without queries); ``query_identities``/
    ``answerable_identities``: identities with a query, with an answerable one.
    Queries that are not answerable are skipped by :func:`evaluate`, so the
    share says how much of the query set is really scored.
    """
    split = tracklets["split"].astype(str).to_numpy()
    pid = tracklets["person_id"].to_numpy(np.int64)
    cam = tracklets["camera_id"].to_numpy(np.int64)
    q, g = split == "query", split == "gallery"
    ok = answerable_queries(pid[q], cam[q], pid[g], cam[g], junk_pids)
    n_q = int(q.sum())
    return {
        "queries": n_q,
        "gallery": int(g.sum()),
        "answerable": int(ok.sum()),
        "answerable_share": round(float(ok.sum()) / n_q, 4) if n_q else 0.0,
        "query_identities": int(len(np.unique(pid[q]))),
        "answerable_identities": int(len(np.unique(pid[q][ok]))),
    }


def query_checks(ds: Dataset) -> list[dict[str, Any]]:
    """:func:`query_check` of every trial of ``ds`` under its protocol's junk ids, each with its ``trial``."""
    junk = ds.protocol.junk_pids
    return [{"trial": t, **query_check(ds.for_trial(t).tracklets, junk)} for t in range(ds.num_trials)]


def ranked_gallery(
    ds: Dataset,
    features: Any,
    k: int,
    *,
    metric: str | None = None,
    trial: int = 0,
    rerank: bool = False,
    setting: str = "default",
) -> RankedGallery:
    """Each counted query's top ``k`` gallery tracklets under ``ds``'s protocol, in one trial.

    The ranking is the one :func:`evaluate_dataset` scores: gallery items of the
    query's id and camera and items with a junk id are left out (not shown,
    and taking no position), ties go to the earlier gallery item, distances
    are re-ranked when ``rerank`` is on, and a query with no true match left
    is skipped.  So the first true match of a row sits at the query's
    ``first_match_rank`` whenever that is within ``k``.  ``setting``,
    ``metric`` are as for :func:`evaluate_dataset`: under ``"official"`` the
    features are L2-normalised the same way, so the strips show what was
    scored (its queries without a match, counted as failures there, have no
    row here either).
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    _check_features(ds, features)
    s_eval = resolve_setting(setting, ds.protocol, metric=metric)
    _check_rerank(rerank, s_eval.metric)
    if type(features).__module__.split(".")[0] == "torch":
        features = features.detach().cpu().numpy()
    features = _prepared(np.asarray(features), s_eval)
    s = _trial_split(ds, trial)
    junk = np.isin(s.gp, np.asarray(ds.protocol.junk_pids, dtype=np.int64))
    counted = _queries_with_a_match(s, junk)
    if rerank:
        full = re_ranking(features[s.q], features[s.g])
        dist_block = lambda a, b: full[a:b]  # noqa: E731
    else:
        qf, gf = features[s.q], features[s.g]
        dist_block = lambda a, b: pairwise_distance(qf[a:b], gf, s_eval.metric)  # noqa: E731
    pos, dist = _ranked_rows(dist_block, s, counted, junk, k)
    tr = ds.tracklets
    grow = np.where(pos >= 0, s.g[np.maximum(pos, 0)], -1)
    pick = lambda col, pad: np.where(pos >= 0, tr[col].to_numpy()[np.maximum(grow, 0)], pad)  # noqa: E731
    qrow = s.q[counted]
    return RankedGallery(
        trial=int(trial),
        query_row=qrow,
        query_tracklet_id=tr["tracklet_id"].to_numpy()[qrow],
        query_pid=s.qp[counted],
        query_camid=s.qc[counted],
        gallery_row=grow,
        gallery_tracklet_id=pick("tracklet_id", -1),
        gallery_pid=pick("person_id", -1),
        gallery_camid=pick("camera_id", -1),
        distance=dist,
    )


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


__all__ = [
    "EVAL_SETTINGS",
    "EvalSetting",
    "resolve_setting",
    "evaluate_dataset",
    "ranked_gallery",
    "summarize",
    "answerable_queries",
    "query_check",
    "query_checks",
    "RankedGallery",
    "TrialResult",
    "pairwise_distance",
]
