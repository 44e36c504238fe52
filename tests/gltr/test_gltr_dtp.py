"""DTP (Eq. 5-6) and the undilated pyramid of Fig. 6: shapes, receptive
fields by perturbation, parameter counts."""
from __future__ import annotations

import pytest
import torch

from gltr import DilatedTemporalPyramid, PyramidTemporalConv


def changed_outputs(block: torch.nn.Module, x: torch.Tensor, s: int, channels: slice) -> set[int]:
    """Output steps (in ``channels``) that move when input step ``s`` is perturbed."""
    with torch.no_grad():
        base = block(x)[0, channels]
        x2 = x.clone()
        x2[0, :, s] += 10.0
        moved = (block(x2)[0, channels] - base).abs().amax(dim=0) > 1e-5
    return set(torch.nonzero(moved).flatten().tolist())


def test_dtp_default_dilations_and_receptive_fields() -> None:
    dtp = DilatedTemporalPyramid(8)
    assert dtp.dilations == (1, 2, 4)
    assert dtp.kernel_sizes == (3, 3, 3)
    assert dtp.receptive_fields == (3, 5, 9)
    assert DilatedTemporalPyramid(8, num_branches=5, kernel_size=5).dilations == (1, 2, 4, 8, 16)


@pytest.mark.parametrize("block_cls", [DilatedTemporalPyramid, PyramidTemporalConv])
def test_shapes_keep_length_for_every_t(block_cls: type) -> None:
    d, n = 4, 3
    block = block_cls(d, n)
    for t in range(1, 201):
        y = block(torch.randn(2, d, t))
        assert y.shape == (2, n * d, t), t
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_dtp_branch_sees_exactly_its_dilated_taps(kernel_size: int) -> None:
    """Linear branches: output t of the branch with dilation r moves iff the
    perturbed step s is one of t + j r, |j| <= (w-1)/2 (all taps are non-zero)."""
    d, t_len = 4, 23
    dtp = DilatedTemporalPyramid(d, num_branches=3, kernel_size=kernel_size, activation="none")
    x = torch.randn(1, d, t_len)
    half = (kernel_size - 1) // 2
    for n, r in enumerate(dtp.dilations):
        for s in (0, 5, 11, t_len - 1):
            expected = {s - j * r for j in range(-half, half + 1) if 0 <= s - j * r < t_len}
            assert changed_outputs(dtp, x, s, slice(n * d, (n + 1) * d)) == expected, (r, s)


def test_dtp_with_relu_never_reaches_beyond_its_taps() -> None:
    d, t_len = 6, 30
    dtp = DilatedTemporalPyramid(d)
    x = torch.randn(1, d, t_len)
    for n, r in enumerate(dtp.dilations):
        for s in (0, 9, 17, t_len - 1):
            assert changed_outputs(dtp, x, s, slice(n * d, (n + 1) * d)) <= {s - r, s, s + r}


def test_pyramid_conv_sees_dense_windows_of_widths_3_5_9() -> None:
    d, t_len = 4, 25
    conv = PyramidTemporalConv(d, num_branches=3, kernel_size=3, activation="none")
    assert conv.kernel_sizes == (3, 5, 9) and conv.dilations == (1, 1, 1)
    x = torch.randn(1, d, t_len)
    for n, half in enumerate((1, 2, 4)):
        for s in (0, 12, t_len - 1):
            expected = {t for t in range(t_len) if abs(t - s) <= half}
            assert changed_outputs(conv, x, s, slice(n * d, (n + 1) * d)) == expected


@pytest.mark.parametrize("d,n,w", [(128, 3, 3), (16, 4, 5), (8, 1, 3)])
def test_parameter_counts(d: int, n: int, w: int) -> None:
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # DTP: N branches of a (d x d x w) kernel plus a bias of d.
    assert count(DilatedTemporalPyramid(d, n, w)) == n * (w * d * d + d)
    # With BatchNorm: no bias, but a BN scale and shift of d each.
    assert count(DilatedTemporalPyramid(d, n, w, activation="bn_relu")) == n * (w * d * d + 2 * d)
    # Undilated pyramid: branch i (0-based) has width (w-1) 2^i + 1.
    assert count(PyramidTemporalConv(d, n, w)) == sum(((w - 1) * 2**i + 1) * d * d + d for i in range(n))


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="odd"):
        DilatedTemporalPyramid(8, kernel_size=4)
    with pytest.raises(ValueError, match="dilations"):
        DilatedTemporalPyramid(8, num_branches=3, dilations=[1, 2])
    with pytest.raises(ValueError, match="activation"):
        DilatedTemporalPyramid(8, activation="gelu")


def test_masked_steps_are_zero_and_padding_does_not_leak(padded_batch) -> None:
    x, mask, singles = padded_batch([2, 7, 12], 5)
    for activation in ("relu", "bn_relu", "none"):
        dtp = DilatedTemporalPyramid(5, activation=activation).eval()
        with torch.no_grad():
            y = dtp(x.transpose(1, 2), mask)
            assert torch.equal(y.transpose(1, 2)[~mask], torch.zeros(int((~mask).sum()), 15))
            for i, s in enumerate(singles):
                alone = dtp(s.transpose(1, 2))
                torch.testing.assert_close(y[i : i + 1, :, : s.shape[1]], alone, rtol=1e-5, atol=1e-6)
