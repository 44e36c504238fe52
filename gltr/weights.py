"""Local weight files: reading them, finding them in the torch hub cache, and
fitting a state dict onto a module with an error that names what does not fit.

Nothing here opens a network connection: the hub cache is only looked at.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from lsvid_core.errors import LsvidError, MissingInputError


class RandomInitWarning(UserWarning):
    """A backbone was built without pretrained weights (random initialisation)."""


class WeightsMismatchError(LsvidError, ValueError):
    """A weights file does not fit the architecture it is loaded into."""


def hub_cache_dir() -> Path:
    """Where torch keeps downloaded checkpoints: ``$TORCH_HOME/hub/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_in_hub_cache(filenames: Iterable[str]) -> Path | None:
    """First of ``filenames`` already present in the hub cache, or None."""
    folder = hub_cache_dir()
    for name in filenames:
        path = folder / name
        if path.is_file():
            return path
    return None


def read_weights_file(path: str | os.PathLike) -> Any:
    """Load a ``.pth`` file on the CPU, refusing pickled code (``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"weights file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for files that are not its own
        raise WeightsMismatchError(f"{path}: not a readable PyTorch weights file ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None


def strip_prefix(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """Drop ``prefix`` (e.g. DDP's ``module.``) where every key carries it."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return dict(state)


def fit_state_dict(
    module: nn.Module,
    state: Mapping[str, Tensor],
    *,
    source: str,
    optional: Iterable[str] = (),
) -> None:
    """Load ``state`` into ``module`` strictly, or raise naming every misfit.

    ``optional`` lists key prefixes of ``module`` that may be absent from the
    file (they keep their current values).  BatchNorm ``num_batches_tracked``
    counters are always optional: older torchvision files lack them.
    """
    own = module.state_dict()
    optional = tuple(optional)
    missing = [
        k for k in own
        if k not in state and not k.startswith(optional) and not k.endswith("num_batches_tracked")
    ]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in state
        if k in own and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = [f"{source} does not fit {type(module).__name__}"]
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
            if keys:
                parts.append(f"{label} ({len(keys)}): {_clip(keys)}")
        raise WeightsMismatchError("; ".join(parts))
    merged = dict(own)
    merged.update(state)
    module.load_state_dict(merged, strict=True)


def _clip(keys: list[str], most: int = 12) -> str:
    shown = ", ".join(keys[:most])
    return shown + (f", ... (+{len(keys) - most} more)" if len(keys) > most else "")
