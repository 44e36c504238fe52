"""Masks, masked means and the masked BatchNorm, against plain torch on the
real frames gathered by hand."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gltr import MaskedBatchNorm1d, lengths_to_mask, masked_mean


def test_lengths_to_mask() -> None:
    mask = lengths_to_mask(torch.tensor([3, 1, 0]), max_len=4)
    assert mask.tolist() == [[True, True, True, False], [True, False, False, False], [False] * 4]
    assert lengths_to_mask(torch.tensor([2, 5])).shape == (2, 5)


def test_masked_mean_counts_real_frames_only(padded_batch) -> None:
    x, mask, singles = padded_batch([4, 1, 9], 3)
    got = masked_mean(x, mask, dim=1)
    for i, s in enumerate(singles):
        torch.testing.assert_close(got[i], s[0].mean(dim=0))
    # Conv layout, and a sequence with no real frame gives zeros, not NaN.
    mask[1] = False
    got = masked_mean(x.transpose(1, 2), mask, dim=-1)
    assert torch.equal(got[1], torch.zeros(3))
    torch.testing.assert_close(got[2], singles[2][0].mean(dim=0))


def gathered(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Real frames of a (B, C, T) batch side by side: (1, C, n_real)."""
    return x.transpose(1, 2)[mask].T[None]


def test_masked_bn_training_equals_plain_bn_on_real_frames_only() -> None:
    c = 5
    x = torch.randn(3, c, 7) * 3 + 1
    mask = lengths_to_mask(torch.tensor([7, 2, 4]))
    x = x.masked_fill(~mask[:, None, :], 1e4)  # padding that would wreck the statistics
    ours, ref = MaskedBatchNorm1d(c), torch.nn.BatchNorm1d(c)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 2)
        ours.bias.normal_()
    ref.load_state_dict(ours.state_dict())
    for _ in range(3):  # running statistics follow the same updates
        y = ours(x, mask)
        y_ref = ref(gathered(x, mask))
        torch.testing.assert_close(gathered(y, mask), y_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    assert int(ours.num_batches_tracked) == 3


def test_masked_bn_cumulative_average_when_momentum_is_none() -> None:
    ours, ref = MaskedBatchNorm1d(2, momentum=None), torch.nn.BatchNorm1d(2, momentum=None)
    mask = lengths_to_mask(torch.tensor([3, 5]))
    for _ in range(4):
        x = torch.randn(2, 2, 5)
        ours(x, mask)
        ref(gathered(x, mask))
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)


def test_masked_bn_is_plain_bn_in_eval_and_without_mask() -> None:
    ours, ref = MaskedBatchNorm1d(4), torch.nn.BatchNorm1d(4)
    x = torch.randn(2, 4, 6)
    torch.testing.assert_close(ours(x), ref(x))  # training, no mask
    ours.eval(), ref.eval()
    mask = lengths_to_mask(torch.tensor([6, 3]))
    torch.testing.assert_close(ours(x, mask), ref(x))
    expected = F.batch_norm(x, ref.running_mean, ref.running_var, ref.weight, ref.bias)
    torch.testing.assert_close(ours(x, mask), expected)


@pytest.mark.parametrize("dtype", [torch.bfloat16])
def test_masked_bn_keeps_input_dtype(dtype: torch.dtype) -> None:
    bn = MaskedBatchNorm1d(3)
    y = bn(torch.randn(2, 3, 4, dtype=dtype), lengths_to_mask(torch.tensor([4, 2])))
    assert y.dtype == dtype and torch.isfinite(y).all()
