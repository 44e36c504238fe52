"""A learning test where identity lives only in temporal order.

Every identity shows the same four frame prototypes equally often; identity
i cycles through them in its own order (the 3! = 6 cyclic orders of four
items), from a random phase, with per-frame noise, over lengths that are
whole cycles.  The multiset of frames, hence the mean frame, carries no
identity, so average pooling (and any order-blind aggregator) must stay at
chance, 1/6; aggregators that see local order can separate all six.
Training uses padded batches of mixed lengths, as the harness will.
"""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gltr import GLTR, DTPOnly, TSAOnly, masked_mean

D = 16
NUM_IDS = 6
PROTOTYPES = 4
CHANCE = 1 / NUM_IDS


def make_sequences(per_id: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(PROTOTYPES, D, generator=torch.Generator().manual_seed(1234))
    orders = [(0, *p) for p in itertools.permutations(range(1, PROTOTYPES))]
    lengths = torch.tensor([8, 12, 16, 20])
    n = per_id * NUM_IDS
    labels = torch.arange(NUM_IDS).repeat_interleave(per_id)
    seq_len = lengths[torch.randint(len(lengths), (n,), generator=g)]
    phase = torch.randint(PROTOTYPES, (n,), generator=g)
    steps = torch.arange(int(lengths.max()))
    order = torch.tensor(orders)[labels]  # (n, 4)
    which = order.gather(1, (steps[None, :] + phase[:, None]) % PROTOTYPES)  # (n, T)
    x = protos[which] + 0.3 * torch.randn(n, len(steps), D, generator=g)
    mask = steps[None, :] < seq_len[:, None]
    return x.masked_fill(~mask[..., None], 0), mask, labels


class MeanPool(nn.Module):
    out_dim = D

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked_mean(x, mask, dim=1)


def held_out_accuracy(aggregator: nn.Module, steps: int = 150) -> float:
    x, mask, y = make_sequences(40, seed=1)
    x_test, mask_test, y_test = make_sequences(30, seed=2)
    head = nn.Sequential(nn.BatchNorm1d(aggregator.out_dim), nn.Linear(aggregator.out_dim, NUM_IDS))
    params = list(aggregator.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randperm(len(y), generator=g)[:64]
        loss = F.cross_entropy(head(aggregator(x[idx], mask[idx])), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    aggregator.eval(), head.eval()
    with torch.no_grad():
        return (head(aggregator(x_test, mask_test)).argmax(1) == y_test).float().mean().item()


def test_data_carries_no_identity_in_the_mean_frame() -> None:
    x, mask, y = make_sequences(30, seed=3)
    means = masked_mean(x, mask, dim=1)
    per_id = torch.stack([means[y == i].mean(0) for i in range(NUM_IDS)])
    spread = (per_id - per_id.mean(0)).norm(dim=1).max()
    assert spread < 0.1  # noise level of a 30-sample average, far below prototype distances (~5)


@pytest.mark.parametrize(
    "name,make",
    [
        ("gltr", lambda: GLTR(D)),
        ("dtp", lambda: DTPOnly(D)),
    ],
)
def test_order_aware_aggregators_separate_identities(name: str, make) -> None:
    assert held_out_accuracy(make()) > 0.9, name


@pytest.mark.parametrize(
    "name,make",
    [
        ("mean", MeanPool),
        ("tsa_only", lambda: TSAOnly(D)),  # attention without position is order-blind
        ("linear_dtp", lambda: DTPOnly(D, activation="none")),  # why DTP has a ReLU by default
    ],
)
def test_order_blind_aggregators_stay_at_chance(name: str, make) -> None:
    assert held_out_accuracy(make()) < CHANCE + 0.15, name
