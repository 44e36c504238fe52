"""Temporal convolutions as matrix products, for the shapes where that is faster.

A video aggregator's convolutions run over ``T = 16`` steps of a few hundred
channels: a width-1 convolution there is a ``(B*T, C) x (C, C')`` matrix
product, but on CPU the convolution library adds a per-call cost larger than
the arithmetic (measured: a TSA training step 4.2 ms with ``nn.Conv1d``,
2.9 ms with :class:`MatmulConv1d`; ``benchmarks/leaderboard_time.py --full``
prints TSA's step against DTP's).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pointwise_as_matmul(module: nn.Module) -> nn.Module:
    """Make every width-1 ``nn.Conv1d`` inside ``module`` a :class:`MatmulConv1d` (in place; parameters kept)."""
    for m in module.modules():
        if type(m) is nn.Conv1d and m.kernel_size == (1,) and MatmulConv1d.handles(m):
            m.__class__ = MatmulConv1d
    return module


class MatmulConv1d(nn.Conv1d):
    """A stride-1, zero-padded ``Conv1d`` computed as one matrix product over ``(B*T, k*C)`` windows.

    Same parameters and state dict as ``nn.Conv1d``, same numbers up to rounding.  Used where
    the convolution library's per-call cost dominates: width-1 convolutions on short sequences
    (TSA's projections, see :func:`pointwise_as_matmul`), and every convolution of the
    template that fused stage (b) training vmaps over, where a convolution with stacked
    weights would become a grouped convolution whose CPU backward is several times slower."""

    @staticmethod
    def handles(conv: nn.Conv1d) -> bool:
        return conv.stride == (1,) and conv.groups == 1 and conv.padding_mode == "zeros" and isinstance(conv.padding, tuple)

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        (k,), (d,), (p,) = self.kernel_size, self.dilation, self.padding
        b, _, t = x.shape
        rows = x.transpose(1, 2)  # (B, T, C)
        t_out = t + 2 * p - d * (k - 1)
        if k > 1 or p:
            padded = F.pad(rows, (0, 0, p, p))
            rows = torch.cat([padded[:, j * d : j * d + t_out] for j in range(k)], dim=-1)  # (B, T_out, k*C), tap-major
        w = weight.flatten(1) if k == 1 else weight.permute(0, 2, 1).reshape(weight.shape[0], -1)  # (C', k*C), tap-major
        y = rows.reshape(b * t_out, -1) @ w.T
        if bias is not None:
            y = y + bias
        return y.reshape(b, t_out, -1).transpose(1, 2)
