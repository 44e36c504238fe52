"""CMC + mAP speed: protocols.metrics.evaluate against a one-query-at-a-time loop.

Run: python benchmarks/eval_speed.py [--skip-10x] [--device cuda]

Scales: MARS (1,980 queries x 9,330 gallery, 6 cameras), LS-VID-like
(3,000 x 11,000, 15 cameras).  The baseline is the per-query numpy loop as
torchreid writes it (protocols.reference.evaluate_loop, stable sort so both
follow the same tie rule); the script checks the numbers are identical and
prints the ratio.  Then a 10x LS-VID-scale run (30,000 x 110,000) streams
distances from features through evaluate_features and reports its peak
memory, which must stay within this machine's 24 GB.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocols.metrics import evaluate, evaluate_features  # noqa: E402
from protocols.reference import evaluate_loop  # noqa: E402


def labels(rng, nq, ng, n_ids, n_cams):
    """Queries drawn from identities that also live in the gallery, as in a real split."""
    gp = rng.integers(0, n_ids, ng)
    qp = rng.choice(gp, nq)
    return qp, gp, rng.integers(1, n_cams + 1, nq), rng.integers(1, n_cams + 1, ng)


def features(rng, pids, n_ids, dim=128, noise=1.2):
    centres = np.random.default_rng(12345).normal(size=(n_ids, dim)).astype(np.float32)
    return centres[pids] + noise * rng.normal(size=(len(pids), dim)).astype(np.float32)


def bench(name, nq, ng, n_ids, n_cams, rng, device):
    qp, gp, qc, gc = labels(rng, nq, ng, n_ids, n_cams)
    qf, gf = features(rng, qp, n_ids), features(rng, gp, n_ids)
    d = np.sqrt(np.maximum((qf**2).sum(1)[:, None] + (gf**2).sum(1)[None] - 2 * qf @ gf.T, 0)).astype(np.float32)
    t = time.perf_counter()
    cmc_ref, map_ref, nv_ref = evaluate_loop(d, qp, gp, qc, gc, 20)
    t_ref = time.perf_counter() - t
    evaluate(d[:50], qp[:50], gp, qc[:50], gc)  # warm-up
    t = time.perf_counter()
    r = evaluate(d, qp, gp, qc, gc, 20)
    t_ours = time.perf_counter() - t
    same = np.array_equal(r.cmc, cmc_ref) and r.mAP == map_ref and r.num_valid_queries == nv_ref
    close = np.allclose(r.cmc, cmc_ref, atol=1e-12) and abs(r.mAP - map_ref) < 1e-12
    print(
        f"{name:<22} {nq:>6} x {ng:<7} loop {t_ref:7.2f} s   ours {t_ours:6.3f} s   ratio {t_ref / t_ours:6.1f}x   "
        f"mAP {r.mAP:.4f}  R1 {r.cmc[0]:.4f}  identical={'yes' if same else ('to 1e-12' if close else 'NO')}"
    )
    if device == "cuda":
        import torch

        dt = torch.from_numpy(d).cuda()
        evaluate(dt[:50], qp[:50], gp, qc[:50], gc)
        torch.cuda.synchronize()
        t = time.perf_counter()
        rc = evaluate(dt, qp, gp, qc, gc, 20)
        t_gpu = time.perf_counter() - t
        print(f"{'':<22} cuda ({torch.cuda.get_device_name()}) {t_gpu:6.3f} s   ratio vs loop {t_ref / t_gpu:6.1f}x   identical to numpy={np.array_equal(rc.cmc, r.cmc) and rc.mAP == r.mAP}")
    return t_ref / t_ours


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-10x", action="store_true", help="skip the 30,000 x 110,000 memory run")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    bench("MARS", 1980, 9330, 636, 6, rng, args.device)
    ratio = bench("LS-VID-like", 3000, 11000, 2730, 15, rng, args.device)
    print(f"goal >= 10x at LS-VID scale: {'met' if ratio >= 10 else 'NOT met'} ({ratio:.1f}x)")
    if args.skip_10x:
        return
    nq, ng, n_ids = 30000, 110000, 27300
    qp, gp, qc, gc = labels(rng, nq, ng, n_ids, 15)
    if args.device == "cuda":
        import torch

        qf = torch.from_numpy(features(rng, qp, n_ids)).cuda()
        gf = torch.from_numpy(features(rng, gp, n_ids)).cuda()
    else:
        qf, gf = features(rng, qp, n_ids), features(rng, gp, n_ids)
    t = time.perf_counter()
    r = evaluate_features(qf, gf, qp, gp, qc, gc)
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    full = nq * ng * 4 / 1e9
    print(
        f"10x LS-VID (streamed)  {nq} x {ng}: {dt:6.1f} s, peak RSS {peak:.1f} GB "
        f"(the float32 distance matrix alone would be {full:.1f} GB); mAP {r.mAP:.4f}; "
        f"{'within' if peak < 24 else 'OVER'} 24 GB"
    )


if __name__ == "__main__":
    main()
