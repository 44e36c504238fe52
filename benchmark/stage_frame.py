"""Stage (a): the frame CNN, trained with softmax over the train identities (paper Section 4.2).

Resumable: the full training state is saved after every epoch and a re-run
continues from it.  Under ``torchrun --nproc-per-node K`` (``WORLD_SIZE`` > 1)
the model is wrapped in DistributedDataParallel and every process trains on
its own share of each epoch's frames; only rank 0 writes files.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from gltr import build_backbone, save_checkpoint
from lsvid_core.errors import InputError
from protocols import Dataset

from .config import FRAME_EXECUTION_FIELDS, FrameStageConfig, stored, without_execution_fields
from .fingerprint import dataset_fingerprint, file_sha256, weights_id
from .frames import default_workers, make_loader, normalize, random_erasing, random_flip
from .runtime import autocast, check_finite_loss, claim_run, holds_folder
from .train_state import TrainState

BACKBONE_FILE = "backbone.pt"
STATE_FILE = "train_state.pt"


def train_frames(ds: Dataset, junk_pids: tuple[int, ...] = ()) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Absolute paths, class labels, tracklet ids and identity list of the train split's frames."""
    tr = ds.tracklets[ds.tracklets["split"] == "train"]
    tr = tr[~tr["person_id"].isin(list(junk_pids))]
    if tr.empty:
        raise InputError(f"{ds.root}: no train tracklets (trial {ds.trial}) to train a frame model on")
    ids = np.unique(tr["person_id"].to_numpy())
    label_of = {int(p): i for i, p in enumerate(ids)}
    fr = ds.frames[ds.frames["tracklet_id"].isin(tr["tracklet_id"])]
    pid_of = dict(zip(tr["tracklet_id"].tolist(), tr["person_id"].tolist()))
    tids = fr["tracklet_id"].to_numpy()
    labels = np.array([label_of[pid_of[t]] for t in tids.tolist()], np.int64)
    base = ds.image_root
    paths = [str(base / p) for p in fr["path"].tolist()]
    return paths, labels, tids, ids


def epoch_order(tids: np.ndarray, cfg: FrameStageConfig, seed: int, epoch: int) -> np.ndarray:
    """The frames visited in ``epoch``: all, or ``frames_per_tracklet`` random ones per tracklet; shuffled."""
    rng = np.random.default_rng([seed, epoch])
    idx = np.arange(len(tids))
    if cfg.frames_per_tracklet:
        keys = rng.random(len(tids))
        order = np.lexsort((keys, tids))
        starts = np.r_[0, np.flatnonzero(np.diff(tids[order])) + 1]
        rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        idx = order[rank < cfg.frames_per_tracklet]
    return rng.permutation(idx)


class _WithClassifier(torch.nn.Module):
    """Backbone and its identity classifier as one forward, so DDP sees every parameter."""

    def __init__(self, backbone: torch.nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.classify(self.backbone(x))


def _dist_info() -> tuple[int, int]:
    """This process's rank and the world size; (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: torch.device) -> tuple[int, int]:
    """Join the process group torchrun set up (no-op for a single process)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend)
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return _dist_info()


def frame_run_spec(
    ds: Dataset, cfg: FrameStageConfig, *, seed: int, init_weights: str | os.PathLike | None = None, dataset_sha: str | None = None
) -> dict:
    """Everything the trained backbone depends on: the dataset's content and trial,
    the config (less its execution fields), the seed and the initial weights."""
    config = stored(without_execution_fields(asdict(cfg), FRAME_EXECUTION_FIELDS), "frame")
    return {
        "stage": "frame",
        "dataset_sha256": dataset_sha or dataset_fingerprint(ds),
        "trial": ds.trial,
        "config": config,
        "seed": int(seed),
        "init_weights": weights_id(init_weights),
    }


@holds_folder("out_dir")
def train_frame_model(
    ds: Dataset,
    cfg: FrameStageConfig,
    *,
    out_dir: str | os.PathLike,
    device: torch.device,
    seed: int = 0,
    init_weights: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
    dataset_sha: str | None = None,
) -> Path:
    """Train (or resume, or reuse) the frame backbone; returns the checkpoint path.

    ``out_dir`` is bound to the run's settings (:func:`frame_run_spec`, kept in
    ``run.json``): a finished model there is reused and a partial run resumes
    from its last completed epoch only when the settings match; otherwise
    :class:`~benchmark.runtime.StaleRunError`.
    """
    out = Path(out_dir)
    final = out / BACKBONE_FILE
    rank, world = _dist_info()
    if rank == 0:
        claim_run(out, frame_run_spec(ds, cfg, seed=seed, init_weights=init_weights, dataset_sha=dataset_sha))
    if final.exists():
        return final
    paths, labels, tids, ids = train_frames(ds, ds.protocol.junk_pids)
    run = _FrameTraining.create(cfg, paths, labels, len(ids), out=out, device=device, seed=seed, init_weights=init_weights, progress=progress)
    start, skip, sums = resume_point(run.state, cfg.epochs, f"stage (a): {out}", log)
    run.wrap_for_ddp()
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        order = epoch_order(tids, cfg, seed, epoch)
        # every process must take the same number of steps, or DDP's all-reduce waits forever
        order = order[: len(order) // world * world][rank::world]
        done = skip if epoch == start else 0
        mean_loss, accuracy = run.train_epoch(epoch, order, done, sums if done else (0.0, 0))
        check_finite_loss(mean_loss, stage="stage (a)", epoch=epoch + 1, folder=out, hint="lower frame.lr or check the train frames.")
        if rank == 0:
            run.save(epoch, None)
            log(f"stage (a) epoch {epoch + 1}/{cfg.epochs}: loss {mean_loss:.3f}, train acc {accuracy:.1%}, {len(order) / (time.perf_counter() - t0):.0f} frames/s")
    if rank == 0:
        _write_backbone(run.model, final, ds, cfg, ids, seed)
        run.state.discard()
    if world > 1:
        dist.barrier()
    return final


def resume_point(state: TrainState, epochs: int, what: str, log: Callable[[str], None]) -> tuple[int, int, tuple[float, int]]:
    """Load ``state`` if saved: the first epoch to run, the batches of it already done and their (loss sum,
    correct count).  For the stages that checkpoint inside an epoch (stage (a), end-to-end training)."""
    st = state.load()
    if st is None:
        return 0, 0, (0.0, 0)
    if st.get("batch") is None:
        start = int(st["epoch"]) + 1
        log(f"{what}: resuming after epoch {start}/{epochs}")
        return start, 0, (0.0, 0)
    start, skip = int(st["epoch"]), int(st["batch"])
    log(f"{what}: resuming in epoch {start + 1}/{epochs} after batch {skip}")
    return start, skip, (float(st["loss_sum"]), int(st["correct"]))


@dataclass
class _FrameTraining:
    """What every epoch of one stage (a) run shares: the train frames, the network and its optimiser, the resumable state."""

    cfg: FrameStageConfig
    paths: list[str]
    labels: np.ndarray
    model: torch.nn.Module  # the backbone alone: what is saved
    net: torch.nn.Module  # what is trained: backbone and classifier, under DDP when distributed
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    state: TrainState
    device: torch.device
    progress: bool

    @classmethod
    def create(
        cls, cfg: FrameStageConfig, paths: list[str], labels: np.ndarray, num_classes: int, *,
        out: Path, device: torch.device, seed: int, init_weights: str | os.PathLike | None, progress: bool,
    ) -> _FrameTraining:
        """A freshly initialised backbone (from ``seed``) with its SGD optimiser and step schedule."""
        torch.manual_seed(seed)
        model = build_backbone(cfg.backbone, embed_dim=cfg.embed_dim, num_classes=num_classes, weights=init_weights or "random",
                               last_stride=cfg.last_stride, embed_bn=cfg.embed_bn)
        model = model.to(device).to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
        state = TrainState(out / STATE_FILE, device=device, modules={"model": model}, optimizer=opt, scheduler=sched)
        return cls(cfg, paths, labels, model, _WithClassifier(model), opt, sched, state, device, progress)

    def wrap_for_ddp(self) -> None:
        """Under torchrun, train through DistributedDataParallel; called after a resume, so it starts from the loaded weights."""
        if _dist_info()[1] > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def save(self, epoch: int, batch: int | None, loss_sum: float = 0.0, n_correct: int = 0) -> None:
        """``batch``: batches done in the unfinished ``epoch``; None once the epoch is complete."""
        self.state.save(epoch=epoch, batch=batch, loss_sum=loss_sum, correct=n_correct)

    def train_epoch(self, epoch: int, order: np.ndarray, done: int, sums: tuple[float, int]) -> tuple[float, float]:
        """Train on this process's frames ``order`` of ``epoch``, past the ``done`` batches (whose loss sum
        and correct count are ``sums``) already trained; returns the epoch's mean loss and train accuracy."""
        from tqdm import tqdm

        cfg, device = self.cfg, self.device
        rank, world = _dist_info()
        self.net.train()
        loader = make_loader(
            self.paths, self.labels, height=cfg.height, width=cfg.width, batch_size=cfg.batch_size, order=order[done * cfg.batch_size :],
            workers=cfg.workers if cfg.workers is not None else max(1, default_workers() // world), device=device, decoder=cfg.decoder,
        )
        total = torch.full((), sums[0], device=device)
        correct = torch.full((), sums[1], device=device, dtype=torch.long)
        n_batches = (len(order) + cfg.batch_size - 1) // cfg.batch_size
        bar = tqdm(loader, total=n_batches, initial=done, desc=f"frame CNN epoch {epoch + 1}/{cfg.epochs}", disable=not self.progress or rank != 0, leave=False)
        last_save = time.monotonic()
        for k, (x, y) in enumerate(bar, start=done + 1):
            loss, hits = self._step(x, y)
            total += loss
            correct += hits
            if rank == 0 and k < n_batches and time.monotonic() - last_save >= 60 * cfg.checkpoint_minutes:
                # an epoch of LS-VID is hours on one GPU: a kill must not lose it (one host sync per save)
                self.save(epoch, k, total.item(), int(correct.item()))
                last_save = time.monotonic()
        self.sched.step()
        # one host sync per epoch (the log line needs it anyway)
        return total.item() / max(n_batches, 1), correct.item() / max(len(order), 1)

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on a batch of raw frames; returns its loss and correct count, on the device."""
        x = normalize(random_flip(x) if self.cfg.flip else x)
        x = random_erasing(x, self.cfg.random_erasing)
        with autocast(self.device):
            logits = self.net(x)
        loss = F.cross_entropy(logits.float(), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach(), (logits.argmax(1) == y).sum()


def _write_backbone(model: torch.nn.Module, final: Path, ds: Dataset, cfg: FrameStageConfig, ids: np.ndarray, seed: int) -> None:
    """The finished backbone with what it was trained on, then ``done.json`` naming it and its hash."""
    save_checkpoint(
        model.cpu(),
        final,
        extra={
            "stage": "frame",
            "config": stored(asdict(cfg), "frame"),
            "identities": [int(i) for i in ids],
            "dataset": str(ds.root),
            "trial": ds.trial,
            "seed": seed,
        },
    )
    (final.parent / "done.json").write_text(json.dumps({"checkpoint": str(final), "sha256": file_sha256(final)}))
