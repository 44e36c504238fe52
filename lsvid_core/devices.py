"""The one way to turn ``--device`` into a device: refuse what this machine does not have."""
from __future__ import annotations

from typing import Any

from .errors import DeviceError


def resolve_device(spec: str = "auto") -> Any:
    """``auto``: CUDA when present, else CPU; otherwise ``cpu``, ``cuda`` or ``cuda:N``
    that exists on this machine (else :class:`~lsvid_core.errors.DeviceError`); a ``torch.device``."""
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except (RuntimeError, ValueError, TypeError):
        raise DeviceError(f"--device {spec!r}: not a device; expected auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {spec}: torch sees no CUDA device on this machine; use --device cpu (or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s), cuda:0..cuda:{torch.cuda.device_count() - 1}")
    elif dev.type != "cpu":
        raise DeviceError(f"--device {spec}: device type {dev.type!r} is not supported; expected auto, cpu, cuda or cuda:N")
    return dev
