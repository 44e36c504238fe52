"""GLTR, Eq. 4 of the paper, and the ablations of Table 2 and Fig. 6.

Every class here is an aggregator: frame features ``(B, T, d)`` and an
optional ``(B, T)`` bool padding mask (True = real frame) in, a video feature
``(B, out_dim)`` out.  Internally the blocks run in conv layout ``(B, C, T)``.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from gltr.dtp import DilatedTemporalPyramid, ParallelTemporalConv, PyramidTemporalConv
from gltr.masking import masked_mean
from gltr.tsa import TemporalSelfAttention
from lsvid_core.errors import ConfigError, InputError

LOCAL_BLOCKS = ("dtp", "conv", "none")


class GLTR(nn.Module):
    """Global-Local Temporal Representation, Eq. 4: ``u = mean_t F''_t`` with
    ``F'' = TSA(DTP(F))``; ``out_dim = N * d`` (``(N+1) * d`` with
    ``concat_input``).

    ``local`` picks the local block: ``"dtp"`` (Eq. 5-6), ``"conv"`` (the
    undilated pyramid of Fig. 6) or ``"none"`` (TSA straight on the frame
    features, ``out_dim = d``).  ``use_tsa=False`` drops TSA (Eq. 7).  The
    named ablations :class:`DTPOnly`, :class:`TSAOnly` and
    :class:`PyramidConv` are these switches with fixed values.

    The other options go to the blocks: ``dilations`` (DTP only),
    ``activation``, ``bias``, ``concat_input`` and ``init_std`` to the local
    block (:class:`~gltr.dtp.ParallelTemporalConv`); ``normalize``,
    ``qk_bn_relu``, ``out_bn`` and ``value_bn_relu`` to
    :class:`~gltr.tsa.TemporalSelfAttention`.  The defaults are the paper's
    text; the authors' released code (``ljn114514/GLTR``) is
    ``GLTR(128, dilations=(1, 2, 3), activation="none", bias=False,
    concat_input=True, init_std=0.001, normalize="softmax_unscaled",
    qk_bn_relu=False, out_bn=True)``, 512-d.

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
        dilations: Sequence[int] | None = None,
        bias: bool = True,
        concat_input: bool = False,
        init_std: float | None = None,
        qk_bn_relu: bool = True,
        out_bn: bool = False,
    ) -> None:
        super().__init__()
        if local not in LOCAL_BLOCKS:
            raise ConfigError(f"local must be one of {LOCAL_BLOCKS}, got {local!r}")
        if local == "none" and not use_tsa:
            raise ConfigError("with neither a local block nor TSA this is mean pooling; use gltr.masked_mean")
        if dilations is not None and local != "dtp":
            raise ConfigError(f"dilations are an option of the DTP local block, not of local={local!r}")
        self.in_dim = in_dim
        conv_options = dict(activation=activation, bias=bias, concat_input=concat_input, init_std=init_std)
        self.local: ParallelTemporalConv | None
        if local == "dtp":
            self.local = DilatedTemporalPyramid(in_dim, num_branches, kernel_size, dilations=dilations, **conv_options)
        elif local == "conv":
            self.local = PyramidTemporalConv(in_dim, num_branches, kernel_size, **conv_options)
        else:
            self.local = None
        width = self.local.out_dim if self.local is not None else in_dim
        self.tsa = (
            TemporalSelfAttention(
                width, alpha, normalize=normalize, value_bn_relu=value_bn_relu, qk_bn_relu=qk_bn_relu, out_bn=out_bn
            )
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
    """Table 2 ablation: DTP then the temporal mean, no TSA; ``out_dim = N * d``
    (``(N+1) * d`` with ``concat_input``).  Options as in :class:`GLTR`."""

    def __init__(
        self,
        in_dim: int = 128,
        num_branches: int = 3,
        kernel_size: int = 3,
        *,
        activation: str = "relu",
        dilations: Sequence[int] | None = None,
        bias: bool = True,
        concat_input: bool = False,
        init_std: float | None = None,
    ) -> None:
        super().__init__(
            in_dim, num_branches, kernel_size, local="dtp", use_tsa=False, activation=activation,
            dilations=dilations, bias=bias, concat_input=concat_input, init_std=init_std,
        )


class TSAOnly(GLTR):
    """Table 2 ablation: TSA on the frame features then the mean; ``out_dim = d``.

    With no local block and no positional signal it is invariant to the
    order of the frames: it models which frames co-occur, not when.  Options
    as in :class:`GLTR`.
    """

    def __init__(
        self,
        in_dim: int = 128,
        alpha: int = 2,
        *,
        normalize: str = "softmax",
        value_bn_relu: bool = False,
        qk_bn_relu: bool = True,
        out_bn: bool = False,
    ) -> None:
        super().__init__(
            in_dim, alpha=alpha, local="none", normalize=normalize, value_bn_relu=value_bn_relu,
            qk_bn_relu=qk_bn_relu, out_bn=out_bn,
        )


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
