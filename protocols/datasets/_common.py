"""What the five native readers share: errors that name the file, .mat loading, listings."""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lsvid_core.errors import LsvidError

from ..protocol import Protocol


class NativeFormatError(LsvidError, ValueError):
    """A file of a native dataset is missing, damaged or not in the official layout."""

    def __init__(self, path: str | os.PathLike, message: str):
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")

    def __reduce__(self):
        return (type(self), (self.path, self.message))


class MissingFileError(NativeFormatError, FileNotFoundError):
    pass


@dataclass
class NativeDataset:
    """What a reader returns: sequences in a deterministic order, plus how it was read.

    Each sequence is a dict with ``person_id``, ``camera_id``, ``split`` and
    ``paths`` (relative to ``root``), and optionally ``source_id``.
    """

    name: str
    root: Path
    protocol: Protocol
    sequences: list[dict[str, Any]]
    official: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    trials: pd.DataFrame | None = None


def require(path: Path, what: str) -> Path:
    if not path.exists():
        raise MissingFileError(path, f"missing; expected {what}")
    return path


def require_dir(path: Path, what: str) -> Path:
    require(path, what)
    if not path.is_dir():
        raise NativeFormatError(path, f"expected a folder holding {what}")
    return path


def find_root(root: str | os.PathLike, marker: str, subdirs: Sequence[str]) -> Path:
    """The folder that holds ``marker``: ``root`` itself or one of its ``subdirs``.

    Users point at either the dataset folder or the folder they unpacked it in.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise MissingFileError(root, "dataset root does not exist")
    for cand in [root, *(root / s for s in subdirs)]:
        if (cand / marker).exists():
            return cand.resolve()
    tried = ", ".join(str(root / s / marker) for s in ["", *subdirs])
    raise MissingFileError(root / marker, f"missing; this does not look like the dataset's folder (looked for {tried})")


def load_mat_array(path: Path, var: str, what: str) -> np.ndarray:
    """One numeric variable of a MATLAB file, v5 (scipy) or v7.3 (HDF5, via h5py)."""
    require(path, what)
    import scipy.io

    try:
        data = scipy.io.loadmat(str(path))
    except NotImplementedError:
        # MATLAB v7.3 files are HDF5 containers; scipy does not read them.
        return _load_mat73(path, var, what)
    except Exception as e:  # truncated or garbage files raise ValueError, TypeError, OSError...
        import h5py

        if h5py.is_hdf5(str(path)):  # v7.3 written without MATLAB's header
            return _load_mat73(path, var, what)
        raise NativeFormatError(path, f"not a readable MATLAB .mat file ({type(e).__name__}: {e}); expected {what}") from e
    if var not in data:
        have = ", ".join(k for k in data if not k.startswith("__")) or "none"
        raise NativeFormatError(path, f"has no variable '{var}' (variables: {have}); expected {what}")
    arr = np.asarray(data[var])
    if not np.issubdtype(arr.dtype, np.number):
        raise NativeFormatError(path, f"variable '{var}' is not numeric ({arr.dtype}); expected {what}")
    return arr


def _load_mat73(path: Path, var: str, what: str) -> np.ndarray:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if var not in f:
                have = ", ".join(k for k in f if not k.startswith("#")) or "none"
                raise NativeFormatError(path, f"has no variable '{var}' (variables: {have}); expected {what}")
            arr = np.asarray(f[var])
    except NativeFormatError:
        raise
    except Exception as e:
        raise NativeFormatError(path, f"not a readable MATLAB v7.3 (HDF5) file ({type(e).__name__}: {e}); expected {what}") from e
    if not np.issubdtype(arr.dtype, np.number):
        raise NativeFormatError(path, f"variable '{var}' is not numeric ({arr.dtype}); expected {what}")
    # HDF5 stores MATLAB's column-major arrays with their dimensions reversed.
    return arr.T


def as_int_matrix(arr: np.ndarray, path: Path, var: str, ncols: int | None = None) -> np.ndarray:
    """Integer view of a MATLAB double array, refusing non-integral values."""
    a = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
        raise NativeFormatError(path, f"variable '{var}' holds non-integer values where indices are expected")
    a = a.astype(np.int64)
    if ncols is not None and (a.ndim != 2 or a.shape[1] != ncols):
        raise NativeFormatError(path, f"variable '{var}' has shape {a.shape}; expected (N, {ncols})")
    return a


def read_lines(path: Path, what: str) -> list[str]:
    require(path, what)
    try:
        text = path.read_text()
    except UnicodeDecodeError as e:
        raise NativeFormatError(path, f"not a text file ({e}); expected {what}") from e
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def list_files(folder: Path, pattern: re.Pattern[str], what: str) -> list[tuple[str, re.Match[str]]]:
    """Files of ``folder`` matching ``pattern``; any other file is an error naming it.

    Hidden files (``.DS_Store`` and friends) are ignored.
    """
    out = []
    for name in sorted(os.listdir(folder)):
        if name.startswith("."):
            continue
        m = pattern.fullmatch(name)
        if m is None:
            raise NativeFormatError(folder / name, f"file name does not parse; expected {what}")
        out.append((name, m))
    return out


def subdirs(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
