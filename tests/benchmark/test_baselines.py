"""Every registered baseline: shapes for T = 1..64 with padding; a padded batch equals each sequence alone."""
import pytest
import torch

from benchmark.aggregators import BASELINES
from benchmark.registry import create_aggregator

D = 16


@pytest.mark.parametrize("name", BASELINES)
def test_shapes_and_padding(name):
    torch.manual_seed(0)
    agg = create_aggregator(name, D).eval()
    lengths = [1, 2, 3, 5, 8, 16, 33, 64]
    T = max(lengths)
    seqs = [torch.randn(L, D) for L in lengths]
    x = torch.zeros(len(lengths), T, D)
    mask = torch.zeros(len(lengths), T, dtype=torch.bool)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
        x[i, len(s):] = 1e3  # garbage in the padding must not leak
        mask[i, : len(s)] = True
    with torch.no_grad():
        batched = agg(x, mask)
        assert batched.shape == (len(lengths), agg.out_dim)
        for i, s in enumerate(seqs):
            alone = agg(s[None], None)
            assert alone.shape == (1, agg.out_dim)
            torch.testing.assert_close(batched[i : i + 1], alone, atol=1e-5, rtol=1e-4)
    # gradients flow for the learned ones
    params = [p for p in agg.parameters() if p.requires_grad]
    if params:
        agg.train()
        agg(x, mask).pow(2).mean().backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
