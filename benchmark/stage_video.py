"""End-to-end video training: the frame backbone and an aggregator trained together on clips.

This is how the GLTR authors' released code trains (``train.py``): every
epoch visits the train sequences in a random order, takes one clip of
``clip_len`` (16) adjacent frames from each -- its first frame drawn as
``int(random() * (length - 16))``, so never the last possible window -- and
repeats a shorter sequence cyclically; batches of 10 sequences run through
ResNet-50, the aggregator and the training head, with softmax over the
train identities and SGD on every parameter at one learning rate.  Any
registered aggregator can be trained this way (``BenchConfig.training =
"end_to_end"``, or ``--recipe released``), so it is also the door for video
models that need their backbone in the loop.

Guarantees are stage (a)'s: the output folder is bound to the settings
(``run.json``), the full state (weights, optimiser, schedule, RNGs, position
in the epoch) is saved at every epoch's end and at most every
``checkpoint_minutes`` inside one, and a re-run continues from it with the
draws an uninterrupted run would have made; under ``torchrun`` the network
runs in DistributedDataParallel, each process on its share of each epoch's
sequences, and only rank 0 writes.  The result is a backbone checkpoint
(:func:`gltr.save_checkpoint`, so the feature cache embeds test frames with
it) and the aggregator's weights; evaluation then embeds *all* frames of
each test sequence, as for stage (b).
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
import torch.distributed as dist
import torch.nn.functional as F

from gltr import build_backbone, save_checkpoint
from protocols import Dataset

from .config import VIDEO_EXECUTION_FIELDS, BenchConfig, VideoStageConfig, stored, without_execution_fields
from .fingerprint import dataset_fingerprint, weights_id
from .frames import default_workers, make_loader, normalize, random_erasing
from .heads import make_head
from .registry import create_aggregator
from .runtime import atomic_torch_save, autocast, check_finite_loss, claim_run, holds_folder
from .stage_aggregator import SequenceIndex, _train_rows
from .stage_frame import _dist_info, resume_point
from .train_state import TrainState

BACKBONE_FILE = "backbone.pt"
AGGREGATOR_FILE = "aggregator.pt"
STATE_FILE = "train_state.pt"
# the frame settings an end-to-end model depends on (stage (a)'s schedule is not used)
FRAME_FIELDS = ("backbone", "embed_dim", "height", "width", "last_stride", "embed_bn")


class VideoNet(torch.nn.Module):
    """Frames ``(B*T, 3, H, W)`` -> backbone -> ``(B, T, d)`` -> aggregator -> head: identity logits."""

    def __init__(self, backbone: torch.nn.Module, agg: torch.nn.Module, head: torch.nn.Module) -> None:
        super().__init__()
        self.backbone, self.agg, self.head = backbone, agg, head

    def forward(self, frames: torch.Tensor, clip_len: int, mask: torch.Tensor | None = None) -> torch.Tensor:
        f = self.backbone(frames)
        return self.head(self.agg(f.view(-1, clip_len, f.shape[-1]), mask))


def clip_offsets(length: np.ndarray, clip_len: int, rng: np.random.Generator, short: str = "repeat") -> tuple[np.ndarray, np.ndarray]:
    """One clip per sequence: frame offsets into it and the real-frame mask, both ``(n, clip_len)``.

    A sequence of ``L >= clip_len`` frames gives frames ``s .. s + clip_len - 1``
    with ``s = floor(u (L - clip_len))``, ``u`` uniform in [0, 1) (the released
    ``dataset.py``'s rule).  A shorter one gives ``t mod L`` (``short="repeat"``,
    every step real) or its frames then padding (``"pad"``; padded steps point
    at frame 0 and are masked out)."""
    length = np.asarray(length, np.int64)
    t = np.arange(clip_len)[None, :]
    start = np.floor(rng.random(len(length)) * np.maximum(length - clip_len, 0)).astype(np.int64)
    long_enough = (length >= clip_len)[:, None]
    if short == "repeat":
        return np.where(long_enough, start[:, None] + t, t % np.maximum(length, 1)[:, None]), np.ones((len(length), clip_len), bool)
    mask = long_enough | (t < length[:, None])
    return np.where(long_enough, start[:, None] + t, np.where(mask, t, 0)), mask


def epoch_clips(start: np.ndarray, length: np.ndarray, cfg: VideoStageConfig, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``epoch``'s sequence order, and each visited sequence's clip as frame rows and mask.

    Drawn from ``(seed, epoch)`` alone, so a resumed epoch redraws exactly the clips it had."""
    rng = np.random.default_rng([seed, epoch, 0x5E0])
    order = rng.permutation(len(start))
    off, mask = clip_offsets(length[order], cfg.clip_len, rng, cfg.short)
    return order, start[order][:, None] + off, mask


def video_run_spec(
    method: str, options: dict[str, Any], ds: Dataset, cfg: BenchConfig, *, seed: int,
    init_weights: str | os.PathLike | None = None, dataset_sha: str | None = None,
) -> dict:
    """Everything an end-to-end model depends on: the method and its options, the dataset's content
    and trial, the frame model's shape, the video stage's settings (less execution fields), the
    seed and the initial weights."""
    frame = stored({k: v for k, v in asdict(cfg.frame).items() if k in FRAME_FIELDS}, "frame")
    return {
        "stage": "video",
        "method": method,
        "options": options,
        "dataset_sha256": dataset_sha or dataset_fingerprint(ds),
        "trial": ds.trial,
        "frame": frame,
        "video": without_execution_fields(asdict(cfg.video), VIDEO_EXECUTION_FIELDS),
        "seed": int(seed),
        "init_weights": weights_id(init_weights),
    }


@holds_folder("out_dir")
def train_video_model(
    method: str,
    options: dict[str, Any],
    ds: Dataset,
    cfg: BenchConfig,
    *,
    out_dir: str | os.PathLike,
    device: torch.device,
    seed: int = 0,
    init_weights: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
    dataset_sha: str | None = None,
) -> tuple[Path, torch.nn.Module]:
    """Train (or resume, or reuse) backbone and aggregator together on the train split of ``ds``.

    Returns the backbone checkpoint and the aggregator in eval mode.  ``out_dir``
    is bound to :func:`video_run_spec`; a folder of other settings raises
    :class:`~benchmark.runtime.StaleRunError`."""
    out = Path(out_dir)
    rank, world = _dist_info()
    if rank == 0:
        claim_run(out, video_run_spec(method, options, ds, cfg, seed=seed, init_weights=init_weights, dataset_sha=dataset_sha))
    run = _VideoTraining.create(method, options, ds, cfg, out=out, device=device, seed=seed, init_weights=init_weights, progress=progress)
    backbone_file, agg_file = out / BACKBONE_FILE, out / AGGREGATOR_FILE
    if backbone_file.exists() and agg_file.exists():
        run.agg.load_state_dict(torch.load(agg_file, map_location=device, weights_only=True))
        return backbone_file, run.agg.eval()
    first, skip, sums = resume_point(run.state, cfg.video.epochs, f"end-to-end {method}", log)
    run.wrap_for_ddp()
    t_start = time.perf_counter()
    for epoch in range(first, cfg.video.epochs):
        mean_loss, acc = run.train_epoch(epoch, skip if epoch == first else 0, sums if epoch == first else (0.0, 0))
        check_finite_loss(mean_loss, stage=f"end-to-end {method}", epoch=epoch + 1, folder=out, hint="lower video.lr or check the train frames.")
        if rank == 0:
            run.state.save(epoch=epoch, batch=None, loss_sum=0.0, correct=0)
            if epoch == first or (epoch + 1) % 10 == 0 or epoch + 1 == cfg.video.epochs:
                log(f"end-to-end {method} epoch {epoch + 1}/{cfg.video.epochs}: loss {mean_loss:.3f}, train acc {acc:.1%}")
    if rank == 0:
        _write_results(run, backbone_file, agg_file, ds, cfg, seed)
        log(f"end-to-end {method}: {cfg.video.epochs - first} epochs in {time.perf_counter() - t_start:.1f} s")
        run.state.discard()
    if world > 1:
        dist.barrier()
    return backbone_file, run.agg.eval()


def _write_results(run: _VideoTraining, backbone_file: Path, agg_file: Path, ds: Dataset, cfg: BenchConfig, seed: int) -> None:
    """The backbone as a checkpoint the feature cache reads (with the frame size it was trained at), then the aggregator."""
    frame = {k: v for k, v in asdict(cfg.frame).items() if k in FRAME_FIELDS}
    extra = {"stage": "video", "method": run.method, "config": {**frame, "video": asdict(cfg.video)}, "identities": [int(i) for i in run.ids],
             "dataset": str(ds.root), "trial": ds.trial, "seed": int(seed)}
    save_checkpoint(run.backbone.cpu(), backbone_file, extra=extra)
    run.backbone.to(run.device)
    atomic_torch_save(run.agg.state_dict(), agg_file)


@dataclass
class _VideoTraining:
    """One end-to-end run: the train sequences, the network and its optimiser, the resumable state."""

    method: str
    cfg: BenchConfig
    paths: list[str]
    start: np.ndarray  # (sequences,) first frame row of each train sequence
    length: np.ndarray
    labels: np.ndarray  # (sequences,) class of each
    ids: np.ndarray  # the train identities, in class order
    backbone: torch.nn.Module
    agg: torch.nn.Module
    net: torch.nn.Module  # what is trained (DDP-wrapped when distributed)
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    state: TrainState
    device: torch.device
    seed: int
    progress: bool

    @classmethod
    def create(
        cls, method: str, options: dict[str, Any], ds: Dataset, cfg: BenchConfig, *, out: Path, device: torch.device,
        seed: int, init_weights: str | os.PathLike | None, progress: bool,
    ) -> _VideoTraining:
        """Backbone (from ``init_weights``, else random), aggregator and head from ``seed``; SGD with a step schedule."""
        torch.manual_seed(seed)
        rows = _train_rows(ds)
        index = SequenceIndex.of(ds)
        ids, labels = np.unique(ds.tracklets["person_id"].to_numpy()[rows], return_inverse=True)
        f, v = cfg.frame, cfg.video
        backbone = build_backbone(f.backbone, embed_dim=f.embed_dim, weights=init_weights or "random", last_stride=f.last_stride, embed_bn=f.embed_bn)
        agg = create_aggregator(method, f.embed_dim, **options)
        head = make_head(v.head, agg.out_dim, len(ids), dropout=v.dropout)
        net = VideoNet(backbone.to(memory_format=torch.channels_last), agg, head).to(device)
        opt = torch.optim.SGD(net.parameters(), lr=v.lr, momentum=v.momentum, weight_decay=v.weight_decay)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=v.lr_step, gamma=v.lr_gamma)
        state = TrainState(out / STATE_FILE, device=device, modules={"net": net}, optimizer=opt, scheduler=sched)
        paths = [str(ds.image_root / p) for p in ds.frames["path"].tolist()]
        return cls(method, cfg, paths, index.start[rows], index.length[rows], labels.astype(np.int64), ids, net.backbone, net.agg, net,
                   opt, sched, state, device, seed, progress)

    def wrap_for_ddp(self) -> None:
        """Under torchrun, train through DistributedDataParallel (after a resume, from the loaded weights)."""
        if _dist_info()[1] > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def train_epoch(self, epoch: int, done: int, sums: tuple[float, int]) -> tuple[float, float]:
        """Train on this process's share of ``epoch``'s clips past the ``done`` batches already trained
        (whose loss sum and correct count are ``sums``); returns the epoch's mean loss and accuracy."""
        from tqdm import tqdm

        v = self.cfg.video
        rank, world = _dist_info()
        order, rows, mask = epoch_clips(self.start, self.length, v, self.seed, epoch)
        keep = np.arange(len(order) // world * world)[rank::world]  # equal step counts, or DDP's all-reduce waits forever
        order, rows, mask = order[keep], rows[keep], mask[keep]
        n_batches = (len(order) + v.batch_size - 1) // v.batch_size
        loader = make_loader(
            self.paths, None, height=self.cfg.frame.height, width=self.cfg.frame.width, batch_size=v.batch_size * v.clip_len,
            order=rows[done * v.batch_size :].reshape(-1), workers=v.workers if v.workers is not None else max(1, default_workers() // world),
            device=self.device, decoder=v.decoder,
        )
        total = torch.full((), sums[0], device=self.device)
        correct = torch.full((), sums[1], device=self.device, dtype=torch.long)
        self.net.train()
        bar = tqdm(loader, total=n_batches, initial=done, desc=f"{self.method} epoch {epoch + 1}/{v.epochs}", disable=not self.progress or rank != 0, leave=False)
        last_save = time.monotonic()
        for k, (x, _) in enumerate(bar, start=done + 1):
            sel = slice((k - 1) * v.batch_size, min(k * v.batch_size, len(order)))
            if sel.stop - sel.start < 2:  # a lone sequence would break the head's BatchNorm statistics
                continue
            y = torch.as_tensor(self.labels[order[sel]], device=self.device)
            m = None if v.short == "repeat" else torch.as_tensor(mask[sel], device=self.device)
            loss, hits = self._step(x, y, m)
            total += loss
            correct += hits
            if rank == 0 and k < n_batches and time.monotonic() - last_save >= 60 * v.checkpoint_minutes:
                self.state.save(epoch=epoch, batch=k, loss_sum=total.item(), correct=int(correct.item()))
                last_save = time.monotonic()
        self.sched.step()
        return total.item() / max(n_batches, 1), correct.item() / max(len(order), 1)

    def _step(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on ``len(y)`` clips of raw frames; returns its loss and correct count, on the device."""
        v = self.cfg.video
        if v.flip:  # one coin per clip: a sequence does not mirror itself frame by frame
            flip = (torch.rand(len(y), device=x.device) < 0.5).repeat_interleave(v.clip_len)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        x = random_erasing(normalize(x), v.random_erasing)
        with autocast(self.device):
            logits = self.net(x, v.clip_len, mask)
        loss = F.cross_entropy(logits.float(), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach(), (logits.argmax(1) == y).sum()
