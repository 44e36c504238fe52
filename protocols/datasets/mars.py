"""MARS (Zheng et al., "MARS: A Video Benchmark for Large-Scale Person Re-identification", ECCV 2016).

Native layout (docs/datasets.md): ``bbox_train/<pid>/<name>.jpg``,
``bbox_test/<pid>/<name>.jpg`` and ``info/`` holding the frame-name lists and
the tracklet tables.  Names look like ``0065C1T0002F016.jpg``: identity (4
digits, ``0000`` for distractors, ``00-1`` for junk), camera, tracklet, frame.

Protocol, as the official MATLAB evaluation applies it: the gallery is the
whole test set (query tracklets included, so queries of one identity from
different cameras can find each other); per query, gallery items of the same
identity and camera and every junk (-1) item are ignored; distractors (0) are
ordinary negatives.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..protocol import Protocol
from . import register_dataset
from ._common import (
    NativeDataset,
    NativeFormatError,
    as_int_matrix,
    find_root,
    load_mat_array,
    read_lines,
    require_dir,
)

PROTOCOL = Protocol(
    name="mars",
    junk_pids=(-1,),
    distractor_pids=(0,),
    max_rank=20,
    num_trials=1,
    notes="gallery = all 12,180 test tracklets (queries included); junk -1 ignored; distractors 0 are negatives",
)

OFFICIAL = {
    "identities": 1261,
    "cameras": 6,
    "train": {"tracklets": 8298, "identities": 625, "frames": 509914},
    "query": {"tracklets": 1980},
    "gallery": {"tracklets": 12180, "frames": 681089},
}

NAME_RE = re.compile(r"(?P<pid>\d{4}|00-1)C(?P<cam>\d)T(?P<trk>\d{4})F(?P<frm>\d{3})\.jpg")


def _pid_of(name_pid: str) -> int:
    return -1 if name_pid == "00-1" else int(name_pid)


def _read_split(root: Path, names_file: str, info_file: str, var: str, home: str):
    names_path = root / "info" / names_file
    names = read_lines(names_path, "one image name per line, e.g. 0001C1T0001F001.jpg")
    info_path = root / "info" / info_file
    info = as_int_matrix(
        load_mat_array(info_path, var, f"'{var}': N x 4 rows of (first, last, person id, camera), 1-based"),
        info_path,
        var,
        ncols=4,
    )
    parsed = []
    for i, n in enumerate(names):
        m = NAME_RE.fullmatch(n)
        if m is None:
            raise NativeFormatError(names_path, f"line {i + 1}: image name {n!r} does not parse (expected e.g. 0001C1T0001F001.jpg)")
        parsed.append(m)
    home_dir = require_dir(root / home, f"one folder per identity of {home} images")
    # One listing per identity folder, not one stat per image: MARS has 1.2M frames.
    present: dict[str, set[str]] = {}
    return names, parsed, info, info_path, names_path, home_dir, present


def _tracklets(names, parsed, info, info_path, names_path, home_dir, present, split, home, id_offset=0):
    seqs = []
    n = len(names)
    for row, (first, last, pid, cam) in enumerate(info.tolist()):
        if not (1 <= first <= last <= n):
            raise NativeFormatError(
                info_path, f"row {row + 1}: frames {first}..{last} fall outside the {n} names of {names_path.name}"
            )
        ms = parsed[first - 1 : last]
        pids = {_pid_of(m["pid"]) for m in ms}
        cams = {int(m["cam"]) for m in ms}
        if pids != {pid} or cams != {cam}:
            raise NativeFormatError(
                info_path,
                f"row {row + 1}: table says person {pid}, camera {cam} but its frames "
                f"{names[first - 1]}..{names[last - 1]} name person(s) {sorted(pids)}, camera(s) {sorted(cams)}",
            )
        folder = ms[0]["pid"]
        if folder not in present:
            d = home_dir / folder
            present[folder] = set(os.listdir(d)) if d.is_dir() else set()
        paths = []
        for m in ms:
            nm = m.string
            if nm not in present[folder]:
                raise NativeFormatError(home_dir / folder / nm, f"missing; listed in {names_path.name} for tracklet row {row + 1}")
            paths.append(f"{home}/{folder}/{nm}")
        seqs.append({"person_id": pid, "camera_id": cam, "split": split, "paths": paths, "source_id": id_offset + row})
    return seqs


@register_dataset("mars", protocol=PROTOCOL, official=OFFICIAL)
def read_mars(root: str | os.PathLike) -> NativeDataset:
    """Read MARS from its official layout (``root`` holds ``info/`` and the bbox folders)."""
    base = find_root(root, "info/tracks_train_info.mat", ["MARS", "mars"])
    tr = _read_split(base, "train_name.txt", "tracks_train_info.mat", "track_train_info", "bbox_train")
    te = _read_split(base, "test_name.txt", "tracks_test_info.mat", "track_test_info", "bbox_test")
    q_path = base / "info" / "query_IDX.mat"
    q = as_int_matrix(load_mat_array(q_path, "query_IDX", "'query_IDX': 1-based rows of tracks_test_info"), q_path, "query_IDX").ravel()
    n_test = len(te[2])
    if q.size == 0 or q.min() < 1 or q.max() > n_test:
        raise NativeFormatError(q_path, f"query indices must lie in 1..{n_test} (the rows of tracks_test_info.mat)")
    if len(np.unique(q)) != len(q):
        raise NativeFormatError(q_path, "query indices repeat")
    train = _tracklets(*tr, split="train", home="bbox_train")
    # source_id: the sequence's row in the train table, or past the train rows its row in the test table
    gallery = _tracklets(*te, split="gallery", home="bbox_test", id_offset=len(train))
    query = [{**gallery[i - 1], "split": "query"} for i in q.tolist()]
    return NativeDataset(
        name="mars",
        root=base,
        protocol=PROTOCOL,
        sequences=train + query + gallery,
        official=OFFICIAL,
        info={
            "junk_tracklets_in_gallery": sum(s["person_id"] == -1 for s in gallery),
            "distractor_tracklets_in_gallery": sum(s["person_id"] == 0 for s in gallery),
        },
    )
