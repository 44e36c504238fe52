"""Temporal pyramid pooling, the parameter-free comparison of Fig. 6.

Spatial pyramid pooling (He et al., 2014) applied along time: level ``l``
splits each sequence's real frames into ``bins[l]`` contiguous segments, pools
each, and all segments of all levels are concatenated.  Segment ``i`` of
``n`` over ``L`` frames covers ``[floor(i L / n), ceil((i + 1) L / n))``, the
rule of ``adaptive_avg_pool1d``, so a segment is never empty, even for
``L < n`` (then segments repeat frames).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lsvid_core.errors import ConfigError

POOL_MODES = ("avg", "max")


class TemporalPyramidPooling(nn.Module):
    """Aggregator ``(B, T, d)`` (+ ``(B, T)`` mask) -> ``(B, d * sum(bins))``.

    ``bins`` defaults to ``2^(n-1)`` for ``n = 1..num_levels``, i.e. (1, 2, 4),
    matching the scales of DTP's dilations.  Output layout: level by level,
    segment by segment, ``d`` features each.
    """

    def __init__(
        self, in_dim: int, num_levels: int = 3, *, bins: Sequence[int] | None = None, mode: str = "avg"
    ) -> None:
        super().__init__()
        if bins is None:
            bins = [2 ** n for n in range(num_levels)]
        if not bins or any(b < 1 for b in bins):
            raise ConfigError(f"bins must be positive, got {list(bins)}")
        if mode not in POOL_MODES:
            raise ConfigError(f"mode must be one of {POOL_MODES}, got {mode!r}")
        self.in_dim = in_dim
        self.bins = tuple(int(b) for b in bins)
        self.mode = mode
        # For every segment of every level: its level's bin count and its index.
        counts = torch.tensor([n for n in self.bins for _ in range(n)])
        index = torch.tensor([i for n in self.bins for i in range(n)])
        self.register_buffer("_seg_count", counts, persistent=False)
        self.register_buffer("_seg_index", index, persistent=False)

    @property
    def out_dim(self) -> int:
        return self.in_dim * sum(self.bins)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        b, t, d = x.shape
        member = self._membership(b, t, mask, x.device)  # (B, T, S) bool
        if self.mode == "avg":
            weights = member.to(x.dtype)
            weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1)
            pooled = torch.einsum("bts,btd->bsd", weights, x.masked_fill(~member.any(2, keepdim=True), 0))
        else:
            # (B, T, S, d) is at most a few MB at ReID sizes (S = 7, T <= 200).
            fill = torch.finfo(x.dtype).min
            pooled = x[:, :, None, :].masked_fill(~member[..., None], fill).amax(dim=1)
            pooled = pooled.masked_fill(~member.any(1)[..., None], 0)  # sequences with no real frame
        return pooled.reshape(b, -1)

    def _membership(self, b: int, t: int, mask: Tensor | None, device: torch.device) -> Tensor:
        if mask is None:
            mask = torch.ones(b, t, dtype=torch.bool, device=device)
        # Rank of each frame among its sequence's real frames; the real run
        # need not start at 0 (left padding works too).
        rank = mask.long().cumsum(dim=1) - 1  # (B, T)
        length = mask.sum(dim=1, keepdim=True)  # (B, 1)
        n = self._seg_count[None, None, :]
        i = self._seg_index[None, None, :]
        length = length[:, :, None]
        start = torch.div(i * length, n, rounding_mode="floor")
        end = torch.div((i + 1) * length + n - 1, n, rounding_mode="floor")
        r = rank[:, :, None]
        return mask[:, :, None] & (r >= start) & (r < end)
