"""iLIDS-VID (Wang et al., "Person Re-Identification by Video Ranking", ECCV 2014).

Native layout (docs/datasets.md): ``i-LIDS-VID/sequences/cam1/personNNN/cam1_personNNN_FFFFF.png``
(and ``cam2``), 300 persons seen by both cameras, plus the official split file
``train-test people splits/train_test_splits_ilidsvid.mat`` whose variable
``ls_set`` is 10 x 300: each row a permutation of 1-based indices into the
sorted person folders, the first 150 the test identities of that trial.

Protocol: 10 trials from that file; in each, test persons' cam1 sequences are
queries and cam2 sequences the gallery.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..protocol import Protocol
from ..splits import two_camera_trials
from . import register_dataset
from ._common import NativeDataset, NativeFormatError, as_int_matrix, find_root, list_files, load_mat_array, require_dir, subdirs

PROTOCOL = Protocol(
    name="ilids",
    max_rank=20,
    num_trials=10,
    notes="official 10 splits (ls_set): first 150 test; cam1 -> query, cam2 -> gallery",
)

OFFICIAL = {
    "identities": 300,
    "tracklets": 600,
    "cameras": 2,
    "frames": 42495,
    "trials": 10,
    "per_trial": {"train_identities": 150, "test_identities": 150},
}

PERSON_RE = re.compile(r"person(\d{3})")
SPLIT_FILE = "train-test people splits/train_test_splits_ilidsvid.mat"


def load_ls_set(path: Path, persons: int, mismatch: Callable[[tuple[int, ...]], str] | None = None) -> np.ndarray:
    """``ls_set`` of an official split file of Wang et al. (iLIDS-VID's or PRID-2011's), 1-based.

    Trials x ``persons``, each row a permutation of 1..persons.  A file of
    another shape is refused; ``mismatch(shape)``, if given, words the message.
    """
    what = "'ls_set': trials x persons, 1-based indices into the sorted persons"
    ls_set = as_int_matrix(load_mat_array(path, "ls_set", what), path, "ls_set")
    if ls_set.ndim != 2 or ls_set.shape[1] != persons:
        shape = tuple(ls_set.shape)
        raise NativeFormatError(path, mismatch(shape) if mismatch else f"'ls_set' has shape {shape}; expected (trials, {persons}) for {persons} persons")
    for t, row in enumerate(ls_set):
        if sorted(row.tolist()) != list(range(1, persons + 1)):
            raise NativeFormatError(path, f"row {t + 1} of 'ls_set' is not a permutation of 1..{persons}")
    return ls_set


@register_dataset("ilids", protocol=PROTOCOL, official=OFFICIAL)
def read_ilids(root: str | os.PathLike) -> NativeDataset:
    """Read iLIDS-VID (``root`` holds ``i-LIDS-VID/`` and ``train-test people splits/``)."""
    base = find_root(root, "i-LIDS-VID/sequences", ["iLIDS-VID", "ilids-vid"])
    persons = {}
    for c in (1, 2):
        d = require_dir(base / "i-LIDS-VID" / "sequences" / f"cam{c}", "one folder per person, person001 ...")
        names = subdirs(d)
        for n in names:
            if PERSON_RE.fullmatch(n) is None:
                raise NativeFormatError(d / n, "folder name does not parse; expected personNNN")
        persons[c] = names
    if persons[1] != persons[2]:
        only = sorted(set(persons[1]) ^ set(persons[2]))
        raise NativeFormatError(base / "i-LIDS-VID" / "sequences", f"cam1 and cam2 must hold the same persons; differing: {only[:5]}")
    names = persons[1]
    split_path = base / SPLIT_FILE
    ls_set = load_ls_set(split_path, len(names))

    seqs = []
    for n in names:
        pid = int(PERSON_RE.fullmatch(n).group(1))
        for c in (1, 2):
            frame_re = re.compile(rf"cam{c}_{n}_(?P<frm>\d{{5}})\.png")
            folder = base / "i-LIDS-VID" / "sequences" / f"cam{c}" / n
            files = list_files(folder, frame_re, f"frames named like cam{c}_{n}_00001.png")
            if not files:
                raise NativeFormatError(folder, "empty sequence folder (no .png frames)")
            files.sort(key=lambda f: int(f[1]["frm"]))
            seqs.append(
                {
                    "person_id": pid,
                    "camera_id": c,
                    "split": "train",
                    "paths": [f"i-LIDS-VID/sequences/cam{c}/{n}/{f}" for f, _ in files],
                }
            )
    from ..dataset import tables_from_sequences

    tracklets, _ = tables_from_sequences(seqs)
    pids = np.array([int(PERSON_RE.fullmatch(n).group(1)) for n in names])
    order = pids[ls_set - 1]
    trials = two_camera_trials(tracklets, order, query_camera=1, gallery_camera=2)
    first = trials[trials["trial"] == 0]["split"].tolist()
    for s, sp in zip(seqs, first):
        s["split"] = sp
    return NativeDataset(
        name="ilids",
        root=base,
        protocol=PROTOCOL,
        sequences=seqs,
        official=OFFICIAL,
        info={"split_file": SPLIT_FILE, "trials": int(ls_set.shape[0])},
        trials=trials,
    )
