"""LS-VID (Li et al., "Global-Local Temporal Representations for Video Person Re-Identification", ICCV 2019).

Native layout (docs/datasets.md): ``tracklet_train/``, ``tracklet_val/``,
``tracklet_test/`` with one folder per identity; ``list_sequence/list_seq_<split>.txt``
whose lines are ``<relative path prefix> <person id>``, a sequence being every
frame in the prefix's folder whose name starts with the prefix's last part;
``test/data/info_test.mat`` (MATLAB v7.3, i.e. HDF5) whose variable ``query``
holds the 1-based rows of ``list_seq_test.txt`` that are queries.  Frame names
have four ``_``-separated fields, the third of which is the camera (1-15).

Protocol: queries are the listed test rows, the gallery the other test rows.
"""
from __future__ import annotations

import bisect
import os
import re
from pathlib import Path

import numpy as np

from ..protocol import Protocol
from . import register_dataset
from ._common import NativeDataset, NativeFormatError, as_int_matrix, find_root, load_mat_array, read_lines, require

PROTOCOL = Protocol(name="lsvid", max_rank=20, num_trials=1, notes="query rows from test/data/info_test.mat; gallery = other test rows")

OFFICIAL = {
    "identities": 3772,
    "tracklets": 14943,
    "frames": 2982685,
    "cameras": 15,
    "train": {"tracklets": 2831, "identities": 842},
    "val": {"identities": 200},
    "test_identities": 2730,
    "query": {"tracklets": 3504},
    "gallery": {"tracklets": 7829},
}

FRAME_RE = re.compile(r"(?P<f0>[^_/]+)_(?P<f1>[^_/]+)_(?P<cam>\d{1,2})_(?P<f3>[^_/]+)\.(?:jpg|png)")


class _Listing:
    """Sorted file names per folder, listed once: LS-VID has ~15k sequences in ~3.8k folders."""

    def __init__(self, base: Path):
        self.base = base
        self._cache: dict[str, list[str]] = {}

    def frames(self, prefix: str, where: str) -> list[str]:
        folder, stem = prefix.rsplit("/", 1) if "/" in prefix else ("", prefix)
        if folder not in self._cache:
            d = self.base / folder
            if not d.is_dir():
                raise NativeFormatError(d, f"missing folder; {where} names it")
            self._cache[folder] = sorted(n for n in os.listdir(d) if not n.startswith("."))
        names = self._cache[folder]
        i = bisect.bisect_left(names, stem)
        out = []
        while i < len(names) and names[i].startswith(stem):
            out.append(names[i])
            i += 1
        if not out:
            raise NativeFormatError(self.base / prefix, f"no frames start with this prefix; {where} names it")
        return [f"{folder}/{n}" if folder else n for n in out]


def _read_list(base: Path, split: str, listing: _Listing, required: bool = True, id_offset: int = 0) -> list[dict] | None:
    path = base / "list_sequence" / f"list_seq_{split}.txt"
    if not required and not path.exists():
        return None
    lines = read_lines(path, "lines '<tracklet path prefix> <person id>'")
    seqs = []
    for i, ln in enumerate(lines):
        parts = ln.split()
        if len(parts) != 2 or not re.fullmatch(r"-?\d+", parts[1]):
            raise NativeFormatError(path, f"line {i + 1}: {ln!r} is not '<tracklet path prefix> <person id>'")
        prefix, pid = parts[0].strip("/"), int(parts[1])
        paths = listing.frames(prefix, f"line {i + 1} of {path.name}")
        cams = set()
        for p in paths:
            m = FRAME_RE.fullmatch(p.rsplit("/", 1)[-1])
            if m is None:
                raise NativeFormatError(base / p, "frame name does not parse; expected four '_'-separated fields, the third the camera")
            cams.add(int(m["cam"]))
        if len(cams) != 1:
            raise NativeFormatError(base / prefix, f"frames from several cameras {sorted(cams)} in one sequence (line {i + 1} of {path.name})")
        cam = cams.pop()
        if not 1 <= cam <= 15:
            raise NativeFormatError(base / paths[0], f"camera {cam} outside LS-VID's 1-15")
        seqs.append({"person_id": pid, "camera_id": cam, "split": split, "paths": paths, "source_id": id_offset + i})
    return seqs


@register_dataset("lsvid", protocol=PROTOCOL, official=OFFICIAL)
def read_lsvid(root: str | os.PathLike) -> NativeDataset:
    """Read LS-VID (``root`` holds ``list_sequence/``, the tracklet folders and ``test/``)."""
    base = find_root(root, "list_sequence", ["LS-VID", "LSVID"])
    listing = _Listing(base)
    train = _read_list(base, "train", listing)
    # source_id numbers the sequences of the train, val and test lists one after another
    val = _read_list(base, "val", listing, required=False, id_offset=len(train)) or []
    test = _read_list(base, "test", listing, id_offset=len(train) + len(val))
    q_path = require(base / "test" / "data" / "info_test.mat", "'query': 1-based rows of list_seq_test.txt")
    q = as_int_matrix(load_mat_array(q_path, "query", "'query': 1-based rows of list_seq_test.txt"), q_path, "query").ravel()
    if q.size == 0 or q.min() < 1 or q.max() > len(test):
        raise NativeFormatError(q_path, f"query rows must lie in 1..{len(test)} (the lines of list_seq_test.txt)")
    if len(np.unique(q)) != len(q):
        raise NativeFormatError(q_path, "query rows repeat")
    is_q = np.zeros(len(test), bool)
    is_q[q - 1] = True
    query = [{**test[i - 1], "split": "query"} for i in q.tolist()]
    gallery = [{**s, "split": "gallery"} for s, iq in zip(test, is_q) if not iq]
    return NativeDataset(
        name="lsvid",
        root=base,
        protocol=PROTOCOL,
        sequences=train + val + query + gallery,
        official=OFFICIAL,
        info={"val_list_present": bool(val)},
    )
