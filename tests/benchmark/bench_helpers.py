"""Helpers shared by the harness tests: killing a training process at a chosen point of its state; toy stage (b) runs."""
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark.fused_training import AggregatorRun
from benchmark.stage_aggregator import SequenceIndex
from protocols import Dataset


def kill_when(p: subprocess.Popen, state: Path, ready, what: str, timeout: float = 300) -> None:
    """SIGKILL ``p`` (no chance to clean up) once ``ready(its resumable state)`` holds."""
    deadline = time.time() + timeout
    while time.time() < deadline and p.poll() is None:
        try:
            if ready(torch.load(state, weights_only=False)):
                break
        except (FileNotFoundError, RuntimeError, EOFError):
            pass
        time.sleep(0.01)
    if p.poll() is not None:
        out = p.stdout.read() if p.stdout else ""
        raise AssertionError(f"the run ended (exit {p.returncode}) before its state recorded {what}:\n{out[-3000:]}")
    p.send_signal(signal.SIGKILL)
    p.wait()


def kill_after_epoch(p: subprocess.Popen, state: Path, epoch: int) -> None:
    kill_when(p, state, lambda st: st["epoch"] >= epoch, f"epoch {epoch}")


def toy(n_train: int, ids: int, seed: int, d: int = 24) -> tuple[Dataset, torch.Tensor]:
    """A dataset of ``n_train`` train sequences of ``ids`` identities (lengths 3..40, some shorter than a
    window) and 12 test ones, with random frame features."""
    rng = np.random.default_rng(seed)
    n = n_train + 12
    lengths = rng.integers(3, 40, n)
    tr = pd.DataFrame({
        "tracklet_id": np.arange(n), "person_id": np.r_[np.arange(n_train) % ids, 100 + np.arange(12) % 4],
        "camera_id": rng.integers(1, 3, n), "split": pd.array(["train"] * n_train + ["query", "gallery"] * 6, dtype="string"),
        "num_frames": lengths.astype(np.int32),
    })
    fr = pd.DataFrame({"tracklet_id": np.repeat(np.arange(n), lengths), "frame_index": np.concatenate([np.arange(k) for k in lengths])})
    ds = Dataset(root=Path("."), tracklets=tr, frames=fr, meta={"name": f"toy{seed}"})
    return ds, torch.from_numpy(rng.normal(size=(int(lengths.sum()), d)).astype(np.float32))


def runs(method: str, folder: Path, specs, options=None) -> list[AggregatorRun]:
    out = []
    for k, (ds, feats, seed) in enumerate(specs):
        out.append(AggregatorRun(method, options or {}, ds, feats, SequenceIndex.of(ds), seed, folder / f"run{k}"))
    return out
