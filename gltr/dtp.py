"""Local temporal cues: the Dilated Temporal Pyramid (Eq. 5-6) and the plain
temporal-convolution pyramid it is compared with in Fig. 6 of the paper.

Layout: these blocks work in conv layout, ``(B, C, T)`` in and ``(B, N*C, T)``
out (``(N+1)*C`` with ``concat_input``), with an optional ``(B, T)`` bool
padding mask (True = real frame).
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
    * ``"none"``: the literal Eq. 5, and what the authors' released code
      (``ljn114514/GLTR``) does.  The collapse above then applies to DTP
      alone (``DTPOnly``); in the released GLTR the nonlinearity comes from
      TSA's softmax, between DTP and the mean.

    Options that exist to build the released code's DTP (defaults: the
    paper-text model above):

    * ``bias`` (default True): a bias on each branch convolution.  Eq. 5
      writes none and the released convolutions have none (``bias=False``);
      ``"bn_relu"`` branches never have one (BatchNorm's shift replaces it).
    * ``concat_input`` (default False): put the raw input ``F`` in front of
      the branch outputs, ``[F, F^(r_1), ..., F^(r_N)]`` with ``(N+1) d``
      channels, as the released code concatenates the frame features with
      its three branches (512 channels for ``d = 128``).  Eq. 6 has only the
      branches.  ``receptive_fields`` still lists the branches only.
    * ``init_std`` (default None = PyTorch's default init): a float draws
      the branch weights from ``normal(0, init_std)`` and zeroes the biases,
      the released code's ``std=0.001``.
    """

    def __init__(
        self,
        dim: int,
        kernel_sizes: Sequence[int],
        dilations: Sequence[int],
        *,
        activation: str = "relu",
        bias: bool = True,
        concat_input: bool = False,
        init_std: float | None = None,
    ) -> None:
        super().__init__()
        if init_std is not None and not init_std > 0:
            raise ConfigError(f"init_std must be a positive float or None, got {init_std!r}")
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
        self.concat_input = bool(concat_input)
        use_bn = activation == "bn_relu"
        self.branches = nn.ModuleList(
            nn.Conv1d(dim, dim, k, dilation=r, padding=r * (k - 1) // 2, bias=bias and not use_bn)
            for k, r in zip(self.kernel_sizes, self.dilations)
        )
        if init_std is not None:
            for conv in self.branches:
                nn.init.normal_(conv.weight, mean=0.0, std=init_std)
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)
        self.norms = nn.ModuleList(MaskedBatchNorm1d(dim) for _ in self.branches) if use_bn else None

    @property
    def out_dim(self) -> int:
        return self.dim * (len(self.branches) + int(self.concat_input))

    @property
    def receptive_fields(self) -> tuple[int, ...]:
        """Frames seen by one output step of each branch: ``r (k - 1) + 1``."""
        return tuple(r * (k - 1) + 1 for k, r in zip(self.kernel_sizes, self.dilations))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(B, C, T)`` -> ``(B, N*C, T)`` (``(N+1)*C`` with ``concat_input``,
        the input first); padded steps of the output are zero."""
        x = zero_padded(x, mask)
        outs = [x] if self.concat_input else []
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

    ``dilations`` replaces ``2^(n-1)``: the released code uses 1, 2, 3 (a
    7-frame field instead of 9 for ``w = 3``).  ``activation``, ``bias``,
    ``concat_input`` and ``init_std``: see :class:`ParallelTemporalConv`; the
    released DTP is ``dilations=(1, 2, 3), activation="none", bias=False,
    concat_input=True, init_std=0.001``.
    """

    def __init__(
        self,
        dim: int,
        num_branches: int = 3,
        kernel_size: int = 3,
        *,
        dilations: Sequence[int] | None = None,
        activation: str = "relu",
        bias: bool = True,
        concat_input: bool = False,
        init_std: float | None = None,
    ) -> None:
        if dilations is None:
            dilations = [2 ** n for n in range(num_branches)]
        elif len(dilations) != num_branches:
            raise ConfigError(f"{num_branches} branches but {len(dilations)} dilations")
        super().__init__(
            dim, [kernel_size] * num_branches, dilations,
            activation=activation, bias=bias, concat_input=concat_input, init_std=init_std,
        )


class PyramidTemporalConv(ParallelTemporalConv):
    """Fig. 6 comparison: undilated convolutions with DTP's receptive fields.

    Branch n has kernel width ``(w - 1) 2^(n-1) + 1`` (3, 5, 9, ... for
    ``w = 3``), i.e. it sees the same frames as DTP's branch n, but densely,
    at ``(w - 1) 2^(n-1) + 1`` times ``d^2`` weights instead of ``w d^2``.
    """

    def __init__(
        self,
        dim: int,
        num_branches: int = 3,
        kernel_size: int = 3,
        *,
        activation: str = "relu",
        bias: bool = True,
        concat_input: bool = False,
        init_std: float | None = None,
    ) -> None:
        widths = [(kernel_size - 1) * 2 ** n + 1 for n in range(num_branches)]
        super().__init__(
            dim, widths, [1] * num_branches,
            activation=activation, bias=bias, concat_input=concat_input, init_std=init_std,
        )
