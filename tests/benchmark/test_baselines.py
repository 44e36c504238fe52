"""Every registered baseline: shapes for T = 1..64 with padding; a padded batch equals each sequence alone."""
import numpy as np
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


@pytest.mark.parametrize("min_fill", [0.0, 0.8])
@pytest.mark.parametrize("name", BASELINES)
def test_packed_evaluation_gives_each_sequence_its_own_feature(name, min_fill):
    """embed_sequences packs sequences of different lengths into padded batches; every
    sequence must get exactly what the aggregator gives it alone, unpadded."""
    import pandas as pd

    from benchmark.stage_aggregator import SequenceIndex, embed_sequences
    from protocols import Dataset

    torch.manual_seed(0)
    lengths = np.array([1, 2, 3, 16, 17, 40, 41, 60, 5, 5, 33, 9])
    tr = pd.DataFrame({"tracklet_id": np.arange(len(lengths)), "person_id": 0, "camera_id": 1, "split": "gallery", "num_frames": lengths})
    fr = pd.DataFrame({"tracklet_id": np.repeat(tr.tracklet_id, lengths), "frame_index": np.concatenate([np.arange(n) for n in lengths])})
    index = SequenceIndex.of(Dataset(root=None, tracklets=tr, frames=fr, meta={}))
    feats = torch.randn(int(lengths.sum()), 16)
    agg = create_aggregator(name, 16)
    with torch.no_grad():
        for p in agg.parameters():  # away from initialisations that hide mistakes (TSA starts as the identity)
            p.add_(0.1 * torch.randn_like(p))
    agg.eval()
    rows = np.array([3, 4, 0, 7, 11, 5, 6, 1, 8, 9])  # 16 and 17, 40 and 41, 5 and 5 share batches even at min_fill 0.8
    got = embed_sequences(agg, feats, index, rows, device=torch.device("cpu"), max_frames=100, min_fill=min_fill)
    with torch.no_grad():
        alone = np.stack([agg(feats[index.start[r] : index.start[r] + index.length[r]][None])[0].numpy() for r in rows])
    np.testing.assert_allclose(got, alone, rtol=1e-4, atol=1e-5)
