"""Shards in, dataset out: identities, identity-disjoint splits, images, tables.

Tracklets get global ids in (camera, slot, first frame, local id) order, so
the dataset does not depend on the order shards finished in.  Splits are
LS-VID's: identities divided train : val : test in the proportions 842 : 200 :
2,730 (train : test about 1 : 3), then within test one random tracklet per
(identity, camera) is a query and the rest the gallery, so that every query
keeps a same-id gallery tracklet from another camera: an identity that would
otherwise leave fewer than two of its cameras in the gallery withholds one
random camera's query, and one seen by a single camera has no query (its
tracklets are gallery distractors), see :func:`protocols.splits.choose_queries`.
Tracklets with no identity (-1) stay in the gallery as junk, ignored by the
protocol.  ``dataset.json``'s ``counts.protocol_check`` records the queries,
the gallery and the share of queries the protocol can answer.  Crops
are hard-linked (copied across file systems) into
``images/<camera>/<tracklet_id>/<frame_index>.jpg`` and the folder is
renamed into place only when complete.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lsvid_core.errors import InputError
from lsvid_core.paths import check_output, safe_component, staged_folder
from protocols import write_tables
from protocols.protocol import CURATED
from protocols.splits import choose_queries, split_identities

from .shard import DONE, ShardSummary


def load_shards(work: Path, names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, list[ShardSummary]]:
    """Concatenated tracklets/frames of the named shards, their embeddings and summaries."""
    trs, frs, embs, sums = [], [], [], []
    for name in names:
        d = work / "shards" / name
        tr = pd.read_parquet(d / "tracklets.parquet")
        fr = pd.read_parquet(d / "frames.parquet")
        tr["shard"] = name
        fr["shard"] = name
        trs.append(tr)
        frs.append(fr)
        e = np.load(d / "embeddings.npy")
        embs.append(e.reshape(len(tr), -1) if len(tr) else np.zeros((0, e.shape[1] if e.ndim == 2 else 0), np.float32))
        sums.append(ShardSummary.from_dict(json.loads((d / DONE).read_text())))
    tr = pd.concat(trs, ignore_index=True) if trs else pd.DataFrame()
    fr = pd.concat(frs, ignore_index=True) if frs else pd.DataFrame()
    dims = {e.shape[1] for e in embs if len(e)}
    emb = np.concatenate([e for e in embs if len(e)]) if dims else np.zeros((len(tr), 0), np.float32)
    return tr, fr, emb, sums


def order_tracklets(tr: pd.DataFrame) -> np.ndarray:
    return np.lexsort((tr["local_id"].to_numpy(), tr["start_frame"].to_numpy(), tr["slot"].astype(str).to_numpy(), tr["camera_id"].to_numpy()))


def assign_splits(person_ids: np.ndarray, tracklets: pd.DataFrame, *, seed: int, train_fraction: float, val_fraction: float) -> np.ndarray:
    """Split name per tracklet (see the module docstring): every query answerable, no identity in two splits."""
    ids = np.unique(person_ids[person_ids >= 0])
    split = np.full(len(person_ids), "gallery", dtype=object)
    if len(ids) < 2:
        raise InputError(f"only {len(ids)} identities found; a dataset needs at least 2 (more footage, or looser filters)")
    s = split_identities(ids, train_fraction=train_fraction, val_fraction=val_fraction, seed=seed)
    split[np.isin(person_ids, s.train)] = "train"
    split[np.isin(person_ids, s.val)] = "val"
    test = np.isin(person_ids, s.test)
    sub = pd.DataFrame({"tracklet_id": np.flatnonzero(test), "person_id": person_ids[test], "camera_id": tracklets["camera_id"].to_numpy()[test]})
    q = choose_queries(sub, seed=seed, junk_pids=CURATED.junk_pids)
    split[np.flatnonzero(test)[q]] = "query"
    return split


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_curated(
    out: Path,
    work: Path,
    tracklets: pd.DataFrame,
    frames: pd.DataFrame,
    person_ids: np.ndarray,
    split: np.ndarray,
    meta: dict[str, Any],
    *,
    overwrite: bool = False,
    inputs: Sequence[tuple[str, str | os.PathLike | None]] = (),
) -> Path:
    """Write the dataset folder all-or-nothing; ``tracklets`` already in final order.

    Built under a hidden temporary name and renamed into place (a killed run's
    leftover is removed by the next); an existing ``out`` is replaced only as
    :func:`lsvid_core.paths.check_output` allows.
    """
    out = check_output(out, overwrite=overwrite, inputs=inputs, kind="dataset folder")
    with staged_folder(out, kind="dataset", tool="lsvid curate") as tmp:
        tid = np.arange(len(tracklets), dtype=np.int64)
        fr = _numbered_frames(tracklets, frames, tid)
        rel = _link_images(tmp, work, tracklets, fr, tid)
        meta = {**meta, "protocol": CURATED.to_dict(), "image_root": None}
        write_tables(tmp, _tracklets_table(tracklets, tid, person_ids, split), _frames_table(fr, rel), meta)
    return out


def _numbered_frames(tracklets: pd.DataFrame, frames: pd.DataFrame, tid: np.ndarray) -> pd.DataFrame:
    """The shards' frames with their dataset ``tracklet_id``, in (tracklet, frame) order."""
    key = dict(zip(zip(tracklets["shard"], tracklets["local_id"]), tid))
    fr = frames.copy()
    fr["tracklet_id"] = [key[k] for k in zip(fr["shard"], fr["local_id"])]
    return fr.sort_values(["tracklet_id", "frame_index"], kind="stable").reset_index(drop=True)


def _link_images(tmp: Path, work: Path, tracklets: pd.DataFrame, fr: pd.DataFrame, tid: np.ndarray) -> list[str]:
    """Link every crop to ``images/<camera>/<tracklet_id>/<frame_index>.jpg`` under ``tmp``; those paths."""
    cam_of = dict(zip(tid, tracklets["camera"].astype(str)))
    for cam in set(cam_of.values()):
        safe_component(cam, "camera name")  # it becomes images/<camera>/
    rel = [f"images/{cam_of[t]}/{t}/{j}.jpg" for t, j in zip(fr["tracklet_id"], fr["frame_index"])]
    for d in {r.rsplit("/", 1)[0] for r in rel}:
        (tmp / d).mkdir(parents=True, exist_ok=True)
    for src_shard, src, dst in zip(fr["shard"], fr["path"], rel):
        _link(work / "shards" / src_shard / src, tmp / dst)
    return rel


def _frames_table(fr: pd.DataFrame, rel: list[str]) -> pd.DataFrame:
    """frames.parquet: the schema's columns, then each box and where it came from."""
    return pd.DataFrame({
        "tracklet_id": fr["tracklet_id"].to_numpy(np.int64),
        "frame_index": fr["frame_index"].to_numpy(np.int32),
        "path": pd.array(rel, dtype="string"),
        "x": fr["x"].astype(np.float32), "y": fr["y"].astype(np.float32),
        "w": fr["w"].astype(np.float32), "h": fr["h"].astype(np.float32),
        "score": fr["score"].astype(np.float32),
        "video_frame": fr["video_frame"].astype(np.int64),
        "truth_id": fr["truth_id"].astype(np.int64),
    })


def _tracklets_table(tracklets: pd.DataFrame, tid: np.ndarray, person_ids: np.ndarray, split: np.ndarray) -> pd.DataFrame:
    """tracklets.parquet: the schema's columns, then provenance (video, frames, camera, truth)."""
    return pd.DataFrame({
        "tracklet_id": tid,
        "person_id": person_ids.astype(np.int64),
        "camera_id": tracklets["camera_id"].to_numpy(np.int32),
        "split": pd.array(split.astype(str), dtype="string"),
        "num_frames": tracklets["num_frames"].to_numpy(np.int32),
        "video": pd.array(tracklets["video"].astype(str), dtype="string"),
        "start_frame": tracklets["start_frame"].to_numpy(np.int64),
        "end_frame": tracklets["end_frame"].to_numpy(np.int64),
        "time_slot": pd.array(tracklets["slot"].astype(str), dtype="string"),
        "camera": pd.array(tracklets["camera"].astype(str), dtype="string"),
        "local_key": pd.array([f"{c}/{s}/{i}" for c, s, i in zip(tracklets["camera"], tracklets["slot"], tracklets["local_id"])], dtype="string"),
        "truth_id": tracklets["truth_id"].to_numpy(np.int64),
        "truth_purity": tracklets["truth_purity"].to_numpy(np.float64),
    })
