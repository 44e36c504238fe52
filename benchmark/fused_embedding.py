"""Video features of many trained stage (b) runs at once (one ``vmap`` over the runs).

The runs of a fused group that embed the same sequences (the trials of PRID or
iLIDS-VID share one tracklets table; several seeds share one trial) are
evaluated together: their weights are stacked along a run axis, as in
training (:mod:`benchmark.stacked_runs`), and every batch of sequences goes
through all of them in one call.  On a GPU that turns K runs' launches into
one (on a CPU the runs go one by one: see :func:`embed_runs`); the numbers are each run's own (evaluation has no randomness and no
batch statistics).  A method ``vmap`` cannot run is embedded run by run.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .runtime import autocast
from .stacked_runs import vmap_template
from .stage_aggregator import SequenceIndex, embed_sequences, length_batches, padded_rows


@torch.inference_mode()
def embed_runs(
    models: Sequence[nn.Module],
    feats: Sequence[Tensor],
    index: SequenceIndex,
    rows: np.ndarray,
    *,
    device: torch.device,
    max_frames: int = 65536,
    stacked: bool | None = None,
    log: Callable[[str], None] = print,
) -> list[np.ndarray]:
    """:func:`~benchmark.stage_aggregator.embed_sequences` for each ``models[k]`` on ``feats[k]``
    (equal shapes; the same tensor where runs share features), all on the sequences of ``index``
    at ``rows``.  ``max_frames`` bounds the padded frames of one batch over all runs together.

    ``stacked`` (default: on CUDA only) embeds the runs in one vmapped pass.  On a CPU the
    stacked pass is slower than the runs one by one (``benchmarks/leaderboard_time.py --full``
    measured 0.4-0.96x on 2 cores: there is no launch overhead to save, and vmap turns one
    large matrix product into K smaller ones)."""
    if stacked is None:
        stacked = device.type == "cuda"
    if len(models) == 1 or not stacked:
        return [embed_sequences(m, f, index, rows, device=device, max_frames=max_frames) for m, f in zip(models, feats)]
    try:
        return _embed_stacked(models, feats, index, np.asarray(rows), device, max_frames)
    except Exception as e:  # noqa: BLE001 - whatever vmap cannot do, the runs do one by one
        first = (str(e).strip().splitlines() or [""])[0]
        log(f"evaluation: {len(models)} runs cannot be embedded together ({type(e).__name__}: {first[:160]}); one by one")
    return [embed_sequences(m, f, index, rows, device=device, max_frames=max_frames) for m, f in zip(models, feats)]


def _embed_stacked(models: Sequence[nn.Module], feats: Sequence[Tensor], index: SequenceIndex, rows: np.ndarray,
                   device: torch.device, max_frames: int) -> list[np.ndarray]:
    for m in models:
        m.eval()
    forward = _stacked_forward(models)
    shared = all(f is feats[0] for f in feats)
    k = len(models)
    out = torch.empty((k, len(rows), models[0].out_dim), device=device)
    for sel, tmax in length_batches(index.length[rows], max(1, max_frames // k)):
        idx, mask = padded_rows(index, rows[sel], tmax, device)
        x = feats[0][idx] if shared else torch.stack([f[idx] for f in feats])
        with autocast(device):
            v = forward(x, mask, shared)
        out[:, torch.as_tensor(sel, device=device)] = v.float()
    return list(out.cpu().numpy())


def _stacked_forward(models: Sequence[nn.Module]) -> Callable[[Tensor, Tensor, bool], Tensor]:
    """``(x, mask, shared) -> (K, B, out_dim)``: every run on its windows (``x`` ``(K, B, T, d)``,
    or ``(B, T, d)`` for all when ``shared``) and the common ``mask`` ``(B, T)``."""
    template = vmap_template(models[0])
    own = [dict(m.named_parameters()) | dict(m.named_buffers()) for m in models]
    tensors = {n: torch.stack([o[n].detach() for o in own]) for n in own[0]}

    def one(t: dict[str, Tensor], x: Tensor, mask: Tensor) -> Tensor:
        return functional_call(template, t, (x, mask))

    batched = {True: vmap(one, in_dims=(0, None, None), randomness="error"), False: vmap(one, in_dims=(0, 0, None), randomness="error")}
    return lambda x, mask, shared: batched[shared](tensors, x, mask)
