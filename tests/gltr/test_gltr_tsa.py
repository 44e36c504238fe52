"""TSA (Eq. 7): identity at init, parameter count, gradients, the mask M."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gltr import TemporalSelfAttention


def make_w_nonzero(tsa: TemporalSelfAttention) -> None:
    torch.nn.init.normal_(tsa.out.weight, std=0.1)
    torch.nn.init.normal_(tsa.out.bias, std=0.1)


@pytest.mark.parametrize("normalize", ["softmax", "mean", "none"])
@pytest.mark.parametrize("value_bn_relu", [False, True])
@pytest.mark.parametrize("train", [False, True])
def test_zero_initialised_w_returns_input_exactly(normalize: str, value_bn_relu: bool, train: bool) -> None:
    tsa = TemporalSelfAttention(12, alpha=2, normalize=normalize, value_bn_relu=value_bn_relu).train(train)
    for t in (1, 2, 7, 40):
        x = torch.randn(3, 12, t)
        assert torch.equal(tsa(x), x)
        y, m = tsa(x, return_attention=True)
        assert torch.equal(y, x) and m.shape == (3, t, t)


@pytest.mark.parametrize("c,alpha", [(384, 2), (48, 4), (6, 3)])
def test_parameter_count(c: int, alpha: int) -> None:
    r = c // alpha
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # B and C: bias-free (c -> r) convs + BN (2r) each; F_bar': (c -> r) conv + bias r;
    # W: (r -> c) conv + bias c.
    assert count(TemporalSelfAttention(c, alpha)) == 2 * (c * r + 2 * r) + (c * r + r) + (r * c + c)
    # F_bar' with BN and ReLU: bias-free conv plus BN's 2r.
    assert count(TemporalSelfAttention(c, alpha, value_bn_relu=True)) == 3 * (c * r + 2 * r) + (r * c + c)


def test_alpha_must_divide_channels() -> None:
    with pytest.raises(ValueError, match="divisible"):
        TemporalSelfAttention(10, alpha=3)


def test_gradients_reach_every_parameter_once_w_is_nonzero() -> None:
    tsa = TemporalSelfAttention(16, value_bn_relu=True)
    x = torch.randn(4, 16, 9)
    # While W is zero, only W itself learns (the block is the identity).
    tsa(x).pow(2).sum().backward()
    for name, p in tsa.named_parameters():
        assert (p.grad.abs().sum() > 0) == name.startswith("out."), name
    tsa.zero_grad()
    make_w_nonzero(tsa)
    tsa(x).pow(2).sum().backward()
    for name, p in tsa.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_softmax_mask_matches_eq7_by_hand() -> None:
    tsa = TemporalSelfAttention(8, alpha=2).eval()
    make_w_nonzero(tsa)
    x = torch.randn(2, 8, 6)
    with torch.no_grad():
        y, m = tsa(x, return_attention=True)
        b = F.relu(tsa.query.bn(tsa.query.conv(x)))
        c = F.relu(tsa.key.bn(tsa.key.conv(x)))
        # M[s, t] = softmax over s of (c_s . b_t) / sqrt(C/alpha)
        expected = torch.softmax(torch.einsum("bks,bkt->bst", c, b) / math.sqrt(4), dim=1)
        torch.testing.assert_close(m, expected)
        torch.testing.assert_close(m.sum(dim=1), torch.ones(2, 6))
        f_bar = tsa.value(x)
        torch.testing.assert_close(y, x + tsa.out(torch.einsum("bks,bst->bkt", f_bar, expected)))
        # The fused (SDPA) path used when M is not requested gives the same output.
        torch.testing.assert_close(tsa(x), y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("normalize", ["mean", "none"])
def test_unnormalised_masks(normalize: str) -> None:
    tsa = TemporalSelfAttention(8, alpha=2, normalize=normalize).eval()
    x = torch.randn(2, 8, 5)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    with torch.no_grad():
        _, m = tsa(x, mask, return_attention=True)
        raw = torch.einsum("bks,bkt->bst", tsa.key(x), tsa.query(x))
    raw[1, 3:] = 0  # padded keys give nothing
    if normalize == "mean":
        raw = raw / torch.tensor([5.0, 3.0])[:, None, None]
    torch.testing.assert_close(m[0], raw[0])
    torch.testing.assert_close(m[1, :, :3], raw[1, :, :3])


def test_padded_keys_get_zero_weight(padded_batch) -> None:
    x, mask, _ = padded_batch([3, 8, 1], 6, fill=0.0)
    tsa = TemporalSelfAttention(6, alpha=2).eval()
    with torch.no_grad():
        _, m = tsa(x.transpose(1, 2), mask, return_attention=True)
    key_padded = ~mask[:, :, None].expand_as(m)
    assert torch.equal(m[key_padded], torch.zeros(int(key_padded.sum())))
    # Every real output step t takes a convex combination of real frames.
    torch.testing.assert_close(m.sum(dim=1)[mask], torch.ones(int(mask.sum())))
