"""LS-VID-style splits of curated tracklets: identity-disjoint, 1:3 plus validation, queries per camera,
every query left a same-id gallery tracklet from another camera."""
import numpy as np
import pandas as pd
import pytest

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
    # at most one query per (identity, camera), for every test identity seen by 2+ cameras
    q = pd.DataFrame({"pid": pid, "cam": cams, "split": split})
    qq = q[q.split == "query"]
    assert qq.groupby(["pid", "cam"]).size().eq(1).all()
    multi = q[q.pid.isin(test_ids)].groupby("pid").cam.nunique()
    assert set(qq.pid) == set(multi[multi >= 2].index)
    # seeded
    assert np.array_equal(split, assign_splits(pid, tr, seed=1, train_fraction=842 / 3772, val_fraction=200 / 3772))


def _old_rule(test: pd.DataFrame) -> np.ndarray:
    """The rule before: one tracklet per (identity, camera) of identities seen by 2+ cameras, whatever is left."""
    ncam = test.groupby("person_id").camera_id.nunique()
    multi = test[test.person_id.map(ncam) >= 2]
    return test.tracklet_id.isin(multi.drop_duplicates(["person_id", "camera_id"]).tracklet_id).to_numpy()


def failing_scene() -> pd.DataFrame:
    """The test half of the 3-camera, 60-person, 60 s scene curated with truth boxes and identities, by shape:
    61 tracklets of 24 identities, most seen once per camera."""
    shapes = (
        [{1: 1, 2: 1, 3: 1}] * 6  # once by each of three cameras
        + [{1: 1, 2: 1}] * 6  # once by each of two
        + [{3: 1}] * 4  # one camera only
        + [{1: 2, 2: 1}] * 5  # twice by one camera, once by another
        + [{2: 2, 3: 2}] * 3  # twice by each of two
    )
    rows = [(pid, cam) for pid, shape in enumerate(shapes) for cam, n in shape.items() for _ in range(n)]
    return pd.DataFrame({"tracklet_id": np.arange(len(rows)), "person_id": [r[0] for r in rows], "camera_id": [r[1] for r in rows]})


def _with_split(test: pd.DataFrame, q: np.ndarray) -> pd.DataFrame:
    return test.assign(split=np.where(q, "query", "gallery"), num_frames=16)


def test_failing_scene_every_query_now_has_an_answer():
    from protocols.evaluation import query_check
    from protocols.splits import choose_queries

    test = failing_scene()
    assert len(test) == 61
    # before: 46 queries, 15 gallery, 11 answerable (24%)
    before = query_check(_with_split(test, _old_rule(test)))
    assert (before["queries"], before["gallery"], before["answerable"]) == (46, 15, 11)
    assert before["answerable_share"] == pytest.approx(0.24, abs=0.005)
    # after: every identity seen by two cameras or more has queries, and every query an answer
    for seed in range(10):
        after = query_check(_with_split(test, choose_queries(test, seed=seed)))
        assert (after["queries"], after["gallery"], after["answerable"]) == (29, 32, 29)
        assert after["answerable_share"] == 1.0 and after["query_identities"] == after["answerable_identities"] == 20


def random_curated(rng):
    """person ids per tracklet (-1 = no identity) and their cameras, as curation hands them to assign_splits."""
    n_ids = int(rng.integers(2, 120))
    pid, cam = [], []
    for p in range(n_ids):
        cams = rng.choice(6, int(rng.integers(1, 4)), replace=False)
        for c in cams:
            k = int(rng.integers(1, 4))
            pid += [p] * k
            cam += [int(c)] * k
    junk = int(rng.integers(0, 8))
    pid += [-1] * junk
    cam += rng.integers(0, 6, junk).tolist()
    order = rng.permutation(len(pid))
    return np.asarray(pid)[order], pd.DataFrame({"camera_id": np.asarray(cam)[order]})


@pytest.mark.parametrize("seed", range(30))
def test_assign_splits_invariants_on_random_tables(seed):
    """Property: no identity in two splits, junk only in the gallery, every query answerable, seeded."""
    from protocols.evaluation import query_check

    rng = np.random.default_rng(500 + seed)
    pid, tr = random_curated(rng)
    split = assign_splits(pid, tr, seed=seed, train_fraction=842 / 3772, val_fraction=200 / 3772)
    assert set(split[pid < 0]) <= {"gallery"}
    side = np.where(np.isin(split, ["query", "gallery"]), "test", split)
    real = pd.DataFrame({"pid": pid, "side": side})[pid >= 0]
    assert real.groupby("pid").side.nunique().eq(1).all()
    cams = tr.camera_id.to_numpy()
    for i in np.flatnonzero(split == "query"):
        assert ((split == "gallery") & (pid == pid[i]) & (cams != cams[i])).any()
    check = query_check(pd.DataFrame({"person_id": pid, "camera_id": cams, "split": split}))
    assert check["answerable"] == check["queries"]
    test_ids = real[real.side == "test"].pid
    multi = pd.DataFrame({"pid": pid, "cam": cams})[np.isin(pid, test_ids)].groupby("pid").cam.nunique()
    assert set(pid[split == "query"]) == set(multi[multi >= 2].index)
    assert np.array_equal(split, assign_splits(pid, tr, seed=seed, train_fraction=842 / 3772, val_fraction=200 / 3772))
