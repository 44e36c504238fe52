"""Appearance descriptors that need no learned weights.

A striped colour histogram: the crop is cut into horizontal stripes (head,
torso, legs...) and each stripe's colours are histogrammed in HSV, which keeps
what a person wears and where, and drops pose detail.  It is the classic
hand-made ReID cue and a sane baseline for tracking and for scoring datasets
before any network is trained.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

DESCRIPTOR_HW = (64, 32)


def colour_histogram(
    crops: Sequence[np.ndarray] | np.ndarray,
    *,
    stripes: int = 4,
    bins: tuple[int, int, int] = (8, 4, 4),
) -> np.ndarray:
    """(N, stripes * (h + s + v bins)) float32 descriptors, L2-normalised.

    ``crops`` are BGR uint8 images of any size (resized to 64x32 first).
    Marginal H, S and V histograms per stripe keep the descriptor short.
    """
    n = len(crops)
    hb, sb, vb = bins
    dim = stripes * (hb + sb + vb)
    if n == 0:
        return np.zeros((0, dim), np.float32)
    h, w = DESCRIPTOR_HW
    batch = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA) if c.shape[:2] != (h, w) else c for c in crops])
    hsv = cv2.cvtColor(batch.reshape(n * h, w, 3), cv2.COLOR_BGR2HSV).reshape(n, h, w, 3)
    # quantise each channel, then count per (crop, stripe, bin) with one bincount
    hq = (hsv[..., 0].astype(np.int64) * hb) // 180
    sq = (hsv[..., 1].astype(np.int64) * sb) // 256
    vq = (hsv[..., 2].astype(np.int64) * vb) // 256
    stripe = (np.arange(h) * stripes // h)[None, :, None]
    base = (np.arange(n)[:, None, None] * stripes + stripe) * (hb + sb + vb)
    idx = np.concatenate([(base + hq).ravel(), (base + hb + sq).ravel(), (base + hb + sb + vq).ravel()])
    out = np.bincount(idx, minlength=n * dim).reshape(n, dim).astype(np.float32)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out
