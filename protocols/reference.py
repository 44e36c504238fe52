"""Slow, obviously-correct reference implementations, for tests and speed benchmarks only.

``evaluate_loop`` scores one query at a time the way torchreid's Python
evaluator does (argsort of the whole matrix, then per query: drop same-id
same-camera items, cumulative sums, and AP from a Python list of precisions),
with a stable sort so that it follows the same tie rule as
:func:`protocols.metrics.evaluate`.

``evaluate_loop_market1501`` does the same with AP as the official
Market-1501 / MARS MATLAB evaluation computes it: ``compute_ap_market1501`` is
``compute_AP.m`` transcribed line by line (trapezoid rule over recall, junk
items skipped without taking a position), fed per query with the good and junk
gallery indices that ``evaluation_mars.m`` builds.

``re_ranking_dense`` is k-reciprocal re-ranking transcribed from the published
algorithm (Zhong et al., CVPR 2017) with its dense (N x N) matrices and loops.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def evaluate_loop(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    max_rank: int = 20,
    junk_pids: Sequence[int] = (),
) -> tuple[np.ndarray, float, int]:
    """(cmc, mAP, number of counted queries), one query at a time."""
    indices = np.argsort(distmat, axis=1, kind="stable")
    matches = (g_pids[indices] == q_pids[:, None]).astype(np.int32)
    all_cmc, all_ap = [], []
    for i in range(distmat.shape[0]):
        order = indices[i]
        remove = (g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i])
        if len(junk_pids):
            remove |= np.isin(g_pids[order], junk_pids)
        raw = matches[i][~remove]
        if not np.any(raw):
            continue
        cmc = raw.cumsum()
        cmc[cmc > 1] = 1
        row = np.ones(max_rank, np.float64) * cmc[-1]
        row[: min(max_rank, len(cmc))] = cmc[:max_rank]
        all_cmc.append(row)
        tmp = raw.cumsum()
        tmp = np.asarray([x / (k + 1.0) for k, x in enumerate(tmp)]) * raw
        all_ap.append(tmp.sum() / raw.sum())
    if not all_ap:
        raise ValueError("no query has a true match")
    return np.asarray(all_cmc).mean(axis=0), float(np.mean(all_ap)), len(all_ap)


def compute_ap_market1501(good: np.ndarray, junk: np.ndarray, index: np.ndarray) -> tuple[float, np.ndarray]:
    """(AP, CMC) of one query as ``compute_AP.m`` computes them; ``index`` is the ranked gallery."""
    cmc = np.zeros(len(index))
    ngood = len(good)
    old_recall, old_precision, ap = 0.0, 1.0, 0.0
    intersect_size, j, good_now, njunk = 0, 0, 0, 0
    good_set, junk_set = set(good.tolist()), set(junk.tolist())
    for n, item in enumerate(index.tolist()):
        flag = False
        if item in good_set:
            cmc[n - njunk :] = 1
            flag = True
            good_now += 1
        if item in junk_set:
            njunk += 1
            continue
        if flag:
            intersect_size += 1
        recall = intersect_size / ngood
        precision = intersect_size / (j + 1)
        ap += (recall - old_recall) * ((old_precision + precision) / 2)
        old_recall, old_precision = recall, precision
        j += 1
        if good_now == ngood:
            break
    return ap, cmc


def evaluate_loop_market1501(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    max_rank: int = 20,
    junk_pids: Sequence[int] = (),
) -> tuple[np.ndarray, float, int]:
    """(cmc, mAP, number of counted queries) with ``compute_AP.m``'s AP, one query at a time.

    Per query, as ``evaluation_mars.m``: good = same id, other camera, not a
    junk id; junk = same id and camera, or a junk id.  Queries without a good
    item are skipped (the MATLAB code would divide by zero).
    """
    all_cmc, all_ap = [], []
    for i in range(distmat.shape[0]):
        index = np.argsort(distmat[i], kind="stable")
        same = g_pids == q_pids[i]
        junk = (same & (g_camids == q_camids[i])) | np.isin(g_pids, list(junk_pids))
        good = np.flatnonzero(same & ~junk)
        if len(good) == 0:
            continue
        ap, cmc = compute_ap_market1501(good, np.flatnonzero(junk), index)
        row = np.ones(max_rank) * cmc[-1]
        row[: min(max_rank, len(cmc))] = cmc[:max_rank]
        all_cmc.append(row)
        all_ap.append(ap)
    if not all_ap:
        raise ValueError("no query has a true match")
    return np.asarray(all_cmc).mean(axis=0), float(np.mean(all_ap)), len(all_ap)


def re_ranking_dense(qf: np.ndarray, gf: np.ndarray, k1: int = 20, k2: int = 6, lambda_value: float = 0.3) -> np.ndarray:
    """Re-ranked (queries x gallery) distances, dense and looped as published (stable sorts)."""
    from scipy.spatial.distance import cdist

    allf = np.concatenate([qf, gf]).astype(np.float64)
    n, nq = len(allf), len(qf)
    od = cdist(allf, allf) ** 2
    od = (od / od.max(axis=0)).T.astype(np.float32)
    rank = np.argsort(od, axis=1, kind="stable")
    V = np.zeros_like(od)
    half = int(np.around(k1 / 2.0))
    for i in range(n):
        fwd = rank[i, : k1 + 1]
        kr = fwd[np.where(rank[fwd, : k1 + 1] == i)[0]]
        exp = kr
        for c in kr:
            cf = rank[c, : half + 1]
            ckr = cf[np.where(rank[cf, : half + 1] == c)[0]]
            if len(np.intersect1d(ckr, kr)) > 2.0 / 3 * len(ckr):
                exp = np.append(exp, ckr)
        exp = np.unique(exp)
        w = np.exp(-od[i, exp])
        V[i, exp] = w / w.sum()
    if k2 != 1:
        V = np.stack([V[rank[i, :k2]].mean(axis=0) for i in range(n)])
    inv = [np.flatnonzero(V[:, k]) for k in range(n)]
    jac = np.zeros((nq, n), np.float32)
    for i in range(nq):
        t = np.zeros(n, np.float32)
        for k in np.flatnonzero(V[i]):
            rows = inv[k]
            t[rows] += np.minimum(V[i, k], V[rows, k])
        jac[i] = 1 - t / (2 - t)
    return (jac * (1 - lambda_value) + od[:nq] * lambda_value)[:, nq:]
