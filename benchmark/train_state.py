"""The resumable state of a training loop: one file, written atomically, read back into the live objects.

Both training stages checkpoint through :class:`TrainState`.  The file is a
flat dict: each module's ``state_dict`` under the name it was given, then
``optimizer``, ``scheduler``, ``torch_rng``, ``cuda_rng`` (None off CUDA),
``generator`` (only when one is given) and the stage's own extras (epoch,
batch, loss sums) as top-level keys beside them.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .runtime import atomic_torch_save

_OWN_KEYS = ("optimizer", "scheduler", "torch_rng", "cuda_rng", "generator")


class TrainState:
    """Everything a training loop needs to continue exactly where it stopped.

    ``modules`` (name -> module), ``optimizer`` and ``scheduler`` (where
    given: stage (b) keeps its own optimiser state as an extra) are saved by
    their ``state_dict`` and loaded back into these same objects.  The torch
    CPU RNG, the CUDA RNG of ``device`` (on CUDA) and ``generator`` (where
    given) are saved and restored too, so the draws after a resume are the
    ones an uninterrupted run would have made.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        device: torch.device,
        modules: Mapping[str, torch.nn.Module],
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        clash = set(modules) & set(_OWN_KEYS)
        if clash:
            raise ValueError(f"module names {sorted(clash)} are keys TrainState keeps for itself")
        self.path = Path(path)
        self.device = device
        self.modules = dict(modules)
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.generator = generator
        self._keys = frozenset(self.modules) | frozenset(_OWN_KEYS)

    def save(self, **extras: Any) -> None:
        """Write the current state and ``extras`` over the file; a failed write leaves the previous file whole."""
        clash = self._keys & set(extras)
        if clash:
            raise ValueError(f"extras {sorted(clash)} would overwrite the training state's own keys")
        state: dict[str, Any] = {name: m.state_dict() for name, m in self.modules.items()}
        state.update(extras)
        if self.optimizer is not None:
            state["optimizer"] = self.optimizer.state_dict()
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        state["torch_rng"] = torch.get_rng_state()
        state["cuda_rng"] = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        if self.generator is not None:
            state["generator"] = self.generator.get_state()
        atomic_torch_save(state, self.path)

    def load(self) -> dict[str, Any] | None:
        """Restore the saved state into the objects and return its extras; None when there is no file."""
        if not self.path.exists():
            return None
        st = torch.load(self.path, map_location=self.device, weights_only=False)
        for name, module in self.modules.items():
            module.load_state_dict(st[name])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(st["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(st["scheduler"])
        # map_location moved the RNG states onto the device too, but every generator takes its state as a CPU tensor;
        # .get: a stage (b) state from before this class carries no global RNG states (its loop never draws from them)
        if st.get("torch_rng") is not None:
            torch.set_rng_state(st["torch_rng"].cpu())
        if st.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(st["cuda_rng"].cpu(), self.device)
        if self.generator is not None:
            self.generator.set_state(st["generator"].cpu())
        return {k: v for k, v in st.items() if k not in self._keys}

    def discard(self) -> None:
        """Delete the file: the final model is written, there is nothing left to resume."""
        self.path.unlink(missing_ok=True)
