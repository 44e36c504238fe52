"""The leaderboard file: one row per (dataset, method, trial) cell, appended atomically.

Rows carry everything needed to reproduce and compare them: the scores
(mAP, rank-1/5/10/20 and the CMC curve), the AP definition the mAP follows,
the method and backbone, the whole config as JSON with its hash, the seed,
the code version, the software environment, the device, the wall time and
the run folder holding its models.  Appends hold a file lock and replace the file by rename, so
concurrent runs and kills never corrupt it.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from lsvid_core.errors import InputError
from lsvid_core.paths import atomic_write

COLUMNS = [
    "dataset", "method", "backbone", "trial", "mAP", "rank1", "rank5", "rank10", "rank20", "cmc",
    "num_valid_queries", "num_queries", "rerank", "metric",
    "ap",  # the AP definition mAP follows (protocols.metrics.AP_VARIANTS); rows from before it: torchreid
    "options", "config", "config_hash", "seed",
    "code_version", "device", "wall_time_s", "dataset_path", "dataset_sha256", "checkpoint_sha256", "created",
    "run_folder",  # the method's folder under the run directory (its models and top-k ranks)
    "environment",  # JSON: python, torch, torchvision, numpy, CUDA, cuDNN versions and the platform
    "eval",  # the evaluation setting (protocols.evaluation.EVAL_SETTINGS); rows from before it: default
    "recipe",  # the named recipe the config started from (benchmark.recipes); rows from before it: paper
    "training",  # two_stage (stages (a) and (b)) or end_to_end; rows from before it: two_stage
]


def topk_name(setting: str | None) -> str:
    """The file in a method's run folder holding its ranks under evaluation ``setting``: one per setting,
    since the default and the official scoring of one model rank differently."""
    return "topk.npz" if not isinstance(setting, str) or setting == "default" else f"topk-{setting}.npz"


def config_hash(config_json: str, method: str, options: dict[str, Any]) -> str:
    return hashlib.sha256(f"{config_json}|{method}|{json.dumps(options, sort_keys=True)}".encode()).hexdigest()[:16]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_leaderboard(path: str | os.PathLike) -> pd.DataFrame:
    """The leaderboard's rows (none if the file does not exist yet); a damaged file is an
    :class:`~lsvid_core.errors.InputError` naming it."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for files that are not Parquet
        raise InputError(f"{path}: not a readable leaderboard ({type(e).__name__}: {str(e).splitlines()[0][:160]})") from None
    lacking = [c for c in ("dataset", "method", "trial", "mAP", "config") if c not in df.columns]
    if lacking:
        raise InputError(f"{path}: not a leaderboard written by `lsvid bench` (no column(s) {lacking})")
    for c in COLUMNS:  # a file written before a column existed
        if c not in df.columns:
            df[c] = None
    return df


def append_row(path: str | os.PathLike, row: dict[str, Any]) -> None:
    """Add one row; the file is rewritten under a lock and renamed into place."""
    path = Path(path)
    missing = set(COLUMNS) - set(row)
    if missing:
        raise ValueError(f"leaderboard row lacks {sorted(missing)}")
    with _locked(path):
        old = read_leaderboard(path)
        new = pd.DataFrame([{k: row[k] for k in COLUMNS}])
        df = new if old.empty else pd.concat([old, new], ignore_index=True)
        atomic_write(path, lambda t: df.to_parquet(t, index=False))


def row_ap(values: pd.Series) -> pd.Series:
    """The AP definition of each row; rows written before the ``ap`` column were scored as torchreid."""
    from protocols.metrics import AP_VARIANTS

    return values.where(values.notna(), AP_VARIANTS[0]).astype(str)


def has_cell(
    path: str | os.PathLike, *, dataset_sha256: str, method: str, trial: int, config_hash: str, rerank: bool, ap: str | None = None
) -> bool:
    """Whether the leaderboard already holds this cell (under the AP definition ``ap``, when given)."""
    df = read_leaderboard(path)
    if df.empty:
        return False
    m = (df.dataset_sha256 == dataset_sha256) & (df.method == method) & (df.trial == trial) & (df.config_hash == config_hash) & (df.rerank == rerank)
    if ap is not None:
        # the dataset's protocol can change its AP definition without changing its tables
        m &= row_ap(df["ap"]) == ap
    return bool(m.any())
