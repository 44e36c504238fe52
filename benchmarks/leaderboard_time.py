"""Wall time of stage (b) for all nine methods on a MARS-sized cached feature set.

Run: python benchmarks/leaderboard_time.py [--epochs 1] [--device auto] [--scale 1.0] [--jobs K]

Generated 128-d frame features stand in for a real cache: 8,298 train and
11,310 test sequences with MARS-like lengths (mean ~59 frames).  Each method
trains for ``--epochs`` epochs of the paper's schedule (16-frame windows,
batches of 10) and then embeds every test sequence from all its frames.  The
script reports, per method, seconds per training epoch, the projection to the
paper's 400 epochs, and the evaluation (embedding) time.  The obvious
implementation it is compared with embeds test sequences one at a time.

With ``--jobs K`` it also times the whole of stage (b) for every method as
``lsvid bench`` runs it (train, embed, score), one method after another and
then ``K`` methods at once in separate processes (``agg.jobs``), and prints
the ratio of the two wall times.

``--full`` times fused training (:mod:`benchmark.fused_training`) against
one-by-one training at the five datasets' real training sizes (generated
cached features, d = 128): MARS 8,298 train sequences of 625 identities,
LS-VID 3,000 of 842, DukeMTMC-VideoReID 2,196 of 702, PRID-2011 10 trials x
178 (89 identities x 2 cameras), iLIDS-VID 10 trials x 300 (150 x 2), each
trial with its own features.  For each of the nine methods it times a fixed
slice of steps (``--steps``, after warm-up) of: each dataset's run alone;
the stack of the 10 PRID trials; and each stack the whole table goes through
as runs finish (all 23 runs; then without PRID; then the three large ones;
...).  From these it projects the wall time of the whole table under the
paper's schedule (400 epochs; each run ``n // 10`` steps per epoch), plus
evaluation (embedding every test sequence, timed on a MARS-like test split
and scaled by each dataset's test frames).  Its last line reads
``fused vs one-by-one: R× ; whole table projected: M min on DEVICE``, R being
the ratio for the 10 fused PRID trials over the nine methods.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.aggregators import BASELINES  # noqa: E402
from benchmark.config import AggregatorStageConfig  # noqa: E402
from benchmark.runtime import device_name, resolve_device  # noqa: E402
from benchmark.stage_aggregator import SequenceIndex, embed_sequences, train_aggregator  # noqa: E402
from protocols import Dataset  # noqa: E402


def mars_like(scale: float, rng: np.random.Generator) -> tuple[Dataset, np.ndarray]:
    import pandas as pd

    n_train, n_test = int(8298 * scale), int(11310 * scale)
    lengths = np.clip(rng.lognormal(3.8, 0.7, n_train + n_test).astype(int), 2, 920)
    ids = np.r_[rng.integers(0, 625, n_train), rng.integers(1000, 1636, n_test)]
    split = np.r_[np.full(n_train, "train"), np.where(rng.random(n_test) < 0.17, "query", "gallery")]
    tr = pd.DataFrame({
        "tracklet_id": np.arange(n_train + n_test), "person_id": ids, "camera_id": rng.integers(1, 7, n_train + n_test),
        "split": pd.array(split, dtype="string"), "num_frames": lengths.astype(np.int32),
    })
    fr = pd.DataFrame({"tracklet_id": np.repeat(tr.tracklet_id.to_numpy(), lengths), "frame_index": np.concatenate([np.arange(L) for L in lengths])})
    ds = Dataset(root=Path("."), tracklets=tr, frames=fr, meta={"name": "mars-like"})
    return ds, lengths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of MARS's sequence counts")
    ap.add_argument("--methods", default=",".join(BASELINES))
    ap.add_argument("--jobs", type=int, default=0, help="also time all methods one by one against this many at once")
    ap.add_argument("--full", action="store_true", help="fused against one-by-one training at the five datasets' sizes; projects the whole table")
    ap.add_argument("--steps", type=int, default=10, help="--full: steps timed per stack")
    args = ap.parse_args()
    device = resolve_device(args.device)
    if args.full:
        from leaderboard_full import full_table

        full_table(args.methods.split(","), device, args.steps)
        return
    rng = np.random.default_rng(0)
    ds, lengths = mars_like(args.scale, rng)
    feats = torch.from_numpy(rng.normal(size=(int(lengths.sum()), 128)).astype(np.float32)).to(device)
    index = SequenceIndex.of(ds)
    test_rows = np.flatnonzero(ds.tracklets.split.to_numpy() != "train")
    print(f"device: {device_name(device)}; {len(ds.tracklets)} sequences, {len(feats)} frames; {args.epochs} epoch(s) measured")
    print(f"{'method':<20} {'s/epoch':>8} {'400 epochs':>11} {'embed test':>11} {'one-by-one':>11} {'ratio':>6}")
    cfg = AggregatorStageConfig(epochs=args.epochs, checkpoint_every=max(args.epochs, 1))
    # warm-up on a tiny copy: the first convolution of each shape pays one-off library set-up
    wds, wlen = mars_like(0.005, np.random.default_rng(1))
    wfeats = torch.randn(int(wlen.sum()), 128, device=device)
    wrows = np.flatnonzero(wds.tracklets.split.to_numpy() != "train")
    for method in args.methods.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            w = train_aggregator(method, {}, wds, wfeats, SequenceIndex.of(wds), cfg, device=device, out_dir=tmp, progress=False, log=lambda s: None)
            embed_sequences(w, wfeats, SequenceIndex.of(wds), wrows, device=device)
    for method in args.methods.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            agg = train_aggregator(method, {}, ds, feats, index, cfg, device=device, out_dir=tmp, progress=False, log=lambda s: None)
            if device.type == "cuda":
                torch.cuda.synchronize()
            per_epoch = (time.perf_counter() - t) / max(args.epochs, 1)
            t = time.perf_counter()
            embed_sequences(agg, feats, index, test_rows, device=device)
            t_embed = time.perf_counter() - t
            # the obvious evaluation: one sequence at a time (timed on a sample, scaled up)
            sample = test_rows[:: max(1, len(test_rows) // 300)]
            t = time.perf_counter()
            with torch.inference_mode():
                for r in sample:
                    s, L = index.start[r], index.length[r]
                    agg(feats[s : s + L][None], None)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_loop = (time.perf_counter() - t) * len(test_rows) / len(sample)
        print(f"{method:<20} {per_epoch:8.2f} {per_epoch * 400 / 60:9.1f} m {t_embed:10.2f}s {t_loop:10.2f}s {t_loop / t_embed:5.1f}x")
    if args.jobs > 1:
        compare_jobs(ds, feats.cpu().numpy(), args, cfg, device)


def compare_jobs(ds: Dataset, feats: np.ndarray, args, cfg: AggregatorStageConfig, device: torch.device) -> None:
    """Stage (b) of every method as the runner does it: one by one, then ``args.jobs`` at once."""
    from dataclasses import replace

    from benchmark.config import BenchConfig
    from benchmark.runner import _MethodJob, _score_in_processes, _score_method
    from protocols import read_dataset, write_dataset

    methods = args.methods.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        fr = ds.frames.assign(path=[f"img/{t}/{i}.jpg" for t, i in zip(ds.frames.tracklet_id, ds.frames.frame_index)])
        root = write_dataset(Path(tmp) / "ds", ds.tracklets, fr, {"name": "mars-like", "protocol": {"name": "mars"}})
        cache = Path(tmp) / "cache" / "features"
        cache.mkdir(parents=True)
        np.save(cache / "features.npy", feats)
        full = read_dataset(root)
        times = {}
        for jobs in (1, args.jobs):
            bench = BenchConfig(agg=replace(cfg, jobs=jobs))
            todo = [
                _MethodJob(dataset=str(root), trial=0, method=m, options={}, config=bench, cfg_json=bench.to_json(), cache_folder=str(cache),
                           ckpt_sha="-", ds_sha="-", run_dir=str(Path(tmp) / f"runs{jobs}"), device=str(device), plugins=(), progress=False)
                for m in methods
            ]
            t = time.perf_counter()
            if jobs == 1:
                x = torch.from_numpy(feats).to(device)
                rows = [_score_method(j, full, full, x, SequenceIndex.of(full), device, lambda s: None) for j in todo]
            else:
                rows = list(_score_in_processes(todo, jobs, lambda s: None))
            times[jobs] = time.perf_counter() - t
            scores = ", ".join(f"{r['method']} {r['mAP']:.3f}" for r in sorted(rows, key=lambda r: r["method"]))
            print(f"stage (b), {len(methods)} methods, {args.epochs} epoch(s) each, {jobs} at a time: {times[jobs]:.1f} s (mAP {scores})")
        print(f"ratio: {times[1] / times[args.jobs]:.2f}x with {args.jobs} processes")


if __name__ == "__main__":
    main()
