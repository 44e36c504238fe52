"""Stage (b): an aggregator trained on cached frame features, then video features for evaluation.

Training follows the paper (Section 4.2): each epoch draws one window of 16
adjacent frames from every train sequence, batches of 10 sequences, softmax
over the train identities through a linear classifier the harness adds, SGD
with lr 0.01 divided by 10 after 120 epochs, 400 epochs.  The loop itself,
for one run or many fused, is :mod:`benchmark.fused_training`.  Evaluation embeds
*all* frames of each sequence: sequences are sorted by length and packed into
padded batches with a mask, so no frame is dropped and little is padded.

The whole feature array lives on the training device as one tensor and every
window is a gather, so the loop never waits on the host.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsvid_core.errors import InputError
from protocols import Dataset

from .config import AGG_EXECUTION_FIELDS, AggregatorStageConfig, without_execution_fields
from .fingerprint import tensor_fingerprint
from .runtime import NonFiniteError, autocast

FINAL_FILE = "aggregator.pt"
STATE_FILE = "train_state.pt"


@dataclass(frozen=True)
class SequenceIndex:
    """Where each tracklet's frames sit in the feature array, in tracklets-table order."""

    start: np.ndarray
    length: np.ndarray

    @classmethod
    def of(cls, ds: Dataset) -> SequenceIndex:
        """The index of ``ds``: its frames table holds each tracklet's frames contiguously."""
        tid = ds.frames["tracklet_id"].to_numpy()
        starts = np.r_[0, np.flatnonzero(np.diff(tid)) + 1]
        lengths = np.diff(np.r_[starts, len(tid)])
        pos = {int(t): i for i, t in enumerate(tid[starts].tolist())}
        rows = np.array([pos[int(t)] for t in ds.tracklets["tracklet_id"].tolist()])
        return cls(starts[rows].astype(np.int64), lengths[rows].astype(np.int64))


class Standardized(torch.nn.Module):
    """An aggregator behind a fixed per-dimension standardisation of its input frames.

    The statistics come from the train split's frames and are stored with the
    weights.  CNN embeddings can sit far from unit scale (a BatchNorm's
    running statistics at evaluation), which makes learned aggregators
    diverge; standardising is the same harmless affine map for every method.
    """

    vectorized = False  # True on the template that fused training vmaps over: see forward

    def __init__(self, agg: torch.nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.agg = agg
        self.out_dim = agg.out_dim
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # under torch.func.vmap an aggregator may offer its own vmap-able forward (benchmark.registry: vmap_forward)
        fn = getattr(self.agg, "vmap_forward", None) if self.vectorized else None
        return (fn or self.agg)((x - self.mean) / self.std, mask)


def train_statistics(feats: torch.Tensor, index: SequenceIndex, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and std over every frame of the sequences at ``rows``."""
    sel = np.concatenate([np.arange(s, s + n) for s, n in zip(index.start[rows], index.length[rows])]) if len(rows) else np.zeros(0, np.int64)
    x = feats[torch.as_tensor(sel, device=feats.device)].double()
    return x.mean(0).float(), x.std(0).clamp_min(1e-6).float()


def windows(start: torch.Tensor, length: torch.Tensor, seq_len: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One random window of ``seq_len`` adjacent frames per sequence: (rows, mask), both (B, seq_len).

    Sequences shorter than ``seq_len`` give all their frames and padding.
    """
    room = (length - seq_len + 1).clamp_min(1)
    off = (torch.rand(start.shape, device=start.device, generator=generator) * room).long()
    t = torch.arange(seq_len, device=start.device)
    mask = t[None, :] < length[:, None]
    rows = start[:, None] + off[:, None] + t[None, :]
    return torch.where(mask, rows, start[:, None]), mask


def aggregator_run_spec(
    method: str, options: dict[str, Any], ds: Dataset, feats: torch.Tensor, cfg: AggregatorStageConfig, *, seed: int, features_id: str | None = None
) -> dict:
    """Everything a trained aggregator depends on: the method and its options, the
    frame features (``features_id``, e.g. the cache folder's name, or a content
    sample of ``feats``), the trial, the config (less its execution fields) and
    the seed."""
    return {
        "stage": "aggregator",
        "method": method,
        "options": options,
        "features": features_id or tensor_fingerprint(feats),
        "trial": ds.trial,
        "config": without_execution_fields(asdict(cfg), AGG_EXECUTION_FIELDS),
        "seed": int(seed),
    }


def train_aggregator(
    method: str,
    options: dict[str, Any],
    ds: Dataset,
    feats: torch.Tensor,
    index: SequenceIndex,
    cfg: AggregatorStageConfig,
    *,
    device: torch.device,
    out_dir: str | os.PathLike,
    seed: int = 0,
    log: Callable[[str], None] = print,
    progress: bool = True,
    features_id: str | None = None,
) -> torch.nn.Module:
    """Train ``method`` on the train split of ``ds`` (resuming if interrupted); returns it in eval mode.

    One run alone; :func:`benchmark.fused_training.train_aggregators` trains
    many (the rule is described there).  ``out_dir`` is bound to the run's
    settings (:func:`aggregator_run_spec`, kept in ``run.json``): a finished
    or partial model there is only reused by a run of the same settings;
    otherwise :class:`~benchmark.runtime.StaleRunError`.
    """
    from .fused_training import AggregatorRun, train_aggregators

    run = AggregatorRun(method, options, ds, feats, index, seed, Path(out_dir), features_id)
    return train_aggregators([run], cfg, device=device, log=log, progress=progress)[0]


def _train_rows(ds: Dataset) -> np.ndarray:
    """Rows of the tracklets table that train an aggregator: the train split less the junk identities."""
    tr = ds.tracklets
    train = (tr["split"] == "train").to_numpy() & ~tr["person_id"].isin(list(ds.protocol.junk_pids)).to_numpy()
    rows = np.flatnonzero(train)
    if len(rows) == 0:
        raise InputError(f"{ds.root}: no train sequences (trial {ds.trial})")
    return rows


def _check_finite(ds: Dataset, feats: torch.Tensor) -> None:
    """Refuse NaN/inf frame features before training on them, naming the first bad frame."""
    if not bool(torch.isfinite(feats).all()):
        bad = int(torch.isfinite(feats).all(dim=1).logical_not().nonzero()[0, 0])
        fr = ds.frames.iloc[bad]
        raise NonFiniteError(f"{ds.root}: frame feature row {bad} (tracklet {fr['tracklet_id']}, frame {fr['frame_index']}) is NaN or infinite; extract the features again")


@torch.inference_mode()
def embed_sequences(
    agg: torch.nn.Module,
    feats: torch.Tensor,
    index: SequenceIndex,
    rows: np.ndarray,
    *,
    device: torch.device,
    max_frames: int = 65536,
    min_fill: float = 0.8,
) -> np.ndarray:
    """Video features of the tracklets at ``rows`` from all their frames: ``(len(rows), out_dim)``.

    Sequences are packed by :func:`length_batches`, so no frame is dropped and little is padded.
    :func:`benchmark.fused_embedding.embed_runs` does the same for many trained runs at once.
    """
    agg.eval()
    rows = np.asarray(rows)
    out = torch.empty((len(rows), agg.out_dim), device=device)
    for sel, tmax in length_batches(index.length[rows], max_frames, min_fill):
        idx, mask = padded_rows(index, rows[sel], tmax, device)
        with autocast(device):
            v = agg(feats[idx], mask)
        out[torch.as_tensor(sel, device=device)] = v.float()
    return out.cpu().numpy()


def length_batches(lengths: np.ndarray, max_frames: int, min_fill: float = 0.8) -> Iterator[tuple[np.ndarray, int]]:
    """Positions in ``lengths`` batch by batch, longest first, with each batch's longest length.

    A batch holds at most ``max_frames`` padded slots, and its shortest sequence has at
    least ``min_fill`` of its longest one's frames, so padding is bounded (MARS-like
    lengths run from 2 to 920 frames, and attention pays for padding quadratically).
    """
    order = np.argsort(-lengths, kind="stable")
    neg_sorted = -lengths[order]  # ascending, for searchsorted
    i = 0
    while i < len(order):
        tmax = int(lengths[order[i]])
        bsz = max(1, max_frames // max(tmax, 1))
        similar = int(np.searchsorted(neg_sorted, -min_fill * tmax, side="right"))
        sel = order[i : min(i + bsz, similar)]
        yield sel, tmax
        i += len(sel)


def padded_rows(index: SequenceIndex, rows: np.ndarray, tmax: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature-array rows of every frame of the tracklets at ``rows``, padded to ``tmax``, and the mask: both ``(B, tmax)``."""
    start = torch.as_tensor(index.start[rows], device=device)
    length = torch.as_tensor(index.length[rows], device=device)
    t = torch.arange(tmax, device=device)
    mask = t[None, :] < length[:, None]
    return torch.where(mask, start[:, None] + t[None, :], start[:, None]), mask
