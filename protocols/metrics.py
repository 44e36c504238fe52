"""CMC and mAP under one rule, exact and fast at any gallery size.

The rule, per query: gallery items with the query's person id *and* camera are
removed, as are items whose id is in ``junk_pids``; the remaining items are
ranked by distance, ties broken by gallery order (a stable sort), so a result
never depends on the sorting algorithm.  A query left without a true match is
not counted (unless ``unanswerable="zero"``, below).  CMC@k is the fraction of
counted queries whose first true match is within the top k; mAP is the mean
of AP over counted queries.

AP comes in two named variants (``ap=``); a number is only comparable with
another of the same variant:

* ``"torchreid"`` (default): the mean over true matches of the precision at
  their rank, k / r_k for the k-th match at (junk-free) rank r_k -- the
  non-interpolated AP of torchreid's and most Python evaluators.
* ``"market1501"``: the official Market-1501 / MARS MATLAB evaluation
  (``compute_AP.m``), which integrates precision over recall by the
  trapezoid rule: the k-th match adds (1 / n_good) * (p_prev + k / r_k) / 2,
  where p_prev = (k - 1) / (r_k - 1) is the precision just before it
  (1.0 when r_k = 1).  Since p_prev <= k / r_k, this AP is never above
  torchreid's, and equal to it only when every true match precedes every
  other item.

How it is fast: no query loop and no full argsort.  Each chunk of queries has
its valid distances sorted by *value* only (a vectorised SIMD sort, far
cheaper than argsort); the rank of every true match is then its count of
smaller valid distances, found by a binary search run for all true matches
at once, with an exact tie rule for equal distances.  Ranks are integers and
AP is computed from them on the host, so the numpy and torch paths (CPU or
CUDA) produce bit-identical CMC and mAP, whichever the AP variant.
Memory is bounded by the chunk size, whatever the number of queries.

Queries without a true match (``unanswerable=``):

* ``"skip"`` (default): they are left out, as torchreid does; CMC and mAP
  are means over the ``num_valid_queries`` that have a match.
* ``"zero"``: they count as failures with AP 0 and no hit, and CMC and mAP
  are divided by *all* ``num_queries``.  This is what the official MATLAB
  scripts print: GLTR's ``Duke_test/compute_AP.m`` returns ``ap = 0`` and an
  all-zero CMC row for a query without good items, and MARS's
  ``evaluation_mars.m`` sets ``ap(isnan(ap)) = 0``; both then average over
  every query (``CMC = sum(CMC, 2) / num_queries; map = sum(ap) / length(ap)``).

Features can be L2-normalised first (``normalize=True`` of
:func:`evaluate_features`), as GLTR's ``make_video_fea.m`` and MARS's
``process_box_feat.m`` do before ``pdist2(..., 'euclidean')``.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from lsvid_core.errors import InputError

# Elements of the (queries x gallery) block handled at once per worker.
DEFAULT_BLOCK_ELEMENTS = 1 << 22

# The named AP definitions (module docstring); the first is the default.
AP_VARIANTS = ("torchreid", "market1501")

# How queries without a true match are counted (module docstring); the first is the default.
UNANSWERABLE = ("skip", "zero")


@dataclass(frozen=True)
class EvalResult:
    """CMC curve (index k-1 holds rank-k accuracy), mAP and per-query details."""

    cmc: np.ndarray
    mAP: float
    num_valid_queries: int
    num_queries: int
    ap: np.ndarray  # per query; NaN for a query without a true match
    first_match_rank: np.ndarray  # per query, 1-based; 0 for a query without a true match
    ap_variant: str = AP_VARIANTS[0]  # which AP definition ``ap`` and ``mAP`` follow
    unanswerable: str = UNANSWERABLE[0]  # "skip": means over num_valid_queries; "zero": over num_queries
    setting: str = "default"  # the named evaluation setting (protocols.evaluation.EVAL_SETTINGS) scored under

    def rank(self, k: int) -> float:
        return float(self.cmc[k - 1])

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mAP": float(self.mAP), "num_valid_queries": int(self.num_valid_queries), "num_queries": int(self.num_queries)}
        for k in (1, 5, 10, 20):
            if k <= len(self.cmc):
                d[f"rank{k}"] = float(self.cmc[k - 1])
        d["ap_variant"] = self.ap_variant
        d["unanswerable"] = self.unanswerable
        d["setting"] = self.setting
        return d


def check_ap_variant(ap: str) -> str:
    """``ap`` if it names an AP definition of :data:`AP_VARIANTS`; an :class:`InputError` otherwise."""
    if ap not in AP_VARIANTS:
        raise InputError(f"ap must be one of {', '.join(AP_VARIANTS)}, got {ap!r}")
    return ap


def check_unanswerable(unanswerable: str) -> str:
    """``unanswerable`` if it is one of :data:`UNANSWERABLE`; an :class:`InputError` otherwise."""
    if unanswerable not in UNANSWERABLE:
        raise InputError(f"unanswerable must be one of {', '.join(UNANSWERABLE)}, got {unanswerable!r}")
    return unanswerable


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _labels(x: Any, name: str, n: int | None = None) -> np.ndarray:
    if _is_torch(x):
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        if np.issubdtype(a.dtype, np.floating) and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise InputError(f"{name} must hold integer ids, got dtype {a.dtype}")
    if n is not None and len(a) != n:
        raise InputError(f"{name} has {len(a)} entries but the distance matrix has {n} along that axis")
    return a.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# ranks of the true matches of one block of queries


def _bsearch_rows(S, rows, vals, strict: bool, xp):
    """Per element: how many entries of sorted row ``S[rows[i]]`` are < vals[i] (<= if not strict)."""
    n, g = len(rows), S.shape[1]
    if xp is np:
        lo = np.zeros(n, dtype=np.int64)
        clamp = lambda m: np.minimum(m, g - 1)  # noqa: E731
    else:
        lo = xp.zeros(n, dtype=xp.int64, device=S.device)
        clamp = lambda m: m.clamp(max=g - 1)  # noqa: E731
    hi = lo + g
    for _ in range(int(g).bit_length() + 1):
        active = lo < hi
        mid = (lo + hi) // 2
        v = S[rows, clamp(mid)]
        right = active & ((v < vals) if strict else (v <= vals))
        left = active & ~right
        lo = xp.where(right, mid + 1, lo)
        hi = xp.where(left, mid, hi)
    return lo


def _block_ranks_numpy(D, qp, qc, gp, gc, junk_g):
    same = gp[None, :] == qp[:, None]
    valid = ~(same & (gc[None, :] == qc[:, None]))
    if junk_g is not None:
        valid &= ~junk_g[None, :]
    pos = same & valid
    r, c = np.nonzero(pos)
    if len(r) == 0:
        return r, np.zeros(0, np.int64)
    S = np.sort(np.where(valid, D, np.inf), axis=1)
    d = D[r, c]
    lo = _bsearch_rows(S, r, d, True, np)
    hi = _bsearch_rows(S, r, d, False, np)
    before = np.zeros(len(r), np.int64)
    tied = np.flatnonzero(hi - lo > 1)
    # equal distances: the items that come first are the valid ones earlier in the gallery
    idx = np.arange(D.shape[1])
    for s in range(0, len(tied), 256):
        t = tied[s : s + 256]
        rt, ct = r[t], c[t]
        m = valid[rt] & (D[rt] == d[t][:, None]) & (idx[None, :] < ct[:, None])
        before[t] = m.sum(1)
    return r, lo + before + 1


def _block_ranks_torch(D, qp, qc, gp, gc, junk_g):
    import torch

    same = gp[None, :] == qp[:, None]
    valid = ~(same & (gc[None, :] == qc[:, None]))
    if junk_g is not None:
        valid &= ~junk_g[None, :]
    pos = same & valid
    r, c = torch.nonzero(pos, as_tuple=True)
    if r.numel() == 0:
        return r.cpu().numpy(), np.zeros(0, np.int64)
    inf = torch.tensor(float("inf"), dtype=D.dtype, device=D.device)
    S = torch.sort(torch.where(valid, D, inf), dim=1).values
    d = D[r, c]
    lo = _bsearch_rows(S, r, d, True, torch)
    hi = _bsearch_rows(S, r, d, False, torch)
    before = torch.zeros_like(lo)
    tied = torch.nonzero(hi - lo > 1, as_tuple=True)[0]
    if tied.numel():
        idx = torch.arange(D.shape[1], device=D.device)
        for s in range(0, tied.numel(), 256):
            t = tied[s : s + 256]
            rt, ct = r[t], c[t]
            m = valid[rt] & (D[rt] == d[t][:, None]) & (idx[None, :] < ct[:, None])
            before[t] = m.sum(1)
    return r.cpu().numpy().astype(np.int64), (lo + before + 1).cpu().numpy().astype(np.int64)


def _ap_terms(k: np.ndarray, ranks: np.ndarray, ap: str) -> np.ndarray:
    """Each true match's share of its query's AP, times the query's number of true matches.

    ``k``: the match's 1-based index among its query's matches, ``ranks``: its
    1-based junk-free rank.
    """
    precision = k / ranks
    if ap == "torchreid":
        return precision
    # compute_AP.m: the precision just before this match, 1.0 before the first item
    before = np.where(ranks > 1, (k - 1) / np.maximum(ranks - 1, 1), 1.0)
    return (before + precision) / 2


def _means(ap_q: np.ndarray, first: np.ndarray, valid: np.ndarray, max_rank: int, unanswerable: str) -> tuple[np.ndarray, float]:
    """(CMC, mAP) from per-query AP and first-match ranks, over the answerable or over all queries.

    "zero" follows the official scripts (``evaluation_mars.m``, GLTR's
    ``test_duke.m``): an unanswerable query adds AP 0 and no hit, and the sums
    are divided by every query, so with no answerable query at all both are 0.
    """
    nv = int(valid.sum())
    if unanswerable == "skip" and nv == 0:
        raise InputError("no query has a true match left in the gallery (check person ids, camera ids and junk_pids)")
    denom = nv if unanswerable == "skip" else len(valid)
    if denom == 0:
        raise InputError("there is no query to score")
    hist = np.bincount(np.minimum(first[valid], max_rank + 1), minlength=max_rank + 2)
    cmc = np.cumsum(hist[1 : max_rank + 1]) / denom
    # "skip" keeps np.mean, so its numbers stay bit-identical to what they were before "zero"
    return cmc, float(np.mean(ap_q[valid]) if unanswerable == "skip" else np.sum(ap_q[valid]) / denom)


def _aggregate(
    rows: np.ndarray, ranks: np.ndarray, num_q: int, max_rank: int, ap: str = AP_VARIANTS[0], unanswerable: str = UNANSWERABLE[0]
) -> EvalResult:
    """CMC and AP from the (query, rank) of every true match, under the AP definition ``ap``.

    ``unanswerable`` says how queries without a true match count (module
    docstring); their per-query ``ap`` stays NaN either way, so callers can
    tell them from a real AP of 0.
    """
    check_ap_variant(ap)
    check_unanswerable(unanswerable)
    order = np.lexsort((ranks, rows))
    rows, ranks = rows[order], ranks[order]
    n_pos = np.bincount(rows, minlength=num_q)
    starts = np.r_[0, np.cumsum(n_pos)[:-1]]
    k = np.arange(len(rows)) - starts[rows] + 1  # 1-based index of the match among its query's matches
    valid = n_pos > 0
    ap_q = np.full(num_q, np.nan)
    ap_sum = np.bincount(rows, weights=_ap_terms(k, ranks, ap), minlength=num_q)
    ap_q[valid] = ap_sum[valid] / n_pos[valid]
    first = np.zeros(num_q, np.int64)
    first[valid] = ranks[starts[valid]]
    cmc, mean_ap = _means(ap_q, first, valid, max_rank, unanswerable)
    return EvalResult(
        cmc=cmc, mAP=mean_ap, num_valid_queries=int(valid.sum()), num_queries=num_q, ap=ap_q, first_match_rank=first,
        ap_variant=ap, unanswerable=unanswerable,
    )


def _check_finite_numpy(D: np.ndarray, q0: int) -> None:
    bad = ~np.isfinite(D)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputError(f"distance matrix holds non-finite values ({int(bad.sum())} in rows {q0}..{q0 + len(D) - 1}; first at query {q0 + i}, gallery {j}): check the features for NaN")


def _evaluate_blocks(
    block: Callable[[int, int], Any],
    num_q: int,
    num_g: int,
    qp: np.ndarray,
    gp: np.ndarray,
    qc: np.ndarray,
    gc: np.ndarray,
    max_rank: int,
    junk_pids: Sequence[int],
    use_torch: bool,
    device: Any,
    chunk_size: int | None,
    num_threads: int | None,
    ap: str,
    unanswerable: str = UNANSWERABLE[0],
) -> EvalResult:
    if max_rank < 1:
        raise InputError(f"max_rank must be >= 1, got {max_rank}")
    check_ap_variant(ap)  # before any block is computed
    check_unanswerable(unanswerable)
    rows_per = chunk_size or max(1, DEFAULT_BLOCK_ELEMENTS // max(num_g, 1))
    junk = np.isin(gp, np.asarray(list(junk_pids), dtype=np.int64)) if len(junk_pids) else None
    starts = list(range(0, num_q, rows_per))
    if use_torch:
        import torch

        tq = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
        gpt, gct = tq(gp), tq(gc)
        jt = tq(junk) if junk is not None else None
        out = []
        for q0 in starts:
            q1 = min(q0 + rows_per, num_q)
            D = block(q0, q1)
            if not bool(torch.isfinite(D).all()):
                _check_finite_numpy(D.detach().cpu().numpy(), q0)
            r, rk = _block_ranks_torch(D, tq(qp[q0:q1]), tq(qc[q0:q1]), gpt, gct, jt)
            out.append((r + q0, rk))
    else:

        def run(q0: int):
            q1 = min(q0 + rows_per, num_q)
            D = np.asarray(block(q0, q1))
            _check_finite_numpy(D, q0)
            r, rk = _block_ranks_numpy(D, qp[q0:q1], qc[q0:q1], gp, gc, junk)
            return r + q0, rk

        workers = num_threads or min(len(starts), os.cpu_count() or 1, 8)
        if workers > 1:
            # numpy releases the GIL in sort and element-wise work: blocks run in parallel
            with ThreadPoolExecutor(workers) as ex:
                out = list(ex.map(run, starts))
        else:
            out = [run(q0) for q0 in starts]
    rows = np.concatenate([o[0] for o in out]) if out else np.zeros(0, np.int64)
    ranks = np.concatenate([o[1] for o in out]) if out else np.zeros(0, np.int64)
    return _aggregate(rows.astype(np.int64), ranks.astype(np.int64), num_q, max_rank, ap, unanswerable)


def evaluate(
    distmat: Any,
    query_pids: Any,
    gallery_pids: Any,
    query_camids: Any,
    gallery_camids: Any,
    max_rank: int = 20,
    junk_pids: Sequence[int] = (),
    *,
    chunk_size: int | None = None,
    num_threads: int | None = None,
    ap: str = AP_VARIANTS[0],
    unanswerable: str = UNANSWERABLE[0],
) -> EvalResult:
    """CMC and mAP of a (queries x gallery) distance matrix (smaller = more similar).

    ``distmat`` is a numpy array (a ``np.memmap`` works and is read block by
    block) or a torch tensor (evaluated on its device, CUDA included).
    ``chunk_size`` is the number of queries per block (default: about four
    million matrix elements per block).  ``ap`` names the AP definition,
    ``"torchreid"`` or ``"market1501"``; ``unanswerable`` how queries without
    a true match count, ``"skip"`` or ``"zero"`` (module docstring).
    """
    shape = tuple(distmat.shape)
    if len(shape) != 2:
        raise InputError(f"distmat must be 2-D (queries x gallery), got shape {shape}")
    nq, ng = shape
    qp, qc = _labels(query_pids, "query_pids", nq), _labels(query_camids, "query_camids", nq)
    gp, gc = _labels(gallery_pids, "gallery_pids", ng), _labels(gallery_camids, "gallery_camids", ng)
    if _is_torch(distmat):
        if not distmat.is_floating_point():
            distmat = distmat.float()
        return _evaluate_blocks(lambda a, b: distmat[a:b], nq, ng, qp, gp, qc, gc, max_rank, junk_pids, True, distmat.device, chunk_size, num_threads, ap, unanswerable)
    if not np.issubdtype(np.asarray(distmat[:0]).dtype, np.floating):
        distmat = np.asarray(distmat, dtype=np.float64)
    return _evaluate_blocks(lambda a, b: distmat[a:b], nq, ng, qp, gp, qc, gc, max_rank, junk_pids, False, None, chunk_size, num_threads, ap, unanswerable)


# ---------------------------------------------------------------------------------------------
# distances


METRICS = ("euclidean", "sqeuclidean", "cosine")


def _check_features(x: Any, name: str) -> None:
    if _is_torch(x):
        ok = bool(x.isfinite().all())
        bad_row = None if ok else int(x.isfinite().logical_not().any(1).nonzero()[0, 0])
    else:
        fin = np.isfinite(x)
        ok = bool(fin.all())
        bad_row = None if ok else int(np.flatnonzero(~fin.all(1))[0])
    if not ok:
        raise InputError(f"{name} row {bad_row} holds NaN or infinite values")


def _distance_block(x, y, metric: str, y_sq=None):
    """Distances between rows of x and rows of y, in the arrays' own library and dtype."""
    torch_mode = _is_torch(x)
    if metric == "cosine":
        if torch_mode:
            import torch.nn.functional as F

            return 1.0 - F.normalize(x, dim=1) @ F.normalize(y, dim=1).T
        xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        yn = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
        return 1.0 - xn @ yn.T
    if torch_mode:
        d2 = (x * x).sum(1, keepdim=True) + (y_sq if y_sq is not None else (y * y).sum(1))[None, :] - 2.0 * (x @ y.T)
        d2 = d2.clamp_min(0)
        return d2.sqrt() if metric == "euclidean" else d2
    d2 = (x * x).sum(1, keepdims=True) + (y_sq if y_sq is not None else (y * y).sum(1))[None, :] - 2.0 * (x @ y.T)
    np.maximum(d2, 0, out=d2)
    return np.sqrt(d2, out=d2) if metric == "euclidean" else d2


def l2_normalize(x: Any) -> Any:
    """Each row divided by its Euclidean norm, in the array's own library and dtype.

    The official scripts' step before ``pdist2(..., 'euclidean')``: GLTR's
    ``Duke_test/make_video_fea.m`` and ``Mars_test/utils/process_box_feat.m``
    (``video_feat ./ sqrt(sum(video_feat .^ 2))``).  MATLAB would turn an
    all-zero row into NaN; here its norm is floored at 1e-12 so it stays zero
    (and far from every unit vector) rather than poisoning the scores.
    """
    if _is_torch(x):
        import torch.nn.functional as F

        return F.normalize(x, dim=1, eps=1e-12)
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12).astype(x.dtype)


def pairwise_distance(x: Any, y: Any, metric: str = "euclidean", *, chunk_size: int | None = None):
    """(len(x), len(y)) distances, computed in row blocks; numpy in, numpy out; torch in, torch out.

    ``euclidean`` (the paper's), ``sqeuclidean`` or ``cosine`` (1 - cosine
    similarity).  Non-finite features are an error naming the row.
    """
    if metric not in METRICS:
        raise InputError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise InputError(f"features must be 2-D with equal widths, got {tuple(x.shape)} and {tuple(y.shape)}")
    _check_features(x, "query features")
    _check_features(y, "gallery features")
    rows = chunk_size or max(1, DEFAULT_BLOCK_ELEMENTS // max(len(y), 1))
    if _is_torch(x):
        import torch

        y_sq = (y * y).sum(1)
        return torch.cat([_distance_block(x[i : i + rows], y, metric, y_sq) for i in range(0, len(x), rows)] or [x.new_zeros((0, len(y)))])
    x, y = np.asarray(x), np.asarray(y)
    if not np.issubdtype(x.dtype, np.floating):
        x, y = x.astype(np.float32), y.astype(np.float32)
    out = np.empty((len(x), len(y)), dtype=np.result_type(x.dtype, y.dtype))
    y_sq = (y * y).sum(1)
    for i in range(0, len(x), rows):
        out[i : i + rows] = _distance_block(x[i : i + rows], y, metric, y_sq)
    return out


def evaluate_features(
    query_features: Any,
    gallery_features: Any,
    query_pids: Any,
    gallery_pids: Any,
    query_camids: Any,
    gallery_camids: Any,
    max_rank: int = 20,
    junk_pids: Sequence[int] = (),
    *,
    metric: str = "euclidean",
    chunk_size: int | None = None,
    num_threads: int | None = None,
    ap: str = AP_VARIANTS[0],
    unanswerable: str = UNANSWERABLE[0],
    normalize: bool = False,
) -> EvalResult:
    """:func:`evaluate` straight from features, never holding the full distance matrix.

    Distances are computed block by block and scored as they come, so memory
    stays bounded at any scale (numpy on CPU; torch tensors on their device).
    ``ap`` and ``unanswerable`` are as for :func:`evaluate`.  ``normalize``
    divides every feature by its Euclidean norm first (:func:`l2_normalize`),
    as the official scripts do (``make_video_fea.m``, ``process_box_feat.m``).
    """
    if metric not in METRICS:
        raise InputError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    _check_features(query_features, "query features")
    _check_features(gallery_features, "gallery features")
    nq, ng = len(query_features), len(gallery_features)
    qp, qc = _labels(query_pids, "query_pids", nq), _labels(query_camids, "query_camids", nq)
    gp, gc = _labels(gallery_pids, "gallery_pids", ng), _labels(gallery_camids, "gallery_camids", ng)
    use_torch = _is_torch(query_features)
    y = gallery_features if use_torch else np.asarray(gallery_features)
    x = query_features if use_torch else np.asarray(query_features)
    if normalize:
        x, y = l2_normalize(x), l2_normalize(y)
    y_sq = (y * y).sum(1)
    block = lambda a, b: _distance_block(x[a:b], y, metric, y_sq)  # noqa: E731
    device = x.device if use_torch else None
    return _evaluate_blocks(block, nq, ng, qp, gp, qc, gc, max_rank, junk_pids, use_torch, device, chunk_size, num_threads, ap, unanswerable)
