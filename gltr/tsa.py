"""Temporal Self-Attention, Eq. 7 of the paper.

Layout: conv layout, ``(B, C, T)`` in and out, with an optional ``(B, T)``
bool padding mask (True = real frame).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gltr.conv import pointwise_as_matmul
from gltr.masking import ConvBNReLU1d, MaskedBatchNorm1d, zero_padded
from lsvid_core.errors import ConfigError

NORMALIZATIONS = ("softmax", "softmax_unscaled", "mean", "none")
SOFTMAXES = ("softmax", "softmax_unscaled")


class TemporalSelfAttention(nn.Module):
    """TSA, Eq. 7: ``F'' = W * (F_bar' M) + F'`` with ``M = C^T B``.

    From ``F'`` (``C = N*d`` channels by ``T``), two convolutions with
    BatchNorm and ReLU give ``B`` and ``C`` of ``C/alpha`` channels; the
    ``T x T`` mask ``M = C^T B`` weighs, for every output step ``t`` (column
    of ``M``), all input steps ``s`` (rows).  A third convolution gives
    ``F_bar'`` (``C/alpha`` channels), and ``W``, a convolution back to ``C``
    channels whose weight and bias start at zero, adds ``F_bar' M`` to ``F'``,
    so a fresh TSA is exactly the identity and training starts from DTP.

    Choices where the paper is silent, each a parameter:

    * All four convolutions have width 1 (``kernel_size``).  The temporal
      mixing of TSA is meant to be global and comes from ``M``; local mixing
      is DTP's job.
    * ``normalize="softmax"`` (default): each column of ``M`` is a softmax
      over the real steps ``s`` of ``C^T B / sqrt(C/alpha)``.  Reasons: the
      output is then a convex combination of frames whose scale does not grow
      with ``T`` (models are trained at T=16 and evaluated on sequences of up
      to hundreds of frames); padded frames are excluded by giving them zero
      weight without renormalising by hand; the ``1/sqrt`` scaling keeps the
      softmax from saturating at init, since ``B, C >= 0`` after ReLU make all
      logits positive and of order ``C/alpha``.  ``"mean"`` divides the raw
      ``C^T B`` by the number of real frames (the "dot product" form of
      non-local blocks); ``"none"`` is the literal ``C^T B`` of Eq. 7.
    * ``value_bn_relu=False`` (default): ``F_bar'`` is a plain convolution
      (with bias).  Reasons: ``F'`` is the residual path and ``W`` already
      learns any sign or scale, so ``F_bar' M`` followed by ``W`` stays a
      low-rank linear map of the attended frames, as the value path of a
      non-local block; a ReLU would discard the negative half of ``F_bar'``.
      ``True`` adds BatchNorm and ReLU as on ``B`` and ``C``.
    * BatchNorm statistics in training skip padded frames (see
      :class:`gltr.masking.MaskedBatchNorm1d`).

    Options that exist to build the authors' released code
    (``ljn114514/GLTR``, a non-local block: ``normalize="softmax_unscaled",
    qk_bn_relu=False, out_bn=True``); the defaults are the model above:

    * ``normalize="softmax_unscaled"``: the softmax over real keys of the raw
      ``C^T B``, without the ``1/sqrt(C/alpha)`` of ``"softmax"``, as the
      released code computes it.
    * ``qk_bn_relu`` (default True, the BatchNorm and ReLU on ``B`` and ``C``
      described above): ``False`` makes them plain convolutions with bias,
      as the released query (``theta``) and key (``phi``).  ``F_bar'`` (the
      released ``g``) is then plain as long as ``value_bn_relu=False``.
    * ``out_bn`` (default False): ``True`` puts a (masked) BatchNorm over the
      ``C`` channels after ``W``, its weight and bias starting at zero, while
      ``W`` keeps PyTorch's default init, as in the released code.  The
      fresh block is still exactly the identity.  Consequence: at the very
      first step only the BatchNorm's weight and bias get a gradient; ``W``,
      ``B``, ``C`` and ``F_bar'`` start learning once that weight is nonzero.
    """

    def __init__(
        self,
        channels: int,
        alpha: int = 2,
        *,
        normalize: str = "softmax",
        value_bn_relu: bool = False,
        kernel_size: int = 1,
        qk_bn_relu: bool = True,
        out_bn: bool = False,
    ) -> None:
        super().__init__()
        if channels % alpha:
            raise ConfigError(f"channels ({channels}) must be divisible by alpha ({alpha})")
        if normalize not in NORMALIZATIONS:
            raise ConfigError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(f"kernel_size must be odd, got {kernel_size}")
        reduced = channels // alpha
        self.channels = channels
        self.reduced = reduced
        self.normalize = normalize
        self.query = _projection(channels, reduced, kernel_size, qk_bn_relu)  # B of Eq. 7
        self.key = _projection(channels, reduced, kernel_size, qk_bn_relu)  # C of Eq. 7
        self.value = _projection(channels, reduced, kernel_size, value_bn_relu)  # F_bar' of Eq. 7
        self.out = nn.Conv1d(reduced, channels, kernel_size, padding=(kernel_size - 1) // 2)  # W of Eq. 7
        # Either W or the BatchNorm after it starts at zero, so a fresh TSA is
        # the identity; with out_bn, W keeps PyTorch's init (released code).
        self.out_norm: MaskedBatchNorm1d | None = None
        if out_bn:
            self.out_norm = MaskedBatchNorm1d(channels)
            nn.init.zeros_(self.out_norm.weight)
            nn.init.zeros_(self.out_norm.bias)
        else:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
        pointwise_as_matmul(self)  # width-1 convolutions over ~16 steps: a matrix product is faster (gltr.conv)

    # True on the copy that fused training vmaps over (benchmark.stacked_runs.vmap_template):
    # vmap has no batching rule for the fused attention kernel and would loop over the runs
    vectorized = False

    @property
    def out_dim(self) -> int:
        return self.channels

    def forward(
        self, x: Tensor, mask: Tensor | None = None, return_attention: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """``(B, C, T)`` -> ``(B, C, T)``; with ``return_attention`` also ``M``.

        ``M`` is ``(B, T, T)`` in the paper's orientation: ``M[b, s, t]`` is
        the weight of input step ``s`` in output step ``t`` (with softmax,
        every column over real ``s`` sums to one; padded rows are zero).
        """
        x = zero_padded(x, mask)
        q, k, v = (_project(p, x, mask) for p in (self.query, self.key, self.value))
        key_mask = _key_mask(mask)
        if self.normalize in SOFTMAXES and not return_attention and not self.vectorized:
            # Fused kernel (flash / memory-efficient on GPU); same numbers as
            # the explicit path below, which is kept for returning M.
            attn_mask = None if key_mask is None else key_mask[:, None, None, :]
            attended = F.scaled_dot_product_attention(
                q.transpose(1, 2)[:, None], k.transpose(1, 2)[:, None], v.transpose(1, 2)[:, None],
                attn_mask=attn_mask, scale=1.0 if self.normalize == "softmax_unscaled" else None,
            )[:, 0].transpose(1, 2)
            m = None
        else:
            m = self._attention(q, k, key_mask)
            attended = torch.bmm(v, m.to(v.dtype))
        update = self.out(zero_padded(attended, mask))
        if self.out_norm is not None:
            update = self.out_norm(update, mask)
        y = zero_padded(x + update, mask)
        if return_attention:
            return y, m
        return y

    def _attention(self, q: Tensor, k: Tensor, key_mask: Tensor | None) -> Tensor:
        logits = torch.bmm(k.transpose(1, 2), q)  # (B, s, t) = C^T B
        if self.normalize in SOFTMAXES:
            logits = logits.float() * self._scale
            if key_mask is not None:
                logits = logits.masked_fill(~key_mask[:, :, None], float("-inf"))
            return torch.softmax(logits, dim=1)
        if key_mask is not None:
            logits = logits.masked_fill(~key_mask[:, :, None], 0)
        if self.normalize == "mean":
            t_real = logits.new_full((logits.shape[0],), logits.shape[1]) if key_mask is None else key_mask.sum(1)
            logits = logits / t_real.clamp_min(1).to(logits.dtype)[:, None, None]
        return logits

    @property
    def _scale(self) -> float:
        """Factor on the softmax logits: ``1/sqrt(C/alpha)``, or 1 unscaled."""
        return 1.0 if self.normalize == "softmax_unscaled" else 1.0 / math.sqrt(self.reduced)


def _projection(channels: int, reduced: int, kernel_size: int, bn_relu: bool) -> nn.Module:
    """Conv + masked BatchNorm + ReLU, or a plain convolution with bias."""
    if bn_relu:
        return ConvBNReLU1d(channels, reduced, kernel_size)
    return nn.Conv1d(channels, reduced, kernel_size, padding=(kernel_size - 1) // 2)


def _project(module: nn.Module, x: Tensor, mask: Tensor | None) -> Tensor:
    return module(x, mask) if isinstance(module, ConvBNReLU1d) else module(x)


def _key_mask(mask: Tensor | None) -> Tensor | None:
    """Keys a step may attend to: the real frames of its sequence.

    A sequence with no real frame at all gets every step as a key, so that its
    softmax stays finite (its output is zeroed later anyway) instead of NaN
    poisoning the backward pass of the whole batch.
    """
    if mask is None:
        return None
    return mask | ~mask.any(dim=1, keepdim=True)
