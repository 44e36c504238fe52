"""Seeded split rules: identity-disjoint train/val/test, query choice, and PRID/iLIDS trials."""
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


def choose_queries(tracklets: pd.DataFrame, *, seed: int = 0) -> np.ndarray:
    """Boolean mask of test tracklets chosen as queries, as MARS and LS-VID do.

    For every test identity seen by at least two cameras, one random tracklet
    per camera is a query; everything else is gallery.  Identities seen by one
    camera only have no cross-camera match and stay in the gallery as
    distractors.  ``tracklets`` needs ``tracklet_id``, ``person_id``, ``camera_id``.
    """
    rng = np.random.default_rng(seed)
    df = tracklets[["tracklet_id", "person_id", "camera_id"]].sort_values("tracklet_id", kind="stable")
    ncam = df.groupby("person_id")["camera_id"].nunique()
    multi = df[df["person_id"].map(ncam) >= 2]
    keys = rng.random(len(multi))
    pick = multi.assign(_k=keys).sort_values(["person_id", "camera_id", "_k"], kind="stable")
    chosen = set(pick.drop_duplicates(["person_id", "camera_id"])["tracklet_id"].tolist())
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
