"""k-reciprocal re-ranking (Zhong, Zheng, Cao & Li, "Re-ranking Person Re-identification
with k-reciprocal Encoding", CVPR 2017), memory-bounded.

The published implementation holds several (N x N) dense matrices, N = queries
+ gallery: the distances, their full argsort and the encoding V.  At LS-VID
size (N ~ 11,300) that is gigabytes, and it loops over N in Python.  Here:

* distances are produced in row blocks and never held whole; only each row's
  k1+1 nearest neighbours are kept (``argpartition``, then an exact, stable
  order among those);
* k-reciprocal sets, their expansion and the query expansion are sparse
  matrix products (scipy.sparse), not loops;
* the Jaccard distance is accumulated block by block over queries from the
  sparse encoding (an inverted index in CSC form).

The arithmetic follows the paper (Eq. 1-12): original distance = squared
Euclidean divided by the row's maximum; k-reciprocal set R(p, k1) expanded
with R(q, k1/2) of a member q when they overlap by more than 2/3; V(p, g) =
exp(-d(p, g)) over the expanded set, normalised; local query expansion over
the k2 nearest; Jaccard distance 1 - sum(min)/sum(max) with sum(max) = 2 -
sum(min) for unit-sum rows; final = (1 - lambda) * Jaccard + lambda * original.
Ties in distance are broken by index (stable), where the published code's
quicksort leaves them to chance.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from lsvid_core.errors import InputError

from .metrics import DEFAULT_BLOCK_ELEMENTS, _check_features, _is_torch

RowBlock = Callable[[int, int], np.ndarray]


def _normalised_sq(D: np.ndarray) -> np.ndarray:
    D2 = np.square(D, dtype=np.float32)
    m = D2.max(axis=1, keepdims=True)
    np.divide(D2, np.where(m > 0, m, 1), out=D2)
    return D2


def _lexsort_rows(p: np.ndarray, v: np.ndarray) -> np.ndarray:
    # order of each row by value, then index
    o = np.argsort(p, axis=1, kind="stable")
    p2, v2 = np.take_along_axis(p, o, axis=1), np.take_along_axis(v, o, axis=1)
    o2 = np.argsort(v2, axis=1, kind="stable")
    return np.take_along_axis(p2, o2, axis=1)


def _neighbours(block: RowBlock, n: int, k: int, rows_per: int) -> np.ndarray:
    out = np.empty((n, k), dtype=np.int64)
    for i0 in range(0, n, rows_per):
        i1 = min(i0 + rows_per, n)
        od = _normalised_sq(block(i0, i1))
        if k >= n:
            out[i0:i1] = np.argsort(od, axis=1, kind="stable")[:, :k]
            continue
        part = np.argpartition(od, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(od, part, axis=1)
        kth = vals.max(axis=1)
        n_le = (od <= kth[:, None]).sum(axis=1)
        res = _lexsort_rows(part, vals)
        for r in np.flatnonzero(n_le != k):
            res[r] = np.argsort(od[r], kind="stable")[:k]
        out[i0:i1] = res
    return out


def _reciprocal(nbrs: np.ndarray, k: int) -> sp.csr_matrix:
    """Sparse indicator of R(i, k): j among i's k+1 nearest and i among j's k+1 nearest."""
    n = len(nbrs)
    fwd = nbrs[:, : k + 1]
    back = nbrs[fwd][:, :, : k + 1]
    ok = (back == np.arange(n)[:, None, None]).any(axis=2)
    rows = np.repeat(np.arange(n), k + 1)[ok.ravel()]
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, fwd.ravel()[ok.ravel()])), shape=(n, n))


def _rerank(block: RowBlock, n_all: int, n_q: int, k1: int, k2: int, lambda_value: float, rows_per: int) -> np.ndarray:
    if k1 < 1 or k2 < 1:
        raise InputError(f"k1 and k2 must be >= 1, got k1={k1}, k2={k2}")
    if k2 > k1 + 1:
        raise InputError(f"k2 ({k2}) cannot exceed k1 + 1 ({k1 + 1})")
    if not 0.0 <= lambda_value <= 1.0:
        raise InputError(f"lambda_value must lie in [0, 1], got {lambda_value}")
    k = min(k1 + 1, n_all)
    nbrs = _neighbours(block, n_all, k, rows_per)
    A = _reciprocal(nbrs, min(k1, k - 1))
    kh = int(np.around(k1 / 2.0))
    H = _reciprocal(nbrs, min(kh, k - 1))
    # member q of R(p, k1) brings R(q, k1/2) along when |R(q,k1/2) & R(p,k1)| > 2/3 |R(q,k1/2)|
    overlap = A.multiply(A @ H.T).tocsr()
    h_size = np.asarray(H.sum(axis=1)).ravel()
    ov = overlap.tocoo()
    keep = ov.data > (2.0 / 3.0) * h_size[ov.col]
    C = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (ov.row[keep], ov.col[keep])), shape=A.shape)
    E = ((A + C @ H) > 0).astype(np.float32).tocsr()
    E.sort_indices()

    # V(p, g) = exp(-d(p, g)) over the expanded set, rows normalised (Eq. 7 with Gaussian kernel)
    data = np.empty(E.nnz, np.float32)
    for i0 in range(0, n_all, rows_per):
        i1 = min(i0 + rows_per, n_all)
        od = _normalised_sq(block(i0, i1))
        s, e = E.indptr[i0], E.indptr[i1]
        r = np.repeat(np.arange(i1 - i0), np.diff(E.indptr[i0 : i1 + 1]))
        data[s:e] = np.exp(-od[r, E.indices[s:e]])
    V = sp.csr_matrix((data, E.indices.copy(), E.indptr.copy()), shape=E.shape)
    sums = np.asarray(V.sum(axis=1)).ravel()
    V = sp.diags((1.0 / sums).astype(np.float32)) @ V
    if k2 != 1:
        P = sp.csr_matrix(
            (np.full(n_all * k2, 1.0 / k2, np.float32), (np.repeat(np.arange(n_all), k2), nbrs[:, :k2].ravel())),
            shape=(n_all, n_all),
        )
        V = (P @ V).tocsr()
    V = V.astype(np.float32)

    # Jaccard distance of queries to gallery items through an inverted index (V's gallery rows by column)
    n_g = n_all - n_q
    VG = V[n_q:].tocsc()
    VG.sort_indices()
    col_nnz = np.diff(VG.indptr)
    out = np.empty((n_q, n_g), np.float32)
    for i0 in range(0, n_q, rows_per):
        i1 = min(i0 + rows_per, n_q)
        Vq = V[i0:i1].tocoo()
        cnt = col_nnz[Vq.col]
        total = int(cnt.sum())
        qi = np.repeat(Vq.row, cnt)
        a = np.repeat(Vq.data, cnt)
        first = np.repeat(VG.indptr[Vq.col], cnt)
        off = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        pos = first + off
        t = np.bincount(qi * n_g + VG.indices[pos], weights=np.minimum(a, VG.data[pos]), minlength=(i1 - i0) * n_g)
        t = t.reshape(i1 - i0, n_g).astype(np.float32)
        jac = 1.0 - t / (2.0 - t)
        od = _normalised_sq(block(i0, i1))[:, n_q:]
        out[i0:i1] = jac * (1.0 - lambda_value) + od * lambda_value
    return out


def re_ranking(
    query_features,
    gallery_features,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
    *,
    chunk_size: int | None = None,
) -> np.ndarray:
    """Re-ranked (queries x gallery) distances from features (Euclidean base distance).

    The paper's defaults: k1=20, k2=6, lambda=0.3.  Memory grows with
    (queries + gallery) x (k1 + chunk), not with its square, apart from the
    returned (queries x gallery) matrix.
    """
    if _is_torch(query_features):
        query_features = query_features.detach().float().cpu().numpy()
        gallery_features = gallery_features.detach().float().cpu().numpy()
    qf = np.asarray(query_features, dtype=np.float32)
    gf = np.asarray(gallery_features, dtype=np.float32)
    if qf.ndim != 2 or gf.ndim != 2 or qf.shape[1] != gf.shape[1]:
        raise InputError(f"features must be 2-D with equal widths, got {qf.shape} and {gf.shape}")
    _check_features(qf, "query features")
    _check_features(gf, "gallery features")
    allf = np.concatenate([qf, gf])
    sq = (allf * allf).sum(1)

    def block(i0: int, i1: int) -> np.ndarray:
        x = allf[i0:i1]
        d2 = sq[i0:i1, None] + sq[None, :] - 2.0 * (x @ allf.T)
        np.maximum(d2, 0, out=d2)
        return np.sqrt(d2, out=d2)

    n = len(allf)
    rows = chunk_size or max(1, DEFAULT_BLOCK_ELEMENTS // max(n, 1))
    return _rerank(block, n, len(qf), k1, k2, lambda_value, rows)


def re_ranking_distances(
    q_g_dist: np.ndarray,
    q_q_dist: np.ndarray,
    g_g_dist: np.ndarray,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
    *,
    chunk_size: int | None = None,
) -> np.ndarray:
    """The same from precomputed (non-squared) distance matrices, as the published API takes them."""
    qg, qq, gg = (np.asarray(a, dtype=np.float32) for a in (q_g_dist, q_q_dist, g_g_dist))
    nq, ng = qg.shape
    if qq.shape != (nq, nq) or gg.shape != (ng, ng):
        raise InputError(f"shapes do not fit: q_g {qg.shape}, q_q {qq.shape}, g_g {gg.shape}")
    for name, a in (("q_g_dist", qg), ("q_q_dist", qq), ("g_g_dist", gg)):
        if not np.isfinite(a).all():
            raise InputError(f"{name} holds NaN or infinite values")

    def block(i0: int, i1: int) -> np.ndarray:
        parts = []
        if i0 < nq:
            a, b = i0, min(i1, nq)
            parts.append(np.concatenate([qq[a:b], qg[a:b]], axis=1))
        if i1 > nq:
            a, b = max(i0, nq) - nq, i1 - nq
            parts.append(np.concatenate([qg[:, a:b].T, gg[a:b]], axis=1))
        return np.concatenate(parts)

    n = nq + ng
    rows = chunk_size or max(1, DEFAULT_BLOCK_ELEMENTS // max(n, 1))
    return _rerank(block, n, nq, k1, k2, lambda_value, rows)
