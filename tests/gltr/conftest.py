"""Shared helpers for the gltr tests: seeded randomness and padded batches."""
from __future__ import annotations

from collections.abc import Callable

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _empty_hub_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point TORCH_HOME at an empty folder, so no test depends on (or finds)
    ImageNet files that happen to sit in this machine's real hub cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))


PaddedBatch = tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]


@pytest.fixture
def padded_batch() -> Callable[..., PaddedBatch]:
    """``make(lengths, dim, fill=nan)`` -> (x (B, T, dim), mask (B, T), singles).

    Real frames first; padded steps hold ``fill`` (NaN by default, so any
    leak of padding into a real output shows up as NaN, not as a small error).
    """

    def make(lengths: list[int], dim: int, fill: float = float("nan"), pad_to: int | None = None) -> PaddedBatch:
        t_max = pad_to or max(lengths)
        singles = [torch.randn(1, n, dim) for n in lengths]
        x = torch.full((len(lengths), t_max, dim), fill)
        mask = torch.zeros(len(lengths), t_max, dtype=torch.bool)
        for i, s in enumerate(singles):  # building test data, not model code
            x[i, : s.shape[1]] = s[0]
            mask[i, : s.shape[1]] = True
        return x, mask, singles

    return make
