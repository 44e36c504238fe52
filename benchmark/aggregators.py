"""The registered aggregators: the paper's baseline, the comparisons of its Fig. 6 and
Table 4, its ablations (Table 2), and GLTR itself.

Every factory takes the frame-feature width ``in_dim`` and keyword options and
returns a module ``(B, T, d)`` (+ ``(B, T)`` bool mask, True = real frame) ->
``(B, out_dim)``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

import gltr
from gltr.masking import masked_mean

from .registry import register_aggregator


class AvgPool(nn.Module):
    """Temporal average pooling of frame features over real frames."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.out_dim = in_dim

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return masked_mean(x, mask, dim=1)


class MaxPool(nn.Module):
    """Temporal max pooling over real frames."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.out_dim = in_dim

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is None:
            return x.amax(dim=1)
        out = x.masked_fill(~mask[:, :, None], torch.finfo(x.dtype).min).amax(dim=1)
        return out.masked_fill(~mask.any(1)[:, None], 0)


class LSTMPool(nn.Module):
    """A recurrent layer over the frames, then the mean of its outputs over real frames.

    Packed sequences keep padding out of the recurrence, so a padded batch
    gives each sequence what it gets alone.
    """

    def __init__(self, in_dim: int, hidden: int | None = None, num_layers: int = 1, bidirectional: bool = False) -> None:
        super().__init__()
        self.hidden = hidden or in_dim
        self.rnn = nn.LSTM(in_dim, self.hidden, num_layers=num_layers, batch_first=True, bidirectional=bidirectional)
        self.out_dim = self.hidden * (2 if bidirectional else 1)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is None:
            out, _ = self.rnn(x)
            return out.mean(dim=1)
        lengths = mask.sum(1).clamp_min(1)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return masked_mean(out, mask, dim=1)

    def vmap_forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """:meth:`forward` with the recurrence written out step by step, which ``torch.func.vmap``
        can run (fused stage (b) training; ``nn.LSTM`` has no batching rule).  The same numbers
        up to rounding: padding (right of the real frames) never reaches a real step's output,
        and the reverse direction runs over each sequence's real frames reversed."""
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        t = torch.arange(x.shape[1], device=x.device)
        length = mask.sum(1, keepdim=True)
        reverse = torch.where(t < length, length - 1 - t, t)[:, :, None]  # (B, T, 1); its own inverse
        out = x
        for layer in range(self.rnn.num_layers):
            runs = [self._direction(out, layer, "")]
            if self.rnn.bidirectional:
                back = out.gather(1, reverse.expand_as(out))
                runs.append(self._direction(back, layer, "_reverse").gather(1, reverse.expand(-1, -1, self.hidden)))
            out = torch.cat(runs, dim=-1)
        return masked_mean(out, mask, dim=1)

    def _direction(self, x: Tensor, layer: int, suffix: str) -> Tensor:
        """One direction of one layer over ``(B, T, in)``: ``(B, T, hidden)`` (gates i, f, g, o as nn.LSTM)."""
        w_ih, w_hh = (getattr(self.rnn, f"weight_{k}_l{layer}{suffix}") for k in ("ih", "hh"))
        gates_x = x @ w_ih.T
        if self.rnn.bias:
            gates_x = gates_x + (getattr(self.rnn, f"bias_ih_l{layer}{suffix}") + getattr(self.rnn, f"bias_hh_l{layer}{suffix}"))
        w_hh_t = w_hh.T.contiguous()  # once, not once per step
        hid = self.hidden
        h = x.new_zeros(x.shape[0], hid)
        c = h
        outs = []
        for step in range(x.shape[1]):
            gates = torch.addmm(gates_x[:, step], h, w_hh_t)
            s = torch.sigmoid(gates)  # i, f, o from one call (the g quarter is unused)
            c = s[:, hid : 2 * hid] * c + s[:, :hid] * torch.tanh(gates[:, 2 * hid : 3 * hid])
            h = s[:, 3 * hid :] * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, dim=1)


class TemporalAttentionPool(nn.Module):
    """Quality-aware pooling: a learned score per frame, softmax over real frames, weighted mean."""

    def __init__(self, in_dim: int, hidden: int = 32) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))
        self.out_dim = in_dim

    def forward(self, x: Tensor, mask: Tensor | None = None, return_weights: bool = False):
        s = self.score(x).squeeze(-1).float()  # (B, T); float32 softmax under autocast
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        w = torch.softmax(s, dim=1)
        if mask is not None:
            w = torch.nan_to_num(w, nan=0.0)  # a sequence without real frames
        out = torch.einsum("bt,btd->bd", w.to(x.dtype), x)
        return (out, w) if return_weights else out


@register_aggregator("avgpool")
def avgpool(in_dim: int) -> nn.Module:
    """Average pooling of frame features: the paper's baseline (Li et al., ICCV 2019, Tables 2 and 4)."""
    return AvgPool(in_dim)


@register_aggregator("maxpool")
def maxpool(in_dim: int) -> nn.Module:
    """Max pooling of frame features over time (a standard pooling baseline; cf. McLaughlin et al., CVPR 2016, who compare max and mean temporal pooling)."""
    return MaxPool(in_dim)


@register_aggregator("tpp")
def tpp(in_dim: int, num_levels: int = 3, mode: str = "avg") -> nn.Module:
    """Temporal pyramid pooling, the parameter-free comparison of GLTR's Fig. 6 (spatial pyramid pooling, He et al., ECCV 2014, along time)."""
    return gltr.TemporalPyramidPooling(in_dim, num_levels, mode=mode)


@register_aggregator("pyramid_conv")
def pyramid_conv(in_dim: int, num_branches: int = 3, kernel_size: int = 3) -> nn.Module:
    """Pyramid of plain temporal convolutions with DTP's receptive fields but no dilation (GLTR Fig. 6)."""
    return gltr.PyramidConv(in_dim, num_branches, kernel_size)


@register_aggregator("lstm")
def lstm(in_dim: int, hidden: int | None = None, num_layers: int = 1, bidirectional: bool = False) -> nn.Module:
    """Recurrent aggregation (GLTR Table 4's LSTM row; McLaughlin et al., "Recurrent Convolutional Network
    for Video-based Person Re-identification", CVPR 2016; Yan et al., "Person Re-identification via
    Recurrent Feature Aggregation", ECCV 2016)."""
    return LSTMPool(in_dim, hidden, num_layers, bidirectional)


@register_aggregator("temporal_attention")
def temporal_attention(in_dim: int, hidden: int = 32) -> nn.Module:
    """Learned per-frame weights (Liu et al., "Quality Aware Network for Set to Set Recognition", CVPR 2017; Gao & Nevatia, "Revisiting Temporal Modeling for Video-based Person ReID", 2018)."""
    return TemporalAttentionPool(in_dim, hidden)


@register_aggregator("dtp")
def dtp(
    in_dim: int,
    num_branches: int = 3,
    kernel_size: int = 3,
    dilations: Sequence[int] | None = None,
    bias: bool = True,
    concat_input: bool = False,
    init_std: float | None = None,
    activation: str = "relu",
) -> nn.Module:
    """Dilated Temporal Pyramid convolution then mean pooling (GLTR Eq. 5-6; Table 2's DTP row).

    Defaults: the paper's text (dilations ``2^(n-1)``, biased branches, ReLU).
    The authors' released code (ljn114514/GLTR) is ``dilations=[1, 2, 3],
    bias=False, concat_input=True, init_std=0.001, activation="none"``
    (``(N+1) * in_dim`` wide: the raw features beside the branches)."""
    return gltr.DTPOnly(
        in_dim, num_branches, kernel_size, activation=activation, dilations=_ints(dilations),
        bias=bias, concat_input=concat_input, init_std=init_std,
    )


@register_aggregator("tsa")
def tsa(
    in_dim: int,
    alpha: int = 2,
    normalize: str = "softmax",
    qk_bn_relu: bool = True,
    out_bn: bool = False,
    value_bn_relu: bool = False,
) -> nn.Module:
    """Temporal Self-Attention on frame features then mean pooling (GLTR Eq. 7; Table 2's TSA row).

    Defaults: the paper's text (scaled softmax, BatchNorm and ReLU on query
    and key, zero-initialised output convolution).  The authors' released
    code (ljn114514/GLTR, a non-local block) is ``normalize="softmax_unscaled",
    qk_bn_relu=False, out_bn=True`` (``value_bn_relu=False``)."""
    return gltr.TSAOnly(in_dim, alpha, normalize=normalize, value_bn_relu=value_bn_relu, qk_bn_relu=qk_bn_relu, out_bn=out_bn)


@register_aggregator("gltr")
def gltr_(
    in_dim: int,
    num_branches: int = 3,
    kernel_size: int = 3,
    alpha: int = 2,
    dilations: Sequence[int] | None = None,
    bias: bool = True,
    concat_input: bool = False,
    init_std: float | None = None,
    activation: str = "relu",
    normalize: str = "softmax",
    qk_bn_relu: bool = True,
    out_bn: bool = False,
    value_bn_relu: bool = False,
) -> nn.Module:
    """GLTR: DTP, then TSA, then mean pooling (Li et al., ICCV 2019, Eq. 4-7).

    Defaults: the paper's text.  The authors' released code (ljn114514/GLTR)
    is the DTP options of ``dtp`` (``dilations=[1, 2, 3], bias=False,
    concat_input=True, init_std=0.001, activation="none"``) with the TSA
    options of ``tsa`` (``normalize="softmax_unscaled", qk_bn_relu=False,
    out_bn=True``): 512-d for 128-d frame features."""
    return gltr.GLTR(
        in_dim, num_branches, kernel_size, alpha,
        dilations=_ints(dilations), bias=bias, concat_input=concat_input, init_std=init_std, activation=activation,
        normalize=normalize, qk_bn_relu=qk_bn_relu, out_bn=out_bn, value_bn_relu=value_bn_relu,
    )


def _ints(values: Sequence[int] | None) -> tuple[int, ...] | None:
    """Options come from JSON: ``dilations`` arrives as a list (kept hashable and immutable here)."""
    return None if values is None else tuple(values)


BASELINES = ("avgpool", "maxpool", "tpp", "pyramid_conv", "lstm", "temporal_attention", "dtp", "tsa", "gltr")
