"""Frame loading for the frame CNN: decode, resize, batch, augment on the device.

Workers only read and decode (OpenCV on the CPU, or just the file bytes when
JPEGs are decoded on the GPU with nvJPEG); flips, random erasing and
normalisation run batched on the training device, so the loop has no per-image
Python work and no host synchronisation.  A missing or unreadable image stops
the run with an error naming the file.
"""
from __future__ import annotations

import os
from typing import Iterator, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FrameReadError(RuntimeError):
    """A frame image is missing or cannot be decoded; the message names the file."""


def read_frame(path: str, height: int, width: int) -> np.ndarray:
    """``(height, width, 3)`` RGB uint8, or :class:`FrameReadError` naming ``path``."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        if not os.path.exists(path):
            raise FrameReadError(f"{path}: missing frame image")
        raise FrameReadError(f"{path}: not a readable image (corrupt or unsupported format)")
    if img.shape[:2] != (height, width):
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(img[:, :, ::-1])


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
    workers: int = 0,
    device: torch.device,
    gpu_decode: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(frames, labels)`` on ``device``; frames are ``(B, 3, H, W)`` float in [0, 255].

    ``order`` is the sequence of indices to visit (default: in order).
    """
    order = np.arange(len(paths)) if order is None else np.asarray(order)
    use_gpu = gpu_decode and device.type == "cuda" and all_jpeg(paths)
    ds: Dataset = EncodedFrames(paths, labels) if use_gpu else DecodedFrames(paths, labels, height, width)
    batches = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
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
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1) * 255
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


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
