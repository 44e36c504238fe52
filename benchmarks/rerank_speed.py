"""k-reciprocal re-ranking: memory-bounded sparse version vs the dense published algorithm.

Run: python benchmarks/rerank_speed.py [--n-query 1000 --n-gallery 4000]

First both run on a size the dense version can handle, and the script prints
the time ratio and the largest difference between their outputs.  Then ours
runs at LS-VID size (3,504 queries + 7,829 gallery, 128-d) and its peak
memory (numpy allocations, traced) is printed beside what the dense version's
(N x N) matrices alone would need.
"""
from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocols.reference import re_ranking_dense  # noqa: E402
from protocols.rerank import re_ranking  # noqa: E402


def data(rng, nq, ng, dim=128, ids=None):
    ids = ids or max(nq // 2, 2)
    centres = rng.normal(size=(ids, dim)).astype(np.float32)
    qf = centres[rng.integers(0, ids, nq)] + rng.normal(size=(nq, dim)).astype(np.float32)
    gf = centres[rng.integers(0, ids, ng)] + rng.normal(size=(ng, dim)).astype(np.float32)
    return qf, gf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-query", type=int, default=1000)
    ap.add_argument("--n-gallery", type=int, default=4000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    qf, gf = data(rng, args.n_query, args.n_gallery)
    t = time.perf_counter()
    dense = re_ranking_dense(qf, gf)
    t_dense = time.perf_counter() - t
    t = time.perf_counter()
    ours = re_ranking(qf, gf)
    t_ours = time.perf_counter() - t
    print(
        f"{args.n_query} + {args.n_gallery}: dense published {t_dense:6.2f} s, ours {t_ours:5.2f} s, "
        f"ratio {t_dense / t_ours:5.1f}x, max |difference| {np.abs(dense - ours).max():.1e}"
    )
    nq, ng = 3504, 7829
    qf, gf = data(rng, nq, ng, ids=2730)
    tracemalloc.start()
    t = time.perf_counter()
    re_ranking(qf, gf)
    dt = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n = nq + ng
    dense_bytes = n * n * (4 + 4 + 4 + 8)  # distances, V, expanded V (float32) and the int64 argsort
    print(
        f"LS-VID size {nq} + {ng}: ours {dt:5.1f} s, peak traced memory {peak / 1e9:.2f} GB "
        f"(output alone {nq * ng * 4 / 1e9:.2f} GB); the dense algorithm's N x N matrices alone: {dense_bytes / 1e9:.1f} GB"
    )


if __name__ == "__main__":
    main()
