"""Stage (b) for many runs at once: the runs of one architecture trained in one step.

A leaderboard holds many stage (b) runs that share an architecture: the 10
trials of PRID-2011 and iLIDS-VID, repeated seeds, datasets of the same
feature width.  Each step of one run is tiny (10 sequences of 16 frames), so
alone it leaves a GPU waiting on kernel launches.  :func:`train_aggregators`
groups the runs by method, options, feature width and batch size and trains
each group as one stack (:class:`~benchmark.stacked_runs.StackedRuns`): one
gather of all runs' windows, one ``vmap``-ed forward, one backward, one SGD
update.  On CUDA the step is captured once in a CUDA graph and replayed.

Every run keeps what it would have alone: its own initial weights (built
from its seed exactly as alone), its own generator drawing its sequence order
and windows, its own epoch count and learning-rate schedule (runs of
different sizes fuse: each moves through its own epochs), its own checkpoint
in its own folder, and its final model written as soon as it is done.  A
fused run therefore equals the run trained alone up to floating-point
rounding of the batched kernels (exactly, for the methods whose forward has
no batched matrix product: see tests/benchmark/test_fused_training.py).

The training rule (the paper's, Section 4.2): per epoch a random order of
the train sequences and one random window of ``seq_len`` adjacent frames of
each; steps of exactly ``batch_size`` sequences (the epoch's last
``n mod batch_size`` sequences sit that epoch out, so every step has one
shape), softmax through a linear classifier, SGD with momentum and weight
decay, the learning rate times ``lr_gamma`` every ``lr_step`` epochs.

A method whose forward ``vmap`` cannot run (data-dependent control flow,
``.item()``, an op without a batching rule) falls back to one run at a time,
with a log line saying so; an aggregator may offer ``vmap_forward(x, mask)``,
a forward with the same numbers that ``vmap`` can run (the LSTM does).
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lsvid_core.errors import InputError
from protocols import Dataset

from .config import AggregatorStageConfig
from .registry import create_aggregator
from .runtime import atomic_torch_save, autocast, check_finite_loss, claim_run, folder_lock
from .stacked_runs import StackedRuns
from .stage_aggregator import (
    FINAL_FILE,
    STATE_FILE,
    SequenceIndex,
    Standardized,
    _check_finite,
    _train_rows,
    aggregator_run_spec,
    train_statistics,
)
from .train_state import TrainState


@dataclass
class AggregatorRun:
    """One stage (b) run: ``method`` with ``options`` on the train split of ``ds`` (one trial's view),
    from the frame features ``feats`` (on the training device), seeded by ``seed``, kept in ``out_dir``."""

    method: str
    options: dict[str, Any]
    ds: Dataset
    feats: torch.Tensor
    index: SequenceIndex
    seed: int
    out_dir: Path
    features_id: str | None = None  # names the features in run.json (e.g. the cache folder); None: a content sample


def train_aggregators(
    runs: Sequence[AggregatorRun],
    cfg: AggregatorStageConfig,
    *,
    device: torch.device,
    log: Callable[[str], None] = print,
    progress: bool = True,
    fuse: bool = True,
) -> list[torch.nn.Module]:
    """Train (or resume, or load) every run; returns their models in eval mode, in order.

    Each run's folder is bound to its settings (``run.json``) and held for
    this process while it trains.  With ``fuse`` the runs sharing an
    architecture train together; ``fuse=False`` trains each alone."""
    with contextlib.ExitStack() as held:
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 trains stage (b)
            for folder in sorted({Path(r.out_dir).resolve() for r in runs}):  # a fixed order: two processes never deadlock
                held.enter_context(folder_lock(folder, log))
        prepared = [_prepare(r, cfg, device, log) for r in runs]
        lives = [live for _, live in prepared if live is not None]
        for group in _groups(lives):
            _train_group(group, cfg, device, log=log, progress=progress, fuse=fuse)
    return [model.eval() for model, _ in prepared]


@dataclass(eq=False)
class _Live:
    """A run being trained: its modules, its train sequences on the device, and where it stands."""

    run: AggregatorRun
    model: Standardized
    head: torch.nn.Linear
    gen: torch.Generator
    state: TrainState
    start: torch.Tensor  # (n,) first feature row of each train sequence
    length: torch.Tensor  # (n,) its frame count
    labels: torch.Tensor  # (n,) its class
    batch: int  # sequences per step
    epoch: int = 0  # the epoch being run
    step: int = 0  # steps done in it
    since: int = 0  # steps since the last checkpoint
    momentum: dict[str, torch.Tensor] | None = None
    order: tuple[torch.Tensor, torch.Tensor] | None = None  # this epoch's sequence order and window draws
    loss: torch.Tensor | None = None  # loss summed since the last checkpoint (on the device)
    done: bool = False

    @property
    def steps(self) -> int:
        return len(self.start) // self.batch

    def key(self) -> tuple:
        """Runs with equal keys have equal parameter shapes and step shapes: they fuse."""
        r = self.run
        return (r.method, json.dumps(r.options, sort_keys=True), r.feats.shape[1], r.feats.dtype, self.batch)

    def draw_epoch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This epoch's order of the train sequences and a uniform draw per position (its window's start)."""
        n = len(self.start)
        perm = torch.randperm(n, device=self.start.device, generator=self.gen)
        self.order = (perm, torch.rand(n, device=self.start.device, generator=self.gen))
        return self.order


def _prepare(run: AggregatorRun, cfg: AggregatorStageConfig, device: torch.device, log: Callable[[str], None]) -> tuple[Standardized, _Live | None]:
    """Build ``run``'s model from its seed as a lone run would; load it if finished (live None), else its live state."""
    out = Path(run.out_dir)
    claim_run(out, aggregator_run_spec(run.method, run.options, run.ds, run.feats, cfg, seed=run.seed, features_id=run.features_id))
    torch.manual_seed(run.seed)
    rows = _train_rows(run.ds)
    _check_finite(run.ds, run.feats)
    model = Standardized(create_aggregator(run.method, run.feats.shape[1], **run.options), *train_statistics(run.feats, run.index, rows)).to(device)
    final = out / FINAL_FILE
    if final.exists():
        model.load_state_dict(torch.load(final, map_location=device, weights_only=True))
        return model, None
    if not any(p.requires_grad for p in model.parameters()):
        atomic_torch_save(model.state_dict(), final)  # nothing to learn: the classifier alone would not change its features
        return model, None
    if len(rows) < 2:
        raise InputError(f"{run.ds.root}: {len(rows)} train sequence(s) in trial {run.ds.trial}; stage (b) needs at least 2 per step")
    ids, labels = np.unique(run.ds.tracklets["person_id"].to_numpy()[rows], return_inverse=True)
    head = torch.nn.Linear(model.out_dim, len(ids)).to(device)
    gen = torch.Generator(device=device)
    gen.manual_seed(run.seed)
    state = TrainState(out / STATE_FILE, device=device, modules={"agg": model, "head": head}, generator=gen)
    live = _Live(
        run, model, head, gen, state, torch.as_tensor(run.index.start[rows], device=device), torch.as_tensor(run.index.length[rows], device=device),
        torch.as_tensor(labels, device=device), batch=min(cfg.batch_size, len(rows)),
    )
    _resume(live, cfg, log)
    return model, live


def _resume(live: _Live, cfg: AggregatorStageConfig, log: Callable[[str], None]) -> None:
    """Continue from the run's saved state, if any: the epoch after it, with its momentum."""
    path = live.state.path
    if not path.exists():
        return
    if "momentum" not in torch.load(path, map_location="cpu", weights_only=False):
        log(f"stage (b) {live.run.method}: {path} was saved by an earlier trainer and cannot be continued exactly; training this run afresh")
        path.unlink()
        return
    extras = live.state.load()
    live.epoch = int(extras["epoch"]) + 1
    live.momentum = extras["momentum"]
    log(f"stage (b) {live.run.method}: resuming after epoch {live.epoch}/{cfg.epochs}")


def _groups(lives: list[_Live]) -> list[list[_Live]]:
    groups: dict[tuple, list[_Live]] = {}
    for live in lives:
        groups.setdefault(live.key(), []).append(live)
    return list(groups.values())


def _train_group(group: list[_Live], cfg: AggregatorStageConfig, device: torch.device, *, log, progress: bool, fuse: bool) -> None:
    """Train the runs of one architecture: all in one stack when fusing is asked for and the method allows it."""
    from tqdm import tqdm

    method, t0 = group[0].run.method, time.perf_counter()
    todo = [g for g in group if g.epoch < cfg.epochs]
    for live in group:
        if live.epoch >= cfg.epochs:  # a state saved after the last epoch: only the final write was missed
            _finish(live)
    if not todo:
        return
    problem = _vmap_problem(todo[0], cfg, device) if fuse and len(todo) > 1 else None
    if problem:
        log(f"stage (b) {method}: cannot be fused ({problem}); training its {len(todo)} runs one by one")
    fused = len(todo) > 1 and fuse and not problem
    epochs = sum(cfg.epochs - g.epoch for g in todo)
    if fused:
        log(f"stage (b) {method}: {len(todo)} runs fused in one step")
    stacks = [todo] if fused else [[live] for live in todo]
    for lives in stacks:
        training: _StackTraining | None = _StackTraining(lives, cfg, device, vectorize=fused, log=log)
        with tqdm(total=training.steps_left(), desc=f"{method} x{len(lives)}", disable=not progress, leave=False, unit="step") as bar:
            while training is not None:
                training = training.run(bar)
    log(f"stage (b) {method}: {len(todo)} run(s), {epochs} epochs in {time.perf_counter() - t0:.1f} s")


def _vmap_problem(live: _Live, cfg: AggregatorStageConfig, device: torch.device) -> str | None:
    """Why the method of ``live`` cannot be vmapped (None when it can): one step on copies of two runs."""
    models = [copy.deepcopy(live.model) for _ in range(2)]
    heads = [copy.deepcopy(live.head) for _ in range(2)]
    try:
        stack = StackedRuns(models, heads, [None, None], vectorize=True)
        x = torch.randn(2, live.batch, cfg.seq_len, live.run.feats.shape[1], device=device, dtype=live.run.feats.dtype)
        mask = torch.ones(2, live.batch, cfg.seq_len, dtype=torch.bool, device=device)
        mask[:, 0, cfg.seq_len // 2 :] = False
        with autocast(device):
            stack.logits(x, mask).logsumexp(-1).sum().backward()
    except Exception as e:  # noqa: BLE001 - any failure means: train these runs one at a time
        first = (str(e).strip().splitlines() or [""])[0]
        return f"{type(e).__name__}: {first[:160]}"
    return None


def _finish(live: _Live) -> None:
    atomic_torch_save(live.model.state_dict(), Path(live.run.out_dir) / FINAL_FILE)
    live.state.discard()
    live.done = True


def _lr(cfg: AggregatorStageConfig, epoch: int) -> float:
    """The step schedule: ``lr * lr_gamma ** (epoch // lr_step)``."""
    return cfg.lr * cfg.lr_gamma ** (epoch // cfg.lr_step)


@dataclass(eq=False)
class _StackTraining:
    """Runs of one group trained as one stack until every one is done.

    All per-step inputs live on the device: each run's epoch order and window
    draws (``perm``, ``u``, padded to the largest run), its position in them
    (``pos``), its learning rate and its loss sum.  The host only counts steps
    to know when a run's epoch ends; reading the loss (a synchronisation)
    happens at checkpoints only."""

    lives: list[_Live]
    cfg: AggregatorStageConfig
    device: torch.device
    vectorize: bool
    log: Callable[[str], None] = print
    stack: StackedRuns = field(init=False)

    def __post_init__(self) -> None:
        lives, dev = self.lives, self.device
        self.stack = StackedRuns([g.model for g in lives], [g.head for g in lives], [g.momentum for g in lives], vectorize=self.vectorize)
        feats, offsets = _shared_features([g.run.feats for g in lives])
        self.feats, self.offset = feats, torch.tensor(offsets, device=dev)
        self.seq_start = _padded([g.start for g in lives])
        self.seq_length = _padded([g.length for g in lives])
        self.seq_label = _padded([g.labels for g in lives])
        n = self.seq_start.shape[1]
        self.perm = torch.zeros((len(lives), n), dtype=torch.long, device=dev)
        self.u = torch.zeros((len(lives), n), device=dev)
        self.pos = torch.tensor([g.step * g.batch for g in lives], device=dev)
        self.lr = torch.tensor([_lr(self.cfg, g.epoch) for g in lives], device=dev)
        self.loss_sum = torch.stack([g.loss if g.loss is not None else torch.zeros((), device=dev) for g in lives])
        self.batch_cols = torch.arange(lives[0].batch, device=dev)
        self.frames = torch.arange(self.cfg.seq_len, device=dev)
        for k, g in enumerate(lives):
            self._load_order(k, g.order if g.order is not None else g.draw_epoch())
        self.step_fn: Callable[[], None] = _graphed(self.step, dev, self.log) if dev.type == "cuda" and self.cfg.cuda_graphs else self.step

    def _load_order(self, k: int, order: tuple[torch.Tensor, torch.Tensor]) -> None:
        perm, u = order
        self.perm[k, : len(perm)] = perm
        self.u[k, : len(u)] = u

    def step(self, *, graphed: bool = False) -> None:
        """One SGD step of every run of the stack, all on the device."""
        cfg, k = self.cfg, len(self.lives)
        cols = self.pos[:, None] + self.batch_cols  # (K, B) positions in each run's epoch order
        seq = self.perm.gather(1, cols)
        start, length, labels = (t.gather(1, seq) for t in (self.seq_start, self.seq_length, self.seq_label))
        room = (length - cfg.seq_len + 1).clamp_min(1)
        offset = (self.u.gather(1, cols) * room).long()  # the window's first frame: uniform over where it fits
        mask = self.frames < length[..., None]  # sequences shorter than the window: all their frames, then padding
        rows = torch.where(mask, (start + offset)[..., None] + self.frames, start[..., None]) + self.offset[:, None, None]
        self.stack.zero_grad()
        with autocast(self.device, cache=not graphed):
            logits = self.stack.logits(self.feats[rows], mask)
        loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view(k, -1).mean(1)
        loss.sum().backward()  # runs are independent: each run's gradient is its own loss's
        self.stack.sgd_step(self.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip)
        self.loss_sum += loss.detach()
        self.pos += len(self.batch_cols)

    def steps_left(self) -> int:
        return max((self.cfg.epochs - g.epoch) * g.steps - g.step for g in self.lives)

    def run(self, bar) -> _StackTraining | None:
        """Step until a run finishes; then the stack of the runs left (None when none is)."""
        while True:
            self.step_fn()
            bar.update(1)
            finished = False
            for k, g in enumerate(self.lives):
                g.step += 1
                g.since += 1
                if g.step == g.steps:
                    self._end_epoch(k, g)
                    finished |= g.done
            if finished:
                return self._compact()

    def _end_epoch(self, k: int, g: _Live) -> None:
        """Run ``k`` finished an epoch: its schedule, checkpoint or final model, and its next epoch's draws."""
        cfg = self.cfg
        g.epoch, g.step = g.epoch + 1, 0
        last = g.epoch == cfg.epochs
        if last or g.epoch % cfg.checkpoint_every == 0:
            mean_loss = self.loss_sum[k].item() / max(g.since, 1)
            check_finite_loss(mean_loss, stage=f"stage (b) {g.run.method}", epoch=g.epoch, folder=Path(g.run.out_dir),
                              hint="lower agg.lr, keep agg.grad_clip on, or check the frame features.")
            g.momentum = self.stack.unstack(k)
            self.loss_sum[k] = 0
            g.since = 0
            if last:
                _finish(g)
                return
            g.state.save(epoch=g.epoch - 1, momentum=g.momentum)
        self.lr[k] = _lr(cfg, g.epoch)
        self._load_order(k, g.draw_epoch())
        self.pos[k] = 0

    def _compact(self) -> _StackTraining | None:
        """The stack rebuilt from its unfinished runs (None when all are done)."""
        left = [(k, g) for k, g in enumerate(self.lives) if not g.done]
        if not left:
            return None
        for k, g in left:
            g.momentum = self.stack.unstack(k)
            g.loss = self.loss_sum[k].clone()
        return _StackTraining([g for _, g in left], self.cfg, self.device, self.vectorize, self.log)


def _shared_features(feats: list[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
    """One feature tensor for all runs and each run's row offset in it (runs on the same features share them)."""
    unique: dict[int, int] = {}
    parts: list[torch.Tensor] = []
    offsets: list[int] = []
    rows = 0
    for f in feats:
        if id(f) not in unique:
            unique[id(f)] = rows
            parts.append(f)
            rows += len(f)
        offsets.append(unique[id(f)])
    return (parts[0] if len(parts) == 1 else torch.cat(parts)), offsets


def _padded(rows: list[torch.Tensor]) -> torch.Tensor:
    """``(K, n_max)``: each run's per-sequence values, zero past its own ``n``."""
    n = max(len(r) for r in rows)
    return torch.stack([F.pad(r, (0, n - len(r))) for r in rows])


def _graphed(step: Callable[..., None], device: torch.device, log: Callable[[str], None], warmup: int = 3) -> Callable[[], None]:
    """``step`` captured in a CUDA graph after ``warmup`` eager calls (on a side stream, as capture
    requires), then replayed: one launch per step.  A capture that fails falls back to eager steps
    (the same numbers, only slower)."""
    state: dict[str, Any] = {"graph": None, "calls": 0, "failed": False}
    side = torch.cuda.Stream(device)

    def run() -> None:
        if state["graph"] is not None:
            state["graph"].replay()
        elif state["failed"]:
            step()
        elif state["calls"] < warmup:
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                step(graphed=True)
            torch.cuda.current_stream(device).wait_stream(side)
            state["calls"] += 1
        else:
            g = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(g):
                    step(graphed=True)
            except Exception as e:  # noqa: BLE001
                log(f"stage (b): CUDA graph capture failed ({type(e).__name__}: {e}); continuing without graphs")
                state["failed"] = True
                step()
                return
            state["graph"] = g
            g.replay()  # capture records the step without running it

    return run
