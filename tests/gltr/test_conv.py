"""gltr.conv: a convolution computed as a matrix product gives nn.Conv1d's numbers and gradients."""
import pytest
import torch
from torch import nn

from gltr.conv import MatmulConv1d, pointwise_as_matmul


@pytest.mark.parametrize(("k", "d", "p", "bias"), [(1, 1, 0, True), (3, 1, 1, True), (3, 2, 2, False), (5, 1, 2, True), (3, 1, 0, True), (3, 3, 3, True)])
def test_matmul_conv_equals_conv1d(k, d, p, bias):
    torch.manual_seed(k + d + p)
    conv = nn.Conv1d(8, 6, k, dilation=d, padding=p, bias=bias)
    x = torch.randn(4, 8, 11, requires_grad=True)
    ref = conv(x)
    (gx_ref, gw_ref) = torch.autograd.grad(ref.square().sum(), (x, conv.weight))
    conv.__class__ = MatmulConv1d
    out = conv(x)
    gx, gw = torch.autograd.grad(out.square().sum(), (x, conv.weight))
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-5, atol=1e-4)


def test_only_width_one_convolutions_are_swapped_and_state_dicts_stay():
    m = nn.Sequential(nn.Conv1d(4, 4, 1), nn.Conv1d(4, 4, 3, padding=1), nn.Conv1d(4, 4, 1, stride=2))
    keys = list(m.state_dict())
    pointwise_as_matmul(m)
    assert [type(c) for c in m] == [MatmulConv1d, nn.Conv1d, nn.Conv1d]  # the strided one is left alone
    assert list(m.state_dict()) == keys
