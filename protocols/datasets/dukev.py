"""DukeMTMC-VideoReID (Wu et al., "Exploit the Unknown Gradually", CVPR 2018; Ristani et al., ECCVW 2016).

Native layout (docs/datasets.md): ``train/``, ``query/``, ``gallery/``, each
``<pid>/<tracklet>/<frame>.jpg`` with 4-digit identity and tracklet folders.
Frame names are ``0001_C6_F0099_X30823.jpg`` (identity, camera, frame number
within the tracklet, a global frame counter); early copies of the dataset
name them without underscores (``0001C6F0099X30823.jpg``).  Both are read.

Protocol: query and gallery folders as given; the 408 identities that appear
only in the gallery (seen by one camera) are ordinary negatives.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..protocol import Protocol
from . import register_dataset
from ._common import NativeDataset, NativeFormatError, find_root, list_files, require_dir, subdirs

PROTOCOL = Protocol(
    name="dukev",
    max_rank=20,
    num_trials=1,
    notes="query/gallery folders as released; gallery-only identities (distractors) are negatives",
)

OFFICIAL = {
    "identities": 1812,
    "cameras": 8,
    "train": {"tracklets": 2196, "identities": 702},
    "query": {"tracklets": 702, "identities": 702},
    "gallery": {"tracklets": 2636, "identities": 1110},
    "distractor_identities": 408,
}

NAME_RE = re.compile(r"(?P<pid>\d{4})_?C(?P<cam>\d)_?F(?P<frm>\d{4})_?X(?P<x>\d+)\.jpg")
ID_DIR_RE = re.compile(r"\d{4}")


def _read_split(base: Path, split: str) -> list[dict]:
    folder = require_dir(base / split, "one folder per identity (4 digits), each holding tracklet folders")
    seqs = []
    for pid_name in subdirs(folder):
        if ID_DIR_RE.fullmatch(pid_name) is None:
            raise NativeFormatError(folder / pid_name, "identity folder name is not 4 digits")
        pid = int(pid_name)
        for trk in subdirs(folder / pid_name):
            tdir = folder / pid_name / trk
            files = list_files(tdir, NAME_RE, "frames named like 0001_C6_F0099_X30823.jpg")
            if not files:
                raise NativeFormatError(tdir, "empty tracklet folder (no .jpg frames)")
            cams = {int(m["cam"]) for _, m in files}
            pids = {int(m["pid"]) for _, m in files}
            if pids != {pid}:
                raise NativeFormatError(tdir, f"frames name person(s) {sorted(pids)} inside the folder of person {pid}")
            if len(cams) != 1:
                raise NativeFormatError(tdir, f"frames from several cameras {sorted(cams)} in one tracklet")
            # order by the frame number, not the name: some tracklets start at F0002
            files.sort(key=lambda nm: (int(nm[1]["frm"]), nm[0]))
            seqs.append(
                {
                    "person_id": pid,
                    "camera_id": cams.pop(),
                    "split": split,
                    "paths": [f"{split}/{pid_name}/{trk}/{n}" for n, _ in files],
                }
            )
    if not seqs:
        raise NativeFormatError(folder, "holds no tracklets")
    return seqs


@register_dataset("dukev", protocol=PROTOCOL, official=OFFICIAL)
def read_dukev(root: str | os.PathLike) -> NativeDataset:
    """Read DukeMTMC-VideoReID (``root`` holds ``train/``, ``query/``, ``gallery/``)."""
    base = find_root(root, "gallery", ["DukeMTMC-VideoReID", "dukemtmc-vidreid/DukeMTMC-VideoReID"])
    train, query, gallery = (_read_split(base, s) for s in ("train", "query", "gallery"))
    q_ids = {s["person_id"] for s in query}
    return NativeDataset(
        name="dukev",
        root=base,
        protocol=PROTOCOL,
        sequences=train + query + gallery,
        official=OFFICIAL,
        info={"distractor_identities": len({s["person_id"] for s in gallery} - q_ids)},
    )
