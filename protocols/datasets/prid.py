"""PRID-2011 (Hirzer et al., "Person Re-Identification by Descriptive and Discriminative Classification", SCIA 2011).

Native layout (docs/datasets.md): ``multi_shot/cam_a/person_NNNN/NNNN.png`` and
``multi_shot/cam_b/...``.  Camera A holds persons 1-385 and camera B persons
1-749; only persons 1-200 are the same people in both views, the higher
numbers are different people per camera and take no part in the video
protocol.

Protocol (Wang et al., ECCV 2014, followed since): the persons whose
sequences have at least ``min_frames`` (21) frames in both cameras — 178 in the
literature — are split at random into halves 10 times; in each trial the test
half's camera-A sequences are queries and camera-B sequences the gallery.
"""
from __future__ import annotations

import os
import re


from ..protocol import Protocol
from . import register_dataset
from ._common import NativeDataset, NativeFormatError, find_root, list_files, require_dir, subdirs
from ..splits import random_trials, two_camera_trials

PROTOCOL = Protocol(
    name="prid",
    max_rank=20,
    num_trials=10,
    notes="persons 1-200 with >= 21 frames in both cameras; 10 random 50/50 identity splits; cam_a -> query, cam_b -> gallery",
)

OFFICIAL = {
    "identities_in_both_cameras": 200,
    "identities_used": 178,
    "cameras": 2,
    "trials": 10,
    "per_trial": {"train_identities": 89, "test_identities": 89},
}

SHARED_PERSONS = 200
PERSON_RE = re.compile(r"person_(\d{4})")
FRAME_RE = re.compile(r"(?P<frm>\d{4})\.png")


def _person_frames(cam_dir, person: str) -> list[str]:
    files = list_files(cam_dir / person, FRAME_RE, "frames named like 0001.png")
    if not files:
        raise NativeFormatError(cam_dir / person, "empty sequence folder (no .png frames)")
    files.sort(key=lambda f: int(f[1]["frm"]))
    return [n for n, _ in files]


@register_dataset("prid", protocol=PROTOCOL, official=OFFICIAL)
def read_prid(root: str | os.PathLike, *, min_frames: int = 21, num_trials: int = 10, seed: int = 0) -> NativeDataset:
    """Read PRID-2011 (``root`` holds ``multi_shot/``) with ``num_trials`` seeded trials."""
    base = find_root(root, "multi_shot", ["prid_2011", "prid2011/prid_2011", "PRID2011"])
    cams = {}
    for letter in "ab":
        d = require_dir(base / "multi_shot" / f"cam_{letter}", "one folder per person, person_0001 ...")
        names = subdirs(d)
        for n in names:
            if PERSON_RE.fullmatch(n) is None:
                raise NativeFormatError(d / n, "folder name does not parse; expected person_NNNN")
        cams[letter] = (d, set(names))
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
    order = random_trials(tracklets["person_id"].to_numpy(), num_trials, seed=seed)
    trials = two_camera_trials(tracklets, order, query_camera=1, gallery_camera=2)
    # the tracklet table's own split is trial 0's
    first = trials[trials["trial"] == 0]["split"].tolist()
    for s, sp in zip(seqs, first):
        s["split"] = sp
    return NativeDataset(
        name="prid",
        root=base,
        protocol=PROTOCOL,
        sequences=seqs,
        official=OFFICIAL,
        info={
            "min_frames": min_frames,
            "seed": seed,
            "identities_used": len(seqs) // 2,
            "identities_dropped_by_length": dropped,
        },
        trials=trials,
    )
