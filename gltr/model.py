"""GLTR, Eq. 4 of the paper, and the ablations of Table 2 and Fig. 6.

Every class here is an aggregator: frame features ``(B, T, d)`` and an
optional ``(B, T)`` bool padding mask (True = real frame) in, a video feature
``(B, out_dim)`` out.  Internally the blocks run in conv layout ``(B, C, T)``.
"""
from __future__ import annotations

from torch import Tensor, nn

from gltr.dtp import DilatedTemporalPyramid, ParallelTemporalConv, PyramidTemporalConv
from gltr.masking import masked_mean
from gltr.tsa import TemporalSelfAttention
from lsvid_core.errors import ConfigError, InputError

LOCAL_BLOCKS = ("dtp", "conv", "none")


class GLTR(nn.Module):
    """Global-Local Temporal Representation, Eq. 4: ``u = mean_t F''_t`` with
    ``F'' = TSA(DTP(F))``; ``out_dim = N * d``.

    ``local`` picks the local block: ``"dtp"`` (Eq. 5-6), ``"conv"`` (the
    undilated pyramid of Fig. 6) or ``"none"`` (TSA straight on the frame
    features, ``out_dim = d``).  ``use_tsa=False`` drops TSA (Eq. 7).  The
    named ablations :class:`DTPOnly`, :class:`TSAOnly` and
    :class:`PyramidConv` are these switches with fixed values.

    Any ``T >= 1`` works, including ``T`` below the largest dilation; in a
    padded batch each sequence gets the feature it gets alone (BatchNorm in
    eval mode; in training mode BatchNorm statistics cover the real frames of
    the whole batch).
    """

    def __init__(
        self,
        in_dim: int = 128,
        num_branches: int = 3,
        kernel_size: int = 3,
        alpha: int = 2,
        *,
        local: str = "dtp",
        use_tsa: bool = True,
        activation: str = "relu",
        normalize: str = "softmax",
        value_bn_relu: bool = False,
    ) -> None:
        super().__init__()
        if local not in LOCAL_BLOCKS:
            raise ConfigError(f"local must be one of {LOCAL_BLOCKS}, got {local!r}")
        if local == "none" and not use_tsa:
            raise ConfigError("with neither a local block nor TSA this is mean pooling; use gltr.masked_mean")
        self.in_dim = in_dim
        self.local: ParallelTemporalConv | None
        if local == "dtp":
            self.local = DilatedTemporalPyramid(in_dim, num_branches, kernel_size, activation=activation)
        elif local == "conv":
            self.local = PyramidTemporalConv(in_dim, num_branches, kernel_size, activation=activation)
        else:
            self.local = None
        width = self.local.out_dim if self.local is not None else in_dim
        self.tsa = (
            TemporalSelfAttention(width, alpha, normalize=normalize, value_bn_relu=value_bn_relu)
            if use_tsa
            else None
        )
        self.out_dim = width

    def forward(
        self, x: Tensor, mask: Tensor | None = None, return_attention: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """``(B, T, d)`` -> ``(B, out_dim)``, or ``(feature, M)`` with
        ``return_attention``, ``M`` being TSA's ``(B, T, T)`` mask (see
        :meth:`TemporalSelfAttention.forward` for its orientation)."""
        if return_attention and self.tsa is None:
            raise InputError(f"{type(self).__name__} has no TSA, so no attention mask to return")
        if x.dim() != 3 or x.shape[-1] != self.in_dim:
            raise InputError(f"expected frame features (B, T, {self.in_dim}), got {tuple(x.shape)}")
        h = x.transpose(1, 2)  # conv layout (B, d, T)
        if self.local is not None:
            h = self.local(h, mask)
        m = None
        if self.tsa is not None:
            if return_attention:
                h, m = self.tsa(h, mask, return_attention=True)
            else:
                h = self.tsa(h, mask)
        u = masked_mean(h, mask, dim=-1)  # Eq. 4, over real frames only
        if return_attention:
            return u, m
        return u


class DTPOnly(GLTR):
    """Table 2 ablation: DTP then the temporal mean, no TSA; ``out_dim = N * d``."""

    def __init__(self, in_dim: int = 128, num_branches: int = 3, kernel_size: int = 3, *, activation: str = "relu") -> None:
        super().__init__(in_dim, num_branches, kernel_size, local="dtp", use_tsa=False, activation=activation)


class TSAOnly(GLTR):
    """Table 2 ablation: TSA on the frame features then the mean; ``out_dim = d``.

    With no local block and no positional signal it is invariant to the
    order of the frames: it models which frames co-occur, not when.
    """

    def __init__(
        self, in_dim: int = 128, alpha: int = 2, *, normalize: str = "softmax", value_bn_relu: bool = False
    ) -> None:
        super().__init__(in_dim, alpha=alpha, local="none", normalize=normalize, value_bn_relu=value_bn_relu)


class PyramidConv(GLTR):
    """Fig. 6 comparison: undilated convolutions of widths 3, 5, 9, ... (DTP's
    receptive fields), then TSA if ``use_tsa``, then the mean."""

    def __init__(
        self,
        in_dim: int = 128,
        num_branches: int = 3,
        kernel_size: int = 3,
        alpha: int = 2,
        *,
        use_tsa: bool = False,
        activation: str = "relu",
    ) -> None:
        super().__init__(
            in_dim, num_branches, kernel_size, alpha, local="conv", use_tsa=use_tsa, activation=activation
        )
