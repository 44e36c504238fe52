"""The frame-feature cache: every frame of a dataset embedded once per backbone checkpoint.

Layout of a cache folder (``<cache_root>/<dataset key>-<checkpoint key>/``):

* ``features.npy`` — float32 ``(frames, d)``, rows in ``frames.parquet`` order,
  memory-mappable (``np.load(..., mmap_mode="r")``);
* ``index.parquet`` — ``tracklet_id``, ``frame_index`` of each row (the index);
* ``manifest.json`` — the checkpoint's and the dataset's SHA-256, shapes, tool
  version; written last, so its presence means the cache is complete.

Extraction is resumable (``progress.json`` counts finished rows) and all
aggregators read the same features, so the comparison is fair and cheap.  A
cache is reused only when both hashes and the shape match; anything else is
:class:`StaleCacheError`, never silently reused.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gltr import load_checkpoint
from lsvid_core.errors import InputError, LsvidError
from lsvid_core.paths import atomic_write_text
from protocols import Dataset

from .fingerprint import dataset_fingerprint, file_sha256
from .frames import make_loader, normalize
from .runtime import NonFiniteError, autocast, code_version, folder_lock

MANIFEST = "manifest.json"
FEATURES = "features.npy"
PROGRESS = "progress.json"  # rows done by an unfinished extraction


class StaleCacheError(LsvidError, RuntimeError):
    """A cache folder does not belong to the dataset or checkpoint asked for."""


@dataclass
class FeatureCache:
    """A complete cache folder: its features (memory-mapped, read-only) and its manifest."""

    folder: Path
    features: np.ndarray  # (frames, d) memmap
    manifest: dict

    @property
    def dim(self) -> int:
        """The backbone's embedding size."""
        return int(self.features.shape[1])


def open_cache(folder: str | os.PathLike, *, dataset_sha: str, checkpoint_sha: str, num_frames: int) -> FeatureCache:
    """Open a complete cache, refusing one made from another dataset or checkpoint."""
    folder = Path(folder)
    mpath = folder / MANIFEST
    if not mpath.exists():
        raise StaleCacheError(f"{folder}: no {MANIFEST}; the cache is incomplete (extraction did not finish)")
    m = json.loads(mpath.read_text())
    problems = []
    if m.get("checkpoint_sha256") != checkpoint_sha:
        problems.append(f"built from checkpoint {str(m.get('checkpoint_sha256'))[:12]}, asked for {checkpoint_sha[:12]}")
    if m.get("dataset_sha256") != dataset_sha:
        problems.append(f"built from dataset {str(m.get('dataset_sha256'))[:12]}, asked for {dataset_sha[:12]} (the dataset changed)")
    feats = np.load(folder / FEATURES, mmap_mode="r")
    if feats.shape[0] != num_frames or list(feats.shape) != m.get("shape"):
        problems.append(f"holds {feats.shape} features for a dataset of {num_frames} frames (manifest says {m.get('shape')})")
    if problems:
        raise StaleCacheError(f"{folder}: stale or mismatched feature cache: " + "; ".join(problems) + ". Delete it or extract again.")
    return FeatureCache(folder, feats, m)


def cache_folder(cache_root: str | os.PathLike, dataset_sha: str, checkpoint_sha: str) -> Path:
    """The cache's folder under ``cache_root``: named by both hashes, so another dataset or checkpoint never lands in it."""
    return Path(cache_root) / f"{dataset_sha[:16]}-{checkpoint_sha[:16]}"


def extract_features(
    ds: Dataset,
    checkpoint: str | os.PathLike,
    cache_root: str | os.PathLike,
    *,
    device: torch.device,
    batch_size: int = 512,
    workers: int | None = None,
    decoder: str = "threads",
    fuse: bool = True,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> FeatureCache:
    """Embed every frame of ``ds`` with the backbone in ``checkpoint``, or reuse the cache.

    Batches run across tracklets (not one tracklet at a time), under bf16
    autocast and channels-last on CUDA, with BatchNorm folded into the
    convolutions (``fuse``); features come back through a ring of pinned
    buffers, so the loop never waits for the device.  An interrupted
    extraction resumes from the last rows flushed to disk.
    """
    if ds.frames is None:
        raise InputError(f"{ds.root}: frames not loaded")
    ckpt_sha = file_sha256(checkpoint)
    ds_sha = dataset_fingerprint(ds)
    n = len(ds.frames)
    folder = cache_folder(cache_root, ds_sha, ckpt_sha)
    with folder_lock(folder, log):  # another process extracting the same cache: wait, then reuse it
        if (folder / MANIFEST).exists():
            return open_cache(folder, dataset_sha=ds_sha, checkpoint_sha=ckpt_sha, num_frames=n)
        folder.mkdir(parents=True, exist_ok=True)
        model, extra = load_checkpoint(checkpoint, return_extra=True)
        dim = model.embed_dim
        model = inference_model(model, device, fuse=fuse)
        h, w = input_size(extra)
        feats, done = _open_features(folder, (n, dim), ckpt_sha, log)
        base = ds.image_root
        paths = [str(base / p) for p in ds.frames["path"].tolist()]
        t0 = time.perf_counter()
        order = np.arange(done, n)
        loader = make_loader(paths, None, height=h, width=w, batch_size=batch_size, order=order, workers=workers, device=device, decoder=decoder)
        sink = _FeatureSink(feats, done, folder / PROGRESS, ckpt_sha, device, batch_size, dim)
        _embed_into(sink, model, loader, device, batches=(len(order) + batch_size - 1) // batch_size, progress=progress)
        _refuse_nonfinite(feats, checkpoint, paths, folder)
        pd.DataFrame({"tracklet_id": ds.frames["tracklet_id"].to_numpy(), "frame_index": ds.frames["frame_index"].to_numpy()}).to_parquet(folder / "index.parquet", index=False)
        manifest = {
            "checkpoint": str(Path(checkpoint).resolve()),
            "checkpoint_sha256": ckpt_sha,
            "dataset": str(ds.root.resolve()),
            "dataset_sha256": ds_sha,
            "shape": [n, dim],
            "dtype": "float32",
            "input_size": [h, w],
            "tool_version": code_version(),
            "seconds": round(time.perf_counter() - t0, 2),
        }
        _complete(folder, manifest)
        log(f"feature cache: {n} frames in {manifest['seconds']} s -> {folder}")
        return FeatureCache(folder, np.load(folder / FEATURES, mmap_mode="r"), manifest)


def _open_features(folder: Path, shape: tuple[int, int], ckpt_sha: str, log: Callable[[str], None]) -> tuple[np.ndarray, int]:
    """The feature memmap to write and the rows of it already done: an interrupted
    extraction's (same shape, same checkpoint) to resume, or a fresh one."""
    fpath, prog_path = folder / FEATURES, folder / PROGRESS
    if fpath.exists() and prog_path.exists():
        feats = np.load(fpath, mmap_mode="r+")
        p = json.loads(prog_path.read_text())
        if feats.shape == shape and p.get("checkpoint_sha256") == ckpt_sha:
            done = int(p["rows_done"])
            log(f"feature cache: resuming {folder.name} at frame {done}/{shape[0]}")
            return feats, done
        del feats  # unmapped before the file is truncated and written afresh
    return np.lib.format.open_memmap(fpath, mode="w+", dtype=np.float32, shape=shape), 0


def _embed_into(sink: _FeatureSink, model: torch.nn.Module, loader: Iterable, device: torch.device, *, batches: int, progress: bool) -> None:
    """Run every batch of ``loader`` through ``model`` into ``sink``; on any failure what was embedded before it is kept."""
    from tqdm import tqdm

    # one batch shape throughout, so autotuning cuDNN once pays; only here (stage (b) sees many shapes)
    with torch.inference_mode(), _cudnn_benchmark(device.type == "cuda"):
        try:
            for x, _ in tqdm(loader, total=batches, desc="frame features", disable=not progress, leave=False, unit="batch"):
                with autocast(device):
                    e = model(normalize(x))
                sink.put(e)
        except BaseException:
            # keep what was embedded before the failure (a bad frame, Ctrl-C): the re-run resumes there
            with contextlib.suppress(Exception):
                sink.close()
            raise
        sink.close()


def _refuse_nonfinite(feats: np.ndarray, checkpoint: str | os.PathLike, paths: list[str], folder: Path) -> None:
    """A backbone with NaN/inf weights embeds garbage: stop before the cache is marked complete."""
    bad = first_nonfinite_row(feats)
    if bad is not None:
        raise NonFiniteError(
            f"{checkpoint}: the backbone gives non-finite features (first at {paths[bad]}, row {bad} of {folder / FEATURES}); "
            "its weights are likely NaN/inf (a diverged stage (a)?). The cache is left incomplete and will not be used."
        )


def _complete(folder: Path, manifest: dict) -> None:
    """Mark the cache complete: the manifest is written last, atomically, and the progress file goes."""
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2))
    (folder / PROGRESS).unlink(missing_ok=True)


def first_nonfinite_row(x: np.ndarray, chunk: int = 1 << 16) -> int | None:
    """Index of the first row holding a NaN or inf, reading a memmap chunk by chunk."""
    for i in range(0, len(x), chunk):
        ok = np.isfinite(x[i : i + chunk]).all(axis=1)
        if not ok.all():
            return i + int(np.argmin(ok))
    return None


@contextlib.contextmanager
def _cudnn_benchmark(on: bool) -> Iterator[None]:
    """cuDNN autotuning switched on for the block only (the flag is process-wide)."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = before or on
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def inference_model(model: torch.nn.Module, device: torch.device, *, fuse: bool = True) -> torch.nn.Module:
    """The backbone for extraction: eval mode, on ``device``, channels-last, and with
    each BatchNorm folded into the convolution before it (``torch.fx``'s
    ``fuse``) — in eval mode BN is an affine map, so folding changes nothing but
    the rounding and saves a memory-bound pass per layer.  Networks FX cannot
    trace run unfused."""
    model = model.eval()
    if fuse:
        from torch.fx.experimental.optimization import fuse as fx_fuse

        with contextlib.suppress(Exception):  # an untraceable network is still a valid backbone
            model = fx_fuse(model)
    return model.to(device).to(memory_format=torch.channels_last)


class _FeatureSink:
    """Features from the device into the memmap without stalling the loop.

    Each batch is copied into one of ``ring`` pinned host buffers behind an
    event; a buffer is written to the memmap only when it comes round again,
    by which time its copy has long finished.  Progress is made durable
    (memmap flushed, then ``progress.json``) every ``every_s`` seconds, not per
    batch: an msync per batch would stall the device.
    """

    def __init__(self, feats: np.ndarray, row: int, prog_path: Path, ckpt_sha: str, device: torch.device, batch: int, dim: int, ring: int = 4, every_s: float = 15.0) -> None:
        self.feats, self.row, self.prog_path, self.ckpt_sha = feats, row, prog_path, ckpt_sha
        self.cuda = device.type == "cuda"
        self.bufs = [torch.empty((batch, dim), dtype=torch.float32, pin_memory=self.cuda) for _ in range(ring)]
        self.inflight: list[tuple[int, int, torch.cuda.Event | None] | None] = [None] * ring
        self.k = 0
        self.written = row
        self.every_s = every_s
        self.last = time.monotonic()

    def put(self, e: torch.Tensor) -> None:
        """Queue the features of the next rows (a batch on the device) for the memmap."""
        s = self.k % len(self.bufs)
        self._drain(s)
        n = e.shape[0]
        self.bufs[s][:n].copy_(e.float(), non_blocking=self.cuda)
        ev = None
        if self.cuda:
            ev = torch.cuda.Event()
            ev.record()
        self.inflight[s] = (self.row, n, ev)
        self.row += n
        self.k += 1

    def _drain(self, s: int) -> None:
        item = self.inflight[s]
        if item is None:
            return
        start, n, ev = item
        if ev is not None:
            ev.synchronize()
        self.feats[start : start + n] = self.bufs[s][:n].numpy()
        self.written = start + n
        self.inflight[s] = None
        if time.monotonic() - self.last > self.every_s:
            self._commit()

    def _commit(self) -> None:
        self.feats.flush()
        atomic_write_text(self.prog_path, json.dumps({"rows_done": self.written, "checkpoint_sha256": self.ckpt_sha}))
        self.last = time.monotonic()

    def close(self) -> None:
        """Write every queued batch and make the progress durable."""
        for i in range(len(self.bufs)):
            self._drain((self.k + i) % len(self.bufs))
        self._commit()


def input_size(extra: dict) -> tuple[int, int]:
    """The (height, width) a backbone was trained at (stage (a) stores it; 256x128 otherwise)."""
    cfg = extra.get("config", {})
    return int(cfg.get("height", 256)), int(cfg.get("width", 128))
