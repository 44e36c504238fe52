"""LS-VID-style splits of curated tracklets: identity-disjoint, 1:3 plus validation, queries per camera."""
import numpy as np
import pandas as pd

from lsvid.assemble import assign_splits


def test_splits_are_identity_disjoint_with_lsvid_ratios():
    rng = np.random.default_rng(0)
    n_ids = 400
    pid = np.repeat(np.arange(n_ids), 3)
    pid = np.r_[pid, [-1] * 10]  # tracklets without an identity
    cams = rng.integers(1, 6, len(pid))
    tr = pd.DataFrame({"camera_id": cams})
    split = assign_splits(pid, tr, seed=1, train_fraction=842 / 3772, val_fraction=200 / 3772)
    ids = {s: set(pid[(split == s) & (pid >= 0)]) for s in ("train", "val", "query", "gallery")}
    test_ids = ids["query"] | ids["gallery"]
    assert not ids["train"] & ids["val"] and not ids["train"] & test_ids and not ids["val"] & test_ids
    assert len(ids["train"]) == round(n_ids * 842 / 3772) and len(ids["val"]) == round(n_ids * 200 / 3772)
    assert 3.0 < len(test_ids) / len(ids["train"]) < 3.5
    # junk stays in the gallery
    assert set(split[pid < 0]) == {"gallery"}
    # one query per (identity, camera) among test identities seen by 2+ cameras
    q = pd.DataFrame({"pid": pid, "cam": cams, "split": split})
    qq = q[q.split == "query"]
    assert qq.groupby(["pid", "cam"]).size().eq(1).all()
    multi = q[q.pid.isin(test_ids)].groupby("pid").cam.nunique()
    assert set(qq.pid) == set(multi[multi >= 2].index)
    # seeded
    assert np.array_equal(split, assign_splits(pid, tr, seed=1, train_fraction=842 / 3772, val_fraction=200 / 3772))
