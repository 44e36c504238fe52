"""Frame loading for the frame CNN: decode, resize, batch, augment on the device.

Three decoders, chosen by ``make_loader(decoder=...)``:

* ``threads`` (default): a thread pool decodes with OpenCV (which releases the
  GIL) straight into a ring of pinned ``(B, H, W, 3)`` host buffers, and each
  batch is copied to the device on a side stream.  No inter-process copies,
  no per-batch pinning: the fast path on a GPU host, where moving 100 MB
  decoded batches between worker processes costs more than decoding them;
* ``processes``: ``DataLoader`` worker processes decode with OpenCV;
* ``nvjpeg``: workers only read bytes and nvJPEG decodes on the GPU.

Flips, random erasing and normalisation run batched on the training device, so
the loop has no per-image Python work and no host synchronisation.  A missing
or unreadable image stops the run with an error naming the file.
"""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from lsvid_core.errors import ConfigError, LsvidError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DECODERS = ("threads", "processes", "nvjpeg")


class FrameReadError(LsvidError, RuntimeError):
    """A frame image is missing or cannot be decoded; the message names the file."""


def read_frame(path: str, height: int, width: int) -> np.ndarray:
    """``(height, width, 3)`` RGB uint8, or :class:`FrameReadError` naming ``path``."""
    out = np.empty((height, width, 3), np.uint8)
    decode_into(out, path)
    return out


def decode_into(dst: np.ndarray, path: str) -> None:
    """Decode the image at ``path`` into ``dst``, an ``(H, W, 3)`` uint8 RGB array view,
    resizing bilinearly when the sizes differ; the BGR->RGB swap writes straight
    into ``dst``, so a batch buffer needs no further copy.  OpenCV releases the
    GIL, so threads decode in parallel.  Raises :class:`FrameReadError` naming
    ``path``."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise FrameReadError(f"{path}: missing frame image") from None
    except OSError as e:
        raise FrameReadError(f"{path}: cannot be read ({e})") from None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise FrameReadError(f"{path}: not a readable image (corrupt or unsupported format)")
    h, w = dst.shape[:2]
    if bgr.shape[:2] != (h, w):
        bgr = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_LINEAR)
    cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=dst)


class DecodedFrames(Dataset):
    """Frames decoded and resized by OpenCV in the worker: ``(3, H, W)`` uint8 and a label."""

    def __init__(self, paths: Sequence[str], labels: np.ndarray | None, height: int, width: int) -> None:
        self.paths = list(paths)
        self.labels = np.zeros(len(self.paths), np.int64) if labels is None else np.asarray(labels, np.int64)
        self.height, self.width = height, width

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        img = read_frame(self.paths[i], self.height, self.width)
        return torch.from_numpy(img).permute(2, 0, 1), int(self.labels[i])


class EncodedFrames(Dataset):
    """The JPEG bytes of each frame, for batched decoding on the GPU."""

    def __init__(self, paths: Sequence[str], labels: np.ndarray | None) -> None:
        self.paths = list(paths)
        self.labels = np.zeros(len(self.paths), np.int64) if labels is None else np.asarray(labels, np.int64)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        p = self.paths[i]
        try:
            with open(p, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise FrameReadError(f"{p}: missing frame image") from None
        if len(data) < 4 or data[:2] != b"\xff\xd8":
            raise FrameReadError(f"{p}: not a JPEG file (cannot be decoded on the GPU)")
        return torch.frombuffer(bytearray(data), dtype=torch.uint8), int(self.labels[i])


def _collate_encoded(batch):
    """One byte tensor and its split lengths per batch: a tensor per image would cost a
    shared-memory handle each on the way from the worker."""
    data = torch.cat([b[0] for b in batch])
    lengths = torch.tensor([len(b[0]) for b in batch], dtype=torch.int64)
    return (data, lengths), torch.tensor([b[1] for b in batch], dtype=torch.int64)


def decode_on_gpu(encoded: list[torch.Tensor], paths: Sequence[str] | None, device: torch.device, height: int, width: int) -> torch.Tensor:
    """nvJPEG-decode a batch and resize on the device: ``(B, 3, H, W)`` float in [0, 255]."""
    import torchvision.io

    try:
        imgs = torchvision.io.decode_jpeg(encoded, mode=torchvision.io.ImageReadMode.RGB, device=device)
    except RuntimeError as e:
        raise FrameReadError(f"a JPEG in this batch failed to decode on {device} ({e}); first file: {paths[0] if paths else '?'}") from e
    out = torch.empty((len(imgs), 3, height, width), device=device)
    sizes: dict[tuple[int, int], list[int]] = {}
    for i, im in enumerate(imgs):
        sizes.setdefault(tuple(im.shape[1:]), []).append(i)
    for (h, w), idx in sizes.items():
        x = torch.stack([imgs[i] for i in idx]).float()
        if (h, w) != (height, width):
            x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
        out[idx] = x
    return out


def all_jpeg(paths: Sequence[str]) -> bool:
    return all(p.lower().endswith((".jpg", ".jpeg")) for p in paths)


def make_loader(
    paths: Sequence[str],
    labels: np.ndarray | None,
    *,
    height: int,
    width: int,
    batch_size: int,
    order: np.ndarray | None = None,
    workers: int | None = None,
    device: torch.device,
    decoder: str = "threads",
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(frames, labels)`` on ``device``; frames are ``(B, 3, H, W)`` float in [0, 255].

    ``order`` is the sequence of indices to visit (default: in order);
    ``workers`` is the number of decoding threads or processes (``None``: one
    per core but one, at most 16; 0 processes: decode in this one); ``decoder`` is
    one of :data:`DECODERS` (``nvjpeg`` falls back to ``threads`` off CUDA or
    when some frame is not a JPEG).
    """
    if decoder not in DECODERS:
        raise ConfigError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
    workers = default_workers() if workers is None else workers
    order = np.arange(len(paths)) if order is None else np.asarray(order)
    lab = np.zeros(len(paths), np.int64) if labels is None else np.asarray(labels, np.int64)
    batches = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    if not batches:
        return
    if decoder == "nvjpeg" and not (device.type == "cuda" and all_jpeg(paths)):
        decoder = "threads"
    if decoder == "threads":
        yield from _threaded_batches(paths, lab, batches, height=height, width=width, workers=workers, device=device)
        return
    use_gpu = decoder == "nvjpeg"
    ds: Dataset = EncodedFrames(paths, lab) if use_gpu else DecodedFrames(paths, lab, height, width)
    loader = DataLoader(
        ds,
        batch_sampler=batches,
        num_workers=workers,
        pin_memory=device.type == "cuda" and not use_gpu,
        collate_fn=_collate_encoded if use_gpu else None,
        persistent_workers=False,
        prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=_one_thread,
    )
    if use_gpu:
        yield from _decode_ahead(zip(batches, loader), paths, device, height, width)
        return
    for x, y in loader:
        yield x.to(device, non_blocking=True).float(), y.to(device, non_blocking=True)


def default_workers() -> int:
    """Decoding workers when none are asked for: every core but the one feeding the device."""
    return max(1, min(16, (os.cpu_count() or 2) - 1))


def _threaded_batches(
    paths: Sequence[str],
    labels: np.ndarray,
    batches: list[list[int]],
    *,
    height: int,
    width: int,
    workers: int,
    device: torch.device,
    depth: int = 4,
    chunk: int = 32,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Decode batches ``depth`` ahead in a thread pool, into a ring of reused host buffers.

    On CUDA the buffers are pinned and each batch is copied on a side stream;
    the threads refill a buffer only after the event recorded behind its copy,
    so the main thread never waits on the device.  The buffer is ``(B, H, W,
    3)``: viewed as ``(B, 3, H, W)`` it is already channels-last.
    """
    cuda = device.type == "cuda"
    ring = min(depth, len(batches))
    bmax = max(len(b) for b in batches)
    slots = [torch.empty((bmax, height, width, 3), dtype=torch.uint8, pin_memory=cuda) for _ in range(ring)]
    freed: list[torch.cuda.Event | None] = [None] * ring
    copy_stream = torch.cuda.Stream(device) if cuda else None
    all_labels = torch.from_numpy(labels)
    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="decode")

    def fill(buf: torch.Tensor, idx: list[int], after: torch.cuda.Event | None) -> None:
        if after is not None:
            after.synchronize()  # the previous batch in this buffer has reached the device
        rows = buf.numpy()
        for j, i in enumerate(idx):
            decode_into(rows[j], paths[i])

    def submit(k: int) -> list[Future]:
        s, idx = k % ring, batches[k]
        return [pool.submit(fill, slots[s][j : j + chunk], idx[j : j + chunk], freed[s]) for j in range(0, len(idx), chunk)]

    # each thread decodes whole frames; OpenCV splitting every small image over its own pool
    # as well would only oversubscribe the cores (the process decoder does the same per worker)
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    queued = deque(submit(k) for k in range(ring))
    try:
        for k, idx in enumerate(batches):
            for f in queued.popleft():
                f.result()
            s, n = k % ring, len(idx)
            y = all_labels[idx]
            if cuda:
                x, yd, freed[s] = _copy_to_device(slots[s][:n], y, device, copy_stream)
            else:
                x, yd = slots[s][:n].permute(0, 3, 1, 2).float(), y
            if k + ring < len(batches):
                queued.append(submit(k + ring))
            yield x, yd
    finally:
        for futs in queued:
            for f in futs:
                f.cancel()
        pool.shutdown(wait=True)
        cv2.setNumThreads(cv_threads)


def _copy_to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, stream: torch.cuda.Stream):
    """Copy a pinned batch on the side ``stream``; the main stream waits for it on the device (not
    the host), and the returned event says when the host buffer may be refilled."""
    with torch.cuda.stream(stream):
        xd = x.to(device, non_blocking=True)
        yd = y.pin_memory().to(device, non_blocking=True)
        done = torch.cuda.Event()
        done.record(stream)
    main = torch.cuda.current_stream(device)
    main.wait_event(done)
    xd.record_stream(main)
    yd.record_stream(main)
    return xd.permute(0, 3, 1, 2).float(), yd, done


def _one_thread(_: int) -> None:
    # each worker decodes whole batches; OpenCV's own thread pool would only oversubscribe the cores
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _decode_ahead(batches, paths, device: torch.device, height: int, width: int):
    """Decode batch k+1 with nvJPEG on a side stream, in a thread, while batch k is computed.

    The side stream is also a correctness measure: torchvision's CUDA decoder
    writes its output on a private stream without waiting for the caller's
    stream (pytorch/vision#9606), so a block just freed by queued kernels of the
    compute stream could be overwritten.  Allocations made on the side stream
    come from its own pool and the stream only ever runs decoding.
    """
    from concurrent.futures import ThreadPoolExecutor

    side = torch.cuda.Stream(device)

    def work(item):
        b, ((data, lengths), y) = item
        with torch.cuda.stream(side):
            side.synchronize()
            encoded = list(torch.split(data, lengths.tolist()))
            x = decode_on_gpu(encoded, [paths[i] for i in b[:1]], device, height, width)
            y = y.to(device, non_blocking=True)
            done = torch.cuda.Event()
            done.record(side)
        return x, y, done

    it = iter(batches)
    with ThreadPoolExecutor(1) as ex:
        first = next(it, None)
        fut = ex.submit(work, first) if first is not None else None
        while fut is not None:
            nxt = next(it, None)
            x, y, done = fut.result()
            fut = ex.submit(work, nxt) if nxt is not None else None
            main = torch.cuda.current_stream(device)
            main.wait_event(done)
            x.record_stream(main)
            y.record_stream(main)
            yield x, y


def normalize(x: torch.Tensor) -> torch.Tensor:
    """[0, 255] RGB -> ImageNet-normalised, channels-last (the fast layout for convolutions)."""
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1) * 255
    shift = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1) * -255 / std
    # one multiply-add into a fresh tensor (the caller's is left alone): 1.6x the subtract-then-divide on CPU
    return (x * (1 / std)).add_(shift).contiguous(memory_format=torch.channels_last)


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_erasing(
    x: torch.Tensor,
    p: float,
    generator: torch.Generator | None = None,
    area: tuple[float, float] = (0.02, 0.4),
    ratio: tuple[float, float] = (0.3, 3.3),
) -> torch.Tensor:
    """Random erasing (Zhong et al., AAAI 2020), batched: with probability ``p`` a
    rectangle of each (normalised) image is replaced by noise."""
    if p <= 0:
        return x
    b, _, h, w = x.shape
    dev = x.device
    u = torch.rand(b, 5, device=dev, generator=generator)
    a = (area[0] + (area[1] - area[0]) * u[:, 0]) * h * w
    log_r = torch.log(torch.tensor(ratio[0], device=dev)) + u[:, 1] * (torch.log(torch.tensor(ratio[1] / ratio[0], device=dev)))
    r = torch.exp(log_r)
    eh = torch.sqrt(a * r).clamp(1, h).floor()
    ew = torch.sqrt(a / r).clamp(1, w).floor()
    y0 = (u[:, 2] * (h - eh + 1)).floor()
    x0 = (u[:, 3] * (w - ew + 1)).floor()
    on = u[:, 4] < p
    ys = torch.arange(h, device=dev)[None, :, None]
    xs = torch.arange(w, device=dev)[None, None, :]
    box = (ys >= y0[:, None, None]) & (ys < (y0 + eh)[:, None, None]) & (xs >= x0[:, None, None]) & (xs < (x0 + ew)[:, None, None])
    box = box & on[:, None, None]
    noise = torch.randn(x.shape, device=dev, generator=generator, dtype=x.dtype)
    return torch.where(box[:, None], noise, x)
