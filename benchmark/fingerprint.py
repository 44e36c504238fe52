"""Content hashes that decide whether earlier work can be reused: files, datasets,
feature arrays.  Reuse is keyed on content, never on a path or a name."""
from __future__ import annotations

import hashlib
import os

import torch

from protocols import Dataset
from protocols.schema import FRAMES_FILE, TRACKLETS_FILE


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dataset_fingerprint(ds: Dataset) -> str:
    """SHA-256 over the two tables and the image root: what the features depend on."""
    h = hashlib.sha256()
    for name in (TRACKLETS_FILE, FRAMES_FILE):
        h.update(file_sha256(ds.root / name).encode())
    h.update(str(ds.image_root.resolve()).encode())
    return h.hexdigest()


def tensor_fingerprint(x: torch.Tensor, rows: int = 4096) -> str:
    """SHA-256 of a tensor's shape and of up to ``rows`` evenly spaced rows: cheap
    on a feature array of millions of frames (and on the GPU), and it changes
    whenever the features come from another backbone or dataset."""
    h = hashlib.sha256(repr((tuple(x.shape), str(x.dtype))).encode())
    if x.numel():
        step = max(1, x.shape[0] // rows)
        h.update(x[::step].detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def weights_id(weights: str | os.PathLike | None) -> str | None:
    """What initial weights were used: a file's SHA-256, or the name given (``imagenet``)."""
    if weights is None:
        return None
    if os.path.isfile(weights):
        return file_sha256(weights)
    return str(weights)
