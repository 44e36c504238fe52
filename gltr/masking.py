"""Padding masks for batches of sequences of different lengths.

Convention used throughout ``gltr``: a mask is a ``(B, T)`` bool tensor, True
on real frames, False on padding.  The real frames of a sequence must be one
contiguous run (right padding is the usual case).  Under that convention every
block here gives each sequence of a padded batch the same output as the
sequence alone, because

* temporal convolutions see zeros at padded positions, which is exactly the
  zero padding a convolution applies to a lone sequence at its ends;
* attention never attends to a padded key;
* temporal means divide by the number of real frames;
* BatchNorm statistics (training mode) are taken over real positions only
  (:class:`MaskedBatchNorm1d`).

None of these helpers branch on tensor values, so they trace under
``torch.compile`` without graph breaks.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def lengths_to_mask(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """``(B,)`` sequence lengths -> ``(B, max_len)`` bool mask, real frames first."""
    if max_len is None:
        max_len = int(lengths.max())
    positions = torch.arange(max_len, device=lengths.device)
    return positions[None, :] < lengths[:, None]


def zero_padded(x: Tensor, mask: Tensor | None) -> Tensor:
    """Zero the padded time steps of ``x`` in conv layout ``(B, C, T)``.

    A selection (``torch.where``) rather than a product, so that NaN or inf left in
    padding by a data loader cannot leak through ``0 * nan``; ``where`` rather than
    ``masked_fill(~mask)`` because the latter's broadcast boolean path is 2-3x slower on CPU.
    """
    if mask is None:
        return x
    return torch.where(mask[:, None, :], x, 0)


def masked_mean(x: Tensor, mask: Tensor | None, dim: int = -1) -> Tensor:
    """Mean of ``x`` over its time axis ``dim``, counting real frames only.

    ``mask`` is ``(B, T)`` and ``x`` has its batch axis first and time at
    ``dim``, e.g. ``(B, C, T)`` with ``dim=-1`` or ``(B, T, C)`` with ``dim=1``.
    A sequence without any real frame gives zeros, not NaN.
    """
    if mask is None:
        return x.mean(dim=dim)
    dim = dim % x.dim()
    shape = [1] * x.dim()
    shape[0], shape[dim] = mask.shape
    m = mask.reshape(shape)
    total = torch.where(m, x, 0).sum(dim=dim)
    count = m.sum(dim=dim).clamp_min(1).to(total.dtype)
    return total / count


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over ``(B, C, T)`` whose training statistics skip padded steps.

    Why: with plain BatchNorm the mean and variance of a padded batch would
    include the (zeroed) padding, so a sequence's features would depend on how
    much padding its batch-mates forced on it.  Here they are the statistics of
    the real frames only, i.e. exactly what plain BatchNorm computes on the
    unpadded frames laid side by side, and the running averages are updated
    with those.  Without a mask, or in eval mode, it is ``nn.BatchNorm1d``
    (same parameters and buffers, so state dicts are interchangeable).

    Note: ``nn.SyncBatchNorm.convert_sync_batchnorm`` would replace this layer
    by a mask-unaware one; under DDP keep per-GPU statistics instead.
    """

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        use_batch_stats = self.training or self.running_mean is None
        if mask is None or not use_batch_stats:
            return super().forward(x)
        # Statistics in float32: under bf16 autocast a sum over B*T values
        # would lose most of its precision.
        m = mask[:, None, :]
        xf = torch.where(m, x.float(), 0)
        count = m.sum().clamp_min(1).float()
        mean = xf.sum(dim=(0, 2)) / count
        centred = torch.where(m, xf - mean[None, :, None], 0)
        var = centred.pow(2).sum(dim=(0, 2)) / count
        if self.training and self.track_running_stats and self.running_mean is not None:
            self._update_running_stats(mean, var, count)
        y = centred * torch.rsqrt(var + self.eps)[None, :, None]
        if self.affine:
            y = y * self.weight.float()[None, :, None] + self.bias.float()[None, :, None]
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, var: Tensor, count: Tensor) -> None:
        self.num_batches_tracked.add_(1)
        if self.momentum is None:  # cumulative moving average, as nn.BatchNorm
            factor: float | Tensor = 1.0 / self.num_batches_tracked.to(self.running_mean.dtype)
        else:
            factor = self.momentum
        # The running variance is the unbiased estimate, as in nn.BatchNorm.
        unbiased = var * count / (count - 1).clamp_min(1)
        # lerp written out: torch.func.vmap (fused stage (b) training) has no batching rule for lerp_
        self.running_mean.add_((mean.to(self.running_mean.dtype) - self.running_mean) * factor)
        self.running_var.add_((unbiased.to(self.running_var.dtype) - self.running_var) * factor)


class ConvBNReLU1d(nn.Module):
    """Temporal convolution, masked BatchNorm, ReLU; input and output ``(B, C, T)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            in_channels, out_channels, kernel_size, dilation=dilation,
            padding=dilation * (kernel_size - 1) // 2, bias=False,  # BN's shift makes a bias redundant
        )
        self.bn = MaskedBatchNorm1d(out_channels)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return F.relu(self.bn(self.conv(zero_padded(x, mask)), mask))
