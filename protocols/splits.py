"""Seeded split rules: identity-disjoint train/val/test, query choice, and PRID/iLIDS trials.

Query choice (:func:`choose_queries`) is LS-VID's shape -- within the test
identities, one random tracklet per (identity, camera) is a query and the rest
the gallery, query and gallery disjoint -- with one guarantee added: **every
query keeps at least one tracklet of its identity from another camera in the
gallery**.  The protocol drops gallery items of the query's id seen by the
query's camera, so only other cameras can answer it; LS-VID's and MARS's
"one per camera" taken literally makes every tracklet of a person seen once
per camera a query and leaves nothing to find.  MARS avoids that by keeping
the whole test set (queries included) as the gallery; we keep LS-VID's
disjoint query/gallery, which curated datasets follow, and instead withhold
one camera's query where it is needed.  See :func:`choose_queries`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lsvid_core.errors import InputError


@dataclass(frozen=True)
class IdentitySplit:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_identities(
    person_ids: Sequence[int],
    *,
    train_fraction: float = 842 / 3772,
    val_fraction: float = 200 / 3772,
    seed: int = 0,
) -> IdentitySplit:
    """Random identity-disjoint train/val/test split.

    The defaults are LS-VID's own proportions: of its 3,772 identities, 842
    train, 200 validation and 2,730 test (train:test about 1:3), so 3,772 ids
    split exactly as the paper's.  The split depends only on the set of ids and
    the seed, never on their order; train and test always get one id or more.
    """
    ids = np.unique(np.asarray(person_ids, dtype=np.int64))
    if len(ids) < 2:
        raise InputError(f"need at least 2 identities to split, got {len(ids)}")
    if not (0 < train_fraction < 1 and 0 <= val_fraction < 1 and train_fraction + val_fraction < 1):
        raise InputError(f"fractions must leave room for a test set: train {train_fraction}, val {val_fraction}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(ids)
    n = len(ids)
    n_val = min(int(round(n * val_fraction)), n - 2)
    n_train = min(max(int(round(n * train_fraction)), 1), n - n_val - 1)
    return IdentitySplit(
        train=np.sort(perm[:n_train]),
        val=np.sort(perm[n_train : n_train + n_val]),
        test=np.sort(perm[n_train + n_val :]),
    )


def choose_queries(tracklets: pd.DataFrame, *, seed: int = 0, junk_pids: Sequence[int] = (-1,)) -> np.ndarray:
    """Boolean mask of test tracklets chosen as queries; every query stays answerable.

    The rule, per test identity (``person_id`` not in ``junk_pids``):

    1. seen by one camera only: no query.  Its tracklets stay in the gallery as
       distractors for other queries (no other camera could answer them).
    2. seen by two cameras or more: one random tracklet per camera is a query
       candidate, as LS-VID and MARS choose them.  If at least two of its
       cameras would still keep a gallery tracklet (two cameras with two or
       more tracklets), every candidate is a query.  Otherwise one random
       camera of the identity gets no query and all its tracklets stay in
       the gallery.

    Either way every query keeps a same-id gallery tracklet from another
    camera, every identity seen by k >= 2 cameras gets k or k - 1 queries (at
    most one per camera), and no rule with at most one query per (identity,
    camera) and disjoint query/gallery can choose more.  A person seen once by
    each of k cameras gets k - 1 queries and one gallery tracklet.

    Deterministic given ``seed`` and the table's (``tracklet_id``,
    ``person_id``, ``camera_id``) rows, whatever their order.  Junk tracklets
    are never queries.  ``tracklets`` needs ``tracklet_id``, ``person_id``,
    ``camera_id``; the mask is in its row order.
    """
    rng = np.random.default_rng(seed)
    df = tracklets[["tracklet_id", "person_id", "camera_id"]].sort_values("tracklet_id", kind="stable")
    df = df[~df["person_id"].isin(np.asarray(junk_pids, dtype=np.int64))]
    ncam = df.groupby("person_id")["camera_id"].nunique()
    multi = df[df["person_id"].map(ncam) >= 2]
    keys = rng.random(len(multi))
    pick = multi.assign(_k=keys).sort_values(["person_id", "camera_id", "_k"], kind="stable")
    pick["_n"] = pick.groupby(["person_id", "camera_id"])["tracklet_id"].transform("size")
    # one candidate per (identity, camera), in (identity, camera) order, with that camera's tracklet count
    cand = pick.drop_duplicates(["person_id", "camera_id"]).reset_index(drop=True)
    # an identity with fewer than two cameras left holding a gallery tracklet withholds one random camera's query
    keeping = (cand["_n"] >= 2).groupby(cand["person_id"]).transform("sum")
    cand["_r"] = rng.random(len(cand))
    short = cand[keeping.to_numpy() < 2]
    withheld = short.sort_values(["person_id", "_r"], kind="stable").drop_duplicates("person_id")["tracklet_id"]
    chosen = set(cand["tracklet_id"].tolist()) - set(withheld.tolist())
    return tracklets["tracklet_id"].isin(chosen).to_numpy()


def two_camera_trials(
    tracklets: pd.DataFrame,
    identity_order: np.ndarray,
    *,
    query_camera: int,
    gallery_camera: int,
) -> pd.DataFrame:
    """``trials.parquet`` rows for PRID/iLIDS-style trials.

    ``identity_order`` is (trials, identities): in each row the first half are
    the test identities, the second half train (Wang et al., ECCV 2014).  Test
    identities put their ``query_camera`` sequence in query and their
    ``gallery_camera`` sequence in gallery; train identities put both in train.
    """
    order = np.asarray(identity_order)
    half = order.shape[1] // 2
    pid = tracklets["person_id"].to_numpy()
    cam = tracklets["camera_id"].to_numpy()
    tid = tracklets["tracklet_id"].to_numpy()
    rows = []
    for t, row in enumerate(order):
        test = np.isin(pid, row[:half])
        split = np.where(~test, "train", np.where(cam == query_camera, "query", np.where(cam == gallery_camera, "gallery", "train")))
        rows.append(pd.DataFrame({"trial": np.int32(t), "tracklet_id": tid, "split": split}))
    out = pd.concat(rows, ignore_index=True)
    out["split"] = out["split"].astype("string")
    return out


def random_trials(person_ids: Sequence[int], num_trials: int = 10, *, seed: int = 0) -> np.ndarray:
    """(num_trials, n) identity permutations: first half test, second half train."""
    ids = np.unique(np.asarray(person_ids, dtype=np.int64))
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(ids) for _ in range(num_trials)])
