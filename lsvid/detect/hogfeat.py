"""Dense histograms of oriented gradients (Dalal & Triggs, CVPR 2005), vectorised with numpy.

OpenCV 5 moved ``HOGDescriptor`` out of its main package (to opencv-contrib's
``xobjdetect``), so the ``hog`` detector computes HOG itself, with the
parameters of OpenCV's people detector: a 64x128 window, 16x16 blocks every
8 pixels, 8x8 cells, 9 unsigned orientation bins, square-root gamma, the
strongest colour channel's gradient, votes split bilinearly between bins and
cells and weighted by a Gaussian (sigma 4) over the block, L2-Hys block
normalisation (clip 0.2).  A window's descriptor lists its 7x15 blocks
column by column (x outer, y inner), each block its 2x2 cells the same way,
each cell its 9 bins: OpenCV's order, 3,780 numbers.

Per image the work is done once for all windows: votes per pixel, two small
tensor contractions turn them into every block's histograms, and a linear
classifier's score for every window position is one matrix product plus 105
shifted sums (:func:`window_scores`).
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

WIN_W, WIN_H = 64, 128
CELL = 8
BINS = 9
BLOCKS_X, BLOCKS_Y = WIN_W // CELL - 1, WIN_H // CELL - 1  # 7 x 15 blocks per window
BLOCK_LEN = 4 * BINS
DESCRIPTOR_LEN = BLOCKS_X * BLOCKS_Y * BLOCK_LEN  # 3780
_GAMMA_LUT = np.sqrt(np.arange(256, dtype=np.float32)).reshape(1, 256)


def _axis_kernels() -> np.ndarray:
    """``(8, 4)``: weight of pixel ``j`` of a block's half ``q`` (0: first 8 pixels, 1: last 8) in
    cell ``c`` of the block, column ``2 * q + c``; bilinear in the cell centres times the Gaussian."""
    j = np.arange(2 * CELL, dtype=np.float64)
    gauss = np.exp(-((j - CELL) ** 2) / (2 * 4.0**2))
    pos = (j + 0.5) / CELL - 0.5
    k = np.stack([np.clip(1 - np.abs(pos - c), 0, None) for c in (0, 1)], axis=1) * gauss[:, None]  # (16, 2)
    return np.concatenate([k[:CELL], k[CELL:]], axis=1).astype(np.float32)  # (8, [q0c0, q0c1, q1c0, q1c1])


_K = _axis_kernels()


def _channel_gradients(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y gradients ([-1, 0, 1], mirrored border) of the square-root image; for colour, of the
    channel whose gradient is strongest at each pixel."""
    img = cv2.LUT(image, _GAMMA_LUT) if image.dtype == np.uint8 else np.sqrt(image.astype(np.float32))
    dx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=1, borderType=cv2.BORDER_REFLECT_101)
    dy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=1, borderType=cv2.BORDER_REFLECT_101)
    if dx.ndim == 2:
        return dx, dy
    # numpy, not cv2.magnitude/cartToPolar: OpenCV 5.0 returns results differing in the last bit
    # from one call to the next on the same input, which flips the strongest channel now and then.
    xs, ys = cv2.split(dx), cv2.split(dy)
    gx, gy = xs[0], ys[0]
    best = gx * gx + gy * gy
    for cx, cy in zip(xs[1:], ys[1:]):
        m = cx * cx + cy * cy
        stronger = m > best
        gx, gy, best = np.where(stronger, cx, gx), np.where(stronger, cy, gy), np.where(stronger, m, best)
    return gx, gy


def cell_votes(image: np.ndarray) -> np.ndarray:
    """``(H, W // 8, 9, 8)`` float32: each pixel's gradient magnitude split between its two
    nearest orientation bins (centres 10, 30, ..., 170 degrees), laid out as (row, cell column,
    bin, column within the cell) so that summing over a cell's columns is one matrix product."""
    h, w = image.shape[:2]
    wc = w // CELL
    gx, gy = _channel_gradients(image[:, : wc * CELL])
    mag = np.sqrt(gx * gx + gy * gy)
    pos = (np.arctan2(gy, gx) % np.float32(np.pi)) * np.float32(BINS / np.pi) - np.float32(0.5)  # unsigned: mod pi
    lo = np.floor(pos)
    frac = pos - lo
    lo = lo.astype(np.int32) % BINS
    hi = lo + 1
    hi[hi == BINS] = 0
    votes = np.zeros((h, wc, BINS, CELL), np.float32)
    flat = votes.reshape(-1)
    base = _vote_base(h, wc)
    upper = mag * frac
    idx = lo * CELL
    idx += base
    flat[idx.ravel()] = (mag - upper).ravel()
    idx = hi * CELL
    idx += base
    flat[idx.ravel()] = upper.ravel()  # lo != hi: the two writes never collide
    return votes


@functools.lru_cache(maxsize=64)
def _vote_base(h: int, wc: int) -> np.ndarray:
    """Flat index of bin 0 of every pixel in :func:`cell_votes`' layout (cached per image size)."""
    x = np.arange(wc * CELL, dtype=np.int32)
    return np.arange(h, dtype=np.int32)[:, None] * (wc * BINS * CELL) + (x // CELL) * (BINS * CELL) + x % CELL


def block_features(image: np.ndarray) -> np.ndarray:
    """``(Hb, Wb, 36)`` float32: the normalised histogram of every block of ``image`` (grey or
    BGR ``uint8``), block ``(i, j)`` at pixel ``(8i, 8j)``; empty when the image is under 16 px."""
    h, w = image.shape[:2]
    hc, wc = h // CELL, w // CELL
    if hc < 2 or wc < 2:
        return np.zeros((max(hc - 1, 0), max(wc - 1, 0), BLOCK_LEN), np.float32)
    v = cell_votes(image[: hc * CELL, : wc * CELL])
    # Over the columns of each cell, then its rows: (hc, wc, bins, 4 x-weights, 4 y-weights).
    t = v @ _K  # (H, wc, 9, 4)
    t = t.reshape(hc, CELL, wc, BINS, 4).transpose(0, 2, 3, 4, 1) @ _K  # (hc, wc, 9, 4, 4)
    hb, wb = hc - 1, wc - 1
    blocks = np.zeros((hb, wb, 2, 2, BINS), np.float32)  # (y, x, cell x, cell y, bin)
    for qx in (0, 1):
        for qy in (0, 1):
            part = t[qy:qy + hb, qx:qx + wb, :, 2 * qx:2 * qx + 2, 2 * qy:2 * qy + 2]  # (hb, wb, 9, cx, cy)
            blocks += part.transpose(0, 1, 3, 4, 2)
    blocks = blocks.reshape(hb, wb, BLOCK_LEN)
    # L2-Hys, with OpenCV's constants.
    blocks /= np.sqrt(np.einsum("ijk,ijk->ij", blocks, blocks))[..., None] + 0.1 * BLOCK_LEN
    np.minimum(blocks, 0.2, out=blocks)
    blocks /= np.sqrt(np.einsum("ijk,ijk->ij", blocks, blocks))[..., None] + 1e-3
    return blocks


def window_descriptors(blocks: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``(N, 3780)`` descriptors of the windows whose top-left blocks are ``positions`` ``(N, 2)`` (row, column)."""
    by = positions[:, 0, None, None] + np.arange(BLOCKS_Y)[None, None, :]
    bx = positions[:, 1, None, None] + np.arange(BLOCKS_X)[None, :, None]
    return blocks[by, bx].reshape(len(positions), DESCRIPTOR_LEN)  # (N, x, y, 36): OpenCV's x-outer order


def descriptor(window: np.ndarray) -> np.ndarray:
    """The 3,780-long descriptor of one 64x128 window image."""
    if window.shape[:2] != (WIN_H, WIN_W):
        raise ValueError(f"HOG window of shape {window.shape[:2]}; expected ({WIN_H}, {WIN_W})")
    return window_descriptors(block_features(window), np.zeros((1, 2), np.int64))[0]


def window_scores(blocks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``w . descriptor`` (no bias) of every window of a block grid: ``(Hb - 14, Wb - 6)``, window
    ``(i, j)`` at pixel ``(8i, 8j)``; empty if the grid is smaller than one window."""
    hb, wb = blocks.shape[:2]
    hs, ws = hb - BLOCKS_Y + 1, wb - BLOCKS_X + 1
    if hs < 1 or ws < 1:
        return np.zeros((max(hs, 0), max(ws, 0)), np.float32)
    wmat = np.asarray(weights, np.float32).reshape(BLOCKS_X, BLOCKS_Y, BLOCK_LEN)
    per_block = blocks.reshape(-1, BLOCK_LEN) @ wmat.reshape(-1, BLOCK_LEN).T  # (hb*wb, 7*15)
    per_block = per_block.reshape(hb, wb, BLOCKS_X, BLOCKS_Y)
    out = np.zeros((hs, ws), np.float32)
    for bx in range(BLOCKS_X):
        for by in range(BLOCKS_Y):
            out += per_block[by:by + hs, bx:bx + ws, bx, by]
    return out
