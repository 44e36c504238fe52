"""Stage (b): an aggregator trained on cached frame features, then video features for evaluation.

Training follows the paper (Section 4.2): each epoch draws one window of 16
adjacent frames from every train sequence, batches of 10 sequences, softmax
over the train identities through a linear classifier the harness adds, SGD
with lr 0.01 divided by 10 after 120 epochs, 400 epochs.  Evaluation embeds
*all* frames of each sequence: sequences are sorted by length and packed into
padded batches with a mask, so no frame is dropped and little is padded.

The whole feature array lives on the training device as one tensor and every
window is a gather, so the loop never waits on the host.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lsvid_core.errors import InputError
from protocols import Dataset

from .config import AGG_EXECUTION_FIELDS, AggregatorStageConfig, without_execution_fields
from .fingerprint import tensor_fingerprint
from .registry import create_aggregator
from .runtime import NonFiniteError, atomic_torch_save, autocast, check_finite_loss, claim_run, holds_folder
from .train_state import TrainState

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

    def __init__(self, agg: torch.nn.Module, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.agg = agg
        self.out_dim = agg.out_dim
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.agg((x - self.mean) / self.std, mask)


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


@holds_folder("out_dir")
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

    ``out_dir`` is bound to the run's settings (:func:`aggregator_run_spec`,
    kept in ``run.json``): a finished or partial model there is only reused by
    a run of the same settings; otherwise
    :class:`~benchmark.runtime.StaleRunError`.
    """
    out = Path(out_dir)
    claim_run(out, aggregator_run_spec(method, options, ds, feats, cfg, seed=seed, features_id=features_id))
    torch.manual_seed(seed)
    rows = _train_rows(ds)
    _check_finite(ds, feats)
    agg = Standardized(create_aggregator(method, feats.shape[1], **options), *train_statistics(feats, index, rows)).to(device)
    final = out / FINAL_FILE
    if final.exists():
        agg.load_state_dict(torch.load(final, map_location=device, weights_only=True))
        return agg.eval()
    if not any(p.requires_grad for p in agg.parameters()):
        # nothing in the aggregator to learn: the classifier alone would not change its features
        torch.save(agg.state_dict(), final)
        return agg.eval()
    run = _AggregatorTraining.create(agg, ds, index, rows, cfg, out=out, device=device, seed=seed)
    first = _resume(run.state, method, cfg, log)
    t0 = time.perf_counter()
    run.train(method, feats, first, folder=out, progress=progress)
    log(f"stage (b) {method}: {cfg.epochs - first} epochs in {time.perf_counter() - t0:.1f} s")
    atomic_torch_save(agg.state_dict(), final)
    run.state.discard()
    return agg.eval()


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


def _resume(state: TrainState, method: str, cfg: AggregatorStageConfig, log: Callable[[str], None]) -> int:
    """Load ``state`` if saved; the first epoch still to run."""
    st = state.load()
    if st is None:
        return 0
    first = int(st["epoch"]) + 1
    log(f"stage (b) {method}: resuming after epoch {first}/{cfg.epochs}")
    return first


@dataclass
class _AggregatorTraining:
    """One stage (b) run: the aggregator and the classifier the harness adds, their
    optimiser, the train sequences on the device, the generator drawing their
    order and windows, and the resumable state of all of it."""

    agg: torch.nn.Module
    head: torch.nn.Module
    params: list[torch.nn.Parameter]
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    start: torch.Tensor  # (sequences,) first feature row of each train sequence
    length: torch.Tensor  # (sequences,) its frame count
    labels: torch.Tensor  # (sequences,) its class
    gen: torch.Generator
    state: TrainState
    cfg: AggregatorStageConfig
    device: torch.device

    @classmethod
    def create(
        cls, agg: torch.nn.Module, ds: Dataset, index: SequenceIndex, rows: np.ndarray, cfg: AggregatorStageConfig, *, out: Path, device: torch.device, seed: int
    ) -> _AggregatorTraining:
        """A fresh classifier over the train identities at ``rows``, SGD with a step schedule, and a generator from ``seed``."""
        ids, labels = np.unique(ds.tracklets["person_id"].to_numpy()[rows], return_inverse=True)
        head = torch.nn.Linear(agg.out_dim, len(ids)).to(device)
        params = list(agg.parameters()) + list(head.parameters())
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
        start = torch.as_tensor(index.start[rows], device=device)
        length = torch.as_tensor(index.length[rows], device=device)
        gen = torch.Generator(device=device)
        gen.manual_seed(seed)
        state = TrainState(out / STATE_FILE, device=device, modules={"agg": agg, "head": head}, optimizer=opt, scheduler=sched, generator=gen)
        return cls(agg, head, params, opt, sched, start, length, torch.as_tensor(labels, device=device), gen, state, cfg, device)

    def train(self, method: str, feats: torch.Tensor, first: int, *, folder: Path, progress: bool) -> None:
        """Epochs ``first`` to the last, saving the state every ``checkpoint_every`` epochs and after the last."""
        from tqdm import tqdm

        cfg = self.cfg
        bar = tqdm(range(first, cfg.epochs), desc=f"{method}", disable=not progress, leave=False, unit="epoch", initial=first, total=cfg.epochs)
        loss_sum = torch.zeros((), device=self.device)
        steps = 0  # since the last checkpoint
        for epoch in bar:
            steps += self._epoch(feats, loss_sum)
            self.sched.step()
            if (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs:
                # the loss is read (a host sync) only here, once per checkpoint
                mean_loss = loss_sum.item() / max(steps, 1)
                check_finite_loss(mean_loss, stage=f"stage (b) {method}", epoch=epoch + 1, folder=folder, hint="lower agg.lr, keep agg.grad_clip on, or check the frame features.")
                self.state.save(epoch=epoch)
                bar.set_postfix(loss=f"{mean_loss:.3f}")
                loss_sum.zero_()
                steps = 0

    def _epoch(self, feats: torch.Tensor, loss_sum: torch.Tensor) -> int:
        """One pass over the train sequences in a random order, one random window each;
        adds each batch's loss to ``loss_sum`` (on the device) and returns the steps taken."""
        cfg = self.cfg
        self.agg.train()
        self.head.train()
        perm = torch.randperm(len(self.start), device=self.device, generator=self.gen)
        steps = 0
        for b in range(0, len(perm), cfg.batch_size):
            sel = perm[b : b + cfg.batch_size]
            if len(sel) < 2:  # a lone sequence would break BatchNorm statistics
                continue
            idx, mask = windows(self.start[sel], self.length[sel], cfg.seq_len, self.gen)
            with autocast(self.device):
                logits = self.head(self.agg(feats[idx], mask))
            loss = F.cross_entropy(logits.float(), self.labels[sel])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)  # no host sync: the norm stays on the device
            self.opt.step()
            loss_sum += loss.detach()
            steps += 1
        return steps


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

    Sequences are sorted by length and packed into padded batches of at most
    ``max_frames`` slots whose shortest sequence has at least ``min_fill`` of
    the longest one's frames, so padding is bounded (MARS-like lengths run
    from 2 to 920 frames, and attention pays for padding quadratically).
    """
    agg.eval()
    rows = np.asarray(rows)
    lengths = index.length[rows]
    order = np.argsort(-lengths, kind="stable")
    neg_sorted = -lengths[order]  # ascending, for searchsorted
    out = torch.empty((len(rows), agg.out_dim), device=device)
    i = 0
    while i < len(order):
        tmax = int(lengths[order[i]])
        bsz = max(1, max_frames // max(tmax, 1))
        similar = int(np.searchsorted(neg_sorted, -min_fill * tmax, side="right"))
        sel = order[i : min(i + bsz, similar)]
        start = torch.as_tensor(index.start[rows[sel]], device=device)
        length = torch.as_tensor(lengths[sel], device=device)
        t = torch.arange(tmax, device=device)
        mask = t[None, :] < length[:, None]
        idx = torch.where(mask, start[:, None] + t[None, :], start[:, None])
        with autocast(device):
            v = agg(feats[idx], mask)
        out[torch.as_tensor(sel, device=device)] = v.float()
        i += len(sel)
    return out.cpu().numpy()
