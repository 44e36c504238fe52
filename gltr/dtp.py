"""Local temporal cues: the Dilated Temporal Pyramid (Eq. 5-6) and the plain
temporal-convolution pyramid it is compared with in Fig. 6 of the paper.

Layout: these blocks work in conv layout, ``(B, C, T)`` in and ``(B, N*C, T)``
out, with an optional ``(B, T)`` bool padding mask (True = real frame).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gltr.masking import MaskedBatchNorm1d, zero_padded
from lsvid_core.errors import ConfigError

ACTIVATIONS = ("relu", "bn_relu", "none")


class ParallelTemporalConv(nn.Module):
    """N temporal convolutions side by side over the same input, concatenated.

    Each branch maps ``dim`` channels to ``dim`` channels with its own kernel
    width and dilation, padded so the length ``T`` is kept (any ``T >= 1``,
    also ``T`` shorter than the receptive field: the padding is zeros).

    ``activation`` follows each branch:

    * ``"relu"`` (default).  Eq. 5 writes the branch as a bare convolution,
      but a purely linear branch followed by the temporal mean of Eq. 4
      collapses: ``sum_t (W * f)_t = (sum_k W_k) sum_t f_t`` up to boundary
      terms, i.e. a linear map of the mean frame, blind to frame order, which
      could not give the DTP-only gain over average pooling of Table 2.  A
      ReLU makes the pooled feature a bag of local temporal patterns.
    * ``"bn_relu"``: masked BatchNorm then ReLU (bias-free convolutions).
    * ``"none"``: the literal Eq. 5.
    """

    def __init__(
        self,
        dim: int,
        kernel_sizes: Sequence[int],
        dilations: Sequence[int],
        *,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if len(kernel_sizes) != len(dilations) or not kernel_sizes:
            raise ConfigError("need one kernel size and one dilation per branch, at least one branch")
        if any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ConfigError(f"kernel sizes must be odd so that padding keeps T centred, got {list(kernel_sizes)}")
        if any(r < 1 for r in dilations):
            raise ConfigError(f"dilations must be >= 1, got {list(dilations)}")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.dim = dim
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.dilations = tuple(int(r) for r in dilations)
        self.activation = activation
        use_bn = activation == "bn_relu"
        self.branches = nn.ModuleList(
            nn.Conv1d(dim, dim, k, dilation=r, padding=r * (k - 1) // 2, bias=not use_bn)
            for k, r in zip(self.kernel_sizes, self.dilations)
        )
        self.norms = nn.ModuleList(MaskedBatchNorm1d(dim) for _ in self.branches) if use_bn else None

    @property
    def out_dim(self) -> int:
        return self.dim * len(self.branches)

    @property
    def receptive_fields(self) -> tuple[int, ...]:
        """Frames seen by one output step of each branch: ``r (k - 1) + 1``."""
        return tuple(r * (k - 1) + 1 for k, r in zip(self.kernel_sizes, self.dilations))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(B, C, T)`` -> ``(B, N*C, T)``; padded steps of the output are zero."""
        x = zero_padded(x, mask)
        outs = []
        for n, conv in enumerate(self.branches):  # a loop over the N branches, never over time
            y = conv(x)
            if self.norms is not None:
                y = self.norms[n](y, mask)
            if self.activation != "none":
                y = F.relu(y)
            outs.append(y)
        return zero_padded(torch.cat(outs, dim=1), mask)


class DilatedTemporalPyramid(ParallelTemporalConv):
    """DTP, Eq. 5-6: branch n is a width-``w`` convolution with dilation
    ``r_n = 2^(n-1)``; ``F' = [F^(r_1), ..., F^(r_N)]`` has ``N*d`` channels.

    Output step t of branch n depends only on inputs ``t + j*r_n`` for
    ``|j| <= (w-1)/2``: the pyramid covers ``2^(N-1) (w-1) + 1`` frames with
    ``N w d^2`` weights, where one undilated convolution of that width would
    need ``(2^(N-1) (w-1) + 1) d^2``.
    """

    def __init__(
        self,
        dim: int,
        num_branches: int = 3,
        kernel_size: int = 3,
        *,
        dilations: Sequence[int] | None = None,
        activation: str = "relu",
    ) -> None:
        if dilations is None:
            dilations = [2 ** n for n in range(num_branches)]
        elif len(dilations) != num_branches:
            raise ConfigError(f"{num_branches} branches but {len(dilations)} dilations")
        super().__init__(dim, [kernel_size] * num_branches, dilations, activation=activation)


class PyramidTemporalConv(ParallelTemporalConv):
    """Fig. 6 comparison: undilated convolutions with DTP's receptive fields.

    Branch n has kernel width ``(w - 1) 2^(n-1) + 1`` (3, 5, 9, ... for
    ``w = 3``), i.e. it sees the same frames as DTP's branch n, but densely,
    at ``(w - 1) 2^(n-1) + 1`` times ``d^2`` weights instead of ``w d^2``.
    """

    def __init__(
        self, dim: int, num_branches: int = 3, kernel_size: int = 3, *, activation: str = "relu"
    ) -> None:
        widths = [(kernel_size - 1) * 2 ** n + 1 for n in range(num_branches)]
        super().__init__(dim, widths, [1] * num_branches, activation=activation)
