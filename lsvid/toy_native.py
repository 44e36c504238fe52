"""Small trees in each public dataset's exact native layout, with rendered person crops.

No public dataset may be downloaded here, so the readers are exercised (in
tests and in ``lsvid demo``) on trees that mimic the official layouts file for
file: the same folder names, list files, ``.mat`` variables (MATLAB v5 via
scipy, v7.3 via HDF5 for LS-VID) and image-name patterns that
``docs/datasets.md`` records — only smaller.  Each writer returns the counts it
wrote, computed from its own bookkeeping, so a test can compare them with what
a reader parses.

Crops are tiny person-like pictures (coloured head, torso and legs on a
camera-tinted background) so that a colour descriptor can tell identities
apart and the demo's scores mean something.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import scipy.io

from lsvid_core.errors import FileSystemError

CROP_HW = (32, 16)


@dataclass(frozen=True)
class _Look:
    top: np.ndarray
    bottom: np.ndarray
    skin: np.ndarray


def _look(rng: np.random.Generator) -> _Look:
    return _Look(
        top=rng.integers(30, 226, 3).astype(np.float32),
        bottom=rng.integers(20, 200, 3).astype(np.float32),
        skin=np.array([120, 150, 200], np.float32) * rng.uniform(0.7, 1.1),
    )


def _crop(rng: np.random.Generator, look: _Look, cam: int, hw: tuple[int, int] = CROP_HW) -> np.ndarray:
    """One BGR frame of a person: camera tint and per-frame jitter make it realistic enough."""
    h, w = hw
    tint = 0.75 + 0.1 * ((cam * 7919) % 5)  # each camera's lighting
    img = np.empty((h, w, 3), np.float32)
    img[:] = np.array([90, 100, 95], np.float32) * (0.8 + 0.05 * (cam % 4))
    dy = int(rng.integers(-1, 2))
    hh, t0, t1 = h // 6, h // 6 + 1, h // 2 + 1
    x0, x1 = w // 4, w - w // 4
    img[max(0, 1 + dy) : hh + 1 + dy, w // 3 : w - w // 3] = look.skin
    img[t0 + dy : t1 + dy, x0:x1] = look.top
    img[t1 + dy : h - 1, x0 + 1 : x1 - 1] = look.bottom
    img *= tint
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _save(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise FileSystemError(f"{path}: could not write")


def write_mat73(path: Path, **arrays: np.ndarray) -> None:
    """A MATLAB v7.3 file: HDF5 with MATLAB's 128-byte header in the user block.

    MATLAB stores arrays column-major, so HDF5 sees each array transposed.
    """
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512) as f:
        for k, v in arrays.items():
            ds = f.create_dataset(k, data=np.asarray(v, dtype=np.float64).T)
            ds.attrs["MATLAB_class"] = np.bytes_("double")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2019 HDF5 schema 1.00 ."
    header = header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM"
    with open(path, "r+b") as fh:
        fh.write(header.ljust(512, b"\x00"))


# ---------------------------------------------------------------------------------------------
# MARS: bbox_train/<pid>/<pid>C<c>T<tttt>F<fff>.jpg, info/*.txt and *.mat


def write_mars(root: str | os.PathLike, *, seed: int = 0, train_ids: int = 6, test_ids: int = 8, hw=CROP_HW) -> dict[str, Any]:
    """A MARS tree; test set has distractor (0000) and junk (00-1) tracklets too."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    pids = rng.choice(np.arange(1, 1500), train_ids + test_ids, replace=False)
    train_p, test_p = sorted(pids[:train_ids].tolist()), sorted(pids[train_ids:].tolist())
    expected: dict[str, Any] = {}

    def tracklets_for(plist, extra):
        out = []  # (pid_label str, pid int, cam, n_frames)
        for p in plist:
            cams = sorted(rng.choice(np.arange(1, 7), int(rng.integers(2, 4)), replace=False).tolist())
            for c in cams:
                for _ in range(int(rng.integers(1, 3))):
                    out.append((f"{p:04d}", p, c, int(rng.integers(3, 8))))
        out += extra
        return out

    extra_test = [("0000", 0, int(rng.integers(1, 7)), int(rng.integers(2, 5))) for _ in range(3)]
    extra_test += [("00-1", -1, int(rng.integers(1, 7)), int(rng.integers(2, 5))) for _ in range(2)]
    looks = {p: _look(rng) for p in [*train_p, *test_p, 0, -1]}
    for split, plist, extra, home in (("train", train_p, [], "bbox_train"), ("test", test_p, extra_test, "bbox_test")):
        rows, names, tcount = [], [], {}
        for label, p, c, n in tracklets_for(plist, extra):
            tcount[(label, c)] = tcount.get((label, c), 0) + 1
            first = len(names) + 1
            for f in range(n):
                name = f"{label}C{c}T{tcount[(label, c)]:04d}F{f + 1:03d}.jpg"
                names.append(name)
                _save(root / home / label / name, _crop(rng, looks[p], c, hw))
            rows.append([first, len(names), p, c])
        (root / "info").mkdir(parents=True, exist_ok=True)
        (root / "info" / f"{split}_name.txt").write_text("\n".join(names) + "\n")
        var = f"track_{split}_info"
        scipy.io.savemat(root / "info" / f"tracks_{split}_info.mat", {var: np.array(rows, dtype=np.float64)})
        expected[split] = rows
    # queries: one tracklet per (identity, camera) of real test identities seen by 2+ cameras
    test_rows = expected["test"]
    by_id: dict[int, dict[int, list[int]]] = {}
    for i, (_, _, p, c) in enumerate(test_rows):
        if p > 0:
            by_id.setdefault(p, {}).setdefault(c, []).append(i + 1)
    q = [int(rng.choice(v)) for p, cams in sorted(by_id.items()) if len(cams) >= 2 for _, v in sorted(cams.items())]
    scipy.io.savemat(root / "info" / "query_IDX.mat", {"query_IDX": np.array(q, dtype=np.float64)[None, :]})
    return {
        "train_tracklets": len(expected["train"]),
        "train_identities": len(train_p),
        "test_tracklets": len(test_rows),
        "query_tracklets": len(q),
        "junk_tracklets": sum(r[2] == -1 for r in test_rows),
        "distractor_tracklets": sum(r[2] == 0 for r in test_rows),
        "train_frames": sum(r[1] - r[0] + 1 for r in expected["train"]),
        "test_frames": sum(r[1] - r[0] + 1 for r in test_rows),
        "query_rows": q,
    }


# ---------------------------------------------------------------------------------------------
# DukeMTMC-VideoReID: {train,query,gallery}/<pid>/<tracklet>/<pid>_C<c>_F<ffff>_X<xxxxx>.jpg


def write_dukev(root: str | os.PathLike, *, seed: int = 0, train_ids: int = 5, test_ids: int = 5, distractors: int = 2, old_names: bool = False, hw=CROP_HW) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    root = Path(root)
    pids = rng.choice(np.arange(1, 9999), train_ids + test_ids + distractors, replace=False)
    train_p = sorted(pids[:train_ids].tolist())
    test_p = sorted(pids[train_ids : train_ids + test_ids].tolist())
    dis_p = sorted(pids[train_ids + test_ids :].tolist())
    looks = {int(p): _look(rng) for p in pids}
    counts = {"train": 0, "query": 0, "gallery": 0}
    x = [30000]

    def tracklet(split: str, p: int, t: int, c: int, n: int, start: int = 1):
        for f in range(n):
            x[0] += 1
            fr = start + f
            name = f"{p:04d}C{c}F{fr:04d}X{x[0]}.jpg" if old_names else f"{p:04d}_C{c}_F{fr:04d}_X{x[0]}.jpg"
            _save(root / split / f"{p:04d}" / f"{t:04d}" / name, _crop(rng, looks[p], c, hw))
        counts[split] += 1

    for p in train_p:
        for t in range(int(rng.integers(2, 4))):
            tracklet("train", p, t + 1, int(rng.integers(1, 9)), int(rng.integers(3, 7)))
    for p in test_p:
        cams = rng.choice(np.arange(1, 9), 3, replace=False).tolist()
        tracklet("query", p, 1, cams[0], int(rng.integers(3, 7)))
        for t, c in enumerate(cams[1:]):
            # some tracklets start at frame 2, as in the release
            tracklet("gallery", p, t + 1, c, int(rng.integers(3, 7)), start=1 + (t % 2))
    for p in dis_p:
        tracklet("gallery", p, 1, int(rng.integers(1, 9)), int(rng.integers(3, 7)))
    return {
        "train_tracklets": counts["train"],
        "query_tracklets": counts["query"],
        "gallery_tracklets": counts["gallery"],
        "train_identities": len(train_p),
        "query_identities": len(test_p),
        "gallery_identities": len(test_p) + len(dis_p),
        "distractor_identities": len(dis_p),
    }


# ---------------------------------------------------------------------------------------------
# PRID-2011: multi_shot/cam_a/person_NNNN/NNNN.png, cam_b likewise


def write_prid(root: str | os.PathLike, *, seed: int = 0, short: int = 6, extra_a: int = 5, extra_b: int = 9, hw=(16, 8)) -> dict[str, Any]:
    """All 200 shared persons (``short`` of them with too few frames in one camera), plus
    camera-specific people numbered above 200 that the protocol must ignore."""
    rng = np.random.default_rng(seed)
    root = Path(root) / "prid_2011"
    short_ids = set(rng.choice(np.arange(1, 201), short, replace=False).tolist())
    looks = {p: _look(rng) for p in range(1, 201 + max(extra_a, extra_b))}
    lengths = {}
    for p in range(1, 201):
        for cam, letter in ((1, "a"), (2, "b")):
            n = int(rng.integers(21, 26))
            if p in short_ids and cam == (1 if p % 2 else 2):
                n = int(rng.integers(5, 21))
            lengths[(p, cam)] = n
            for f in range(n):
                _save(root / "multi_shot" / f"cam_{letter}" / f"person_{p:04d}" / f"{f + 1:04d}.png", _crop(rng, looks[p], cam, hw))
    for letter, extra in (("a", extra_a), ("b", extra_b)):
        for p in range(201, 201 + extra):
            for f in range(3):
                _save(root / "multi_shot" / f"cam_{letter}" / f"person_{p:04d}" / f"{f + 1:04d}.png", _crop(rng, looks[p], 1, hw))
    return {"identities_used": 200 - len(short_ids), "short_ids": sorted(short_ids), "lengths": lengths}


# ---------------------------------------------------------------------------------------------
# iLIDS-VID: i-LIDS-VID/sequences/camC/personNNN/camC_personNNN_FFFFF.png + split .mat


def write_ilids(root: str | os.PathLike, *, seed: int = 0, persons: int = 20, trials: int = 10, hw=(16, 8)) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    root = Path(root) / "iLIDS-VID"
    pids = sorted(rng.choice(np.arange(1, 320), persons, replace=False).tolist())
    for p in pids:
        look = _look(rng)
        for c in (1, 2):
            start = int(rng.integers(1, 400))
            for f in range(int(rng.integers(4, 9))):
                _save(root / "i-LIDS-VID" / "sequences" / f"cam{c}" / f"person{p:03d}" / f"cam{c}_person{p:03d}_{start + f:05d}.png", _crop(rng, look, c, hw))
    ls_set = np.stack([rng.permutation(persons) + 1 for _ in range(trials)]).astype(np.float64)
    split_dir = root / "train-test people splits"
    split_dir.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(split_dir / "train_test_splits_ilidsvid.mat", {"ls_set": ls_set})
    return {"persons": pids, "ls_set": ls_set.astype(int)}


# ---------------------------------------------------------------------------------------------
# LS-VID: list_sequence/list_seq_*.txt, tracklet_*/<pid>/<prefix>_<frame>.jpg, test/data/info_test.mat (v7.3)


def write_lsvid(root: str | os.PathLike, *, seed: int = 0, train_ids: int = 5, val_ids: int = 2, test_ids: int = 8, hw=CROP_HW) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    root = Path(root) / "LS-VID"
    pids = rng.choice(np.arange(1, 4000), train_ids + val_ids + test_ids, replace=False)
    groups = {
        "train": sorted(pids[:train_ids].tolist()),
        "val": sorted(pids[train_ids : train_ids + val_ids].tolist()),
        "test": sorted(pids[train_ids + val_ids :].tolist()),
    }
    looks = {int(p): _look(rng) for p in pids}
    lists: dict[str, list[tuple[str, int, int, int]]] = {}
    for split, plist in groups.items():
        lines = []
        for p in plist:
            cams = rng.choice(np.arange(1, 16), int(rng.integers(2, 4)), replace=False).tolist()
            for s, c in enumerate(cams):
                prefix = f"tracklet_{split}/{p:04d}/{p:04d}_{s + 1:04d}_{c:02d}_"
                n = int(rng.integers(3, 8))
                f0 = int(rng.integers(0, 5000))
                for f in range(n):
                    _save(root / f"{prefix}{f0 + f:06d}.jpg", _crop(rng, looks[p], c, hw))
                lines.append((prefix, p, c, n))
        (root / "list_sequence").mkdir(parents=True, exist_ok=True)
        (root / "list_sequence" / f"list_seq_{split}.txt").write_text("".join(f"{pre} {p}\n" for pre, p, _, _ in lines))
        lists[split] = lines
    # queries: one sequence per (test identity, camera) for half the cameras seen
    q = []
    for i in range(len(lists["test"])):
        if rng.random() < 0.4:
            q.append(i + 1)
    if not q:
        q = [1]
    write_mat73(root / "test" / "data" / "info_test.mat", query=np.array(q, dtype=np.float64)[:, None])
    return {
        "train_tracklets": len(lists["train"]),
        "val_tracklets": len(lists["val"]),
        "test_tracklets": len(lists["test"]),
        "query_rows": q,
        "identities": {k: len(v) for k, v in groups.items()},
        "lists": lists,
    }


WRITERS: dict[str, Callable[..., dict[str, Any]]] = {
    "mars": write_mars,
    "dukev": write_dukev,
    "prid": write_prid,
    "ilids": write_ilids,
    "lsvid": write_lsvid,
}


def write_native(name: str, root: str | os.PathLike, **kwargs: Any) -> dict[str, Any]:
    """Write the toy tree of dataset ``name`` under ``root``; returns what was written."""
    return WRITERS[name](root, **kwargs)
