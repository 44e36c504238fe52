"""``leaderboard_time.py --full``: fused against one-by-one stage (b) at the five datasets' real sizes.

See the docstring of ``leaderboard_time.py``.  Timings are of the training
step as :mod:`benchmark.fused_training` runs it (the same stacks, CUDA graphs
on CUDA); the projection multiplies each stack's step time by the steps the
table spends in it.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark.config import AggregatorStageConfig
from benchmark.fused_training import AggregatorRun, _prepare, _StackTraining
from benchmark.runtime import device_name
from benchmark.stage_aggregator import SequenceIndex, Standardized, embed_sequences
from protocols import Dataset


@dataclass(frozen=True)
class Size:
    """A dataset's training size: ``trials`` runs of ``sequences`` train sequences of ``ids`` identities,
    lengths log-normal around ``mean_len`` frames; ``test_frames`` frames embedded at evaluation, per trial."""

    name: str
    trials: int
    sequences: int
    ids: int
    mean_len: float
    test_frames: int


# train sizes from the issue and the papers; test frames from the datasets' totals (LS-VID 2.98 M frames
# of which ~3/4 test, MARS 11,310 test sequences of ~59 frames, Duke 3,338 test of ~168, PRID/iLIDS halves)
SIZES = (
    Size("mars", 1, 8298, 625, 59, 680_000),
    Size("lsvid", 1, 3000, 842, 200, 2_200_000),
    Size("dukev", 1, 2196, 702, 168, 560_000),
    Size("prid", 10, 178, 89, 100, 18_000),
    Size("ilids", 10, 300, 150, 73, 22_000),
)


def train_set(size: Size, seed: int) -> tuple[Dataset, torch.Tensor]:
    """Generated train sequences of ``size`` and 128-d frame features (its own per trial)."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(size.mean_len) - 0.18, 0.6, size.sequences).astype(int), 2, 920)
    ids = np.r_[np.arange(size.ids), rng.integers(0, size.ids, size.sequences - size.ids)] if size.sequences >= size.ids else np.arange(size.sequences)
    tr = pd.DataFrame({
        "tracklet_id": np.arange(size.sequences), "person_id": ids, "camera_id": rng.integers(1, 3, size.sequences),
        "split": pd.array(["train"] * size.sequences, dtype="string"), "num_frames": lengths.astype(np.int32),
    })
    fr = pd.DataFrame({"tracklet_id": np.repeat(np.arange(size.sequences), lengths), "frame_index": np.concatenate([np.arange(n) for n in lengths])})
    feats = torch.from_numpy(rng.standard_normal((int(lengths.sum()), 128), dtype=np.float32))
    return Dataset(root=Path("."), tracklets=tr, frames=fr, meta={"name": size.name}), feats


def step_time(lives, cfg: AggregatorStageConfig, device: torch.device, steps: int, vectorize: bool) -> float:
    """Seconds per step of the stack of ``lives`` (after warm-up, and the CUDA graph capture on CUDA)."""
    training = _StackTraining(lives, cfg, device, vectorize=vectorize)
    for _ in range(5):
        training.step_fn()
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        training.step_fn()
    _sync(device)
    return (time.perf_counter() - t) / steps


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def phases(sizes: tuple[Size, ...], epochs: int) -> list[tuple[list[str], int]]:
    """The stacks the whole table goes through as runs finish, smallest runs first: (datasets in it, steps spent)."""
    by_steps = sorted(sizes, key=lambda s: s.sequences // 10)
    out, done = [], 0
    for i, s in enumerate(by_steps):
        total = epochs * (s.sequences // 10)
        out.append(([t.name for t in by_steps[i:]], total - done))
        done = total
    return out


def embed_rates(method: str, device: torch.device, runs: int = 10) -> tuple[float, float]:
    """Frames per second of evaluation (all frames of each sequence) on a MARS-like test sample:
    one run alone, and ``runs`` runs (each on its own features, as trials are) embedded together
    (:func:`benchmark.fused_embedding.embed_runs`), counting every run's frames."""
    from leaderboard_time import mars_like

    from benchmark.fused_embedding import embed_runs
    from benchmark.registry import create_aggregator

    ds, lengths = mars_like(0.03, np.random.default_rng(7))
    index, rows = SequenceIndex.of(ds), np.arange(len(ds.tracklets))
    feats = [torch.randn(int(lengths.sum()), 128, device=device) for _ in range(runs)]
    unit = torch.zeros(128), torch.ones(128)  # as the runner holds them: behind the input standardisation
    models = [Standardized(create_aggregator(method, 128), *unit).to(device).eval() for _ in range(runs)]
    embed_runs(models[:2], feats[:2], index, rows[:50], device=device, stacked=True)  # warm-up of both paths
    embed_sequences(models[0], feats[0], index, rows[:50], device=device)
    _sync(device)
    t = time.perf_counter()
    embed_sequences(models[0], feats[0], index, rows, device=device)
    _sync(device)
    alone = float(lengths.sum()) / (time.perf_counter() - t)
    t = time.perf_counter()
    embed_runs(models, feats, index, rows, device=device, stacked=True)
    _sync(device)
    return alone, runs * float(lengths.sum()) / (time.perf_counter() - t)


def full_table(methods: list[str], device: torch.device, steps: int) -> None:
    cfg = AggregatorStageConfig()  # the paper's schedule
    data = {s.name: [train_set(s, 100 * i + k) for k in range(s.trials)] for i, s in enumerate(SIZES)}
    size = {s.name: s for s in SIZES}
    runs_per_method = sum(s.trials for s in SIZES)
    print(f"device: {device_name(device)}; {runs_per_method} runs per method "
          f"({', '.join(f'{s.name} {s.trials}x{s.sequences}' for s in SIZES)}), {steps} steps timed per stack")
    print(f"{'method':<20} {'alone ms/step':>13} {'10 PRID fused':>14} {'ratio':>6} {'table alone':>12} {'table fused':>12} {'eval x10':>10}")
    prid_alone = prid_fused = table_alone = table_fused = 0.0
    alone_step: dict[str, float] = {}
    eval_ratio: dict[str, float] = {}
    for method in methods:
        with tempfile.TemporaryDirectory() as tmp:
            lives = {name: [_live(method, ds, f, k, Path(tmp) / f"{name}{k}", cfg, device) for k, (ds, f) in enumerate(runs)] for name, runs in data.items()}
            if lives["mars"][0] is None:  # nothing to train (parameter-free): evaluation only
                t1 = {name: 0.0 for name in lives}
                fused10 = 0.0
                fused = 0.0
            else:
                t1 = {name: step_time([lv[0]], cfg, device, steps, vectorize=False) for name, lv in lives.items()}
                fused10 = step_time(lives["prid"], cfg, device, steps, vectorize=True)
                fused = sum(n * step_time([x for d in names for x in lives[d]], cfg, device, steps, vectorize=len(names) > 1 or size[names[0]].trials > 1)
                            for names, n in phases(SIZES, cfg.epochs))
        alone_step[method] = t1["prid"]
        alone = sum(s.trials * cfg.epochs * (s.sequences // 10) * t1[s.name] for s in SIZES)
        rate1, rate10 = embed_rates(method, device)
        evaluation = sum(s.trials * s.test_frames for s in SIZES) / rate1
        together = rate10 if device.type == "cuda" else rate1  # as embed_runs does: stacked on CUDA only
        evaluation_fused = sum(s.trials * s.test_frames / (together if s.trials > 1 else rate1) for s in SIZES)
        eval_ratio[method] = rate10 / rate1
        prid_alone += 10 * t1["prid"]
        prid_fused += fused10
        table_alone += alone + evaluation
        table_fused += fused + evaluation_fused
        ratio = 10 * t1["prid"] / fused10 if fused10 else float("nan")
        print(f"{method:<20} {1000 * t1['prid']:13.2f} {1000 * fused10:13.2f}  {ratio:5.2f}x {(alone + evaluation) / 60:10.1f} m "
              f"{(fused + evaluation_fused) / 60:10.1f} m {rate10 / rate1:9.2f}x", flush=True)
    r = prid_alone / prid_fused
    if alone_step.get("dtp") and alone_step.get("tsa"):
        print(f"TSA step vs DTP step (one run, PRID): {alone_step['tsa'] / alone_step['dtp']:.2f}x (goal <= 1.5x)")
    print(f"evaluation, 10 runs together vs one by one (frames/s): {', '.join(f'{m} {v:.2f}x' for m, v in eval_ratio.items())}")
    print(f"10 PRID trials, {len(methods)} methods, one step each: one-by-one {1000 * prid_alone:.1f} ms, fused {1000 * prid_fused:.1f} ms")
    print(f"whole table ({len(methods)} methods x {runs_per_method} runs, {cfg.epochs} epochs, + evaluation): "
          f"one-by-one {table_alone / 60:.1f} min, fused {table_fused / 60:.1f} min ({table_alone / table_fused:.2f}x)")
    print(f"fused vs one-by-one: {r:.2f}× ; whole table projected: {table_fused / 60:.1f} min on {device_name(device)}")


def _live(method: str, ds: Dataset, feats: torch.Tensor, seed: int, folder: Path, cfg: AggregatorStageConfig, device: torch.device):
    """A fresh run as fused training prepares it (None for a method with nothing to train)."""
    return _prepare(AggregatorRun(method, {}, ds, feats.to(device), SequenceIndex.of(ds), seed, folder, features_id=f"bench-{folder.name}"), cfg, device, lambda s: None)[1]
