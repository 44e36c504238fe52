"""Where and how a run executes: device choice, autocast, seeding, code version."""
from __future__ import annotations

import contextlib
import os
import random
import subprocess
from pathlib import Path

import numpy as np
import torch

_REPO = Path(__file__).resolve().parents[1]


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU; otherwise any torch device string."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA device")
    return dev


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{os.cpu_count()} cores"


def autocast(device: torch.device):
    """bf16 autocast on CUDA; on CPU full precision (CPU bf16 is slower on most machines)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def code_version() -> str:
    """Package version plus the git commit (and '+dirty') when run from a checkout."""
    from protocols import __version__

    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=_REPO, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return __version__
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=_REPO, capture_output=True, text=True, timeout=5)
        return f"{__version__}+g{sha.stdout.strip()}" + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return __version__


def atomic_torch_save(obj, path: Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
