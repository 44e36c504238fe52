"""Where and how a run executes: device choice, autocast, seeding, code version."""
from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import random
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsvid_core.devices import resolve_device  # noqa: F401 - re-exported: the harness's device choice
from lsvid_core.errors import LsvidError
from lsvid_core.paths import atomic_write, atomic_write_text

_REPO = Path(__file__).resolve().parents[1]


def device_name(device: torch.device) -> str:
    """The device as the leaderboard records it: the GPU's model, or the CPU's core count."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{os.cpu_count()} cores"


def environment() -> str:
    """The software a result was computed with, as JSON: numerics differ between
    torch, CUDA and cuDNN versions as much as between devices."""
    import platform

    import torchvision

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "platform": platform.platform(terse=True),
    }
    return json.dumps(env, sort_keys=True)


def autocast(device: torch.device, *, cache: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; on CPU full precision (CPU bf16 is slower on most machines).

    ``cache=False`` for code captured in a CUDA graph, where autocast's weight cache must be off."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
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


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` that replaces ``path`` only once the whole file is written: a crash leaves the old file.
    The temporary name is fixed (``.<name>.tmp``): torch records it in the archive, and the same
    state must give the same bytes; the stage folder's lock keeps other writers out."""
    atomic_write(path, lambda t: torch.save(obj, t), unique=False)


RUN_FILE = "run.json"


class NonFiniteError(LsvidError, RuntimeError):
    """Training diverged (a NaN or infinite loss) or a network produced NaN/inf features."""


def check_finite_loss(mean_loss: float, *, stage: str, epoch: int, folder: Path, hint: str) -> None:
    """Stop a diverged run at once: every later epoch, the feature cache and every
    aggregator trained on it would be NaN too.  Called before the epoch's state is
    saved, so the resumable state on disk stays the last finite one."""
    if not np.isfinite(mean_loss):
        raise NonFiniteError(
            f"{stage} diverged: the training loss is {mean_loss} in epoch {epoch} ({folder}). "
            f"Nothing later is saved: the resumable state, if any, is the last checkpoint with a finite loss; {hint}"
        )


class StaleRunError(LsvidError, RuntimeError):
    """A stage's output folder holds a run of other settings; it is never silently reused."""


def _canonical(spec: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(spec, sort_keys=True))


def run_key(spec: dict[str, Any]) -> str:
    """12 hex digits naming a stage's settings (its folder name in a run directory)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def claim_run(folder: str | os.PathLike, spec: dict[str, Any]) -> None:
    """Bind ``folder`` to the settings ``spec`` (everything its results depend on).

    The first call writes ``run.json``; later calls check it, so a finished
    model or a resumable state is only ever reused by a run of the same
    settings.  A folder holding results but no ``run.json`` (written by an
    older version) cannot be checked and is refused too.  Raises
    :class:`StaleRunError` naming the folder and every differing setting.
    """
    folder = Path(folder)
    path = folder / RUN_FILE
    spec = _canonical(spec)
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise StaleRunError(f"{path}: unreadable ({e}); delete the folder to start this stage afresh") from None
        if old != spec:
            a, b = _flat(old), _flat(spec)
            diffs = [f"{k}: {a.get(k, '(unset)')!r} -> {b.get(k, '(unset)')!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            raise StaleRunError(
                f"{folder}: holds a run of other settings ({'; '.join(diffs)}); "
                "its models would not be what was asked for. Use another output folder or delete this one."
            )
        return
    leftovers = sorted(p.name for p in folder.glob("*.pt")) if folder.is_dir() else []
    if leftovers:
        raise StaleRunError(f"{folder}: holds {', '.join(leftovers)} but no {RUN_FILE}, so its settings cannot be checked; delete the folder to start this stage afresh")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(spec, indent=2, sort_keys=True))


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, log: Callable[[str], None] | None = print) -> Iterator[None]:
    """Hold ``folder`` for this process: a second process asking for it (another
    ``lsvid bench`` sharing the run directory, say on another GPU) waits, then
    finds the work finished and reuses it instead of redoing it alongside."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if log is not None:
                log(f"{folder}: another process is working here; waiting for it to finish")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def holds_folder(arg: str) -> Callable:
    """Run the decorated stage under :func:`folder_lock` of its keyword argument ``arg``.

    Only the first process of a ``torchrun`` group locks: its other ranks follow
    it through the collectives, and would deadlock waiting for its lock."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            if int(os.environ.get("RANK", "0")) != 0:
                return fn(*args, **kwargs)
            with folder_lock(kwargs[arg], kwargs.get("log", print)):
                return fn(*args, **kwargs)

        return run

    return decorate
