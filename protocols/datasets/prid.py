"""PRID-2011 (Hirzer et al., "Person Re-Identification by Descriptive and Discriminative Classification", SCIA 2011).

Native layout (docs/datasets.md): ``multi_shot/cam_a/person_NNNN/NNNN.png`` and
``multi_shot/cam_b/...``.  Camera A holds persons 1-385 and camera B persons
1-749; only persons 1-200 are the same people in both views, the higher
numbers are different people per camera and take no part in the video
protocol.

Protocol (Wang et al., ECCV 2014, followed since): the persons whose
sequences have at least ``min_frames`` (21) frames in both cameras — 178 in the
literature — are split into halves 10 times; in each trial the test half's
camera-A sequences are queries and camera-B sequences the gallery.  The 10
splits are Wang et al.'s own when their file is at hand: ``train-test people
splits/train_test_splits_prid.mat`` (shipped with iLIDS-VID's release), whose
``ls_set`` is 10 x 178, each row a permutation of 1-based indices into the
sorted list of the persons kept, the first half of a row that trial's test
persons.  Without the file, 10 splits are drawn from a recorded seed.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np

from lsvid_core.errors import ConfigError

from ..protocol import Protocol
from ..splits import random_trials, two_camera_trials
from . import register_dataset
from ._common import NativeDataset, NativeFormatError, find_root, list_files, require_dir, subdirs
from .ilids import load_ls_set

PROTOCOL = Protocol(
    name="prid",
    max_rank=20,
    num_trials=10,
    notes="persons 1-200 with >= 21 frames in both cameras; 10 random 50/50 identity splits; cam_a -> query, cam_b -> gallery",
)
FILE_NOTES = "persons 1-200 with >= 21 frames in both cameras; official 10 splits (ls_set): first 89 test; cam_a -> query, cam_b -> gallery"

OFFICIAL = {
    "identities_in_both_cameras": 200,
    "identities_used": 178,
    "cameras": 2,
    "trials": 10,
    "per_trial": {"train_identities": 89, "test_identities": 89},
}

SHARED_PERSONS = 200
SPLIT_DIR = "train-test people splits"
SPLIT_FILE = "train_test_splits_prid.mat"
PERSON_RE = re.compile(r"person_(\d{4})")
FRAME_RE = re.compile(r"(?P<frm>\d{4})\.png")


def _person_frames(cam_dir, person: str) -> list[str]:
    files = list_files(cam_dir / person, FRAME_RE, "frames named like 0001.png")
    if not files:
        raise NativeFormatError(cam_dir / person, "empty sequence folder (no .png frames)")
    files.sort(key=lambda f: int(f[1]["frm"]))
    return [n for n, _ in files]


def find_split_file(base: Path) -> Path | None:
    """The official split file in the PRID root or in its parent, in its release folder or loose."""
    for folder in (base, base.parent):
        for cand in (folder / SPLIT_DIR / SPLIT_FILE, folder / SPLIT_FILE):
            if cand.is_file():
                return cand
    return None


def _width_mismatch(shape: tuple[int, ...], kept: int, min_frames: int) -> str:
    """Why a split file does not fit the persons kept, and what to do about it."""
    width = shape[1] if len(shape) == 2 else shape
    if min_frames != 21:
        fix = "convert with --min-frames 21, the rule the file was made for"
    else:
        fix = "this copy of PRID-2011 differs from the release (frames missing or added?)"
    return (
        f"'ls_set' indexes {width} persons (shape {shape}), but {kept} of persons 1-{SHARED_PERSONS} have >= {min_frames} "
        f"frames in both cameras (the official file is made for the {OFFICIAL['identities_used']} kept with >= 21): "
        f"{fix}, or set the split file aside to draw seeded trials"
    )


def _trial_order(
    base: Path, pids: np.ndarray, *, split_file: str | os.PathLike | None, seed: int | None, num_trials: int, min_frames: int
) -> tuple[np.ndarray, dict]:
    """(trials x persons identity order, first half test; how it was obtained, for the reader info)."""
    path = Path(split_file).expanduser() if split_file is not None else find_split_file(base)
    if path is None:
        seed = 0 if seed is None else seed
        return random_trials(pids, num_trials, seed=seed), {"split_source": "seed", "seed": seed}
    if seed is not None:
        raise ConfigError(
            f"--seed {seed}: the trials come from the official split file {path}; a seed only draws trials "
            "where no split file is found (drop --seed, or set the file aside for seeded trials)"
        )
    ls_set = load_ls_set(path, len(pids), lambda shape: _width_mismatch(shape, len(pids), min_frames))
    if num_trials > len(ls_set):
        raise NativeFormatError(path, f"'ls_set' holds {len(ls_set)} trials; {num_trials} were asked for")
    return pids[ls_set[:num_trials] - 1], {"split_source": "file", "split_file": str(path)}


def _camera_folders(base: Path) -> dict[str, tuple[Path, set[str]]]:
    """Per camera letter: its folder and the person folders in it (each name checked)."""
    cams = {}
    for letter in "ab":
        d = require_dir(base / "multi_shot" / f"cam_{letter}", "one folder per person, person_0001 ...")
        names = subdirs(d)
        for n in names:
            if PERSON_RE.fullmatch(n) is None:
                raise NativeFormatError(d / n, "folder name does not parse; expected person_NNNN")
        cams[letter] = (d, set(names))
    return cams


@register_dataset("prid", protocol=PROTOCOL, official=OFFICIAL)
def read_prid(
    root: str | os.PathLike,
    *,
    min_frames: int = 21,
    num_trials: int = 10,
    seed: int | None = None,
    split_file: str | os.PathLike | None = None,
) -> NativeDataset:
    """Read PRID-2011 (``root`` holds ``multi_shot/``) with ``num_trials`` trials.

    The trials are the official split file's (``split_file``, else
    :func:`find_split_file` in the root and its parent) or, without one,
    drawn from ``seed`` (default 0); a seed with a split file is an error.
    """
    base = find_root(root, "multi_shot", ["prid_2011", "prid2011/prid_2011", "PRID2011"])
    cams = _camera_folders(base)
    seqs, dropped = [], []
    for p in range(1, SHARED_PERSONS + 1):
        name = f"person_{p:04d}"
        for letter in "ab":
            if name not in cams[letter][1]:
                raise NativeFormatError(cams[letter][0] / name, f"missing; persons 1-{SHARED_PERSONS} appear in both cameras")
        fa = _person_frames(cams["a"][0], name)
        fb = _person_frames(cams["b"][0], name)
        if len(fa) < min_frames or len(fb) < min_frames:
            dropped.append(p)
            continue
        for letter, cam_id, files in (("a", 1, fa), ("b", 2, fb)):
            seqs.append(
                {"person_id": p, "camera_id": cam_id, "split": "train", "paths": [f"multi_shot/cam_{letter}/{name}/{f}" for f in files]}
            )
    if len(seqs) < 4:
        raise NativeFormatError(base / "multi_shot", f"only {len(seqs) // 2} persons have >= {min_frames} frames in both cameras")
    from ..dataset import tables_from_sequences

    tracklets, _ = tables_from_sequences(seqs)
    pids = np.unique(tracklets["person_id"].to_numpy())  # sorted: what the file's indices point into
    order, source = _trial_order(base, pids, split_file=split_file, seed=seed, num_trials=num_trials, min_frames=min_frames)
    trials = two_camera_trials(tracklets, order, query_camera=1, gallery_camera=2)
    # the tracklet table's own split is trial 0's
    first = trials[trials["trial"] == 0]["split"].tolist()
    for s, sp in zip(seqs, first):
        s["split"] = sp
    return NativeDataset(
        name="prid",
        root=base,
        protocol=PROTOCOL if source["split_source"] == "seed" else dataclasses.replace(PROTOCOL, notes=FILE_NOTES),
        sequences=seqs,
        official=OFFICIAL,
        info={
            "min_frames": min_frames,
            **source,
            "identities_used": len(seqs) // 2,
            "identities_dropped_by_length": dropped,
        },
        trials=trials,
    )
